// How every service except identity keeps its user-token verifier current:
// fetch identity's public keys over gRPC (IdentityInternalService.GetSigningKeys,
// with the service credential and a deadline). Plug the result into
// VerifierOptions::refresh_keys; the Verifier calls it, rate-limited, when a
// token names a key id it has not seen (identity rotated its keys).
#pragma once

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "parley/auth/auth.h"

namespace parley::auth {

std::function<absl::Status(KeyRing&)> IdentityKeyFetcher(
    std::shared_ptr<grpc::Channel> identity, ServiceCredential* credential,
    absl::Duration deadline = absl::Seconds(2));

}  // namespace parley::auth
