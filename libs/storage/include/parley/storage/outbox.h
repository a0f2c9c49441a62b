// The transactional outbox: a state change and the events it causes are
// committed in one RocksDB WriteBatch, so an acknowledged write never loses its
// events. Dispatchers (one per subscriber) deliver entries in sequence order,
// at least once, retrying with exponential backoff, and remember how far each
// subscriber got. Consumers make delivery exactly-once by recording the last
// applied (producer, sequence) in the same batch as the effect.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "parley/storage/db.h"

namespace parley::storage {

struct OutboxEntry {
  uint64_t sequence = 0;
  std::string payload;
};

class Outbox {
 public:
  // Uses column family `cf_name` of `db` (which must have been opened with it)
  // for entries, subscriber cursors and the producer id. A new producer id is
  // named after `producer_name` ("identity", "feed-0"), or `cf_name` if empty.
  static absl::StatusOr<std::unique_ptr<Outbox>> Open(Db* db, std::string cf_name,
                                                      std::string producer_name = "");

  // Identifies this outbox across restarts and wipes: "<name>/<random 64-bit hex>",
  // created with the data directory (and kept from then on, whatever name a
  // later Open passes). Consumers key their dedup state by it, so a producer
  // whose data was recreated starts a fresh sequence space.
  const std::string& producer_id() const { return producer_id_; }

  // Adds `payloads` to `batch` under consecutive fresh sequence numbers and
  // writes the batch atomically. Returns the first sequence used.
  absl::StatusOr<uint64_t> Commit(rocksdb::WriteBatch* batch,
                                  const std::vector<std::string>& payloads);

  // Every sequence ≤ this is either durable or will never exist: concurrent
  // commits may land out of order, and readers must not run past one in flight.
  // Also the newest sequence a snapshot may claim (ListSnapshotEvents'
  // snapshot_sequence): state read after this call reflects every event up to it.
  uint64_t CommittedThrough() const;

  // Entries with after < sequence ≤ CommittedThrough(), oldest first. If
  // `read_through` is set, it receives the sequence the read covered: when the
  // result is empty, every sequence up to it is a gap (a failed commit) or was
  // trimmed, and a reader can move past it instead of waiting on it forever.
  absl::StatusOr<std::vector<OutboxEntry>> ReadAfter(uint64_t after, size_t limit,
                                                     uint64_t* read_through = nullptr) const;
  // Blocks until CommittedThrough() > after, `timeout` passes or Wake() is called.
  void WaitForEntriesAfter(uint64_t after, absl::Duration timeout) const;
  void Wake() const;

  // Subscribers must register before dispatching starts: entries are trimmed
  // only once every registered subscriber has acknowledged them.
  void RegisterSubscriber(const std::string& subscriber);
  absl::StatusOr<uint64_t> Cursor(const std::string& subscriber) const;
  absl::Status Acknowledge(const std::string& subscriber, uint64_t through_sequence);
  // Number of committed entries `subscriber` has not acknowledged.
  uint64_t Pending(const std::string& subscriber) const;

 private:
  Outbox(Db* db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}
  absl::Status TrimLocked();

  Db* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  std::string producer_id_;

  mutable std::mutex mu_;
  mutable std::condition_variable committed_cv_;
  uint64_t next_sequence_ = 1;               // guarded by mu_
  std::multiset<uint64_t> in_flight_;        // first sequence of each uncommitted batch; mu_
  std::map<std::string, uint64_t> cursors_;  // registered subscribers; mu_
  uint64_t trimmed_through_ = 0;             // mu_
  mutable uint64_t wake_generation_ = 0;     // mu_
};

struct DispatcherOptions {
  std::string subscriber;
  size_t max_batch = 512;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(30);
  // How long an idle dispatcher waits before looking again (commits wake it).
  absl::Duration idle_poll = absl::Seconds(1);
};

// Delivers one batch of entries, oldest first. OK acknowledges all of them;
// an error retries the same batch after a backoff.
using DeliverFn = std::function<absl::Status(const std::vector<OutboxEntry>& entries)>;

class Dispatcher {
 public:
  // Registers the subscriber with `outbox`; call Start() once every
  // subscriber of the outbox has been constructed.
  Dispatcher(Outbox* outbox, DispatcherOptions options, DeliverFn deliver);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void Start();
  // Finishes the delivery in progress (if any), then stops. Idempotent.
  void Stop();

  uint64_t failures() const;

 private:
  void Run();

  Outbox* const outbox_;
  const DispatcherOptions options_;
  const DeliverFn deliver_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  uint64_t failures_ = 0;  // guarded by mu_
};

}  // namespace parley::storage
