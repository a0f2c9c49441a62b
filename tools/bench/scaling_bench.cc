// Benchmark `scaling`: what a home timeline costs as the graph grows.
//
// Read cost: readers following 10, 100, 1k and 10k people (who each wrote a few
// posts, fanned out through the real outbox path; head of 800) read their first
// page of 20 with Feed::ListHomeTimeline (the core call, no gRPC); median over
// rounds of the mean ns per call. read_cost_ratio = cost at 10k / cost at 10.
// The pull path (the merge of every followee's posts that serves pages past the
// head) is timed the same way, from a page token in pull mode, and reported as
// pull_cost_ratio (informative: it grows with the followees by design).
//
// Space: E home entries (E/800 timelines × 800 posts) delivered through
// Feed::DeliverTimelineEntries into a fresh database, flushed and compacted:
// SST bytes of the "home" column family / E, against Redis's memory per sorted
// set entry for the same entries (INFO used_memory growth / E).
// bytes_ratio = parley / redis.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "feed_bench_util.h"
#include "parley/ids/ids.h"
#include "rocksdb/metadata.h"

namespace {

using parley::bench::Clock;

// Median over `rounds` of the mean ns per call of `fn`, each round about
// `budget_s` long (at least 3 calls).
template <typename Fn>
double MedianNsPerCall(Fn&& fn, int rounds, double budget_s) {
  for (int i = 0; i < 3; ++i) fn();  // warm up
  auto t = Clock::now();
  fn();
  const double one_s = std::max(1e-7, parley::bench::Seconds(Clock::now() - t));
  const int per_round = static_cast<int>(std::clamp(budget_s / one_s, 3.0, 1e6));
  std::vector<double> ns;
  for (int r = 0; r < rounds; ++r) {
    t = Clock::now();
    for (int i = 0; i < per_round; ++i) fn();
    ns.push_back(parley::bench::Seconds(Clock::now() - t) * 1e9 / per_round);
  }
  return parley::bench::Percentile(ns, 0.5);
}

// A home timeline page token in pull mode from the newest post: version 1,
// mode 'p', cursor 0 (big-endian u64), base64url, as feed.cc encodes tokens.
std::string PullFromNewestToken() {
  std::string raw = {'\x01', 'p'};
  raw.append(8, '\0');
  return absl::WebSafeBase64Escape(raw);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  const bool quick = bench::Quick(argc, argv);
  const uint64_t entries = quick ? 200000 : 1000000;
  const int rounds = quick ? 5 : 9;
  const double budget_s = quick ? 0.1 : 0.3;
  const std::vector<uint64_t> fanins = {10, 100, 1000, 10000};
  const uint64_t kAuthors = 10000;
  const int kPostsPerAuthor = 3;
  constexpr size_t kHead = 800;

  testing::TempDir dir;
  bench::RedisServer redis(dir.Sub("redis.log"));
  bench::FakeDirectory directory;

  // --- Read cost -----------------------------------------------------------
  auto db = bench::Must(storage::Db::Open(bench::FeedDbOptions(dir.Sub("read"))), "open db");
  auto core = bench::Must(feed::Feed::Create(db.get(), &directory, bench::BenchFeedOptions()),
                          "Feed::Create");
  core->outbox()->RegisterSubscriber("fanout");
  // Authors are 1..kAuthors; reader n follows the first fanins[n] of them.
  std::vector<std::pair<uint64_t, uint64_t>> edges;
  for (size_t n = 0; n < fanins.size(); ++n) {
    for (uint64_t a = 1; a <= fanins[n]; ++a) edges.emplace_back(kAuthors + 1 + n, a);
  }
  auto t = Clock::now();
  bench::FollowAll(core.get(), edges, 2);
  bench::SkipPending(core->outbox(), "fanout");
  uint64_t body = 0;
  for (int p = 0; p < kPostsPerAuthor; ++p) {
    for (uint64_t a = 1; a <= kAuthors; ++a) bench::Post(core.get(), a, bench::PostBody(body++));
  }
  bench::DrainFanOut(core.get());
  bench::FlushAll(db.get());
  const double setup_s = bench::Seconds(Clock::now() - t);

  const std::string pull_token = PullFromNewestToken();
  std::vector<double> head_ns, pull_ns;
  std::vector<uint64_t> head_entries;
  for (size_t n = 0; n < fanins.size(); ++n) {
    const uint64_t reader = kAuthors + 1 + n;
    const feed::TokenClaims claims = bench::Claims(reader);
    feed::pb::ListHomeTimelineRequest first;
    first.set_page_size(20);
    feed::pb::ListHomeTimelineRequest pulled = first;
    pulled.set_page_token(pull_token);
    for (const auto* req : {&first, &pulled}) {
      auto page = bench::Must(core->ListHomeTimeline(claims, *req), "ListHomeTimeline");
      if (page.posts_size() != 20) {
        bench::Die("reader of " + std::to_string(fanins[n]) + " got " +
                   std::to_string(page.posts_size()) + " posts, not 20");
      }
    }
    auto read = [&](const feed::pb::ListHomeTimelineRequest& request) {
      return [&core, &claims, req = &request] {
        auto page = core->ListHomeTimeline(claims, *req);
        if (!page.ok() || page->posts_size() == 0) bench::Die("ListHomeTimeline failed");
      };
    };
    head_ns.push_back(MedianNsPerCall(read(first), rounds, budget_s));
    pull_ns.push_back(MedianNsPerCall(read(pulled), rounds, budget_s));
    head_entries.push_back(core->HomeEntryCount(reader));
  }
  const double read_cost_ratio = head_ns.back() / head_ns.front();
  const double pull_cost_ratio = pull_ns.back() / pull_ns.front();

  // --- Bytes per entry -----------------------------------------------------
  const uint64_t owners = entries / kHead;  // timelines of kHead posts each
  const uint64_t total = owners * kHead;
  auto db2 = bench::Must(storage::Db::Open(bench::FeedDbOptions(dir.Sub("space"))), "open db");
  auto core2 = bench::Must(feed::Feed::Create(db2.get(), &directory, bench::BenchFeedOptions()),
                           "Feed::Create");
  // Post ids as a week of posting makes them (ids carry their millisecond),
  // by authors drawn from a few thousand people.
  int64_t clock_ms = 0;
  auto generator =
      bench::Must(ids::IdGenerator::Create(0, [&clock_ms] { return clock_ms; }), "IdGenerator");
  std::mt19937_64 rng(99);
  const int64_t week_ms = int64_t{7} * 24 * 3600 * 1000;
  const int64_t step_ms = week_ms / static_cast<int64_t>(kHead);
  std::uniform_int_distribution<int64_t> jitter(0, step_ms / 2);
  std::uniform_int_distribution<uint64_t> author(1, 5000);
  const int64_t start_ms = absl::ToUnixMillis(absl::Now()) - week_ms;
  std::vector<uint64_t> post_ids;
  rocksdb::ColumnFamilyHandle* counters = db2->Cf("counters");
  t = Clock::now();
  for (size_t k = 0; k < kHead; ++k) {
    clock_ms = start_ms + static_cast<int64_t>(k) * step_ms + jitter(rng);
    const uint64_t id = generator->Next();
    post_ids.push_back(id);
    feed::pb::DeliverTimelineEntriesRequest req;
    feed::pb::Post* p = req.mutable_post();
    p->set_id(id);
    p->set_org_id(bench::kOrgId);
    *p->mutable_author() = bench::PersonFor(author(rng)).ref;
    p->set_kind(common::v1::POST_KIND_STATUS);
    p->set_visibility(common::v1::VISIBILITY_ORG);
    p->set_body(bench::PostBody(k));
    for (uint64_t o = 1; o <= owners; ++o) {
      req.add_recipient_user_ids(o);
      if (static_cast<size_t>(req.recipient_user_ids_size()) == feed::kMaxDeliverRecipients ||
          o == owners) {
        bench::Check(core2->DeliverTimelineEntries(req), "DeliverTimelineEntries");
        req.clear_recipient_user_ids();
      }
    }
    // Setup speed only: every delivery merges +1 into its owner's entry count,
    // and reading a count walks every operand still in the memtable; a flush
    // folds them (the "home" family measured below is not touched).
    if (k % 50 == 49) {
      bench::Check(
          storage::FromRocks(db2->raw()->Flush(rocksdb::FlushOptions(), counters), "flush"),
          "flush counters");
    }
  }
  const double deliver_s = bench::Seconds(Clock::now() - t);
  rocksdb::ColumnFamilyHandle* home = db2->Cf("home");
  rocksdb::FlushOptions flush;
  flush.wait = true;
  bench::Check(storage::FromRocks(db2->raw()->Flush(flush, home), "flush"), "flush home");
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  bench::Check(
      storage::FromRocks(db2->raw()->CompactRange(compact, home, nullptr, nullptr), "compact"),
      "compact home");
  rocksdb::ColumnFamilyMetaData meta;
  db2->raw()->GetColumnFamilyMetaData(home, &meta);
  const double bytes_per_entry = static_cast<double>(meta.size) / static_cast<double>(total);

  bench::RedisClient client(redis.port(), 1000);
  redisContext* c = client.get();
  const int64_t before = client.UsedMemory();
  t = Clock::now();
  for (uint64_t id : post_ids) {
    const auto pid = static_cast<unsigned long long>(id);
    for (uint64_t o = 1; o <= owners; ++o) {
      redisAppendCommand(c, "ZADD timeline:%llu %llu %llu", static_cast<unsigned long long>(o), pid,
                         pid);
      client.Queued();
    }
  }
  client.ReadReplies();
  const double zadd_s = bench::Seconds(Clock::now() - t);
  const int64_t after = client.UsedMemory();
  const std::string card = client.Command("ZCARD timeline:1");
  const double redis_bytes_per_entry =
      static_cast<double>(after - before) / static_cast<double>(total);
  const double bytes_ratio = bytes_per_entry / redis_bytes_per_entry;

  std::printf("scaling benchmark (%s): %llu authors x %d posts, head %zu; setup %.1f s\n",
              quick ? "quick" : "full", static_cast<unsigned long long>(kAuthors), kPostsPerAuthor,
              kHead, setup_s);
  std::printf("%-10s %12s %16s %16s\n", "followees", "head_entries", "first_page_ns",
              "pull_page_ns");
  for (size_t n = 0; n < fanins.size(); ++n) {
    std::printf("%-10llu %12llu %16.0f %16.0f\n", static_cast<unsigned long long>(fanins[n]),
                static_cast<unsigned long long>(head_entries[n]), head_ns[n], pull_ns[n]);
  }
  std::printf("read_cost_ratio (10k / 10) %.3f, pull_cost_ratio %.1f\n", read_cost_ratio,
              pull_cost_ratio);
  std::printf("%-44s %12s %14s\n", "storage of home entries", "entries", "bytes/entry");
  std::printf("%-44s %12llu %14.2f\n", "parley: RocksDB \"home\" SST, compacted",
              static_cast<unsigned long long>(total), bytes_per_entry);
  std::printf("%-44s %12llu %14.2f\n", "redis: ZSET used_memory (ZCARD 800 each)",
              static_cast<unsigned long long>(total), redis_bytes_per_entry);
  std::printf("(delivered in %.1f s; ZADDed in %.1f s; %llu SST files, %llu bytes; ZCARD %s)\n",
              deliver_s, zadd_s, static_cast<unsigned long long>(meta.file_count),
              static_cast<unsigned long long>(meta.size), card.c_str());
  std::printf(
      "BENCH scaling read_cost_ratio=%.3f bytes_per_entry=%.2f redis_bytes_per_entry=%.2f "
      "bytes_ratio=%.3f pull_cost_ratio=%.3f\n",
      read_cost_ratio, bytes_per_entry, redis_bytes_per_entry, bytes_ratio, pull_cost_ratio);
  return 0;
}
