// Benchmark `timeline_read`: a hydrated home page of 20 over gRPC, against a
// no-op RPC (grpc.health.v1.Health/Check) on the same server, in one run.
//
// The server is the all-in-one's: identity and feed modules in one
// server::Server on loopback, feed reaching identity through the in-process
// channel and caching people for user_cache_ttl_s (the default 10 s). Real
// users are registered; one reader follows 30 authors who wrote 30 posts each.
// Peak throughput: K client threads (one connection each), closed loop, for a
// fixed time; ratio = reads/s / no-ops/s. Latency: reads issued open loop at
// half the measured peak (each measured from its scheduled send time), p50/p99.
#include <atomic>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "feed/src/module.h"
#include "feed_bench_util.h"
#include "grpc/grpc.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc_bench_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "identity/src/module.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"

ABSL_DECLARE_FLAG(int, user_cache_ttl_s);
ABSL_DECLARE_FLAG(int, post_rate_per_minute);

namespace {

namespace idpb = ::parley::identity::v1;
namespace fpb = ::parley::feed::v1;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using parley::bench::Clock;

constexpr char kPassword[] = "benchmark password";

void Prepare(grpc::ClientContext* ctx, const std::string& token) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
}

void CheckRpc(const grpc::Status& s, const char* what) {
  if (!s.ok()) parley::bench::Die(std::string(what) + ": " + s.error_message());
}

// A channel with its own connection (no subchannel sharing between threads).

struct Paced {
  std::vector<double> latency_ms;  // from each call's scheduled send time
  uint64_t errors = 0;
  double achieved_per_s = 0;
};

// Open loop: call n is due at start + n / rate; `threads` threads take the
// calls round-robin and sleep until each is due.
Paced RunPaced(int threads, double rate, double seconds, const std::function<bool(int)>& call) {
  const uint64_t total = static_cast<uint64_t>(rate * seconds);
  const auto start = Clock::now() + std::chrono::milliseconds(10);
  std::vector<std::vector<double>> latencies(threads);
  std::atomic<uint64_t> errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t n = static_cast<uint64_t>(t); n < total; n += static_cast<uint64_t>(threads)) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(n) / rate));
        std::this_thread::sleep_until(due);
        if (!call(t)) ++errors;
        latencies[t].push_back(parley::bench::Millis(Clock::now() - due));
      }
    });
  }
  for (auto& w : workers) w.join();
  Paced out;
  out.achieved_per_s = static_cast<double>(total) / parley::bench::Seconds(Clock::now() - start);
  for (auto& l : latencies) out.latency_ms.insert(out.latency_ms.end(), l.begin(), l.end());
  out.errors = errors.load();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  const bool quick = bench::Quick(argc, argv);
  const int kThreads = 8;
  const double seconds = quick ? 2 : 5;
  const int kAuthors = 30;
  const int kPostsEach = 30;

  absl::SetFlag(&FLAGS_user_cache_ttl_s, 10);
  absl::SetFlag(&FLAGS_post_rate_per_minute, 100000);
  testing::TempDir dir;
  server::CommonConfig config;
  config.data_dir = dir.path();
  config.server.grpc_addr = "127.0.0.1:0";
  config.server.metrics_addr = "";
  config.server.drain_timeout = absl::Seconds(2);
  auto credential = bench::Must(server::LoadServiceCredential(config, "bench"), "credential");
  auto identity_module =
      bench::Must(identity::IdentityModule::Create(config, *credential), "identity");
  auto slot = std::make_shared<feed::ChannelSlot>();
  auto feed_module = bench::Must(feed::FeedModule::Create(config, credential.get(), slot), "feed");
  std::vector<server::HostedService> hosted = identity_module->Hosted();
  for (auto& h : feed_module->Hosted()) hosted.push_back(h);
  auto srv = bench::Must(
      server::Server::Start(config.server, hosted, std::make_shared<prometheus::Registry>()),
      "server");
  slot->Set(srv->InProcessChannel());
  const int port = srv->grpc_port();

  // Real people: an org, its admin, 30 authors and a reader (argon2id each).
  auto setup_start = Clock::now();
  auto channel = bench::OwnChannel(port);
  auto id = idpb::IdentityService::NewStub(channel);
  auto id_internal = idpb::IdentityInternalService::NewStub(channel);
  idpb::CreateOrganizationResponse org;
  {
    idpb::CreateOrganizationRequest req;
    req.set_domain(bench::kDomain);
    req.set_display_name("Bench");
    grpc::ClientContext ctx;
    Prepare(&ctx, credential->Token());
    CheckRpc(id_internal->CreateOrganization(&ctx, req, &org), "CreateOrganization");
  }
  auto register_user = [&](const std::string& handle, const std::string& code) {
    idpb::RegisterRequest req;
    req.set_domain(bench::kDomain);
    req.set_handle(handle);
    req.set_password(kPassword);
    req.set_display_name(handle);
    req.set_invite_code(code);
    idpb::RegisterResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, "");
    CheckRpc(id->Register(&ctx, req, &resp), "Register");
    return resp.user().id();
  };
  auto login = [&](const std::string& handle) {
    idpb::LoginRequest req;
    req.set_login(handle + "@" + bench::kDomain);
    req.set_password(kPassword);
    idpb::LoginResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, "");
    CheckRpc(id->Login(&ctx, req, &resp), "Login");
    return resp.access_token();
  };
  register_user("admin", org.admin_invite().code());
  const std::string admin_token = login("admin");
  auto invite = [&] {
    idpb::CreateInviteRequest req;
    req.set_role(idpb::ROLE_MEMBER);
    idpb::CreateInviteResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, admin_token);
    CheckRpc(id->CreateInvite(&ctx, req, &resp), "CreateInvite");
    return resp.invite().code();
  };
  auto claims_of = [&](uint64_t user_id) {
    feed::TokenClaims c;
    c.set_kind(auth::TokenKind::TOKEN_KIND_USER_ACCESS);
    c.set_user_id(user_id);
    c.set_org_id(org.organization().id());
    c.set_org_domain(bench::kDomain);
    c.add_roles("member");
    return c;
  };
  std::vector<uint64_t> authors;
  for (int i = 0; i < kAuthors; ++i) {
    authors.push_back(register_user("author" + std::to_string(i), invite()));
  }
  const uint64_t reader = register_user("reader", invite());
  const std::string token = login("reader");

  // The graph and the posts, through the feed core; fan-out by the module's worker.
  feed::Feed* core = feed_module->feed.get();
  for (uint64_t a : authors) bench::Check(core->Follow(claims_of(reader), a), "Follow");
  uint64_t body = 0;
  for (int p = 0; p < kPostsEach; ++p) {
    for (uint64_t a : authors) {
      fpb::CreatePostRequest req;
      req.set_body(bench::PostBody(body++));
      bench::Must(core->CreatePost(claims_of(a), req), "CreatePost");
    }
  }
  if (!testing::WaitFor([&] { return core->outbox()->Pending("fanout") == 0; },
                        absl::Seconds(60))) {
    bench::Die("fan-out did not drain within 60 s");
  }
  const double setup_s = bench::Seconds(Clock::now() - setup_start);

  // One connection per client thread.
  std::vector<std::unique_ptr<fpb::FeedService::Stub>> feed_stubs;
  std::vector<std::unique_ptr<Health::Stub>> health_stubs;
  for (int t = 0; t < kThreads; ++t) {
    auto ch = bench::OwnChannel(port);
    feed_stubs.push_back(fpb::FeedService::NewStub(ch));
    health_stubs.push_back(Health::NewStub(ch));
  }
  auto read = [&](int t) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    fpb::ListHomeTimelineRequest req;
    req.set_page_size(20);
    fpb::ListHomeTimelineResponse resp;
    return feed_stubs[t]->ListHomeTimeline(&ctx, req, &resp).ok() && resp.posts_size() == 20;
  };
  auto noop = [&](int t) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);  // the same metadata on the wire as a read
    HealthCheckRequest req;
    HealthCheckResponse resp;
    return health_stubs[t]->Check(&ctx, req, &resp).ok() &&
           resp.status() == HealthCheckResponse::SERVING;
  };
  if (!read(0)) bench::Die("the reader's first page is not 20 posts");
  if (!noop(0)) bench::Die("Health/Check failed");

  uint64_t read_errors = 0, noop_errors = 0;
  bench::Throughput(kThreads, 0.5, noop, nullptr);  // warm up connections and caches
  const double noop_per_s = bench::Throughput(kThreads, seconds, noop, &noop_errors);
  bench::Throughput(kThreads, 0.5, read, nullptr);
  const double reads_per_s = bench::Throughput(kThreads, seconds, read, &read_errors);
  const double ratio = reads_per_s / noop_per_s;
  const Paced paced = RunPaced(kThreads, reads_per_s / 2, seconds, read);
  const double p50 = bench::Percentile(paced.latency_ms, 0.5);
  const double p99 = bench::Percentile(paced.latency_ms, 0.99);

  std::printf(
      "timeline_read benchmark (%s): %d authors x %d posts, one reader; %d client threads, "
      "%.0f s per phase; setup %.1f s\n",
      quick ? "quick" : "full", kAuthors, kPostsEach, kThreads, seconds, setup_s);
  std::printf("%-42s %12s %8s\n", "rpc (closed loop, peak)", "calls/s", "errors");
  std::printf("%-42s %12.0f %8llu\n", "ListHomeTimeline, page of 20, hydrated", reads_per_s,
              static_cast<unsigned long long>(read_errors));
  std::printf("%-42s %12.0f %8llu\n", "grpc.health.v1.Health/Check (no-op)", noop_per_s,
              static_cast<unsigned long long>(noop_errors));
  std::printf("%-42s %12.3f\n", "ratio (reads / no-ops)", ratio);
  std::printf(
      "open loop at half the peak: %.0f reads/s offered, %.0f achieved, %zu calls, "
      "%llu errors: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
      reads_per_s / 2, paced.achieved_per_s, paced.latency_ms.size(),
      static_cast<unsigned long long>(paced.errors), p50, p99,
      bench::Percentile(paced.latency_ms, 1.0));
  std::printf(
      "BENCH timeline_read reads_per_s=%.0f noop_per_s=%.0f ratio=%.3f p50_ms=%.3f "
      "p99_ms=%.3f\n",
      reads_per_s, noop_per_s, ratio, p50, p99);

  srv->Drain();
  srv.reset();
  feed_module.reset();
  identity_module.reset();
  return read_errors == 0 && paced.errors == 0 ? 0 : 1;
}
