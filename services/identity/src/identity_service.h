// gRPC adapters for identity: authenticate, call Identity, convert the status.
// No logic lives here.
#pragma once

#include <memory>

#include "identity/src/identity.h"
#include "parley/auth/auth.h"
#include "parley/identity/v1/identity.grpc.pb.h"

namespace parley::identity {

class IdentityGrpcService final : public pb::IdentityService::Service {
 public:
  IdentityGrpcService(Identity* identity, const auth::Authenticator* auth)
      : identity_(identity), auth_(auth) {}

  grpc::Status Register(grpc::ServerContext*, const pb::RegisterRequest*,
                        pb::RegisterResponse*) override;
  grpc::Status CreateInvite(grpc::ServerContext*, const pb::CreateInviteRequest*,
                            pb::CreateInviteResponse*) override;
  grpc::Status ApproveRegistration(grpc::ServerContext*, const pb::ApproveRegistrationRequest*,
                                   pb::ApproveRegistrationResponse*) override;
  grpc::Status DeclineRegistration(grpc::ServerContext*, const pb::DeclineRegistrationRequest*,
                                   pb::DeclineRegistrationResponse*) override;
  grpc::Status Login(grpc::ServerContext*, const pb::LoginRequest*, pb::LoginResponse*) override;
  grpc::Status RefreshToken(grpc::ServerContext*, const pb::RefreshTokenRequest*,
                            pb::RefreshTokenResponse*) override;
  grpc::Status Logout(grpc::ServerContext*, const pb::LogoutRequest*, pb::LogoutResponse*) override;
  grpc::Status ChangePassword(grpc::ServerContext*, const pb::ChangePasswordRequest*,
                              pb::ChangePasswordResponse*) override;
  grpc::Status GetCurrentUser(grpc::ServerContext*, const pb::GetCurrentUserRequest*,
                              pb::GetCurrentUserResponse*) override;
  grpc::Status GetUser(grpc::ServerContext*, const pb::GetUserRequest*,
                       pb::GetUserResponse*) override;
  grpc::Status BatchGetUsers(grpc::ServerContext*, const pb::BatchGetUsersRequest*,
                             pb::BatchGetUsersResponse*) override;
  grpc::Status UpdateProfile(grpc::ServerContext*, const pb::UpdateProfileRequest*,
                             pb::UpdateProfileResponse*) override;
  grpc::Status ListUsers(grpc::ServerContext*, const pb::ListUsersRequest*,
                         pb::ListUsersResponse*) override;
  grpc::Status ResolveHandles(grpc::ServerContext*, const pb::ResolveHandlesRequest*,
                              pb::ResolveHandlesResponse*) override;
  grpc::Status SuspendUser(grpc::ServerContext*, const pb::SuspendUserRequest*,
                           pb::SuspendUserResponse*) override;
  grpc::Status ReactivateUser(grpc::ServerContext*, const pb::ReactivateUserRequest*,
                              pb::ReactivateUserResponse*) override;
  grpc::Status GrantRole(grpc::ServerContext*, const pb::GrantRoleRequest*,
                         pb::GrantRoleResponse*) override;
  grpc::Status RevokeRole(grpc::ServerContext*, const pb::RevokeRoleRequest*,
                          pb::RevokeRoleResponse*) override;

 private:
  Identity* const identity_;
  const auth::Authenticator* const auth_;
};

class IdentityInternalGrpcService final : public pb::IdentityInternalService::Service {
 public:
  IdentityInternalGrpcService(Identity* identity, const auth::Authenticator* auth)
      : identity_(identity), auth_(auth) {}

  grpc::Status GetSigningKeys(grpc::ServerContext*, const pb::GetSigningKeysRequest*,
                              pb::GetSigningKeysResponse*) override;
  grpc::Status BatchGetUsers(grpc::ServerContext*,
                             const pb::IdentityInternalServiceBatchGetUsersRequest*,
                             pb::IdentityInternalServiceBatchGetUsersResponse*) override;
  grpc::Status ResolveHandles(grpc::ServerContext*,
                              const pb::IdentityInternalServiceResolveHandlesRequest*,
                              pb::IdentityInternalServiceResolveHandlesResponse*) override;
  grpc::Status CreateOrganization(grpc::ServerContext*, const pb::CreateOrganizationRequest*,
                                  pb::CreateOrganizationResponse*) override;
  grpc::Status GetOrganization(grpc::ServerContext*, const pb::GetOrganizationRequest*,
                               pb::GetOrganizationResponse*) override;
  grpc::Status ListSnapshotEvents(grpc::ServerContext*, const pb::ListSnapshotEventsRequest*,
                                  pb::ListSnapshotEventsResponse*) override;

 private:
  Identity* const identity_;
  const auth::Authenticator* const auth_;
};

}  // namespace parley::identity
