#include "absl/flags/flag.h"
#include "parley/shard/shard.h"

ABSL_FLAG(int, shard_count, 1,
          "number of shards of this service (feed, notifications; 1..1024); the all-in-one is one");
ABSL_FLAG(int, shard_index, 0, "this process's shard, 0..shard_count-1");
ABSL_FLAG(std::string, shard_addrs, "", "every shard's host:port in shard order, comma-separated");

namespace parley::shard {

absl::StatusOr<ShardMap> ShardMapFromFlags() {
  return ShardMap::Create(absl::GetFlag(FLAGS_shard_count), absl::GetFlag(FLAGS_shard_index),
                          absl::GetFlag(FLAGS_shard_addrs));
}

}  // namespace parley::shard
