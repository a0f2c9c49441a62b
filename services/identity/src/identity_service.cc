#include "identity/src/identity_service.h"

#include "google/protobuf/util/time_util.h"
#include "parley/log/log.h"
#include "parley/server/call.h"
#include "parley/status/status.h"

namespace parley::identity {
namespace {

using server::CallScope;
using server::Respond;
using status::ToGrpc;

}  // namespace

#define PARLEY_AUTH_USER(ctx)                    \
  CallScope scope(ctx);                          \
  auto caller = auth_->AuthenticateUser(*(ctx)); \
  if (!caller.ok()) return ToGrpc(caller.status())

#define PARLEY_AUTH_SERVICE(ctx)                    \
  CallScope scope(ctx);                             \
  auto caller = auth_->AuthenticateService(*(ctx)); \
  if (!caller.ok()) return ToGrpc(caller.status())

grpc::Status IdentityGrpcService::Register(grpc::ServerContext* ctx, const pb::RegisterRequest* req,
                                           pb::RegisterResponse* resp) {
  CallScope scope(ctx);
  return Respond(identity_->Register(*req),
                 [&](pb::User u) { *resp->mutable_user() = std::move(u); });
}

grpc::Status IdentityGrpcService::CreateInvite(grpc::ServerContext* ctx,
                                               const pb::CreateInviteRequest* req,
                                               pb::CreateInviteResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->CreateInvite(*caller, *req),
                 [&](pb::Invite i) { *resp->mutable_invite() = std::move(i); });
}

grpc::Status IdentityGrpcService::ApproveRegistration(grpc::ServerContext* ctx,
                                                      const pb::ApproveRegistrationRequest* req,
                                                      pb::ApproveRegistrationResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->ApproveRegistration(*caller, req->user_id()),
                 [&](pb::User u) { *resp->mutable_user() = std::move(u); });
}

grpc::Status IdentityGrpcService::DeclineRegistration(grpc::ServerContext* ctx,
                                                      const pb::DeclineRegistrationRequest* req,
                                                      pb::DeclineRegistrationResponse*) {
  PARLEY_AUTH_USER(ctx);
  return ToGrpc(identity_->DeclineRegistration(*caller, req->user_id()));
}

grpc::Status IdentityGrpcService::Login(grpc::ServerContext* ctx, const pb::LoginRequest* req,
                                        pb::LoginResponse* resp) {
  CallScope scope(ctx);
  // The peer is "ipv4:127.0.0.1:port"; throttle by address, not by connection.
  std::string peer = ctx->peer();
  size_t colon = peer.rfind(':');
  std::string address = colon == std::string::npos ? peer : peer.substr(0, colon);
  return Respond(identity_->Login(*req, address),
                 [&](pb::LoginResponse r) { *resp = std::move(r); });
}

grpc::Status IdentityGrpcService::RefreshToken(grpc::ServerContext* ctx,
                                               const pb::RefreshTokenRequest* req,
                                               pb::RefreshTokenResponse* resp) {
  CallScope scope(ctx);
  return Respond(identity_->RefreshToken(*req),
                 [&](pb::RefreshTokenResponse r) { *resp = std::move(r); });
}

grpc::Status IdentityGrpcService::Logout(grpc::ServerContext* ctx, const pb::LogoutRequest* req,
                                         pb::LogoutResponse*) {
  CallScope scope(ctx);
  return ToGrpc(identity_->Logout(*req));
}

grpc::Status IdentityGrpcService::ChangePassword(grpc::ServerContext* ctx,
                                                 const pb::ChangePasswordRequest* req,
                                                 pb::ChangePasswordResponse*) {
  PARLEY_AUTH_USER(ctx);
  return ToGrpc(identity_->ChangePassword(*caller, *req));
}

grpc::Status IdentityGrpcService::GetCurrentUser(grpc::ServerContext* ctx,
                                                 const pb::GetCurrentUserRequest*,
                                                 pb::GetCurrentUserResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->GetCurrentUser(*caller),
                 [&](pb::GetCurrentUserResponse r) { *resp = std::move(r); });
}

grpc::Status IdentityGrpcService::GetUser(grpc::ServerContext* ctx, const pb::GetUserRequest* req,
                                          pb::GetUserResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->GetUser(*caller, req->user_id()),
                 [&](pb::User u) { *resp->mutable_user() = std::move(u); });
}

grpc::Status IdentityGrpcService::BatchGetUsers(grpc::ServerContext* ctx,
                                                const pb::BatchGetUsersRequest* req,
                                                pb::BatchGetUsersResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  std::vector<uint64_t> ids(req->user_ids().begin(), req->user_ids().end());
  return Respond(identity_->BatchGetUsers(*caller, ids), [&](std::vector<pb::User> users) {
    for (auto& u : users) *resp->add_users() = std::move(u);
  });
}

grpc::Status IdentityGrpcService::UpdateProfile(grpc::ServerContext* ctx,
                                                const pb::UpdateProfileRequest* req,
                                                pb::UpdateProfileResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->UpdateProfile(*caller, *req),
                 [&](pb::User u) { *resp->mutable_user() = std::move(u); });
}

grpc::Status IdentityGrpcService::ListUsers(grpc::ServerContext* ctx,
                                            const pb::ListUsersRequest* req,
                                            pb::ListUsersResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->ListUsers(*caller, *req),
                 [&](pb::ListUsersResponse r) { *resp = std::move(r); });
}

grpc::Status IdentityGrpcService::ResolveHandles(grpc::ServerContext* ctx,
                                                 const pb::ResolveHandlesRequest* req,
                                                 pb::ResolveHandlesResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  std::vector<std::string> handles(req->handles().begin(), req->handles().end());
  return Respond(identity_->ResolveHandles(caller->org_id(), handles),
                 [&](std::vector<pb::User> users) {
                   for (auto& u : users) *resp->add_users() = std::move(u);
                 });
}

grpc::Status IdentityGrpcService::SuspendUser(grpc::ServerContext* ctx,
                                              const pb::SuspendUserRequest* req,
                                              pb::SuspendUserResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->SetSuspended(*caller, req->user_id(), true),
                 [&](pb::User u) { *resp->mutable_user() = std::move(u); });
}

grpc::Status IdentityGrpcService::ReactivateUser(grpc::ServerContext* ctx,
                                                 const pb::ReactivateUserRequest* req,
                                                 pb::ReactivateUserResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->SetSuspended(*caller, req->user_id(), false),
                 [&](pb::User u) { *resp->mutable_user() = std::move(u); });
}

grpc::Status IdentityGrpcService::GrantRole(grpc::ServerContext* ctx,
                                            const pb::GrantRoleRequest* req,
                                            pb::GrantRoleResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->GrantRole(*caller, req->user_id(), req->role()),
                 [&](pb::User u) { *resp->mutable_user() = std::move(u); });
}

grpc::Status IdentityGrpcService::RevokeRole(grpc::ServerContext* ctx,
                                             const pb::RevokeRoleRequest* req,
                                             pb::RevokeRoleResponse* resp) {
  PARLEY_AUTH_USER(ctx);
  return Respond(identity_->RevokeRole(*caller, req->user_id(), req->role()),
                 [&](pb::User u) { *resp->mutable_user() = std::move(u); });
}

grpc::Status IdentityInternalGrpcService::GetSigningKeys(grpc::ServerContext* ctx,
                                                         const pb::GetSigningKeysRequest*,
                                                         pb::GetSigningKeysResponse* resp) {
  PARLEY_AUTH_SERVICE(ctx);
  using google::protobuf::util::TimeUtil;
  for (const auto& key : identity_->VerificationKeys()) {
    pb::SigningKey* out = resp->add_keys();
    out->set_key_id(key.key_id);
    out->set_public_key(key.public_key);
    if (key.expire_time != absl::InfiniteFuture()) {
      *out->mutable_expire_time() =
          TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(key.expire_time));
    }
  }
  return grpc::Status::OK;
}

grpc::Status IdentityInternalGrpcService::BatchGetUsers(
    grpc::ServerContext* ctx, const pb::IdentityInternalServiceBatchGetUsersRequest* req,
    pb::IdentityInternalServiceBatchGetUsersResponse* resp) {
  PARLEY_AUTH_SERVICE(ctx);
  std::vector<uint64_t> ids(req->user_ids().begin(), req->user_ids().end());
  return Respond(identity_->BatchGetUsersAnyOrg(ids), [&](std::vector<pb::User> users) {
    for (auto& u : users) *resp->add_users() = std::move(u);
  });
}

grpc::Status IdentityInternalGrpcService::ResolveHandles(
    grpc::ServerContext* ctx, const pb::IdentityInternalServiceResolveHandlesRequest* req,
    pb::IdentityInternalServiceResolveHandlesResponse* resp) {
  PARLEY_AUTH_SERVICE(ctx);
  std::vector<std::string> handles(req->handles().begin(), req->handles().end());
  return Respond(identity_->ResolveHandles(req->org_id(), handles),
                 [&](std::vector<pb::User> users) {
                   for (auto& u : users) *resp->add_users() = std::move(u);
                 });
}

grpc::Status IdentityInternalGrpcService::CreateOrganization(
    grpc::ServerContext* ctx, const pb::CreateOrganizationRequest* req,
    pb::CreateOrganizationResponse* resp) {
  PARLEY_AUTH_SERVICE(ctx);
  return Respond(identity_->CreateOrganization(*req),
                 [&](pb::CreateOrganizationResponse r) { *resp = std::move(r); });
}

grpc::Status IdentityInternalGrpcService::GetOrganization(grpc::ServerContext* ctx,
                                                          const pb::GetOrganizationRequest* req,
                                                          pb::GetOrganizationResponse* resp) {
  PARLEY_AUTH_SERVICE(ctx);
  return Respond(identity_->GetOrganization(*req),
                 [&](pb::Organization o) { *resp->mutable_organization() = std::move(o); });
}

grpc::Status IdentityInternalGrpcService::ListSnapshotEvents(
    grpc::ServerContext* ctx, const pb::ListSnapshotEventsRequest* req,
    pb::ListSnapshotEventsResponse* resp) {
  PARLEY_AUTH_SERVICE(ctx);
  return Respond(identity_->ListSnapshotEvents(*req),
                 [&](pb::ListSnapshotEventsResponse r) { *resp = std::move(r); });
}

}  // namespace parley::identity
