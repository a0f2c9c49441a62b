#include "notify/src/module.h"

#include "absl/flags/flag.h"
#include "parley/log/log.h"

ABSL_FLAG(std::string, redis_addr, "",
          "host:port of Redis for presence (empty: presence is UNKNOWN for everyone)");

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
  const std::string redis_addr = absl::GetFlag(FLAGS_redis_addr);
  if (!redis_addr.empty()) {
    auto options = ParseRedisAddress(redis_addr);
    if (!options.ok()) return options.status();
    module->redis =
        std::make_unique<RedisPool>(*options, [&redis_up](bool up) { redis_up.Set(up ? 1 : 0); });
  }

  storage::DbOptions db_options;
  db_options.path = config.data_dir + "/notify";
  db_options.column_families = Inbox::ColumnFamilies();
  db_options.prefix_bloom_lengths = {{"inbox", 8}, {"unread", 8}};
  db_options.sync_writes = config.sync_writes;
  auto db = storage::Db::Open(db_options);
  if (!db.ok()) return db.status();
  module->db = *std::move(db);

  auto inbox = Inbox::Create(module->db.get(), module->directory.get(), InboxOptions{});
  if (!inbox.ok()) return inbox.status();
  module->inbox = *std::move(inbox);
  module->hub = std::make_unique<StreamHub>(kMaxStreamsPerUser);
  module->inbox->SetOnChange([hub = module->hub.get()](const std::vector<uint64_t>& users) {
    for (uint64_t u : users) hub->Notify(u);
  });
  module->presence = std::make_unique<Presence>(module->redis.get(), module->directory.get());
  module->public_service = std::make_unique<NotificationGrpcService>(
      module->inbox.get(), module->presence.get(), module->hub.get(), module->directory.get(),
      module->authenticator.get());
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
