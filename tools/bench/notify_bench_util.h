// Shared pieces of the notifications benchmarks (notify_stream, presence): the
// notify service's objects wired as NotifyModule::Create wires them, behind a
// real server::Server on 127.0.0.1:0, over the synthetic org of
// feed_bench_util.h (FakeDirectory: everyone is an active member of org 1).
// User tokens come from bench_auth.h's BenchAuth.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench_auth.h"
#include "feed_bench_util.h"
#include "grpc_bench_util.h"
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

}  // namespace parley::bench
