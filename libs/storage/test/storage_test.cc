#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "parley/storage/applied.h"
#include "parley/storage/db.h"
#include "parley/storage/keys.h"
#include "parley/storage/outbox.h"
#include "parley/testing/testing.h"

namespace parley::storage {
namespace {

using ::parley::testing::TempDir;
using ::parley::testing::WaitFor;

TEST(KeysTest, BigEndianOrderIsNumericOrderAndDescIsReversed) {
  std::vector<uint64_t> values = {0, 1, 255, 256, 1ull << 40, UINT64_MAX - 1, UINT64_MAX};
  for (size_t i = 1; i < values.size(); ++i) {
    EXPECT_LT(U64Key(values[i - 1]), U64Key(values[i]));
    std::string a, b;
    AppendDescU64(&a, values[i - 1]);
    AppendDescU64(&b, values[i]);
    EXPECT_GT(a, b) << "newer ids must sort first";
    EXPECT_EQ(DecodeDescU64(b), values[i]);
  }
  std::string key;
  AppendU32(&key, 7);
  AppendU64(&key, 42);
  AppendDescU64(&key, 99);
  KeyReader reader(key);
  EXPECT_EQ(reader.ReadU32(), 7u);
  EXPECT_EQ(reader.ReadU64(), 42u);
  EXPECT_EQ(reader.ReadDescU64(), 99u);
  EXPECT_EQ(reader.ReadU64(), std::nullopt) << "a short key must not be read past its end";
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("\xff\xff", 2)), "");
}

TEST(DbTest, ColumnFamiliesAndCountersSurviveReopen) {
  TempDir dir;
  auto options = DbOptions::ForTesting(dir.Sub("db"));
  options.column_families = {"posts", "counters"};
  options.prefix_bloom_lengths = {{"posts", 8}};
  {
    auto db = Db::Open(options);
    ASSERT_TRUE(db.ok()) << db.status();
    rocksdb::WriteBatch batch;
    batch.Put((*db)->Cf("posts"), U64Key(1, 2), "hello");
    batch.Merge((*db)->Cf("counters"), "likes", EncodeCounter(5));
    batch.Merge((*db)->Cf("counters"), "likes", EncodeCounter(-2));
    ASSERT_TRUE((*db)->Write(&batch).ok());
  }
  auto db = Db::Open(options);
  ASSERT_TRUE(db.ok()) << db.status();
  auto post = (*db)->Get((*db)->Cf("posts"), U64Key(1, 2));
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->value_or(""), "hello");
  auto likes = (*db)->Get((*db)->Cf("counters"), "likes");
  ASSERT_TRUE(likes.ok() && likes->has_value());
  EXPECT_EQ(DecodeCounter(**likes), 3);
  auto missing = (*db)->Get((*db)->Cf("posts"), "nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST(DbTest, SecondOpenOfLockedDirectoryFailsClearly) {
  TempDir dir;
  auto first = Db::Open(DbOptions::ForTesting(dir.Sub("db")));
  ASSERT_TRUE(first.ok());
  auto second = Db::Open(DbOptions::ForTesting(dir.Sub("db")));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr("lock"));
}

TEST(DbTest, CorruptDirectoryFailsClearly) {
  TempDir dir;
  { ASSERT_TRUE(Db::Open(DbOptions::ForTesting(dir.Sub("db"))).ok()); }
  std::ofstream(dir.Sub("db/CURRENT"), std::ios::trunc) << "MANIFEST-999999\n";
  auto db = Db::Open(DbOptions::ForTesting(dir.Sub("db")));
  ASSERT_FALSE(db.ok());
  EXPECT_THAT(std::string(db.status().message()),
              ::testing::HasSubstr("cannot open data directory"));
}

class OutboxTest : public ::testing::Test {
 protected:
  void Open() {
    auto options = DbOptions::ForTesting(dir_.Sub("db"));
    options.column_families = {"state", "outbox"};
    db_ = *Db::Open(options);
    outbox_ = *Outbox::Open(db_.get(), "outbox");
  }
  void Close() {
    outbox_.reset();
    db_.reset();
  }
  absl::StatusOr<uint64_t> Commit(const std::string& key, std::vector<std::string> events) {
    rocksdb::WriteBatch batch;
    batch.Put(db_->Cf("state"), key, "v");
    return outbox_->Commit(&batch, events);
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<Outbox> outbox_;
};

TEST_F(OutboxTest, StateAndEventsCommitTogetherAndSequencesIncrease) {
  Open();
  auto first = Commit("a", {"e1", "e2"});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 1u);
  EXPECT_EQ(*Commit("b", {"e3"}), 3u);
  EXPECT_EQ(outbox_->CommittedThrough(), 3u);
  auto entries = outbox_->ReadAfter(1, 10);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].payload, "e2");
  EXPECT_EQ((*entries)[1].sequence, 3u);
  EXPECT_EQ(db_->Get(db_->Cf("state"), "b")->value_or(""), "v");
}

TEST_F(OutboxTest, ProducerIdIsNamedOnceAndKept) {
  Open();
  EXPECT_THAT(outbox_->producer_id(), ::testing::StartsWith("outbox/")) << "the family's name";
  const std::string unnamed = outbox_->producer_id();
  outbox_ = *Outbox::Open(db_.get(), "outbox", "identity");
  EXPECT_EQ(outbox_->producer_id(), unnamed) << "a data directory keeps its producer id";
  Close();
  TempDir other;
  auto options = DbOptions::ForTesting(other.Sub("db"));
  options.column_families = {"outbox"};
  auto db = *Db::Open(options);
  auto named = *Outbox::Open(db.get(), "outbox", "feed-3");
  EXPECT_THAT(named->producer_id(), ::testing::MatchesRegex("feed-3/[0-9a-f]{16}"));
}

TEST_F(OutboxTest, DispatcherDeliversInOrderRetriesAndResumesAfterRestart) {
  Open();
  const std::string producer = outbox_->producer_id();
  std::mutex mu;
  std::vector<std::string> got;
  std::atomic<int> fail_next{2};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Commit("k", {"e" + std::to_string(i)}).ok());
  {
    Dispatcher dispatcher(
        outbox_.get(),
        {.subscriber = "search", .max_batch = 2, .initial_backoff = absl::Milliseconds(1)},
        [&](const std::vector<OutboxEntry>& entries) {
          if (fail_next.fetch_sub(1) > 0) return absl::UnavailableError("down");
          std::lock_guard<std::mutex> lock(mu);
          for (const auto& e : entries) got.push_back(e.payload);
          return absl::OkStatus();
        });
    dispatcher.Start();
    ASSERT_TRUE(WaitFor(
        [&] {
          std::lock_guard<std::mutex> l(mu);
          return got.size() == 5;
        },
        absl::Seconds(10)));
    EXPECT_EQ(dispatcher.failures(), 2u);
    dispatcher.Stop();
  }
  EXPECT_THAT(got, ::testing::ElementsAre("e0", "e1", "e2", "e3", "e4"));
  EXPECT_EQ(outbox_->Pending("search"), 0u);

  ASSERT_TRUE(Commit("k", {"e5"}).ok());
  Close();
  Open();
  EXPECT_EQ(outbox_->producer_id(), producer) << "the producer id must survive a restart";
  got.clear();
  Dispatcher again(outbox_.get(), {.subscriber = "search"},
                   [&](const std::vector<OutboxEntry>& entries) {
                     std::lock_guard<std::mutex> lock(mu);
                     for (const auto& e : entries) got.push_back(e.payload);
                     return absl::OkStatus();
                   });
  again.Start();
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(mu);
        return !got.empty();
      },
      absl::Seconds(10)));
  again.Stop();
  EXPECT_THAT(got, ::testing::ElementsAre("e5")) << "only the unacknowledged entry is redelivered";
}

TEST_F(OutboxTest, SequencesContinueAfterEverythingWasTrimmed) {
  Open();
  outbox_->RegisterSubscriber("only");
  std::vector<std::string> many(300, "x");
  ASSERT_TRUE(Commit("k", many).ok());
  ASSERT_TRUE(outbox_->Acknowledge("only", 300).ok());
  EXPECT_TRUE(outbox_->ReadAfter(0, 1000)->empty()) << "acknowledged entries are trimmed";
  Close();
  Open();
  EXPECT_EQ(*Commit("k", {"next"}), 301u) << "a reused sequence would be skipped by consumers";
}

TEST_F(OutboxTest, ReadsReportHowFarTheyLookedSoReadersSkipGaps) {
  Open();
  outbox_->RegisterSubscriber("only");
  ASSERT_TRUE(Commit("k", std::vector<std::string>(300, "x")).ok());
  ASSERT_TRUE(outbox_->Acknowledge("only", 300).ok());  // trims 1..300
  uint64_t through = 0;
  auto entries = outbox_->ReadAfter(0, 10, &through);  // a new subscriber starts at 0
  ASSERT_TRUE(entries.ok());
  EXPECT_TRUE(entries->empty());
  EXPECT_EQ(through, 300u) << "the reader learns it may move past the trimmed range";
}

TEST_F(OutboxTest, ConcurrentWritersAreDeliveredInStrictSequenceOrder) {
  Open();
  std::mutex mu;
  std::vector<uint64_t> seen;
  Dispatcher dispatcher(outbox_.get(), {.subscriber = "s", .max_batch = 64},
                        [&](const std::vector<OutboxEntry>& entries) {
                          std::lock_guard<std::mutex> lock(mu);
                          for (const auto& e : entries) seen.push_back(e.sequence);
                          return absl::OkStatus();
                        });
  dispatcher.Start();
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(Commit("t" + std::to_string(t), {"a", "b"}).ok());
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(mu);
        return seen.size() == 4000;
      },
      absl::Seconds(20)));
  dispatcher.Stop();
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1) << "at index " << i;
}

TEST(AppliedSequencesTest, AppliesEachSequenceOnceAcrossRedeliveries) {
  TempDir dir;
  auto opts = DbOptions::ForTesting(dir.path());
  opts.column_families = {"applied", "data"};
  auto db = Db::Open(opts);
  ASSERT_TRUE(db.ok()) << db.status();
  AppliedSequences applied((*db).get(), (*db)->Cf("applied"));
  rocksdb::ColumnFamilyHandle* data = (*db)->Cf("data");
  // The effect of entry `seq` is +seq on one counter, so a double apply shows.
  auto apply = [&](const std::vector<uint64_t>& seqs) {
    return applied.Apply("feed-0/abc", seqs, [&](size_t i, rocksdb::WriteBatch* b) {
      return FromRocks(b->Merge(data, "sum", EncodeCounter(static_cast<int64_t>(seqs[i]))));
    });
  };
  auto sum = [&] {
    auto v = (*db)->Get(data, "sum");
    return v.ok() && v->has_value() ? DecodeCounter(**v) : -1;
  };
  ASSERT_EQ(*apply({1, 2, 3}), 3u);
  EXPECT_EQ(sum(), 6);
  ASSERT_EQ(*apply({2, 3}), 3u);  // a re-delivery
  EXPECT_EQ(sum(), 6);
  ASSERT_EQ(*apply({3, 4, 6}), 6u);  // overlapping, with a gap (a failed commit)
  EXPECT_EQ(sum(), 16);
  // Another producer has its own sequence space.
  ASSERT_EQ(*applied.Apply("feed-1/def", {1},
                           [&](size_t, rocksdb::WriteBatch* b) {
                             return FromRocks(b->Merge(data, "sum", EncodeCounter(100)));
                           }),
            1u);
  EXPECT_EQ(sum(), 116);
  // An effect that fails writes nothing, marker included.
  auto failed = applied.Apply("feed-0/abc", {7, 8}, [&](size_t i, rocksdb::WriteBatch* b) {
    if (i == 1) return absl::InvalidArgumentError("bad event");
    return FromRocks(b->Merge(data, "sum", EncodeCounter(7)));
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(*applied.LastApplied("feed-0/abc"), 6u);
  EXPECT_EQ(sum(), 116);
  EXPECT_FALSE(applied.Apply("", {1}, nullptr).ok());
}

TEST(DbTest, HashMemtableFamilyServesPrefixReadsBeforeAndAfterFlush) {
  TempDir dir;
  auto opts = DbOptions::ForTesting(dir.path());
  opts.column_families = {"home"};
  opts.prefix_bloom_lengths = {{"home", 8}};
  opts.hash_memtable_families = {"home"};
  auto prefix_ids = [&](Db& db, uint64_t owner) {
    std::vector<uint64_t> ids;
    std::string prefix = U64Key(owner);
    std::unique_ptr<rocksdb::Iterator> it(db.raw()->NewIterator({}, db.Cf("home")));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      ids.push_back(DecodeDescU64(absl::string_view(it->key().data() + 8, 8)));
    }
    return ids;
  };
  {
    auto db = Db::Open(opts);
    ASSERT_TRUE(db.ok()) << db.status();
    rocksdb::WriteBatch batch;
    for (uint64_t owner = 1; owner <= 50; ++owner) {
      for (uint64_t post = 1; post <= 20; ++post) {
        std::string key = U64Key(owner);
        AppendDescU64(&key, post * 7 + owner);
        batch.Put((*db)->Cf("home"), key, "");
      }
    }
    ASSERT_TRUE((*db)->Write(&batch).ok());
    auto ids = prefix_ids(**db, 7);
    ASSERT_EQ(ids.size(), 20u);
    EXPECT_TRUE(std::is_sorted(ids.rbegin(), ids.rend())) << "newest first within a prefix";
    EXPECT_EQ(ids.front(), 20u * 7 + 7);
    ASSERT_TRUE((*db)->raw()->Flush({}, (*db)->Cf("home")).ok());
    EXPECT_EQ(prefix_ids(**db, 7), ids);
  }
  auto db = Db::Open(opts);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(prefix_ids(**db, 50).size(), 20u);
  EXPECT_TRUE(prefix_ids(**db, 51).empty());
}

}  // namespace
}  // namespace parley::storage
