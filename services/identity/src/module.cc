#include "identity/src/module.h"

#include "absl/flags/flag.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parley/config/config.h"
#include "parley/events/events.h"
#include "parley/log/log.h"

namespace parley::identity {

namespace {
constexpr char kSearchSubscriber[] = "search";
constexpr char kSearchApplyEvents[] = "/parley.search.v1.SearchInternalService/ApplyEvents";
}  // namespace

absl::StatusOr<std::unique_ptr<IdentityModule>> IdentityModule::Create(
    const server::CommonConfig& config, auth::ServiceCredential& service_credential,
    std::shared_ptr<server::ChannelSlot> search_channel) {
  auto module = std::make_unique<IdentityModule>();
  storage::DbOptions db_options;
  db_options.path = config.data_dir + "/identity";
  db_options.column_families = Identity::ColumnFamilies();
  db_options.sync_writes = config.sync_writes;
  db_options.block_cache_bytes = size_t{64} << 20;
  db_options.write_buffer_bytes = size_t{16} << 20;
  auto db = storage::Db::Open(db_options);
  if (!db.ok()) return db.status();
  module->db = *std::move(db);

  IdentityOptions options;
  options.node_id = config.node_id;
  auto identity = Identity::Create(module->db.get(), options);
  if (!identity.ok()) return identity.status();
  module->identity = *std::move(identity);

  Identity* id = module->identity.get();
  auto user_verifier = std::make_shared<auth::Verifier>(
      id->key_ring(),
      auth::VerifierOptions{.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS,
                            .not_before = [id](uint64_t user) { return id->NotBefore(user); }});
  auto service_ring = std::make_shared<auth::KeyRing>();
  service_ring->Add(service_credential.verification_key());
  auto service_verifier = std::make_shared<auth::Verifier>(
      service_ring, auth::VerifierOptions{.kind = auth::TokenKind::TOKEN_KIND_SERVICE});
  module->authenticator = std::make_unique<auth::Authenticator>(user_verifier, service_verifier);
  module->public_service = std::make_unique<IdentityGrpcService>(id, module->authenticator.get());
  module->internal_service =
      std::make_unique<IdentityInternalGrpcService>(id, module->authenticator.get());

  // Search indexes people from identity's events (and rebuilds from
  // ListSnapshotEvents). Without a subscriber the events stay in the outbox,
  // one per change to a person, for a subscriber configured later.
  std::shared_ptr<events::Subscriber> search;
  const std::string search_addr = absl::GetFlag(FLAGS_search_addr);
  if (search_channel != nullptr) {
    search = std::make_shared<events::Subscriber>(
        kSearchSubscriber, [slot = std::move(search_channel)] { return slot->Get(); },
        kSearchApplyEvents, &service_credential);
  } else if (!search_addr.empty()) {
    if (auto hp = config::ParseHostPort("search_addr", search_addr); !hp.ok()) return hp.status();
    search = std::make_shared<events::Subscriber>(
        kSearchSubscriber, grpc::CreateChannel(search_addr, grpc::InsecureChannelCredentials()),
        kSearchApplyEvents, &service_credential);
  }
  storage::Outbox* outbox = id->outbox();
  if (search != nullptr) {
    module->dispatchers.push_back(std::make_unique<storage::Dispatcher>(
        outbox, storage::DispatcherOptions{.subscriber = kSearchSubscriber},
        events::DeliverTo(search, outbox->producer_id())));
  }
  for (auto& d : module->dispatchers) d->Start();
  log::Info("identity ready", {{"producer", outbox->producer_id()},
                               {"subscribers", static_cast<int64_t>(module->dispatchers.size())}});
  return module;
}

IdentityModule::~IdentityModule() {
  for (auto& d : dispatchers) d->Stop();
}

std::vector<server::HostedService> IdentityModule::Hosted() {
  return {{public_service.get(), pb::IdentityService::service_full_name()},
          {internal_service.get(), pb::IdentityInternalService::service_full_name()}};
}

}  // namespace parley::identity
