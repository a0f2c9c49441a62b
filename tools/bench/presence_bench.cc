// Benchmark `presence`: GetPresence of 100 people per call over gRPC, against
// the raw Redis work under it, in one run: the same 100 keys fetched with one
// MGET from C++ (hiredis).
//
// A real redis-server on a free loopback port; the notify service built
// in-process as NotifyModule builds it, with presence on a RedisPool of the
// module's default options (4 connections, 200 ms timeouts), behind a real
// server::Server on 127.0.0.1:0 (notify_bench_util.h). The org is synthetic
// (FakeDirectory): 10,000 people of org 1, every one with a heartbeat
// (Presence::Heartbeat, states and status texts varied). Callers are four of
// them, with access tokens minted by BenchAuth and verified by the production
// Authenticator.
//
// Each call asks for 100 distinct people drawn at random (1,000 fixed lists,
// cycled). K = 4 client threads, closed loop, for a fixed time: over gRPC one
// connection per thread; the baseline one hiredis connection per thread
// sending MGET of the same 100 presence keys. ratio = people/s over gRPC /
// people/s with raw MGET (target >= 0.5). Every gRPC answer is checked (each
// person's state as heartbeated); a wrong or failed one counts as an error.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "notify_bench_util.h"

namespace {

namespace npb = ::parley::notify::v1;
using parley::bench::Clock;

constexpr uint64_t kPeople = 10000;
constexpr int kPerCall = 100;
constexpr int kThreads = 4;
constexpr size_t kRequests = 1000;  // distinct lists of people, cycled
constexpr double kTargetRatio = 0.5;

npb::PresenceState StateOf(uint64_t id) {
  switch (id % 3) {
    case 0:
      return npb::PRESENCE_STATE_ONLINE;
    case 1:
      return npb::PRESENCE_STATE_AWAY;
    default:
      return npb::PRESENCE_STATE_DO_NOT_DISTURB;
  }
}

std::string StatusTextOf(uint64_t id) {
  switch (id % 4) {
    case 0:
      return "";
    case 1:
      return "In the office";
    case 2:
      return "Focus time until 3 pm, ping me if urgent";
    default:
      return "On a train, patchy connection";
  }
}

// One MGET, as hiredis takes it.
struct Mget {
  std::vector<std::string> args;  // "MGET", then the keys
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  const bool quick = bench::Quick(argc, argv);
  const double seconds = quick ? 2 : 5;

  testing::TempDir dir;
  bench::RedisServer redis(dir.Sub("redis.log"));  // killed by Die too
  const server::CommonConfig config = bench::BenchConfig(dir.path());
  auto credential =
      bench::Must(server::LoadServiceCredential(config, "bench"), "service credential");
  bench::FakeDirectory directory;
  bench::BenchAuth auth(credential.get(), bench::kOrgId, bench::kDomain);
  // Presence on a RedisPool made as NotifyModule::Create makes it from --redis_addr.
  bench::NotifyStack stack(config, &directory, auth.authenticator(),
                           absl::StrCat("127.0.0.1:", redis.port()));
  if (!testing::WaitFor([&] { return stack.redis()->up(); }, absl::Seconds(10))) {
    bench::Die("the presence Redis pool did not connect");
  }

  // Everyone heartbeats once (their presence lasts notify::kPresenceTtl, 90 s).
  const auto setup_start = Clock::now();
  for (uint64_t id = 1; id <= kPeople; ++id) {
    npb::HeartbeatRequest req;
    req.set_state(StateOf(id));
    req.set_status_text(StatusTextOf(id));
    bench::Must(stack.presence()->Heartbeat(bench::Claims(id), req), "Heartbeat");
  }
  {
    bench::RedisClient check(redis.port());
    const std::string keys = check.Command("DBSIZE");
    if (keys != std::to_string(kPeople)) {
      bench::Die("after the heartbeats Redis holds " + keys + " keys, expected " +
                 std::to_string(kPeople));
    }
  }
  const double heartbeat_s = bench::Seconds(Clock::now() - setup_start);

  // The calls: kRequests lists of kPerCall distinct people, as a gRPC request
  // and as an MGET of their presence keys.
  std::vector<npb::GetPresenceRequest> requests(kRequests);
  std::vector<Mget> mgets(kRequests);
  {
    std::mt19937_64 rng(42);
    std::vector<uint64_t> everyone(kPeople);
    std::iota(everyone.begin(), everyone.end(), uint64_t{1});
    for (size_t r = 0; r < kRequests; ++r) {
      Mget& m = mgets[r];
      m.args.push_back("MGET");
      for (size_t i = 0; i < static_cast<size_t>(kPerCall); ++i) {  // partial Fisher-Yates
        std::uniform_int_distribution<size_t> pick(i, everyone.size() - 1);
        std::swap(everyone[i], everyone[pick(rng)]);
        requests[r].add_user_ids(everyone[i]);
        m.args.push_back(notify::PresenceKey(everyone[i]));
      }
      for (const std::string& a : m.args) {  // args is complete: its strings stay put
        m.argv.push_back(a.data());
        m.argvlen.push_back(a.size());
      }
    }
  }

  // One connection per client thread, for each path.
  std::vector<std::unique_ptr<npb::NotificationService::Stub>> stubs;
  std::vector<std::string> tokens;
  std::vector<std::unique_ptr<bench::RedisClient>> clients;
  for (int t = 0; t < kThreads; ++t) {
    stubs.push_back(npb::NotificationService::NewStub(bench::OwnChannel(stack.port())));
    tokens.push_back(auth.UserToken(static_cast<uint64_t>(t) + 1));  // people 1..K ask
    clients.push_back(std::make_unique<bench::RedisClient>(redis.port()));
  }
  auto get_presence = [&](int t, uint64_t n) {
    const npb::GetPresenceRequest& req =
        requests[(n * kThreads + static_cast<uint64_t>(t)) % kRequests];
    grpc::ClientContext ctx;
    bench::Prepare(&ctx, tokens[t]);
    npb::GetPresenceResponse resp;
    if (!stubs[t]->GetPresence(&ctx, req, &resp).ok() || resp.presences_size() != kPerCall) {
      return false;
    }
    for (int i = 0; i < kPerCall; ++i) {
      const npb::Presence& p = resp.presences(i);
      if (p.user_id() != req.user_ids(i) || p.state() != StateOf(p.user_id())) return false;
    }
    return true;
  };
  auto raw_mget = [&](int t, uint64_t n) {
    Mget& m = mgets[(n * kThreads + static_cast<uint64_t>(t)) % kRequests];
    auto* reply = static_cast<redisReply*>(redisCommandArgv(
        clients[t]->get(), static_cast<int>(m.argv.size()), m.argv.data(), m.argvlen.data()));
    if (reply == nullptr) bench::Die(std::string("redis MGET: ") + clients[t]->get()->errstr);
    bool ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == static_cast<size_t>(kPerCall);
    for (size_t i = 0; ok && i < reply->elements; ++i) {
      ok = reply->element[i]->type == REDIS_REPLY_STRING;
    }
    freeReplyObject(reply);
    return ok;
  };
  if (!get_presence(0, 0)) bench::Die("GetPresence did not return the heartbeated states");
  if (!raw_mget(0, 0)) bench::Die("MGET did not return every presence key");

  uint64_t grpc_errors = 0, redis_errors = 0;
  bench::Throughput(kThreads, 0.5, raw_mget, nullptr);  // warm up connections and caches
  bench::Throughput(kThreads, 0.5, get_presence, nullptr);
  const double redis_calls_per_s = bench::Throughput(kThreads, seconds, raw_mget, &redis_errors);
  const double calls_per_s = bench::Throughput(kThreads, seconds, get_presence, &grpc_errors);
  const double people_per_s = calls_per_s * kPerCall;
  const double redis_people_per_s = redis_calls_per_s * kPerCall;
  const double ratio = people_per_s / redis_people_per_s;

  std::printf(
      "presence benchmark (%s): %llu people of one org, each with a heartbeat (%.1f s); %d "
      "people per call; %d client threads, one connection each; %.0f s per phase; presence "
      "Redis pool of %zu connections\n",
      quick ? "quick" : "full", static_cast<unsigned long long>(kPeople), heartbeat_s, kPerCall,
      kThreads, seconds, stack.redis()->options().connections);
  std::printf("%-48s %10s %12s %8s\n", "path (closed loop)", "calls/s", "people/s", "errors");
  std::printf("%-48s %10.0f %12.0f %8llu\n", "GetPresence over gRPC (auth, directory, MGET)",
              calls_per_s, people_per_s, static_cast<unsigned long long>(grpc_errors));
  std::printf("%-48s %10.0f %12.0f %8llu\n", "MGET of the same keys from C++ (hiredis)",
              redis_calls_per_s, redis_people_per_s, static_cast<unsigned long long>(redis_errors));
  std::printf("ratio (gRPC / raw MGET) %.3f; target >= %.1f: %s\n", ratio, kTargetRatio,
              ratio >= kTargetRatio ? "met" : "NOT met");
  std::printf("BENCH presence people_per_s=%.0f redis_people_per_s=%.0f ratio=%.3f\n", people_per_s,
              redis_people_per_s, ratio);

  stack.Stop();
  return grpc_errors == 0 && redis_errors == 0 ? 0 : 1;
}
