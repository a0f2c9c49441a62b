#include "feed/src/module.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parley/config/config.h"
#include "parley/log/log.h"
#include "parley/server/flags.h"  // --search_addr, shared with identity

ABSL_FLAG(int64_t, fanout_push_threshold, 10000,
          "authors with more followers are not pushed to home timelines but merged at read "
          "time (1..100000000)");
ABSL_FLAG(int, home_timeline_head, 800,
          "materialized home timeline entries kept per person (20..100000)");
ABSL_FLAG(int, post_rate_per_minute, 60,
          "posts plus comments one person may write per minute (1..100000)");
ABSL_FLAG(std::string, notify_addr, "",
          "host:port of notifications (every shard's, comma-separated), subscribed to feed's "
          "events");
ABSL_FLAG(std::string, federation_addr, "", "host:port of federation, subscribed to feed's events");

namespace parley::feed {

absl::StatusOr<std::unique_ptr<FeedModule>> FeedModule::Create(
    const server::CommonConfig& config, auth::ServiceCredential* credential,
    std::shared_ptr<ChannelSlot> identity_channel, std::shared_ptr<ChannelSlot> notify_channel,
    std::shared_ptr<ChannelSlot> search_channel) {
  auto module = std::make_unique<FeedModule>();
  FeedOptions options;
  auto shards = shard::ShardMapFromFlags();
  if (!shards.ok()) return shards.status();
  options.shards = *shards;
  if (shards->count() > 1) {
    module->peers = std::make_unique<GrpcFeedPeers>(*shards, credential);
    options.peers = module->peers.get();
  }
  const int64_t threshold = absl::GetFlag(FLAGS_fanout_push_threshold);
  absl::Status s = config::CheckRange("fanout_push_threshold", threshold, 1, 100000000);
  if (!s.ok()) return s;
  options.fanout_push_threshold = static_cast<uint64_t>(threshold);
  const int head = absl::GetFlag(FLAGS_home_timeline_head);
  s = config::CheckRange("home_timeline_head", head, 20, 100000);
  if (!s.ok()) return s;
  options.home_head = static_cast<size_t>(head);
  options.home_trim_slack = std::max<size_t>(20, options.home_head / 4);
  const int rate = absl::GetFlag(FLAGS_post_rate_per_minute);
  s = config::CheckRange("post_rate_per_minute", rate, 1, 100000);
  if (!s.ok()) return s;
  options.writes_per_minute = rate;
  auto identity = directory::ConnectIdentity(credential, std::move(identity_channel));
  if (!identity.ok()) return identity.status();
  module->identity_channel = identity->channel;

  storage::DbOptions db_options = Feed::StorageOptions(config.data_dir + "/feed");
  db_options.sync_writes = config.sync_writes;
  auto db = storage::Db::Open(db_options);
  if (!db.ok()) return db.status();
  module->db = *std::move(db);

  module->directory = std::move(identity->directory);
  auto feed = Feed::Create(module->db.get(), module->directory.get(), options);
  if (!feed.ok()) return feed.status();
  module->feed = *std::move(feed);

  module->authenticator = std::move(identity->authenticator);
  module->public_service = std::make_unique<FeedGrpcService>(
      module->feed.get(), module->authenticator.get(), module->peers.get());
  module->internal_service =
      std::make_unique<FeedInternalGrpcService>(module->feed.get(), module->authenticator.get());

  // Subscribers of the outbox: the fan-out worker, then each configured service.
  Feed* f = module->feed.get();
  storage::Outbox* outbox = f->outbox();
  module->dispatchers.push_back(f->NewFanOutDispatcher());
  // Every other shard receives the halves of follows, blocks and group
  // memberships that it owns (ApplyEvents), its people's group posts, and
  // which authors and groups are pulled rather than pushed.
  for (int32_t shard = 0; shard < options.shards.count(); ++shard) {
    if (shard == options.shards.self()) continue;
    const shard::ShardMap map = options.shards;
    auto subscriber = std::make_shared<events::Subscriber>(
        absl::StrCat("feed-", shard),
        grpc::CreateChannel(map.address(shard), grpc::InsecureChannelCredentials()),
        "/parley.feed.v1.FeedInternalService/ApplyEvents", credential);
    module->dispatchers.push_back(std::make_unique<storage::Dispatcher>(
        outbox, storage::DispatcherOptions{.subscriber = absl::StrCat("feed-", shard)},
        events::DeliverTo(subscriber, outbox->producer_id(),
                          [map, shard](const events::pb::Event& e) {
                            switch (e.payload_case()) {
                              case events::pb::Event::kFollowed:
                                return map.ShardOf(e.followed().followee().id()) == shard;
                              case events::pb::Event::kUnfollowed:
                                return map.ShardOf(e.unfollowed().followee().id()) == shard;
                              case events::pb::Event::kBlocked:
                              case events::pb::Event::kUnblocked:
                              case events::pb::Event::kFanoutModeChanged:
                                return true;
                              // The member's half of a group membership.
                              case events::pb::Event::kGroupMemberJoined:
                                return map.ShardOf(e.group_member_joined().user().id()) == shard;
                              case events::pb::Event::kGroupMemberLeft:
                                return map.ShardOf(e.group_member_left().user_id()) == shard;
                              case events::pb::Event::kGroupMemberRemoved:
                                return map.ShardOf(e.group_member_removed().user_id()) == shard;
                              // Group posts reach their author's page.
                              case events::pb::Event::kPostCreated:
                                return e.post_created().group().id() != 0 &&
                                       map.ShardOf(e.post_created().author().id()) == shard;
                              case events::pb::Event::kPostDeleted:
                                return e.post_deleted().group_id() != 0 &&
                                       map.ShardOf(e.post_deleted().author_id()) == shard;
                              default:
                                return false;
                            }
                          })));
  }
  struct Peer {
    std::string name;  // the dispatcher's (and subscriber's) name
    std::string flag;  // the flag its address came from
    std::string addr;
    const char* method;
    std::shared_ptr<ChannelSlot> in_process;  // set: a service of this process
  };
  std::vector<Peer> peers = {
      Peer{"search", "search_addr", absl::GetFlag(FLAGS_search_addr),
           "/parley.search.v1.SearchInternalService/ApplyEvents", search_channel},
      Peer{"federation", "federation_addr", absl::GetFlag(FLAGS_federation_addr),
           "/parley.federation.v1.FederationInternalService/ApplyEvents", nullptr}};
  // Notifications may be sharded: every notification shard gets every event
  // and keeps its own recipients' ("notify" with one address, "notify-<i>"
  // with several).
  constexpr char kNotifyMethod[] = "/parley.notify.v1.NotificationInternalService/ApplyEvents";
  if (notify_channel != nullptr) {
    peers.push_back(Peer{"notify", "notify_addr", "", kNotifyMethod, notify_channel});
  } else {
    const std::vector<std::string> addrs =
        absl::StrSplit(absl::GetFlag(FLAGS_notify_addr), ',', absl::SkipEmpty());
    for (size_t i = 0; i < addrs.size(); ++i) {
      peers.push_back(Peer{addrs.size() == 1 ? "notify" : absl::StrCat("notify-", i), "notify_addr",
                           addrs[i], kNotifyMethod, nullptr});
    }
  }
  for (const Peer& p : peers) {
    std::shared_ptr<events::Subscriber> subscriber;
    if (p.in_process != nullptr) {
      subscriber = std::make_shared<events::Subscriber>(
          p.name, [slot = p.in_process] { return slot->Get(); }, p.method, credential);
    } else {
      if (p.addr.empty()) continue;
      auto hp = config::ParseHostPort(p.flag, p.addr);
      if (!hp.ok()) return hp.status();
      subscriber = std::make_shared<events::Subscriber>(
          p.name, grpc::CreateChannel(p.addr, grpc::InsecureChannelCredentials()), p.method,
          credential);
    }
    module->dispatchers.push_back(std::make_unique<storage::Dispatcher>(
        outbox, storage::DispatcherOptions{.subscriber = p.name},
        events::DeliverTo(subscriber, outbox->producer_id())));
  }
  module->feed->Start();
  for (auto& d : module->dispatchers) d->Start();
  log::Info("feed ready", {{"producer", outbox->producer_id()},
                           {"home_timeline_head", static_cast<int64_t>(options.home_head)},
                           {"fanout_push_threshold", threshold}});
  return module;
}

FeedModule::~FeedModule() {
  for (auto& d : dispatchers) d->Stop();
}

std::vector<server::HostedService> FeedModule::Hosted() {
  return {{public_service.get(), pb::FeedService::service_full_name()},
          {internal_service.get(), pb::FeedInternalService::service_full_name()}};
}

}  // namespace parley::feed
