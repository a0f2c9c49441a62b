// Identity's part of the object graph (database, logic, authenticator, gRPC
// services, the dispatcher of its events to search), built from the common
// flags and --search_addr. Both parley-identity and the all-in-one parley
// construct it here so the wiring exists once.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "identity/src/identity.h"
#include "identity/src/identity_service.h"
#include "parley/server/channel_slot.h"
#include "parley/server/flags.h"
#include "parley/storage/db.h"
#include "parley/storage/outbox.h"

namespace parley::identity {

struct IdentityModule {
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<Identity> identity;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<IdentityGrpcService> public_service;
  std::unique_ptr<IdentityInternalGrpcService> internal_service;
  // Deliver identity's outbox to its subscribers (search, when configured).
  std::vector<std::unique_ptr<storage::Dispatcher>> dispatchers;

  // Opens <data_dir>/identity. `service_credential` verifies internal calls
  // and authenticates event delivery; it must outlive the module. Events go
  // to search through `search_channel` (the all-in-one passes its in-process
  // channel) or, when null, to --search_addr; to nobody if both are unset.
  static absl::StatusOr<std::unique_ptr<IdentityModule>> Create(
      const server::CommonConfig& config, auth::ServiceCredential& service_credential,
      std::shared_ptr<server::ChannelSlot> search_channel = nullptr);
  std::vector<server::HostedService> Hosted();
  ~IdentityModule();
};

}  // namespace parley::identity
