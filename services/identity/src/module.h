// Identity's part of the object graph (database, logic, authenticator, gRPC
// services), built from the common flags. Both parley-identity and the
// all-in-one parley construct it here so the wiring exists once.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "identity/src/identity.h"
#include "identity/src/identity_service.h"
#include "parley/server/flags.h"
#include "parley/storage/db.h"

namespace parley::identity {

struct IdentityModule {
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<Identity> identity;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<IdentityGrpcService> public_service;
  std::unique_ptr<IdentityInternalGrpcService> internal_service;

  // Opens <data_dir>/identity. `service_credential` verifies internal calls.
  static absl::StatusOr<std::unique_ptr<IdentityModule>> Create(
      const server::CommonConfig& config, const auth::ServiceCredential& service_credential);
  std::vector<server::HostedService> Hosted();
};

}  // namespace parley::identity
