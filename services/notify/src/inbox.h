// Each person's notification inbox in RocksDB, built from other services'
// events (docs/architecture.md, "Notifications").
//
// An event becomes at most one entry per recipient and kind: entries of one
// kind on one subject coalesce ("Ana and 12 others liked your post"), and a
// bump gives the entry a new, higher id, so "every id above N" is exactly what
// changed since N. Events are applied exactly once per (producer, sequence),
// one per WriteBatch, so events of one batch see each other.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "parley/directory/directory.h"
#include "parley/events/v1/events.pb.h"
#include "parley/ids/ids.h"
#include "parley/notify/v1/notify.pb.h"
#include "parley/shard/shard.h"
#include "parley/storage/applied.h"
#include "parley/storage/db.h"

namespace parley::notify {

namespace pb = ::parley::notify::v1;

// Named limits (notify.proto states them; tests check each).
inline constexpr int32_t kDefaultPageSize = 20;
inline constexpr int32_t kMaxPageSize = 100;
inline constexpr size_t kMaxActorsShown = 3;
inline constexpr size_t kMaxMutedPosts = 1000;
inline constexpr size_t kMaxMutedGroups = 1000;
// Entries a stream replays on (re)connect.
inline constexpr size_t kMaxReplay = 1000;

struct InboxOptions {
  // Only recipients homed on this shard get entries here.
  shard::ShardMap shards = shard::ShardMap::Single();
};

class Inbox {
 public:
  static std::vector<std::string> ColumnFamilies();
  // `db` must have been opened with ColumnFamilies().
  static absl::StatusOr<std::unique_ptr<Inbox>> Create(storage::Db* db,
                                                       directory::Directory* directory,
                                                       InboxOptions options);

  // Called after each commit with the people whose inbox gained an entry.
  void SetOnChange(std::function<void(const std::vector<uint64_t>&)> on_change) {
    on_change_ = std::move(on_change);
  }
  bool IsLocal(uint64_t user) const { return options_.shards.IsLocal(user); }
  const shard::ShardMap& shards() const { return options_.shards; }

  // Applies a batch idempotently; returns the producer's last applied sequence.
  absl::StatusOr<uint64_t> ApplyEvents(const events::v1::EventBatch& batch);

  absl::StatusOr<pb::ListNotificationsResponse> List(uint64_t user,
                                                     const pb::ListNotificationsRequest& req);
  uint64_t UnreadCount(uint64_t user);
  // Returns the unread count left.
  absl::StatusOr<uint64_t> MarkRead(uint64_t user, const pb::MarkReadRequest& req);
  absl::StatusOr<pb::NotificationPreferences> GetPreferences(uint64_t user);
  absl::StatusOr<pb::NotificationPreferences> UpdatePreferences(
      uint64_t user, const pb::UpdatePreferencesRequest& req);
  // Entries with an id above `after`, oldest first, at most kMaxReplay: the
  // newest ones (a reconnect's replay) or, with newest false, the oldest ones
  // (a live stream catching up page by page).
  absl::StatusOr<std::vector<pb::Notification>> Since(uint64_t user, uint64_t after,
                                                      bool newest = true);

 private:
  Inbox(storage::Db* db, directory::Directory* directory, InboxOptions options);

  // One notification to deliver: `actor` did something `kind` to `recipient`.
  struct Delivery {
    uint64_t recipient = 0;
    pb::NotificationKind kind = pb::NOTIFICATION_KIND_UNSPECIFIED;
    common::v1::UserRef actor;
    uint64_t post_id = 0;
    uint64_t comment_id = 0;     // the subject's comment (or, for COMMENT, the latest)
    uint64_t group_id = 0;       // content in a group (for group mutes)
    common::v1::GroupRef group;  // group kinds
    // COMMENT and REPLY: the comment that caused it (its deletion withdraws
    // the entry when it was the entry's only one).
    uint64_t cause_comment_id = 0;
    absl::Time when;
  };
  std::vector<Delivery> DeliveriesOf(const events::v1::Event& e);
  // `actors`: the batch's actors as identity knows them (fetched before the
  // write lock is taken).
  absl::Status Apply(const events::v1::Event& e,
                     const absl::flat_hash_map<uint64_t, directory::Person>& actors,
                     rocksdb::WriteBatch* batch, std::vector<uint64_t>* touched);
  absl::Status Deliver(const Delivery& d, rocksdb::WriteBatch* batch);
  // Removes every entry about `content` ('p' post or 'c' comment).
  absl::Status DropContent(char kind, uint64_t id, rocksdb::WriteBatch* batch);
  bool Blocked(uint64_t a, uint64_t b);
  bool Has(rocksdb::ColumnFamilyHandle* cf, const std::string& key);

  storage::Db* const db_;
  directory::Directory* const directory_;
  const InboxOptions options_;
  std::unique_ptr<ids::IdGenerator> ids_;
  std::unique_ptr<storage::AppliedSequences> applied_;
  std::function<void(const std::vector<uint64_t>&)> on_change_;
  rocksdb::ColumnFamilyHandle* inbox_;
  rocksdb::ColumnFamilyHandle* unread_;
  rocksdb::ColumnFamilyHandle* subjects_;
  rocksdb::ColumnFamilyHandle* actors_;
  rocksdb::ColumnFamilyHandle* by_content_;
  rocksdb::ColumnFamilyHandle* prefs_;
  rocksdb::ColumnFamilyHandle* blocks_;
  rocksdb::ColumnFamilyHandle* deleted_;
  rocksdb::ColumnFamilyHandle* counters_;
  // Writes: event application, mark-read and preferences (check-then-write of
  // entries and counts).
  std::mutex mu_;
};

}  // namespace parley::notify
