#include "parley/ids/ids.h"

#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace parley::ids {
namespace {

TEST(IdsTest, EncodesTimeNodeAndSequence) {
  int64_t now = kEpochUnixMillis + 123456;
  auto gen = IdGenerator::Create(517, [&] { return now; });
  ASSERT_TRUE(gen.ok());
  uint64_t a = (*gen)->Next();
  uint64_t b = (*gen)->Next();
  EXPECT_EQ(Split(a).unix_millis, now);
  EXPECT_EQ(Split(a).node_id, 517u);
  EXPECT_EQ(Split(a).sequence, 0u);
  EXPECT_EQ(Split(b).sequence, 1u);
  EXPECT_EQ(TimeOf(a), absl::FromUnixMillis(now));
  EXPECT_LE(MinIdAt(absl::FromUnixMillis(now)), a);
  EXPECT_GT(MinIdAt(absl::FromUnixMillis(now + 1)), b);
}

TEST(IdsTest, RejectsNodeIdOutOfRange) {
  EXPECT_FALSE(IdGenerator::Create(kMaxNodeId + 1).ok());
  EXPECT_TRUE(IdGenerator::Create(kMaxNodeId).ok());
}

TEST(IdsTest, StaysMonotonicWhenClockStepsBackwards) {
  int64_t now = kEpochUnixMillis + 10'000;
  auto gen = *IdGenerator::Create(1, [&] { return now; });
  uint64_t before = gen->Next();
  now -= 5'000;  // NTP steps the clock back five seconds
  uint64_t after = gen->Next();
  EXPECT_GT(after, before);
  now += 10'000;
  EXPECT_GT(gen->Next(), after);
}

TEST(IdsTest, BorrowsNextMillisecondWhenSequenceIsExhausted) {
  int64_t now = kEpochUnixMillis + 1;
  auto gen = *IdGenerator::Create(3, [&] { return now; });
  uint64_t last = 0;
  for (uint32_t i = 0; i <= kMaxSequence + 10; ++i) {
    uint64_t id = gen->Next();
    ASSERT_GT(id, last);
    ASSERT_EQ(Split(id).node_id, 3u) << "sequence overflow must not leak into the node bits";
    last = id;
  }
  EXPECT_EQ(Split(last).unix_millis, now + 1);
}

TEST(IdsTest, AdvancePastKeepsIdsUniqueAcrossARestartWithAClockBehind) {
  int64_t now = kEpochUnixMillis + 50'000;
  auto before = *IdGenerator::Create(2, [&] { return now; });
  uint64_t stored = before->Next();
  now -= 10'000;  // the restarted process's clock is behind
  auto after = *IdGenerator::Create(2, [&] { return now; });
  EXPECT_LE(after->Next(), stored) << "without AdvancePast an id could repeat";
  after->AdvancePast(stored);
  EXPECT_GT(after->Next(), stored);
}

TEST(IdsTest, UniqueAcrossThreads) {
  auto gen = *IdGenerator::Create(9);
  constexpr int kThreads = 4, kPerThread = 20'000;
  std::vector<std::vector<uint64_t>> out(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) out[t].push_back(gen->Next());
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (auto& v : out) {
    for (size_t i = 1; i < v.size(); ++i) ASSERT_LT(v[i - 1], v[i]);
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace parley::ids
