#include "parley/auth/identity_keys.h"

#include "grpcpp/client_context.h"
#include "parley/identity/v1/identity.grpc.pb.h"

namespace parley::auth {

std::function<absl::Status(KeyRing&)> IdentityKeyFetcher(std::shared_ptr<grpc::Channel> identity,
                                                         ServiceCredential* credential,
                                                         absl::Duration deadline) {
  auto stub = std::shared_ptr<identity::v1::IdentityInternalService::Stub>(
      identity::v1::IdentityInternalService::NewStub(identity));
  return [stub, credential, deadline](KeyRing& ring) -> absl::Status {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline));
    credential->Attach(&ctx);
    identity::v1::GetSigningKeysResponse resp;
    grpc::Status s = stub->GetSigningKeys(&ctx, {}, &resp);
    if (!s.ok()) {
      return absl::UnavailableError("fetching identity's signing keys: " + s.error_message());
    }
    std::vector<VerificationKey> keys;
    for (const auto& k : resp.keys()) {
      VerificationKey key{k.key_id(), k.public_key()};
      if (k.has_expire_time()) {
        key.expire_time = absl::FromUnixSeconds(k.expire_time().seconds()) +
                          absl::Nanoseconds(k.expire_time().nanos());
      }
      keys.push_back(std::move(key));
    }
    ring.Replace(std::move(keys));
    return absl::OkStatus();
  };
}

}  // namespace parley::auth
