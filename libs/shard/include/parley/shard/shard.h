// Which feed (or notifications) shard owns a person: jump consistent hash of
// the user id over the shard count (Lamping & Veach, 2014). Growing from n to
// n+1 shards moves only ~1/(n+1) of the people, all of them to the new shard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parley::shard {

// A bucket in [0, num_buckets); num_buckets must be ≥ 1.
int32_t JumpConsistentHash(uint64_t key, int32_t num_buckets);

// The shards of one sharded service as this process sees them.
class ShardMap {
 public:
  // One shard that is this process (a single-process deployment).
  static ShardMap Single();
  // `addresses`: every shard's host:port in shard order, comma-separated; the
  // count is their number. `self` is this process's index. An empty list with
  // count 1 is the single-process case.
  static absl::StatusOr<ShardMap> Create(int32_t count, int32_t self, absl::string_view addresses);

  int32_t count() const { return count_; }
  int32_t self() const { return self_; }
  int32_t ShardOf(uint64_t user_id) const { return JumpConsistentHash(user_id, count_); }
  bool IsLocal(uint64_t user_id) const { return ShardOf(user_id) == self_; }
  // host:port of `shard`; empty in the single-process case.
  const std::string& address(int32_t shard) const;

 private:
  ShardMap(int32_t count, int32_t self, std::vector<std::string> addresses)
      : count_(count), self_(self), addresses_(std::move(addresses)) {}
  int32_t count_;
  int32_t self_;
  std::vector<std::string> addresses_;
};

// The shard map of a sharded service from --shard_count, --shard_index and
// --shard_addrs (one set of flags: a process is one shard of one service).
absl::StatusOr<ShardMap> ShardMapFromFlags();

}  // namespace parley::shard
