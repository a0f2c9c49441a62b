// The follow graph homed on this shard: follow edges (the follower's half,
// "following" and its listing index, on the follower's shard; the followee's
// half, "followers", on the followee's), blocks (on every shard), mutes, the
// fan-out mode of heavy authors and groups ("heavy"), and the follower and
// following counters. `mu()` serialises the check-then-write of edges, blocks
// and counts (follow, unfollow, block, and applying other shards' halves).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "feed/src/home_store.h"
#include "feed/src/store.h"
#include "parley/sync/mutex.h"

namespace parley::feed {

class GraphStore : FeedPart {
 public:
  GraphStore(FeedStore* store, HomeStore* homes);

  sync::Mutex& mu() ABSL_LOCK_RETURNED(mu_) { return mu_; }

  bool Follows(uint64_t follower, uint64_t followee);
  // Writes (or removes) the halves of a follow edge that live on this shard;
  // removing also drops the followee's posts from the follower's head.
  void EdgeHalves(uint64_t follower, uint64_t followee, uint64_t order, bool add,
                  rocksdb::WriteBatch* batch);
  // The follow order of an existing edge, read from whichever half is local.
  std::optional<uint64_t> EdgeOrder(uint64_t follower, uint64_t followee);
  // Block flags stored on a's side: kIBlocked, kBlockedMe.
  uint8_t BlockFlags(uint64_t a, uint64_t b);
  void ApplyBlock(uint64_t blocker, uint64_t blocked, bool block, rocksdb::WriteBatch* batch);
  void SetMute(uint64_t owner, uint64_t muted, bool mute, rocksdb::WriteBatch* batch);
  // People `user_id` blocked or who blocked them (`blocked`), and whom they muted.
  absl::Status LoadBlocksAndMutes(uint64_t user_id, absl::flat_hash_set<uint64_t>* blocked,
                                  absl::flat_hash_set<uint64_t>* muted);
  std::vector<uint64_t> Followees(uint64_t user_id);
  // The people of `candidates` whom `owner` (homed here) follows: one MultiGet.
  absl::flat_hash_set<uint64_t> FollowedAmong(uint64_t owner, std::vector<uint64_t> candidates);
  // The heavy (pulled) authors `user_id` follows.
  std::vector<uint64_t> HeavyFollowees(uint64_t user_id);
  absl::StatusOr<bool> IsHeavyAuthor(uint64_t author);
  absl::StatusOr<bool> IsHeavyGroup(uint64_t group);
  // Marks an author or group pulled (or pushed) in `batch`.
  void SetHeavy(uint64_t author, uint64_t group, bool pulled, rocksdb::WriteBatch* batch);
  uint64_t FollowerCount(uint64_t user_id);
  // Calls `chunk` with the followers of `author`, fanout_batch at a time.
  absl::Status ForEachFollower(uint64_t author,
                               const std::function<absl::Status(std::vector<uint64_t>&)>& chunk);
  rocksdb::ColumnFamilyHandle* followers_index() const { return followers_idx_; }
  rocksdb::ColumnFamilyHandle* following_index() const { return following_idx_; }

 private:
  HomeStore* const homes_;
  rocksdb::ColumnFamilyHandle* const following_;
  rocksdb::ColumnFamilyHandle* const following_idx_;
  rocksdb::ColumnFamilyHandle* const followers_;
  rocksdb::ColumnFamilyHandle* const followers_idx_;
  rocksdb::ColumnFamilyHandle* const blocks_;
  rocksdb::ColumnFamilyHandle* const mutes_;
  rocksdb::ColumnFamilyHandle* const heavy_;
  rocksdb::ColumnFamilyHandle* const counters_;
  sync::Mutex mu_;
};

}  // namespace parley::feed
