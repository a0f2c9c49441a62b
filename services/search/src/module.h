// Search's part of the object graph, built from the common flags, identity's
// address (libs/directory) and the feed shards' addresses (--feed_addr, for
// Rebuild). parley-search and the all-in-one parley build it here.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "parley/directory/directory.h"
#include "parley/server/channel_slot.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"
#include "search/src/index.h"
#include "search/src/search_service.h"

namespace parley::search {

// A snapshot page read for Rebuild gets this long.
inline constexpr absl::Duration kSnapshotPageDeadline = absl::Seconds(30);

struct SearchModule {
  std::shared_ptr<server::ChannelSlot> identity_channel;
  // Each feed shard's channel (one in-process slot in the all-in-one).
  std::vector<std::shared_ptr<server::ChannelSlot>> feed_channels;
  std::unique_ptr<directory::Directory> directory;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<Index> index;
  std::unique_ptr<SearchGrpcService> public_service;
  std::unique_ptr<SearchInternalGrpcService> internal_service;

  // Opens <data_dir>/search. Reaches identity through `identity_channel` (or
  // --identity_addr when null) and feed through `feed_channel` (or every
  // address of --feed_addr when null).
  static absl::StatusOr<std::unique_ptr<SearchModule>> Create(
      const server::CommonConfig& config, auth::ServiceCredential* credential,
      std::shared_ptr<server::ChannelSlot> identity_channel = nullptr,
      std::shared_ptr<server::ChannelSlot> feed_channel = nullptr);
  std::vector<server::HostedService> Hosted();
};

}  // namespace parley::search
