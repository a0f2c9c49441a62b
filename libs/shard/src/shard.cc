#include "parley/shard/shard.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace parley::shard {

int32_t JumpConsistentHash(uint64_t key, int32_t num_buckets) {
  // The linear congruential step and the jump are from the paper; b is the
  // bucket the key is in for the current count, j the next count at which it
  // jumps.
  int64_t b = -1;
  int64_t j = 0;
  while (j < num_buckets) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) * (static_cast<double>(1LL << 31) /
                                                           static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<int32_t>(b);
}

ShardMap ShardMap::Single() { return ShardMap(1, 0, {""}); }

absl::StatusOr<ShardMap> ShardMap::Create(int32_t count, int32_t self,
                                          absl::string_view addresses) {
  if (count < 1 || count > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("shard_count: ", count, ", must be 1..1024"));
  }
  if (self < 0 || self >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard_index: ", self, ", must be 0..", count - 1));
  }
  std::vector<std::string> list;
  if (!addresses.empty()) list = absl::StrSplit(addresses, ',');
  if (list.empty() && count == 1) return ShardMap(1, 0, {""});
  if (static_cast<int32_t>(list.size()) != count) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard_addrs: ", list.size(), " addresses for shard_count ", count));
  }
  for (const auto& a : list) {
    if (a.empty()) return absl::InvalidArgumentError("shard_addrs: empty address");
  }
  return ShardMap(count, self, std::move(list));
}

const std::string& ShardMap::address(int32_t shard) const { return addresses_.at(shard); }

}  // namespace parley::shard
