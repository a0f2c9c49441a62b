// Notifications' part of the object graph, built from the common flags,
// identity's address (libs/directory), --redis_addr and --shard_*. parley-notify and the
// all-in-one parley build it here.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "notify/src/hub.h"
#include "notify/src/inbox.h"
#include "notify/src/notify_service.h"
#include "notify/src/presence.h"
#include "notify/src/redis.h"
#include "parley/directory/directory.h"
#include "parley/server/channel_slot.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"
#include "parley/storage/db.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace parley::notify {

// Streams per person (notify.proto: up to 10, RESOURCE_EXHAUSTED beyond),
// counted per process.
inline constexpr size_t kMaxStreamsPerUser = 10;
// Redis channel carrying the ids of people whose inbox changed (several shards).
inline constexpr char kChangesChannel[] = "parley:notify:changes";

struct NotifyModule {
  std::shared_ptr<server::ChannelSlot> identity_channel;
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<directory::Directory> directory;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<StreamHub> hub;
  std::unique_ptr<RedisPool> redis;    // null without --redis_addr
  std::unique_ptr<NotifyPeers> peers;  // null with one shard
  std::unique_ptr<Inbox> inbox;
  std::unique_ptr<Presence> presence;
  std::unique_ptr<NotificationGrpcService> public_service;
  std::unique_ptr<NotificationInternalGrpcService> internal_service;
  // Several shards with Redis: wake-ups from the others (declared last: its
  // thread calls hub, so it stops first).
  std::unique_ptr<RedisSubscriber> changes;

  // Opens <data_dir>/notify. Registers parley_notify_redis_up in `registry`
  // (the server's). Reaches identity through `identity_channel`, or when null
  // --identity_addr.
  static absl::StatusOr<std::unique_ptr<NotifyModule>> Create(
      const server::CommonConfig& config, auth::ServiceCredential* credential,
      prometheus::Registry& registry,
      std::shared_ptr<server::ChannelSlot> identity_channel = nullptr);
  std::vector<server::HostedService> Hosted();
  // Ends every open stream with UNAVAILABLE (call before the server drains,
  // or the drain waits for streams that never end by themselves).
  void StopStreams() { hub->Stop(); }
};

}  // namespace parley::notify
