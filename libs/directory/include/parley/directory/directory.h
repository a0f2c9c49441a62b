// Other services' view of people and organisations (feed, notifications),
// read from identity (IdentityInternalService.BatchGetUsers / ResolveHandles /
// GetOrganization) with the service credential, and cached for `ttl`. A
// suspension therefore takes effect in them within `ttl` (identity does not
// publish live events yet).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "parley/auth/auth.h"
#include "parley/common/v1/common.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/server/channel_slot.h"

namespace parley::directory {

struct Person {
  common::v1::UserRef ref;  // id, handle, domain, display_name
  uint64_t org_id = 0;
  bool active = false;  // not suspended, not pending approval
  bool admin = false;
  bool guest = false;  // an external guest: may not create groups
};

class Directory {
 public:
  virtual ~Directory() = default;
  // People by id; unknown ids are left out of the map.
  virtual absl::StatusOr<absl::flat_hash_map<uint64_t, Person>> Get(
      const std::vector<uint64_t>& ids) = 0;
  // Active people of `org_id` with these handles; unknown ones are left out.
  virtual absl::StatusOr<std::vector<Person>> Resolve(uint64_t org_id,
                                                      const std::vector<std::string>& handles) = 0;
  // The org's default visibility for new posts.
  virtual absl::StatusOr<common::v1::Visibility> DefaultVisibility(uint64_t org_id) = 0;

  absl::StatusOr<Person> GetOne(uint64_t id);
};

// `channel` is called for every RPC (in the all-in-one binary the in-process
// channel exists only once the server has started).
class IdentityDirectory : public Directory {
 public:
  IdentityDirectory(std::function<std::shared_ptr<grpc::Channel>()> channel,
                    auth::ServiceCredential* credential, absl::Duration ttl);
  absl::StatusOr<absl::flat_hash_map<uint64_t, Person>> Get(
      const std::vector<uint64_t>& ids) override;
  absl::StatusOr<std::vector<Person>> Resolve(uint64_t org_id,
                                              const std::vector<std::string>& handles) override;
  absl::StatusOr<common::v1::Visibility> DefaultVisibility(uint64_t org_id) override;

 private:
  struct Cached {
    Person person;
    absl::Time fetched;
  };
  std::unique_ptr<identity::v1::IdentityInternalService::Stub> Stub();
  void Prepare(grpc::ClientContext* ctx);

  std::function<std::shared_ptr<grpc::Channel>()> channel_;
  auth::ServiceCredential* const credential_;
  const absl::Duration ttl_;
  std::mutex mu_;
  absl::flat_hash_map<uint64_t, Cached> people_;  // guarded by mu_
  absl::flat_hash_map<uint64_t, std::pair<common::v1::Visibility, absl::Time>> orgs_;  // mu_
};

Person PersonFromUser(const identity::v1::User& user);

// What a service needs of identity, from --identity_addr and --user_cache_ttl_s
// (or, in the all-in-one binary, from its in-process channel).
struct IdentityClient {
  std::shared_ptr<server::ChannelSlot> channel;
  std::unique_ptr<IdentityDirectory> directory;
  // Verifies people's access tokens (identity's signing keys, fetched and
  // refreshed through `channel`) and service tokens (`credential`'s key).
  std::unique_ptr<auth::Authenticator> authenticator;
};
// `channel` null: connect to --identity_addr.
absl::StatusOr<IdentityClient> ConnectIdentity(auth::ServiceCredential* credential,
                                               std::shared_ptr<server::ChannelSlot> channel);

}  // namespace parley::directory
