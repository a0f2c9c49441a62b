// Benchmark `visibility`: how long after CreatePost returns a post is in the
// home timeline of every follower, for authors with 100, 1k and 10k followers
// (pushed by the real "fanout" Dispatcher running Feed::FanOut, configured as
// FeedModule configures it), and for an author above the push threshold (100k
// followers; --quick: 20k), whose posts readers merge at read time.
//
// Pushed: the time until the outbox has no entry pending for "fanout" (polled
// every 100 µs); a sample of followers' home timelines is then checked, outside
// the timing. Pulled: the time until one follower's ListHomeTimeline first
// returns the post. The org is synthetic (an in-memory Directory).
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "feed_bench_util.h"

namespace {

using parley::bench::Clock;

struct Author {
  const char* label;
  uint64_t id;
  size_t followers;
  bool pulled;
};

struct Result {
  std::vector<double> ms;
  int checked = 0;
  int missing = 0;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  const bool quick = bench::Quick(argc, argv);
  const int reps = quick ? 5 : 20;
  const uint64_t people = quick ? 20000 : 100000;   // followers of the pulled author
  const auto idle = std::chrono::milliseconds(20);  // the worker is idle when a post arrives
  const auto timeout = std::chrono::seconds(120);

  testing::TempDir dir;
  auto db = bench::Must(storage::Db::Open(bench::FeedDbOptions(dir.Sub("feed"))), "open db");
  bench::FakeDirectory directory;
  feed::FeedOptions options = bench::BenchFeedOptions();
  options.fanout_push_threshold = 10000;
  auto core = bench::Must(feed::Feed::Create(db.get(), &directory, options), "Feed::Create");
  storage::Outbox* outbox = core->outbox();
  feed::Feed* f = core.get();
  std::unique_ptr<storage::Dispatcher> dispatcher = f->NewFanOutDispatcher();  // as FeedModule

  // People 1..people; each author's followers are a prefix of one shuffled
  // order, so the first person follows all four authors.
  std::vector<uint64_t> order(people);
  std::iota(order.begin(), order.end(), uint64_t{1});
  std::mt19937_64 rng(42);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<Author> authors = {{"100", people + 1, 100, false},
                                 {"1k", people + 2, 1000, false},
                                 {"10k", people + 3, 10000, false},
                                 {"100k", people + 4, people, true}};
  std::vector<std::pair<uint64_t, uint64_t>> edges;
  for (const Author& a : authors) {
    for (size_t i = 0; i < a.followers; ++i) edges.emplace_back(order[i], a.id);
  }
  std::shuffle(edges.begin(), edges.end(), rng);
  auto t = Clock::now();
  bench::FollowAll(f, edges, 2);
  const double follow_s = bench::Seconds(Clock::now() - t);
  bench::SkipPending(outbox, "fanout");
  dispatcher->Start();

  auto drained = [&] {
    const auto deadline = Clock::now() + timeout;
    while (outbox->Pending("fanout") != 0) {
      if (Clock::now() > deadline) bench::Die("fan-out did not drain within 120 s");
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  };

  std::vector<Result> results(authors.size());
  uint64_t body = 0;
  for (size_t n = 0; n < authors.size(); ++n) {
    const Author& a = authors[n];
    Result& r = results[n];
    const uint64_t reader = order[0];  // follows every author
    if (a.pulled) {
      // The author's first post makes the fan-out worker mark them as pulled;
      // measure the steady state after that.
      const uint64_t first = bench::Post(f, a.id, bench::PostBody(body++));
      drained();
      if (!bench::HomeHas(f, reader, first))
        bench::Die("the pulled author's first post is missing");
    }
    std::uniform_int_distribution<size_t> pick(0, a.followers - 1);
    for (int rep = 0; rep < reps; ++rep) {
      std::this_thread::sleep_for(idle);
      const uint64_t id = bench::Post(f, a.id, bench::PostBody(body++));
      const auto created = Clock::now();
      if (a.pulled) {
        const auto deadline = created + timeout;
        while (!bench::HomeHas(f, reader, id)) {
          if (Clock::now() > deadline) bench::Die("a pulled post never appeared");
        }
        r.ms.push_back(bench::Millis(Clock::now() - created));
        ++r.checked;
      } else {
        drained();
        r.ms.push_back(bench::Millis(Clock::now() - created));
        // Outside the timing: the first, the last and a few random followers have it.
        std::vector<size_t> sample = {0, a.followers - 1, pick(rng), pick(rng), pick(rng)};
        for (size_t i : sample) {
          ++r.checked;
          if (!bench::HomeHas(f, order[i], id)) ++r.missing;
        }
      }
    }
  }

  std::printf(
      "visibility benchmark (%s): %d posts per author, push threshold %llu, %zu follows "
      "in %.1f s\n",
      quick ? "quick" : "full", reps,
      static_cast<unsigned long long>(options.fanout_push_threshold), edges.size(), follow_s);
  std::printf("%-8s %10s %6s %10s %10s %10s %12s\n", "author", "followers", "mode", "p50_ms",
              "p99_ms", "max_ms", "homes_ok");
  bool all_ok = true;
  for (size_t n = 0; n < authors.size(); ++n) {
    const Result& r = results[n];
    all_ok = all_ok && r.missing == 0;
    std::printf("%-8s %10zu %6s %10.3f %10.3f %10.3f %6d/%-5d\n", authors[n].label,
                authors[n].followers, authors[n].pulled ? "pull" : "push",
                bench::Percentile(r.ms, 0.5), bench::Percentile(r.ms, 0.99),
                bench::Percentile(r.ms, 1.0), r.checked - r.missing, r.checked);
  }
  std::printf("BENCH visibility p99_ms_100=%.3f p99_ms_1k=%.3f p99_ms_10k=%.3f p99_ms_100k=%.3f\n",
              bench::Percentile(results[0].ms, 0.99), bench::Percentile(results[1].ms, 0.99),
              bench::Percentile(results[2].ms, 0.99), bench::Percentile(results[3].ms, 0.99));
  dispatcher->Stop();
  return all_ok ? 0 : 1;
}
