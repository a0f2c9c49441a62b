// Identity over real gRPC on loopback: auth at the wire, internal-RPC
// protection, and the parley-identity binary draining on SIGTERM under load.
#include <signal.h>

#include <atomic>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "identity/src/module.h"
#include "parley/auth/identity_keys.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/testing/testing.h"

namespace parley::identity {
namespace {

using Stub = pb::IdentityService::Stub;
using InternalStub = pb::IdentityInternalService::Stub;

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  return ctx;
}

constexpr char kPassword[] = "correct horse battery";

class IdentityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.path();
    config_.server.grpc_addr = "127.0.0.1:0";
    config_.server.metrics_addr = "";
    credential_ = *server::LoadServiceCredential(config_, "test");
    module_ = *IdentityModule::Create(config_, *credential_);
    server_ = *server::Server::Start(config_.server, module_->Hosted(),
                                     std::make_shared<prometheus::Registry>());
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                       grpc::InsecureChannelCredentials());
    stub_ = pb::IdentityService::NewStub(channel);
    internal_ = pb::IdentityInternalService::NewStub(channel);
  }

  std::string ServiceToken() { return credential_->Token(); }

  // Creates org `domain` (service credential) and logs its first admin in.
  pb::LoginResponse MakeOrg(const std::string& domain) {
    pb::CreateOrganizationRequest req;
    req.set_domain(domain);
    req.set_display_name(domain);
    pb::CreateOrganizationResponse org;
    EXPECT_TRUE(internal_->CreateOrganization(Ctx(ServiceToken()).get(), req, &org).ok());
    Register(domain, "admin", org.admin_invite().code());
    return LoginAs("admin@" + domain);
  }
  void Register(const std::string& domain, const std::string& handle, const std::string& code) {
    pb::RegisterRequest req;
    req.set_domain(domain);
    req.set_handle(handle);
    req.set_password(kPassword);
    req.set_display_name(handle);
    req.set_invite_code(code);
    pb::RegisterResponse resp;
    grpc::Status s = stub_->Register(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  pb::LoginResponse LoginAs(const std::string& login) {
    pb::LoginRequest req;
    req.set_login(login);
    req.set_password(kPassword);
    pb::LoginResponse resp;
    grpc::Status s = stub_->Login(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  grpc::StatusCode WhoAmI(const std::string& token) {
    pb::GetCurrentUserResponse resp;
    return stub_->GetCurrentUser(Ctx(token).get(), {}, &resp).error_code();
  }

  testing::TempDir dir_;
  server::CommonConfig config_;
  std::unique_ptr<auth::ServiceCredential> credential_;
  std::unique_ptr<IdentityModule> module_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<Stub> stub_;
  std::unique_ptr<InternalStub> internal_;
};

TEST_F(IdentityServiceTest, TokensAreCheckedAtTheWire) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  EXPECT_EQ(WhoAmI(admin.access_token()), grpc::OK);
  EXPECT_EQ(WhoAmI(""), grpc::UNAUTHENTICATED);
  std::string tampered = admin.access_token();
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(WhoAmI(tampered), grpc::UNAUTHENTICATED);
  std::string bad_sig = admin.access_token();
  bad_sig[bad_sig.size() - 3] = bad_sig[bad_sig.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(WhoAmI(bad_sig), grpc::UNAUTHENTICATED);
  EXPECT_EQ(WhoAmI(ServiceToken()), grpc::UNAUTHENTICATED) << "a service token is not a person";
  // A token from a key identity never published.
  auth::SigningKey stranger = auth::GenerateSigningKey(absl::Now());
  auth::TokenClaims claims;
  claims.set_kind(auth::TokenKind::TOKEN_KIND_USER_ACCESS);
  claims.set_user_id(admin.user().id());
  claims.set_org_id(admin.user().org_id());
  EXPECT_EQ(WhoAmI(auth::Mint(stranger, claims)), grpc::UNAUTHENTICATED);
}

TEST_F(IdentityServiceTest, UserTokensCannotCallInternalRpcs) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::GetSigningKeysResponse keys;
  EXPECT_EQ(internal_->GetSigningKeys(Ctx(admin.access_token()).get(), {}, &keys).error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_EQ(internal_->GetSigningKeys(Ctx().get(), {}, &keys).error_code(), grpc::UNAUTHENTICATED);
  pb::CreateOrganizationRequest org;
  org.set_domain("evil.example");
  org.set_display_name("evil");
  pb::CreateOrganizationResponse created;
  EXPECT_EQ(
      internal_->CreateOrganization(Ctx(admin.access_token()).get(), org, &created).error_code(),
      grpc::PERMISSION_DENIED);
  ASSERT_TRUE(internal_->GetSigningKeys(Ctx(ServiceToken()).get(), {}, &keys).ok());
  ASSERT_GE(keys.keys_size(), 1);
  // The published key verifies the user's token: what every other service does locally.
  auto ring = std::make_shared<auth::KeyRing>();
  for (const auto& k : keys.keys()) ring->Add({k.key_id(), k.public_key()});
  auth::Verifier verifier(ring, {.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS});
  EXPECT_TRUE(verifier.Verify(admin.access_token()).ok());
}

// What every other service does: start with no keys, fetch them from identity
// on the first unknown key id, and verify locally from then on.
TEST_F(IdentityServiceTest, OtherServicesFetchKeysOnAnUnknownKeyId) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto ring = std::make_shared<auth::KeyRing>();
  auth::Verifier verifier(ring,
                          {.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS,
                           .refresh_keys = auth::IdentityKeyFetcher(channel, credential_.get())});
  auto claims = verifier.Verify(admin.access_token());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->user_id(), admin.user().id());
  EXPECT_GE(ring->size(), 1u);

  // A fetcher holding a user token instead of the service key is refused by identity.
  auto bogus = auth::ServiceCredential::FromHexSeed(std::string(64, 'b'), "bogus");
  auto empty = std::make_shared<auth::KeyRing>();
  EXPECT_FALSE(auth::IdentityKeyFetcher(channel, bogus->get())(*empty).ok());
  EXPECT_EQ(empty->size(), 0u);
}

TEST_F(IdentityServiceTest, SnapshotEventsNeedTheServiceCredential) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::ListSnapshotEventsResponse resp;
  EXPECT_EQ(internal_->ListSnapshotEvents(Ctx(admin.access_token()).get(), {}, &resp).error_code(),
            grpc::PERMISSION_DENIED);
  ASSERT_TRUE(internal_->ListSnapshotEvents(Ctx(ServiceToken()).get(), {}, &resp).ok());
  ASSERT_EQ(resp.events_size(), 1);
  EXPECT_EQ(resp.events(0).user_updated().user().handle(), "admin");
}

TEST_F(IdentityServiceTest, PasswordChangeAndSuspensionInvalidateTokensAtOnce) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::CreateInviteResponse invite;
  ASSERT_TRUE(stub_->CreateInvite(Ctx(admin.access_token()).get(), {}, &invite).ok());
  Register("acme.example", "ana", invite.invite().code());
  pb::LoginResponse ana = LoginAs("ana@acme.example");
  absl::SleepFor(absl::Milliseconds(2));
  pb::SuspendUserRequest suspend;
  suspend.set_user_id(ana.user().id());
  pb::SuspendUserResponse suspended;
  ASSERT_TRUE(stub_->SuspendUser(Ctx(admin.access_token()).get(), suspend, &suspended).ok());
  EXPECT_EQ(WhoAmI(ana.access_token()), grpc::UNAUTHENTICATED);

  pb::ChangePasswordRequest change;
  change.set_current_password(kPassword);
  change.set_new_password("another long passphrase");
  pb::ChangePasswordResponse changed;
  absl::SleepFor(absl::Milliseconds(2));
  ASSERT_TRUE(stub_->ChangePassword(Ctx(admin.access_token()).get(), change, &changed).ok());
  absl::SleepFor(absl::Milliseconds(2));
  EXPECT_EQ(WhoAmI(admin.access_token()), grpc::UNAUTHENTICATED);
}

TEST_F(IdentityServiceTest, OtherOrgsPeopleAreNotFound) {
  pb::LoginResponse acme = MakeOrg("acme.example");
  pb::LoginResponse globex = MakeOrg("globex.example");
  pb::GetUserRequest req;
  req.set_user_id(acme.user().id());
  pb::GetUserResponse resp;
  EXPECT_EQ(stub_->GetUser(Ctx(globex.access_token()).get(), req, &resp).error_code(),
            grpc::NOT_FOUND);
  EXPECT_TRUE(stub_->GetUser(Ctx(acme.access_token()).get(), req, &resp).ok());
  pb::SuspendUserRequest suspend;
  suspend.set_user_id(acme.user().id());
  pb::SuspendUserResponse suspended;
  EXPECT_EQ(stub_->SuspendUser(Ctx(globex.access_token()).get(), suspend, &suspended).error_code(),
            grpc::NOT_FOUND);
}

// SIGTERM while registrations are in flight: the binary exits 0, and every
// registration that was acknowledged is there after a restart.
TEST(IdentityBinaryTest, SigtermUnderLoadLosesNothingAcknowledged) {
  testing::TempDir dir;
  const int port = testing::FreePort();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  auto start = [&] {
    return testing::Process::Start(
        {testing::BinaryPath("services/identity/parley-identity"), "--grpc_addr=" + addr,
         "--metrics_addr=", "--data_dir=" + dir.path(), "--drain_timeout_s=10"},
        dir.Sub("server.log"));
  };
  auto process = start();
  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)))
      << testing::ReadFile(dir.Sub("server.log"));
  auto stub = pb::IdentityService::NewStub(channel);
  auto internal = pb::IdentityInternalService::NewStub(channel);
  server::CommonConfig config;
  config.data_dir = dir.path();
  auto credential = *server::LoadServiceCredential(config, "test");

  pb::CreateOrganizationRequest org_req;
  org_req.set_domain("load.example");
  org_req.set_display_name("Load");
  org_req.set_signup_policy(pb::SIGNUP_POLICY_OPEN_WITH_APPROVAL);
  pb::CreateOrganizationResponse org;
  ASSERT_TRUE(internal->CreateOrganization(Ctx(credential->Token()).get(), org_req, &org).ok());

  std::mutex mu;
  std::set<uint64_t> acknowledged;
  std::atomic<int> attempted{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        pb::RegisterRequest req;
        req.set_domain("load.example");
        req.set_handle("u" + std::to_string(t) + "_" + std::to_string(i));
        req.set_password(kPassword);
        req.set_display_name("load");
        pb::RegisterResponse resp;
        auto ctx = Ctx();
        ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        attempted++;
        if (!stub->Register(ctx.get(), req, &resp).ok()) return;  // the server went away
        std::lock_guard<std::mutex> lock(mu);
        acknowledged.insert(resp.user().id());
      }
    });
  }
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(mu);
        return acknowledged.size() >= 20;
      },
      absl::Seconds(60)));
  process.Signal(SIGTERM);
  const int exit_code = process.Wait(absl::Seconds(30));
  for (auto& c : clients) c.join();
  EXPECT_EQ(exit_code, 0) << testing::ReadFile(dir.Sub("server.log"));
  EXPECT_LT(static_cast<int>(acknowledged.size()), 800) << "the signal should land mid-load";

  process = start();
  ASSERT_TRUE(
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
  std::vector<uint64_t> ids(acknowledged.begin(), acknowledged.end());
  size_t found = 0;
  for (size_t i = 0; i < ids.size(); i += 500) {
    pb::IdentityInternalServiceBatchGetUsersRequest req;
    for (size_t j = i; j < std::min(ids.size(), i + 500); ++j) req.add_user_ids(ids[j]);
    pb::IdentityInternalServiceBatchGetUsersResponse resp;
    auto ctx = Ctx(credential->Token());
    ctx->set_wait_for_ready(true);
    grpc::Status s = internal->BatchGetUsers(ctx.get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    found += resp.users_size();
  }
  EXPECT_EQ(found, acknowledged.size()) << "every acknowledged registration survives";
  process.Signal(SIGTERM);
  EXPECT_EQ(process.Wait(absl::Seconds(30)), 0);
}

TEST(IdentityBinaryTest, BadStartupConfigurationFailsClearly) {
  testing::TempDir dir;
  const std::string bin = testing::BinaryPath("services/identity/parley-identity");
  auto run = [&](std::vector<std::string> args, const std::string& log) {
    args.insert(args.begin(), bin);
    auto p = testing::Process::Start(args, dir.Sub(log));
    return p.Wait(absl::Seconds(60));
  };
  EXPECT_EQ(run({"--grpc_addr=nonsense", "--data_dir=" + dir.Sub("a")}, "flag.log"), 2);
  EXPECT_THAT(testing::ReadFile(dir.Sub("flag.log")), ::testing::HasSubstr("--grpc_addr"));
  EXPECT_EQ(run({"--node_id=5000", "--data_dir=" + dir.Sub("a")}, "node.log"), 2);
  EXPECT_THAT(testing::ReadFile(dir.Sub("node.log")), ::testing::HasSubstr("--node_id"));

  // A data directory another process holds.
  const int port = testing::FreePort();
  auto holder = testing::Process::Start({bin, "--grpc_addr=127.0.0.1:" + std::to_string(port),
                                         "--metrics_addr=", "--data_dir=" + dir.Sub("held")},
                                        dir.Sub("holder.log"));
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
  EXPECT_EQ(run({"--grpc_addr=127.0.0.1:0", "--metrics_addr=", "--data_dir=" + dir.Sub("held")},
                "lock.log"),
            2);
  EXPECT_THAT(testing::ReadFile(dir.Sub("lock.log")), ::testing::HasSubstr("lock"));
  // The port the holder listens on.
  EXPECT_EQ(run({"--grpc_addr=127.0.0.1:" + std::to_string(port),
                 "--metrics_addr=", "--data_dir=" + dir.Sub("other")},
                "port.log"),
            2);
  EXPECT_THAT(testing::ReadFile(dir.Sub("port.log")), ::testing::HasSubstr("cannot listen"));
  holder.Signal(SIGTERM);
  EXPECT_EQ(holder.Wait(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace parley::identity
