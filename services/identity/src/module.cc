#include "identity/src/module.h"

namespace parley::identity {

absl::StatusOr<std::unique_ptr<IdentityModule>> IdentityModule::Create(
    const server::CommonConfig& config, const auth::ServiceCredential& service_credential) {
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
  return module;
}

std::vector<server::HostedService> IdentityModule::Hosted() {
  return {{public_service.get(), pb::IdentityService::service_full_name()},
          {internal_service.get(), pb::IdentityInternalService::service_full_name()}};
}

}  // namespace parley::identity
