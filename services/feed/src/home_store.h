// Home timelines: each person's materialized head (family "home": owner,
// ~post id -> author, and the group for a group post) and its horizon (meta
// 'h': the head is complete for ids above it), with the in-memory head sizes
// that decide when to trim. Owns `home_mu_` (trims and horizon updates) and
// `sizes_mu_`.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "feed/src/store.h"
#include "parley/sync/mutex.h"

namespace parley::feed {

class HomeStore : FeedPart {
 public:
  explicit HomeStore(FeedStore* store);

  // The head is complete for ids above this (0: complete).
  uint64_t Horizon(uint64_t owner);
  // Entries physically in the head (tests and benchmarks).
  uint64_t HomeEntryCount(uint64_t owner);
  // An iterator over the family, for reading a head.
  std::unique_ptr<rocksdb::Iterator> NewIterator();

  // In `batch`: one entry (read-your-write of the author's own post), or its removal.
  void AddEntry(uint64_t owner, uint64_t post_id, uint64_t author, uint64_t group,
                rocksdb::WriteBatch* batch);
  void RemoveEntry(uint64_t owner, uint64_t post_id, rocksdb::WriteBatch* batch);
  // In `batch`: removes every entry of `author` (or of `group`) from owner's head.
  void RemoveAuthorFromHome(uint64_t owner, uint64_t author, rocksdb::WriteBatch* batch);
  void RemoveGroupFromHome(uint64_t owner, uint64_t group, rocksdb::WriteBatch* batch);
  // Writes one post's entries for `owners`.
  absl::Status PutHomeEntries(uint64_t post_id, uint64_t author, uint64_t group,
                              const std::vector<uint64_t>& owners);
  // Trims the heads of `owners` that grew past head + slack, raising their horizons.
  absl::Status TrimHomes(const std::vector<uint64_t>& owners);
  // Copies `entries` (post id, author, group) into owner's head and clears
  // `marker` (meta), unless the marker no longer holds `expected` (the
  // backfill is stale: then it writes nothing). `complete` false when older
  // posts of the source were left out (the horizon rises to the oldest copied).
  absl::Status BackfillEntries(uint64_t owner, const std::string& marker,
                               const std::string& expected,
                               const std::vector<std::array<uint64_t, 3>>& entries, bool complete);

  // Collects the local home entries of a fan-out batch into large, sorted writes.
  class Writer {
   public:
    explicit Writer(HomeStore* homes) : homes_(homes) {}
    absl::Status Add(uint64_t post_id, uint64_t author, uint64_t group,
                     const std::vector<uint64_t>& owners);
    absl::Status Flush();
    // Flushes, then trims the heads that grew past their limit.
    absl::Status Finish();

   private:
    struct Entry {
      uint64_t owner, post_id, author, group;
    };
    HomeStore* const homes_;
    std::vector<Entry> pending_;
    absl::flat_hash_set<uint64_t> touched_;
  };

 private:
  void AddHomeSize(uint64_t owner, int64_t delta);

  rocksdb::ColumnFamilyHandle* const home_;
  rocksdb::ColumnFamilyHandle* const meta_;
  sync::Mutex home_mu_;
  sync::Mutex sizes_mu_;
  // Approximate head sizes (counted in memory: see TrimHomes).
  absl::flat_hash_map<uint64_t, int64_t> home_sizes_ ABSL_GUARDED_BY(sizes_mu_);
};

}  // namespace parley::feed
