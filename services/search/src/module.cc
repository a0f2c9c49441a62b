#include "search/src/module.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parley/config/config.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/log/log.h"
#include "parley/status/status.h"

ABSL_FLAG(std::string, feed_addr, "",
          "host:port of every feed shard, comma-separated (read by Rebuild)");
ABSL_FLAG(int, search_commit_delay_ms, 10,
          "how long the index waits after a change for other producers' changes to share its "
          "commit (0..1000)");

namespace parley::search {
namespace {

// A SnapshotSource over one service's ListSnapshotEvents.
template <typename Stub, typename Req, typename Resp>
SnapshotSource SourceOf(
    std::shared_ptr<server::ChannelSlot> slot, auth::ServiceCredential* credential,
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
    std::unique_ptr<Stub> (*new_stub)(const std::shared_ptr<grpc::ChannelInterface>&,
                                      const grpc::StubOptions&)) {
  return [slot, credential, method,
          new_stub](const std::string& token) -> absl::StatusOr<SnapshotPage> {
    auto stub = new_stub(slot->Get(), grpc::StubOptions());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     absl::ToChronoNanoseconds(kSnapshotPageDeadline));
    credential->Attach(&ctx);
    Req req;
    req.set_page_size(1000);
    req.set_page_token(token);
    Resp resp;
    grpc::Status s = (stub.get()->*method)(&ctx, req, &resp);
    if (!s.ok()) return status::FromGrpc(s);
    SnapshotPage page;
    page.events.assign(resp.events().begin(), resp.events().end());
    page.next_page_token = resp.next_page_token();
    page.snapshot_sequence = resp.snapshot_sequence();
    return page;
  };
}

std::shared_ptr<server::ChannelSlot> SlotFor(const std::string& addr) {
  auto slot = std::make_shared<server::ChannelSlot>();
  slot->Set(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  return slot;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SearchModule>> SearchModule::Create(
    const server::CommonConfig& config, auth::ServiceCredential* credential,
    std::shared_ptr<server::ChannelSlot> identity_channel,
    std::shared_ptr<server::ChannelSlot> feed_channel) {
  auto module = std::make_unique<SearchModule>();
  auto identity = directory::ConnectIdentity(credential, std::move(identity_channel));
  if (!identity.ok()) return identity.status();
  module->identity_channel = identity->channel;
  module->directory = std::move(identity->directory);
  module->authenticator = std::move(identity->authenticator);

  if (feed_channel != nullptr) {
    module->feed_channels.push_back(std::move(feed_channel));
  } else {
    const std::vector<std::string> addrs =
        absl::StrSplit(absl::GetFlag(FLAGS_feed_addr), ',', absl::SkipEmpty());
    for (const std::string& addr : addrs) {
      auto hp = config::ParseHostPort("feed_addr", addr);
      if (!hp.ok()) return hp.status();
      module->feed_channels.push_back(SlotFor(addr));
    }
  }

  const int delay = absl::GetFlag(FLAGS_search_commit_delay_ms);
  if (auto s = config::CheckRange("search_commit_delay_ms", delay, 0, 1000); !s.ok()) return s;
  IndexOptions options;
  options.path = config.data_dir + "/search";
  options.sync = config.sync_writes;
  options.commit_delay = absl::Milliseconds(delay);
  auto index = Index::Open(options);
  if (!index.ok()) return index.status();
  module->index = *std::move(index);

  module->public_service =
      std::make_unique<SearchGrpcService>(module->index.get(), module->authenticator.get());
  SearchModule* m = module.get();
  module->internal_service = std::make_unique<SearchInternalGrpcService>(
      module->index.get(), module->authenticator.get(), [m, credential] {
        std::vector<SnapshotSource> sources = {
            SourceOf(m->identity_channel, credential,
                     &identity::v1::IdentityInternalService::Stub::ListSnapshotEvents,
                     &identity::v1::IdentityInternalService::NewStub)};
        for (const auto& feed : m->feed_channels) {
          sources.push_back(SourceOf(feed, credential,
                                     &feed::v1::FeedInternalService::Stub::ListSnapshotEvents,
                                     &feed::v1::FeedInternalService::NewStub));
        }
        return sources;
      });
  const RebuildCounts counts = module->index->Counts();
  log::Info("search ready", {{"posts", static_cast<int64_t>(counts.posts)},
                             {"people", static_cast<int64_t>(counts.people)},
                             {"feed_shards", static_cast<int64_t>(module->feed_channels.size())}});
  return module;
}

std::vector<server::HostedService> SearchModule::Hosted() {
  return {{public_service.get(), pb::SearchService::service_full_name()},
          {internal_service.get(), pb::SearchInternalService::service_full_name()}};
}

}  // namespace parley::search
