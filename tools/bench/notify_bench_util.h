// Shared pieces of the notifications benchmarks (notify_stream, presence): the
// notify service's objects wired as NotifyModule::Create wires them, behind a
// real server::Server on 127.0.0.1:0, over the synthetic org of
// feed_bench_util.h (FakeDirectory: everyone is an active member of org 1).
//
// Tokens. The benchmarks need access tokens for thousands of synthetic people,
// which identity cannot issue in a benchmark's time: every login is an
// argon2id verification (and each person an argon2id registration), and
// identity refuses more than kMaxLoginsPerAddress (60) logins a minute from
// one address. So BenchAuth stands in for identity's signing key: it mints
// user access tokens with the claims Identity::IssueTokens puts in them, and
// builds the Authenticator the way directory::ConnectIdentity does (a user
// Verifier over a key ring holding the public key, a service Verifier over the
// service credential's key). Every call is therefore authenticated by the
// production Authenticator and Verifier code (Ed25519 signature, kind, expiry);
// only where the verification key comes from differs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "feed_bench_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/grpc.h"
#include "grpc_bench_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "notify/src/hub.h"
#include "notify/src/inbox.h"
#include "notify/src/module.h"
#include "notify/src/notify_service.h"
#include "notify/src/presence.h"
#include "notify/src/redis.h"
#include "parley/auth/auth.h"
#include "parley/notify/v1/notify.grpc.pb.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"
#include "parley/storage/db.h"
#include "prometheus/registry.h"

namespace parley::bench {

namespace npb = ::parley::notify::v1;

// Identity's part, for the benchmark: see the comment at the top.
class BenchAuth {
 public:
  explicit BenchAuth(auth::ServiceCredential* credential)
      : key_(auth::GenerateSigningKey(absl::Now())) {
    auto user_ring = std::make_shared<auth::KeyRing>();
    user_ring->Add(auth::PublicPart(key_));
    auto user_verifier = std::make_shared<auth::Verifier>(
        user_ring, auth::VerifierOptions{.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS});
    auto service_ring = std::make_shared<auth::KeyRing>();
    service_ring->Add(credential->verification_key());
    auto service_verifier = std::make_shared<auth::Verifier>(
        service_ring, auth::VerifierOptions{.kind = auth::TokenKind::TOKEN_KIND_SERVICE});
    authenticator_ = std::make_unique<auth::Authenticator>(user_verifier, service_verifier);
  }
  BenchAuth(const BenchAuth&) = delete;
  BenchAuth& operator=(const BenchAuth&) = delete;

  auth::Authenticator* authenticator() const { return authenticator_.get(); }

  // An access token of member `user_id` of the synthetic org, valid for
  // auth::kAccessTokenLifetime (15 min) from now, as identity issues it.
  std::string UserToken(uint64_t user_id) {
    using google::protobuf::util::TimeUtil;
    const absl::Time now = absl::Now();
    auth::TokenClaims claims = Claims(user_id);  // kind, user, org, domain, roles
    *claims.mutable_issue_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
    *claims.mutable_expire_time() =
        TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now + auth::kAccessTokenLifetime));
    claims.set_token_id(absl::StrCat("bench-", ++minted_));
    return auth::Mint(key_, std::move(claims));
  }

 private:
  const auth::SigningKey key_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::atomic<uint64_t> minted_{0};
};

// The notify service as NotifyModule::Create builds it with one shard (the
// same database options; Inbox::SetOnChange waking the StreamHub, nothing
// published; kMaxStreamsPerUser; with `redis_addr`, a RedisPool of the
// default options for presence, else presence is not configured), with
// `directory` and `authenticator` in place of identity's; served on
// 127.0.0.1:0.
class NotifyStack {
 public:
  NotifyStack(const server::CommonConfig& config, directory::Directory* directory,
              auth::Authenticator* authenticator, const std::string& redis_addr = "") {
    hub_ = std::make_unique<notify::StreamHub>(notify::kMaxStreamsPerUser);
    if (!redis_addr.empty()) {
      // The module's callback also sets a gauge and, with several shards,
      // wakes every stream; neither matters here.
      redis_ = std::make_unique<notify::RedisPool>(
          Must(notify::ParseRedisAddress(redis_addr), "redis address"), [](bool) {});
    }
    storage::DbOptions db_options;
    db_options.path = config.data_dir + "/notify";
    db_options.column_families = notify::Inbox::ColumnFamilies();
    db_options.prefix_bloom_lengths = {{"inbox", 8}, {"unread", 8}};
    db_options.sync_writes = config.sync_writes;
    db_ = Must(storage::Db::Open(db_options), "open the notify database");
    inbox_ =
        Must(notify::Inbox::Create(db_.get(), directory, notify::InboxOptions{}), "Inbox::Create");
    inbox_->SetOnChange([hub = hub_.get()](const std::vector<uint64_t>& users) {
      for (uint64_t u : users) hub->Notify(u);
    });
    presence_ = std::make_unique<notify::Presence>(redis_.get(), directory);
    public_service_ = std::make_unique<notify::NotificationGrpcService>(
        inbox_.get(), presence_.get(), hub_.get(), directory, authenticator);
    internal_service_ =
        std::make_unique<notify::NotificationInternalGrpcService>(inbox_.get(), authenticator);
    std::vector<server::HostedService> hosted = {
        {public_service_.get(), npb::NotificationService::service_full_name()},
        {internal_service_.get(), npb::NotificationInternalService::service_full_name()}};
    server_ =
        Must(server::Server::Start(config.server, hosted, std::make_shared<prometheus::Registry>()),
             "server");
  }
  ~NotifyStack() { Stop(); }
  NotifyStack(const NotifyStack&) = delete;
  NotifyStack& operator=(const NotifyStack&) = delete;

  int port() const { return server_->grpc_port(); }
  notify::Inbox* inbox() const { return inbox_.get(); }
  notify::StreamHub* hub() const { return hub_.get(); }
  notify::Presence* presence() const { return presence_.get(); }
  notify::RedisPool* redis() const { return redis_.get(); }  // null without redis_addr

  // Ends the open streams (NotifyModule::StopStreams), then drains the server.
  void Stop() {
    if (server_ == nullptr) return;
    hub_->Stop();
    server_->Drain();
    server_.reset();
  }

 private:
  std::unique_ptr<notify::StreamHub> hub_;
  std::unique_ptr<notify::RedisPool> redis_;  // null without redis_addr
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<notify::Inbox> inbox_;
  std::unique_ptr<notify::Presence> presence_;
  std::unique_ptr<notify::NotificationGrpcService> public_service_;
  std::unique_ptr<notify::NotificationInternalGrpcService> internal_service_;
  std::unique_ptr<server::Server> server_;
};

// The configuration the benchmarks serve with: a fresh data dir, loopback on a
// free port, no /metrics endpoint.
inline server::CommonConfig BenchConfig(const std::string& data_dir) {
  server::CommonConfig config;
  config.data_dir = data_dir;
  config.server.grpc_addr = "127.0.0.1:0";
  config.server.metrics_addr = "";
  config.server.drain_timeout = absl::Seconds(2);
  return config;
}

// A 30 s deadline and, unless empty, "authorization: Bearer <token>".
inline void Prepare(grpc::ClientContext* ctx, const std::string& token) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
}

inline void CheckRpc(const grpc::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.error_message());
}

}  // namespace parley::bench
