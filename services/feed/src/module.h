// Feed's part of the object graph, built from the common flags, identity's
// address (libs/directory) and feed's own (--shard_*, --fanout_push_threshold,
// --home_timeline_head, event subscribers). parley-feed and the all-in-one parley build it here.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "feed/src/feed.h"
#include "feed/src/feed_service.h"
#include "feed/src/peers.h"
#include "parley/directory/directory.h"
#include "parley/events/events.h"
#include "parley/server/channel_slot.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"
#include "parley/storage/db.h"
#include "parley/storage/outbox.h"

namespace parley::feed {

using server::ChannelSlot;

struct FeedModule {
  std::shared_ptr<ChannelSlot> identity_channel;
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<Directory> directory;
  std::unique_ptr<GrpcFeedPeers> peers;  // null with one shard
  std::unique_ptr<Feed> feed;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<FeedGrpcService> public_service;
  std::unique_ptr<FeedInternalGrpcService> internal_service;
  std::vector<std::unique_ptr<storage::Dispatcher>> dispatchers;

  // Opens <data_dir>/feed and starts the fan-out worker and event dispatchers.
  // Reaches identity through `identity_channel` (the all-in-one passes its own
  // in-process channel once started) or, when null, --identity_addr; and
  // notifications through `notify_channel` or, when null, --notify_addr;
  // search likewise through `search_channel` or --search_addr.
  static absl::StatusOr<std::unique_ptr<FeedModule>> Create(
      const server::CommonConfig& config, auth::ServiceCredential* credential,
      std::shared_ptr<ChannelSlot> identity_channel = nullptr,
      std::shared_ptr<ChannelSlot> notify_channel = nullptr,
      std::shared_ptr<ChannelSlot> search_channel = nullptr);
  std::vector<server::HostedService> Hosted();
  ~FeedModule();
};

}  // namespace parley::feed
