// Test helpers: organisations and people created through identity's real
// gRPC API, shared by the feed tests.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "parley/identity/v1/identity.grpc.pb.h"

namespace parley::feed::test {

inline constexpr char kPassword[] = "correct horse battery";

// A context with a deadline and, if given, a bearer token.
inline std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "", int seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  return ctx;
}

struct Account {
  uint64_t id = 0;
  std::string token;
};

// Registers handle@domain with an invite code, then logs in.
inline Account Register(identity::v1::IdentityService::Stub* id, const std::string& domain,
                        const std::string& handle, const std::string& code) {
  identity::v1::RegisterRequest req;
  req.set_domain(domain);
  req.set_handle(handle);
  req.set_password(kPassword);
  req.set_display_name(handle);
  req.set_invite_code(code);
  identity::v1::RegisterResponse reg;
  grpc::Status s = id->Register(Ctx().get(), req, &reg);
  EXPECT_TRUE(s.ok()) << s.error_message();
  identity::v1::LoginRequest login;
  login.set_login(handle + "@" + domain);
  login.set_password(kPassword);
  identity::v1::LoginResponse resp;
  s = id->Login(Ctx().get(), login, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {resp.user().id(), resp.access_token()};
}

// Creates an org (with a service token) and registers its first admin.
inline Account MakeOrg(identity::v1::IdentityService::Stub* id,
                       identity::v1::IdentityInternalService::Stub* internal,
                       const std::string& service_token, const std::string& domain) {
  identity::v1::CreateOrganizationRequest req;
  req.set_domain(domain);
  req.set_display_name(domain);
  identity::v1::CreateOrganizationResponse org;
  grpc::Status s = internal->CreateOrganization(Ctx(service_token).get(), req, &org);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return Register(id, domain, "admin", org.admin_invite().code());
}

// Invites handle@domain as a member (by the org's admin) and registers them.
inline Account AddMember(identity::v1::IdentityService::Stub* id, const Account& admin,
                         const std::string& domain, const std::string& handle) {
  identity::v1::CreateInviteRequest req;
  req.set_role(identity::v1::ROLE_MEMBER);
  identity::v1::CreateInviteResponse inv;
  grpc::Status s = id->CreateInvite(Ctx(admin.token).get(), req, &inv);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return Register(id, domain, handle, inv.invite().code());
}

}  // namespace parley::feed::test
