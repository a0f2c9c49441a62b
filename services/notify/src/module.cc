#include "notify/src/module.h"

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "parley/log/log.h"

ABSL_FLAG(std::string, redis_addr, "",
          "host:port of Redis for presence and, with several shards, stream wake-ups (empty: "
          "presence is UNKNOWN for everyone)");

namespace parley::notify {

absl::StatusOr<std::unique_ptr<NotifyModule>> NotifyModule::Create(
    const server::CommonConfig& config, auth::ServiceCredential* credential,
    prometheus::Registry& registry, std::shared_ptr<server::ChannelSlot> identity_channel) {
  auto module = std::make_unique<NotifyModule>();
  auto identity = directory::ConnectIdentity(credential, std::move(identity_channel));
  if (!identity.ok()) return identity.status();
  module->identity_channel = identity->channel;
  module->directory = std::move(identity->directory);
  module->authenticator = std::move(identity->authenticator);

  prometheus::Gauge& redis_up = prometheus::BuildGauge()
                                    .Name("parley_notify_redis_up")
                                    .Help("1 while Redis (presence) answers, 0 otherwise")
                                    .Register(registry)
                                    .Add({});
  redis_up.Set(0);
  module->hub = std::make_unique<StreamHub>(kMaxStreamsPerUser);
  const std::string redis_addr = absl::GetFlag(FLAGS_redis_addr);
  if (!redis_addr.empty()) {
    auto options = ParseRedisAddress(redis_addr);
    if (!options.ok()) return options.status();
    // Losing Redis wakes every stream, so that streams of people homed on
    // another shard switch to polling at once.
    module->redis =
        std::make_unique<RedisPool>(*options, [&redis_up, hub = module->hub.get()](bool up) {
          redis_up.Set(up ? 1 : 0);
          if (!up) hub->WakeAll();
        });
  }

  storage::DbOptions db_options;
  db_options.path = config.data_dir + "/notify";
  db_options.column_families = Inbox::ColumnFamilies();
  db_options.prefix_bloom_lengths = {{"inbox", 8}, {"unread", 8}};
  db_options.sync_writes = config.sync_writes;
  auto db = storage::Db::Open(db_options);
  if (!db.ok()) return db.status();
  module->db = *std::move(db);

  auto shards = shard::ShardMapFromFlags();
  if (!shards.ok()) return shards.status();
  if (shards->count() > 1) module->peers = std::make_unique<NotifyPeers>(*shards);
  auto inbox = Inbox::Create(module->db.get(), module->directory.get(), InboxOptions{*shards});
  if (!inbox.ok()) return inbox.status();
  module->inbox = *std::move(inbox);
  // With several shards, a person's streams may be served by any of them:
  // changes are published on Redis, and every shard wakes its own streams.
  const bool publish = shards->count() > 1 && module->redis != nullptr;
  module->inbox->SetOnChange([hub = module->hub.get(), redis = module->redis.get(),
                              publish](const std::vector<uint64_t>& users) {
    for (uint64_t u : users) hub->Notify(u);
    if (!publish) return;
    std::vector<std::vector<std::string>> commands;
    for (uint64_t u : users) commands.push_back({"PUBLISH", kChangesChannel, std::to_string(u)});
    (void)redis->Pipeline(commands);  // Redis down: remote streams poll instead
  });
  if (publish) {
    // After every (re)subscription streams catch up: what was published
    // meanwhile is lost.
    module->changes = std::make_unique<RedisSubscriber>(
        module->redis->options(), kChangesChannel,
        [hub = module->hub.get()](const std::string& m) {
          uint64_t user = 0;
          if (absl::SimpleAtoi(m, &user)) hub->Notify(user);
        },
        [hub = module->hub.get()] { hub->WakeAll(); });
  }
  module->presence = std::make_unique<Presence>(module->redis.get(), module->directory.get());
  module->public_service = std::make_unique<NotificationGrpcService>(
      module->inbox.get(), module->presence.get(), module->hub.get(), module->directory.get(),
      module->authenticator.get(), module->peers.get());
  if (publish) {
    module->public_service->SetPubSub(
        [redis = module->redis.get(), changes = module->changes.get()] {
          return redis->up() && changes->up();
        });
  }
  module->internal_service = std::make_unique<NotificationInternalGrpcService>(
      module->inbox.get(), module->authenticator.get());
  log::Info("notify ready", {{"redis", redis_addr.empty() ? "none" : redis_addr}});
  return module;
}

std::vector<server::HostedService> NotifyModule::Hosted() {
  return {{public_service.get(), pb::NotificationService::service_full_name()},
          {internal_service.get(), pb::NotificationInternalService::service_full_name()}};
}

}  // namespace parley::notify
