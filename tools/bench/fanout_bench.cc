// Benchmark `fanout`: durable home-timeline deliveries per second through the
// real fan-out path (outbox → Feed::FanOut → RocksDB with the WAL on, no fsync
// per write, as FeedModule opens it), beside a Mastodon-style baseline in the
// same run: the same deliveries as pipelined
//   ZADD timeline:<follower> <post id> <post id>
//   ZREMRANGEBYRANK timeline:<follower> 0 -801
// into a real redis-server on loopback (ratio = Parley / Redis).
//
// The org is synthetic (an in-memory Directory): N people with a power-law
// follow graph whose most-followed have 10,000 followers (the default push
// threshold, so every post is pushed); the 15% most-followed people write 85%
// of the posts. Posts are written first; the timed part drains the outbox the
// way the "fanout" dispatcher does (batches of 256, acknowledged).
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "feed_bench_util.h"

int main(int argc, char** argv) {
  using namespace parley;
  using bench::Clock;
  const bool quick = bench::Quick(argc, argv);
  const uint64_t users = quick ? 5000 : 20000;
  const uint64_t cap = std::min<uint64_t>(10000, users / 2);
  const uint64_t top = 4;  // people with `cap` followers
  const uint64_t posts = quick ? 10000 : 40000;
  const uint64_t writers = users * 15 / 100;  // the most-followed 15% write 85% of posts

  testing::TempDir dir;
  bench::RedisServer redis(dir.Sub("redis.log"));
  auto db = bench::Must(storage::Db::Open(bench::FeedDbOptions(dir.Sub("feed"))), "open db");
  bench::FakeDirectory directory;
  auto core = bench::Must(feed::Feed::Create(db.get(), &directory, bench::BenchFeedOptions()),
                          "Feed::Create");
  storage::Outbox* outbox = core->outbox();
  outbox->RegisterSubscriber("fanout");

  // The graph.
  auto t = Clock::now();
  const bench::Graph graph = bench::PowerLawGraph(users, cap, top, 42);
  bench::FollowAll(core.get(), graph.Edges(7), 2);
  const double follow_s = bench::Seconds(Clock::now() - t);
  bench::SkipPending(outbox, "fanout");

  // The posts (not timed with the fan-out).
  std::mt19937_64 rng(1234);
  std::bernoulli_distribution by_writer(0.85);
  std::uniform_int_distribution<uint64_t> writer(1, writers);
  std::uniform_int_distribution<uint64_t> other(writers + 1, users);
  std::vector<std::pair<uint64_t, uint64_t>> made;  // (post id, author), oldest first
  made.reserve(posts);
  t = Clock::now();
  for (uint64_t i = 0; i < posts; ++i) {
    const uint64_t author = by_writer(rng) ? writer(rng) : other(rng);
    made.emplace_back(bench::Post(core.get(), author, bench::PostBody(i)), author);
  }
  const double post_s = bench::Seconds(Clock::now() - t);

  std::vector<int64_t> follower_count(users + 1, -1);
  uint64_t deliveries = 0;
  for (const auto& [id, author] : made) {
    if (follower_count[author] < 0) {
      follower_count[author] = static_cast<int64_t>(core->FollowerCount(author));
      if (static_cast<size_t>(follower_count[author]) != graph.followers[author].size()) {
        bench::Die("FollowerCount(" + std::to_string(author) + ") is " +
                   std::to_string(follower_count[author]) + ", the graph has " +
                   std::to_string(graph.followers[author].size()));
      }
    }
    deliveries += static_cast<uint64_t>(follower_count[author]);
  }
  bench::FlushAll(db.get());  // start the timed part with empty memtables

  // Parley: drain the outbox through Feed::FanOut.
  t = Clock::now();
  const uint64_t entries = bench::DrainFanOut(core.get());
  const double feed_s = bench::Seconds(Clock::now() - t);
  const double feed_per_s = static_cast<double>(deliveries) / feed_s;
  // Spot check: the newest post is at the top of its author's first follower's home.
  const auto [last_id, last_author] = made.back();
  const uint64_t check_owner = graph.followers[last_author].front();
  const auto check_page = bench::Home(core.get(), check_owner, 1);
  const bool feed_ok = check_page.posts_size() == 1 && check_page.posts(0).id() == last_id;

  // Baseline: the same deliveries into Redis sorted sets, pipelined.
  bench::RedisClient client(redis.port(), 1000);
  redisContext* c = client.get();
  t = Clock::now();
  for (const auto& [id, author] : made) {
    const auto pid = static_cast<unsigned long long>(id);
    for (uint64_t f : graph.followers[author]) {
      const auto key = static_cast<unsigned long long>(f);
      redisAppendCommand(c, "ZADD timeline:%llu %llu %llu", key, pid, pid);
      client.Queued();
      redisAppendCommand(c, "ZREMRANGEBYRANK timeline:%llu 0 -801", key);
      client.Queued();
    }
  }
  client.ReadReplies();
  const double redis_s = bench::Seconds(Clock::now() - t);
  const double redis_per_s = static_cast<double>(deliveries) / redis_s;
  const std::string zscore =
      "ZSCORE timeline:" + std::to_string(check_owner) + " " + std::to_string(last_id);
  const bool redis_ok = !client.Command(zscore.c_str()).empty();

  std::printf(
      "fanout benchmark (%s): %llu people, %zu follow edges (max %zu followers, push "
      "threshold %llu), %llu posts (%llu outbox entries), %.1f deliveries per post\n",
      quick ? "quick" : "full", static_cast<unsigned long long>(users), graph.edges,
      graph.max_followers(), static_cast<unsigned long long>(core->options().fanout_push_threshold),
      static_cast<unsigned long long>(posts), static_cast<unsigned long long>(entries),
      static_cast<double>(deliveries) / static_cast<double>(posts));
  std::printf("setup: %.1f s for the follows (%.0f/s, 2 threads), %.1f s for the posts (%.0f/s)\n",
              follow_s, static_cast<double>(graph.edges) / follow_s, post_s,
              static_cast<double>(posts) / post_s);
  std::printf("%-44s %12s %9s %14s %6s\n", "path", "deliveries", "seconds", "deliveries/s",
              "check");
  std::printf("%-44s %12llu %9.2f %14.0f %6s\n", "parley: outbox -> Feed::FanOut -> RocksDB",
              static_cast<unsigned long long>(deliveries), feed_s, feed_per_s,
              feed_ok ? "ok" : "FAIL");
  std::printf("%-44s %12llu %9.2f %14.0f %6s\n", "redis: ZADD + ZREMRANGEBYRANK, pipelined x1000",
              static_cast<unsigned long long>(deliveries), redis_s, redis_per_s,
              redis_ok ? "ok" : "FAIL");
  std::printf("%-44s %12s %9s %14.3f\n", "ratio (parley / redis)", "", "",
              feed_per_s / redis_per_s);
  std::printf("BENCH fanout deliveries_per_s=%.0f baseline_per_s=%.0f ratio=%.3f\n", feed_per_s,
              redis_per_s, feed_per_s / redis_per_s);
  return feed_ok && redis_ok ? 0 : 1;
}
