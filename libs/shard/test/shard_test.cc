#include "parley/shard/shard.h"

#include <vector>

#include "gtest/gtest.h"

namespace parley::shard {
namespace {

TEST(JumpConsistentHash, StaysInRangeAndIsStable) {
  for (uint64_t key = 0; key < 10000; ++key) {
    int32_t b = JumpConsistentHash(key * 7919, 13);
    EXPECT_GE(b, 0);
    EXPECT_LT(b, 13);
    EXPECT_EQ(b, JumpConsistentHash(key * 7919, 13));
  }
  EXPECT_EQ(JumpConsistentHash(12345, 1), 0);
}

TEST(JumpConsistentHash, SpreadsEvenly) {
  constexpr int kShards = 8;
  constexpr int kKeys = 80000;
  std::vector<int> counts(kShards);
  for (uint64_t key = 1; key <= kKeys; ++key) counts[JumpConsistentHash(key, kShards)]++;
  for (int c : counts) {
    EXPECT_GT(c, kKeys / kShards * 9 / 10);
    EXPECT_LT(c, kKeys / kShards * 11 / 10);
  }
}

TEST(JumpConsistentHash, GrowingMovesFewKeysAndOnlyToTheNewShard) {
  constexpr int kKeys = 50000;
  int moved = 0;
  for (uint64_t key = 1; key <= kKeys; ++key) {
    int32_t before = JumpConsistentHash(key, 4);
    int32_t after = JumpConsistentHash(key, 5);
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, 4) << "key " << key << " moved between old shards";
    }
  }
  // Expected 1/5 of the keys.
  EXPECT_GT(moved, kKeys / 5 * 9 / 10);
  EXPECT_LT(moved, kKeys / 5 * 11 / 10);
}

TEST(ShardMap, ValidatesConfiguration) {
  EXPECT_TRUE(ShardMap::Create(1, 0, "").ok());
  auto three = ShardMap::Create(3, 2, "a:1,b:2,c:3");
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->address(1), "b:2");
  EXPECT_EQ(three->IsLocal(42), three->ShardOf(42) == 2);
  EXPECT_FALSE(ShardMap::Create(3, 0, "a:1,b:2").ok());
  EXPECT_FALSE(ShardMap::Create(3, 3, "a:1,b:2,c:3").ok());
  EXPECT_FALSE(ShardMap::Create(0, 0, "").ok());
  EXPECT_FALSE(ShardMap::Create(2, 0, "a:1,").ok());
  EXPECT_EQ(ShardMap::Single().count(), 1);
}

}  // namespace
}  // namespace parley::shard
