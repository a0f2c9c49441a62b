// Identity's logic, called directly (no server), with real RocksDB in a temp dir.
#include "identity/src/identity.h"

#include <set>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "parley/events/events.h"
#include "parley/testing/testing.h"

namespace parley::identity {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    auto options = storage::DbOptions::ForTesting(dir_.Sub("db"));
    options.column_families = Identity::ColumnFamilies();
    db_ = *storage::Db::Open(options);
    IdentityOptions io;
    io.argon2_ops = 1;
    io.argon2_memory_bytes = 64 << 10;  // cheap for tests; production uses OWASP's minimum
    io.clock = [this] { return now_; };
    auto identity = Identity::Create(db_.get(), io);
    ASSERT_TRUE(identity.ok()) << identity.status();
    identity_ = *std::move(identity);
  }
  void Reopen() {
    identity_.reset();
    db_.reset();
    Open();
  }

  // Creates an org and registers its first admin; returns the admin's login response.
  pb::LoginResponse MakeOrg(const std::string& domain, const std::string& admin = "admin",
                            pb::SignupPolicy policy = pb::SIGNUP_POLICY_INVITE_ONLY) {
    pb::CreateOrganizationRequest req;
    req.set_domain(domain);
    req.set_display_name("Org " + domain);
    req.set_signup_policy(policy);
    auto org = identity_->CreateOrganization(req);
    EXPECT_TRUE(org.ok()) << org.status();
    EXPECT_TRUE(Register(domain, admin, org->admin_invite().code()).ok());
    return *Login(admin + "@" + domain);
  }
  absl::StatusOr<pb::User> Register(const std::string& domain, const std::string& handle,
                                    const std::string& invite = "") {
    pb::RegisterRequest req;
    req.set_domain(domain);
    req.set_handle(handle);
    req.set_password(kPassword);
    req.set_display_name("Person " + handle);
    req.set_invite_code(invite);
    return identity_->Register(req);
  }
  absl::StatusOr<pb::LoginResponse> Login(const std::string& login,
                                          const std::string& password = kPassword,
                                          const std::string& address = "ipv4:127.0.0.1") {
    pb::LoginRequest req;
    req.set_login(login);
    req.set_password(password);
    return identity_->Login(req, address);
  }
  auth::TokenClaims Claims(const pb::LoginResponse& login) {
    auth::Verifier verifier(identity_->key_ring(),
                            {.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS,
                             .not_before = [this](uint64_t u) { return identity_->NotBefore(u); },
                             .clock = [this] { return now_; }});
    auto claims = verifier.Verify(login.access_token());
    EXPECT_TRUE(claims.ok()) << claims.status();
    return *claims;
  }
  pb::User Invitee(const pb::LoginResponse& admin, const std::string& handle) {
    auto invite = identity_->CreateInvite(Claims(admin), {});
    EXPECT_TRUE(invite.ok()) << invite.status();
    auto user = Register(admin.user().domain(), handle, invite->code());
    EXPECT_TRUE(user.ok()) << user.status();
    return *user;
  }

  // The events committed to identity's outbox since the last call, decoded as
  // a subscriber receives them.
  std::vector<events::v1::Event> NewEvents() {
    std::vector<events::v1::Event> out;
    auto entries = identity_->outbox()->ReadAfter(read_through_, 1000);
    EXPECT_TRUE(entries.ok()) << entries.status();
    if (!entries.ok()) return out;
    for (const auto& entry : *entries) {
      auto event = events::DecodeFromOutbox(entry, identity_->outbox()->producer_id());
      EXPECT_TRUE(event.ok()) << event.status();
      if (event.ok()) out.push_back(*std::move(event));
      read_through_ = entry.sequence;
    }
    return out;
  }

  static constexpr char kPassword[] = "correct horse battery";
  uint64_t read_through_ = 0;  // NewEvents' position in the outbox
  absl::Time now_ = absl::FromUnixSeconds(1'790'000'000);
  testing::TempDir dir_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<Identity> identity_;
};

TEST_F(IdentityTest, OrgInviteRegisterLoginAndSurviveRestart) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  EXPECT_EQ(admin.user().handle(), "admin");
  EXPECT_THAT(admin.user().roles(), ::testing::Contains(pb::ROLE_ADMIN));
  pb::User ana = Invitee(admin, "ana");
  EXPECT_EQ(ana.state(), pb::USER_STATE_ACTIVE);
  Reopen();
  auto login = Login("ana@acme.example");
  ASSERT_TRUE(login.ok()) << login.status();
  EXPECT_EQ(login->user().id(), ana.id());
  EXPECT_EQ(Claims(*login).org_domain(), "acme.example");
}

TEST_F(IdentityTest, ValidatesDomainsHandlesAndDuplicates) {
  pb::CreateOrganizationRequest req;
  req.set_display_name("x");
  for (const char* bad : {"Acme.example", "acme", "-a.example", "a..example", "a_b.example"}) {
    req.set_domain(bad);
    EXPECT_EQ(identity_->CreateOrganization(req).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  pb::LoginResponse admin = MakeOrg("acme.example");
  req.set_domain("acme.example");
  EXPECT_EQ(identity_->CreateOrganization(req).status().code(), absl::StatusCode::kAlreadyExists);
  auto invite = identity_->CreateInvite(Claims(admin), {});
  for (const char* bad : {"A", "x", "has space", "UPPER", "this_handle_is_far_too_long_for_us"}) {
    EXPECT_EQ(Register("acme.example", bad, invite->code()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(Register("acme.example", "admin", invite->code()).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(IdentityTest, InvitesAreSingleUseAndOrgBound) {
  pb::LoginResponse acme = MakeOrg("acme.example");
  MakeOrg("globex.example");
  auto invite = identity_->CreateInvite(Claims(acme), {});
  EXPECT_EQ(Register("globex.example", "sneaky", invite->code()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Register("acme.example", "bob", invite->code()).ok());
  EXPECT_EQ(Register("acme.example", "carol", invite->code()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Register("acme.example", "dave").status().code(), absl::StatusCode::kFailedPrecondition)
      << "invite-only org without a code";
}

TEST_F(IdentityTest, OpenRegistrationWaitsForApproval) {
  pb::LoginResponse admin = MakeOrg("open.example", "admin", pb::SIGNUP_POLICY_OPEN_WITH_APPROVAL);
  auto pending = Register("open.example", "newbie");
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->state(), pb::USER_STATE_PENDING_APPROVAL);
  EXPECT_EQ(Login("newbie@open.example").status().code(), absl::StatusCode::kFailedPrecondition);
  auto approved = identity_->ApproveRegistration(Claims(admin), pending->id());
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_TRUE(Login("newbie@open.example").ok());
}

TEST_F(IdentityTest, UnknownUserAndWrongPasswordLookTheSame) {
  MakeOrg("acme.example");
  auto wrong = Login("admin@acme.example", "not the password");
  auto unknown = Login("nobody@acme.example");
  auto no_org = Login("x@nowhere.example");
  EXPECT_EQ(wrong.status(), unknown.status());
  EXPECT_EQ(wrong.status(), no_org.status());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(IdentityTest, LoginsAreThrottledPerAccountAndPerAddress) {
  MakeOrg("acme.example");
  for (int i = 0; i < kMaxFailedLoginsPerAccount; ++i) {
    EXPECT_EQ(Login("admin@acme.example", "wrong password!", "ipv4:10.0.0." + std::to_string(i))
                  .status()
                  .code(),
              absl::StatusCode::kUnauthenticated);
  }
  auto blocked = Login("admin@acme.example", kPassword, "ipv4:10.9.9.9");
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(blocked.status().message()), HasSubstr("failed attempts"));
  now_ += kAccountLoginWindow + absl::Seconds(1);
  EXPECT_TRUE(Login("admin@acme.example").ok()) << "the window passes";

  for (int i = 0; i < kMaxLoginsPerAddress; ++i)
    (void)Login("who" + std::to_string(i) + "@acme.example", "x", "ipv4:1.2.3.4");
  EXPECT_EQ(Login("admin@acme.example", kPassword, "ipv4:1.2.3.4").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Login("admin@acme.example", kPassword, "ipv4:5.6.7.8").ok());
}

TEST_F(IdentityTest, RefreshRotatesAndReuseRevokesTheFamily) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::RefreshTokenRequest first;
  first.set_refresh_token(admin.refresh_token());
  auto second = identity_->RefreshToken(first);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->refresh_token(), admin.refresh_token());
  // The old token again: theft. Both it and the new one stop working.
  EXPECT_EQ(identity_->RefreshToken(first).status().code(), absl::StatusCode::kUnauthenticated);
  pb::RefreshTokenRequest next;
  next.set_refresh_token(second->refresh_token());
  EXPECT_EQ(identity_->RefreshToken(next).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(IdentityTest, LogoutRevokesRefreshToken) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::LogoutRequest logout;
  logout.set_refresh_token(admin.refresh_token());
  ASSERT_TRUE(identity_->Logout(logout).ok());
  ASSERT_TRUE(identity_->Logout(logout).ok()) << "idempotent";
  pb::RefreshTokenRequest refresh;
  refresh.set_refresh_token(admin.refresh_token());
  EXPECT_EQ(identity_->RefreshToken(refresh).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(IdentityTest, PasswordChangeRevokesEveryOutstandingToken) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  now_ += absl::Seconds(1);
  pb::ChangePasswordRequest change;
  change.set_current_password(kPassword);
  change.set_new_password("a brand new passphrase");
  ASSERT_TRUE(identity_->ChangePassword(Claims(admin), change).ok());
  now_ += absl::Seconds(1);
  auth::Verifier verifier(identity_->key_ring(),
                          {.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS,
                           .not_before = [this](uint64_t u) { return identity_->NotBefore(u); },
                           .clock = [this] { return now_; }});
  EXPECT_EQ(verifier.Verify(admin.access_token()).status().message(), "invalid token: revoked");
  pb::RefreshTokenRequest refresh;
  refresh.set_refresh_token(admin.refresh_token());
  EXPECT_EQ(identity_->RefreshToken(refresh).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(Login("admin@acme.example").ok());
  Reopen();
  EXPECT_EQ(identity_->NotBefore(admin.user().id()), now_ - absl::Seconds(1)) << "persisted";
  EXPECT_TRUE(Login("admin@acme.example", "a brand new passphrase").ok());
}

TEST_F(IdentityTest, SigningKeysRotateAndOldKeysVerifyUntilTheirTokensExpire) {
  pb::LoginResponse before = MakeOrg("acme.example");
  const std::string old_kid = Claims(before).key_id();
  now_ += absl::Hours(24 * 7) + absl::Seconds(1);
  auto after = Login("admin@acme.example");
  ASSERT_TRUE(after.ok());
  EXPECT_NE(Claims(*after).key_id(), old_kid) << "rotation happened";
  EXPECT_EQ(identity_->VerificationKeys().size(), 2u);
  now_ += auth::kAccessTokenLifetime + absl::Minutes(2);
  (void)identity_->VerificationKeys();
  EXPECT_FALSE(identity_->key_ring()->Find(old_kid).has_value()) << "retired key leaves the ring";
}

TEST_F(IdentityTest, ProfileLimitsNameTheFieldAndTheLimit) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::UpdateProfileRequest req;
  req.mutable_update_mask()->add_paths("bio");
  req.mutable_user()->set_bio(std::string(kMaxBioLength + 1, 'b'));
  EXPECT_EQ(std::string(identity_->UpdateProfile(Claims(admin), req).status().message()),
            "user.bio: 2001 characters, at most 2000 allowed");
  req.mutable_update_mask()->set_paths(0, "skills");
  for (size_t i = 0; i <= kMaxSkills; ++i) req.mutable_user()->add_skills("s" + std::to_string(i));
  EXPECT_EQ(std::string(identity_->UpdateProfile(Claims(admin), req).status().message()),
            "user.skills: 51 entries, at most 50 allowed");
  req.mutable_user()->clear_skills();
  req.mutable_user()->add_skills(std::string(41, 'k'));
  EXPECT_THAT(std::string(identity_->UpdateProfile(Claims(admin), req).status().message()),
              HasSubstr("at most 40"));
  req.mutable_user()->set_bio(std::string("\xff\xfe", 2));
  req.mutable_update_mask()->set_paths(0, "bio");
  EXPECT_EQ(std::string(identity_->UpdateProfile(Claims(admin), req).status().message()),
            "user.bio: not valid UTF-8");
  req.mutable_update_mask()->set_paths(0, "roles");
  EXPECT_EQ(identity_->UpdateProfile(Claims(admin), req).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "roles are not self-editable";

  pb::UpdateProfileRequest ok;
  ok.mutable_update_mask()->add_paths("skills");
  ok.mutable_update_mask()->add_paths("title");
  ok.mutable_user()->add_skills("kubernetes");
  ok.mutable_user()->set_title("SRE");
  ok.mutable_user()->set_bio("ignored: not in the mask");
  auto updated = identity_->UpdateProfile(Claims(admin), ok);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->title(), "SRE");
  EXPECT_THAT(updated->skills(), ::testing::ElementsAre("kubernetes"));
  EXPECT_EQ(updated->bio(), "");
}

TEST_F(IdentityTest, OrgsAreIsolated) {
  pb::LoginResponse acme = MakeOrg("acme.example");
  pb::LoginResponse globex = MakeOrg("globex.example");
  pb::User ana = Invitee(acme, "ana");
  EXPECT_EQ(identity_->GetUser(Claims(globex), ana.id()).status().code(),
            absl::StatusCode::kNotFound);
  auto batch = identity_->BatchGetUsers(Claims(globex), {ana.id(), globex.user().id()});
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 1u);
  EXPECT_EQ((*batch)[0].id(), globex.user().id());
  EXPECT_EQ(identity_->SetSuspended(Claims(globex), ana.id(), true).status().code(),
            absl::StatusCode::kNotFound)
      << "an admin of one org cannot administer another";
  EXPECT_EQ(identity_->GrantRole(Claims(globex), ana.id(), pb::ROLE_ADMIN).status().code(),
            absl::StatusCode::kNotFound);
  auto listed = identity_->ListUsers(Claims(globex), {});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->users_size(), 1);
  auto resolved = identity_->ResolveHandles(globex.user().org_id(), {"ana", "admin"});
  ASSERT_EQ(resolved->size(), 1u);
  EXPECT_EQ((*resolved)[0].org_id(), globex.user().org_id());
  // handle@domain works for the org's own domain only.
  resolved = identity_->ResolveHandles(globex.user().org_id(),
                                       {"admin@globex.example", "ana@acme.example"});
  ASSERT_TRUE(resolved.ok());
  ASSERT_EQ(resolved->size(), 1u);
  EXPECT_EQ((*resolved)[0].id(), globex.user().id());
}

TEST_F(IdentityTest, AdminActionsRequireAdminAndSuspensionRevokes) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::User ana = Invitee(admin, "ana");
  pb::User bob = Invitee(admin, "bob");
  auto ana_login = Login("ana@acme.example");
  EXPECT_EQ(identity_->SetSuspended(Claims(*ana_login), bob.id(), true).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(identity_->CreateInvite(Claims(*ana_login), {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto ana_claims = Claims(*ana_login);
  now_ += absl::Seconds(1);
  ASSERT_TRUE(identity_->SetSuspended(Claims(admin), ana.id(), true).ok());
  EXPECT_EQ(identity_->GetCurrentUser(ana_claims).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Login("ana@acme.example").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(identity_->NotBefore(ana.id()), now_);
  ASSERT_TRUE(identity_->SetSuspended(Claims(admin), ana.id(), false).ok());
  EXPECT_TRUE(Login("ana@acme.example").ok());
  EXPECT_EQ(identity_->SetSuspended(Claims(admin), admin.user().id(), true).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(IdentityTest, LastAdminCannotBeRevoked) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  EXPECT_EQ(identity_->RevokeRole(Claims(admin), admin.user().id(), pb::ROLE_ADMIN).status().code(),
            absl::StatusCode::kFailedPrecondition);
  pb::User ana = Invitee(admin, "ana");
  ASSERT_TRUE(identity_->GrantRole(Claims(admin), ana.id(), pb::ROLE_ADMIN).ok());
  auto revoked = identity_->RevokeRole(Claims(admin), ana.id(), pb::ROLE_ADMIN);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_THAT(revoked->roles(), ::testing::Not(::testing::Contains(pb::ROLE_ADMIN)));
}

TEST_F(IdentityTest, ListUsersPagesWithoutOverlapOrGap) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  for (int i = 0; i < 12; ++i) Invitee(admin, "user" + std::to_string(100 + i));
  std::vector<std::string> seen;
  pb::ListUsersRequest req;
  req.set_page_size(5);
  for (int pages = 0; pages < 10; ++pages) {
    auto page = identity_->ListUsers(Claims(admin), req);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& u : page->users()) seen.push_back(u.handle());
    if (page->next_page_token().empty()) break;
    req.set_page_token(page->next_page_token());
  }
  ASSERT_EQ(seen.size(), 13u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 13u);
  req.set_page_size(kMaxPageSize + 1);
  EXPECT_EQ(identity_->ListUsers(Claims(admin), req).status().message(),
            "page_size: 101 is out of range [1, 100]");
  std::vector<uint64_t> too_many(kMaxBatchUsers + 1, 1);
  EXPECT_EQ(identity_->BatchGetUsers(Claims(admin), too_many).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IdentityTest, SnapshotEventsPageThroughCurrentState) {
  pb::LoginResponse acme = MakeOrg("acme.example");
  pb::User ana = Invitee(acme, "ana");
  Invitee(acme, "bob");
  pb::LoginResponse open = MakeOrg("open.example", "root", pb::SIGNUP_POLICY_OPEN_WITH_APPROVAL);
  ASSERT_TRUE(Register("open.example", "pending").ok());
  pb::UpdateProfileRequest update;
  update.mutable_update_mask()->add_paths("skills");
  update.mutable_user()->add_skills("kubernetes");
  auto ana_login = Login("ana@acme.example");
  ASSERT_TRUE(identity_->UpdateProfile(Claims(*ana_login), update).ok());
  ASSERT_TRUE(identity_->SetSuspended(Claims(acme), ana.id(), true).ok());

  const uint64_t newest = identity_->outbox()->CommittedThrough();
  ASSERT_GT(newest, 0u);
  std::vector<events::v1::Event> events;
  std::set<uint64_t> snapshot_sequences;
  pb::ListSnapshotEventsRequest req;
  req.set_page_size(2);
  for (int pages = 0; pages < 20; ++pages) {
    auto page = identity_->ListSnapshotEvents(req);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_LE(page->events_size(), 2);
    snapshot_sequences.insert(page->snapshot_sequence());
    // A live event after the snapshot began: later pages keep the first's sequence.
    if (pages == 0) Invitee(acme, "late");
    events.insert(events.end(), page->events().begin(), page->events().end());
    if (page->next_page_token().empty()) break;
    req.set_page_token(page->next_page_token());
  }
  EXPECT_THAT(snapshot_sequences, ElementsAre(newest))
      << "the outbox's newest sequence when the first page was read, on every page";
  EXPECT_GT(identity_->outbox()->CommittedThrough(), newest);
  for (const auto& e : events) {
    EXPECT_EQ(e.producer(), identity_->outbox()->producer_id()) << "the live events' producer";
    EXPECT_EQ(e.sequence(), 0u) << "snapshot events are upserts";
  }
  std::vector<std::string> handles;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].has_user_updated()) {
      handles.push_back(events[i].user_updated().user().handle());
      if (events[i].user_updated().user().id() == ana.id()) {
        EXPECT_THAT(events[i].user_updated().skills(), ::testing::ElementsAre("kubernetes"));
        ASSERT_LT(i + 1, events.size());
        EXPECT_EQ(events[i + 1].user_suspended().user_id(), ana.id())
            << "suspension follows the upsert";
      }
    }
  }
  EXPECT_THAT(handles, ::testing::UnorderedElementsAre("admin", "ana", "bob", "root", "late"))
      << "pending registrations are not part of the state";
  req.set_page_size(1);
  EXPECT_EQ(identity_->ListSnapshotEvents(req).status().code(), absl::StatusCode::kInvalidArgument);
  req.set_page_size(2);
  req.set_page_token("!!");
  EXPECT_EQ(identity_->ListSnapshotEvents(req).status().code(), absl::StatusCode::kInvalidArgument);
  // A last id without the snapshot sequence.
  req.set_page_token(absl::WebSafeBase64Escape(std::string(8, '\0')));
  EXPECT_EQ(identity_->ListSnapshotEvents(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(IdentityTest, PeopleChangesCommitExactlyTheirEventsToTheOutbox) {
  // An org's first admin becomes active through the bootstrap invite.
  pb::LoginResponse admin = MakeOrg("acme.example");
  std::vector<events::v1::Event> events = NewEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].has_user_updated());
  EXPECT_EQ(events[0].user_updated().user().id(), admin.user().id());
  EXPECT_EQ(events[0].user_updated().user().handle(), "admin");
  EXPECT_EQ(events[0].user_updated().user().domain(), "acme.example");
  EXPECT_EQ(events[0].user_updated().user().display_name(), "Person admin");
  EXPECT_EQ(events[0].org_id(), admin.user().org_id());
  EXPECT_EQ(events[0].create_time().seconds(), absl::ToUnixSeconds(now_));
  EXPECT_THAT(events[0].producer(), StartsWith("identity/"));
  EXPECT_GT(events[0].sequence(), 0u);

  // Accepting an invite: active at once.
  pb::User ana = Invitee(admin, "ana");
  events = NewEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].has_user_updated());
  EXPECT_EQ(events[0].user_updated().user().id(), ana.id());
  EXPECT_EQ(events[0].user_updated().user().handle(), "ana");

  // A profile change carries the whole profile; the same values again, nothing.
  auto ana_login = Login("ana@acme.example");
  ASSERT_TRUE(ana_login.ok()) << ana_login.status();
  const auth::TokenClaims ana_claims = Claims(*ana_login);
  pb::UpdateProfileRequest update;
  for (const char* path : {"display_name", "title", "department", "location", "skills", "bio"}) {
    update.mutable_update_mask()->add_paths(path);
  }
  update.mutable_user()->set_display_name("Ana Lima");
  update.mutable_user()->set_title("SRE");
  update.mutable_user()->set_department("Platform");
  update.mutable_user()->set_location("Lisbon");
  update.mutable_user()->add_skills("kubernetes");
  update.mutable_user()->add_skills("helm");
  update.mutable_user()->set_bio("On call this week");
  ASSERT_TRUE(identity_->UpdateProfile(ana_claims, update).ok());
  events = NewEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].has_user_updated());
  const events::v1::UserUpdated& profile = events[0].user_updated();
  EXPECT_EQ(profile.user().id(), ana.id());
  EXPECT_EQ(profile.user().handle(), "ana");
  EXPECT_EQ(profile.user().domain(), "acme.example");
  EXPECT_EQ(profile.user().display_name(), "Ana Lima");
  EXPECT_EQ(profile.title(), "SRE");
  EXPECT_EQ(profile.department(), "Platform");
  EXPECT_EQ(profile.location(), "Lisbon");
  EXPECT_THAT(profile.skills(), ElementsAre("kubernetes", "helm"));
  EXPECT_EQ(profile.bio(), "On call this week");
  EXPECT_EQ(events[0].org_id(), ana.org_id());
  ASSERT_TRUE(identity_->UpdateProfile(ana_claims, update).ok());
  EXPECT_TRUE(NewEvents().empty()) << "nothing changed";

  // Passwords and roles are nobody else's business.
  pb::ChangePasswordRequest change;
  change.set_current_password(kPassword);
  change.set_new_password("a brand new passphrase");
  ASSERT_TRUE(identity_->ChangePassword(ana_claims, change).ok());
  EXPECT_TRUE(NewEvents().empty()) << "a password change";
  ASSERT_TRUE(identity_->GrantRole(Claims(admin), ana.id(), pb::ROLE_ADMIN).ok());
  ASSERT_TRUE(identity_->RevokeRole(Claims(admin), ana.id(), pb::ROLE_ADMIN).ok());
  EXPECT_TRUE(NewEvents().empty()) << "role changes";

  // Suspension and reactivation: one event each; repeating either adds none.
  now_ += absl::Seconds(1);
  ASSERT_TRUE(identity_->SetSuspended(Claims(admin), ana.id(), true).ok());
  events = NewEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].has_user_suspended());
  EXPECT_EQ(events[0].user_suspended().user_id(), ana.id());
  EXPECT_EQ(events[0].org_id(), ana.org_id());
  EXPECT_EQ(events[0].create_time().seconds(), absl::ToUnixSeconds(now_));
  ASSERT_TRUE(identity_->SetSuspended(Claims(admin), ana.id(), true).ok());
  EXPECT_TRUE(NewEvents().empty()) << "already suspended";
  ASSERT_TRUE(identity_->SetSuspended(Claims(admin), ana.id(), false).ok());
  events = NewEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].has_user_reactivated());
  EXPECT_EQ(events[0].user_reactivated().user_id(), ana.id());
  ASSERT_TRUE(identity_->SetSuspended(Claims(admin), ana.id(), false).ok());
  EXPECT_TRUE(NewEvents().empty()) << "already active";

  // The events are durable with the change: they survive a restart.
  const std::string producer = identity_->outbox()->producer_id();
  Reopen();
  EXPECT_EQ(identity_->outbox()->producer_id(), producer);
  read_through_ = 0;
  EXPECT_EQ(NewEvents().size(), 5u) << "admin, ana, her profile, suspended, reactivated";
}

TEST_F(IdentityTest, ApprovalPublishesAPersonAndPendingOnesStayUnpublished) {
  pb::LoginResponse admin = MakeOrg("open.example", "admin", pb::SIGNUP_POLICY_OPEN_WITH_APPROVAL);
  NewEvents();
  auto pending = Register("open.example", "newbie");
  ASSERT_TRUE(pending.ok()) << pending.status();
  auto declined = Register("open.example", "spam");
  ASSERT_TRUE(declined.ok()) << declined.status();
  EXPECT_TRUE(NewEvents().empty()) << "pending registrations are not part of the state";
  ASSERT_TRUE(identity_->DeclineRegistration(Claims(admin), declined->id()).ok());
  EXPECT_TRUE(NewEvents().empty());
  ASSERT_TRUE(identity_->ApproveRegistration(Claims(admin), pending->id()).ok());
  std::vector<events::v1::Event> events = NewEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].has_user_updated());
  EXPECT_EQ(events[0].user_updated().user().id(), pending->id());
  EXPECT_EQ(events[0].user_updated().user().handle(), "newbie");
  EXPECT_EQ(events[0].org_id(), admin.user().org_id());
}

TEST_F(IdentityTest, WrongCurrentPasswordsAreThrottled) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::ChangePasswordRequest guess;
  guess.set_new_password("attacker chosen passphrase");
  for (int i = 0; i < kMaxFailedLoginsPerAccount; ++i) {
    guess.set_current_password("guess number " + std::to_string(i));
    EXPECT_EQ(identity_->ChangePassword(Claims(admin), guess).code(),
              absl::StatusCode::kPermissionDenied);
  }
  guess.set_current_password(kPassword);
  EXPECT_EQ(identity_->ChangePassword(Claims(admin), guess).code(),
            absl::StatusCode::kResourceExhausted)
      << "a stolen access token must not allow unlimited password guessing";
}

TEST_F(IdentityTest, DemotingAMemberToGuestRevokesTheirTokens) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::User ana = Invitee(admin, "ana");
  auto ana_login = Login("ana@acme.example");
  ASSERT_TRUE(ana_login.ok());
  auto before = Claims(*ana_login);
  now_ += absl::Seconds(1);
  auto demoted = identity_->GrantRole(Claims(admin), ana.id(), pb::ROLE_GUEST);
  ASSERT_TRUE(demoted.ok()) << demoted.status();
  EXPECT_THAT(demoted->roles(), ::testing::ElementsAre(pb::ROLE_GUEST));
  EXPECT_GE(identity_->NotBefore(ana.id()),
            absl::FromUnixMicros(before.issue_time().seconds() * 1000000));
}

TEST_F(IdentityTest, IdsContinuePastStoredOnesAfterARestartWithTheClockBehind) {
  pb::LoginResponse admin = MakeOrg("acme.example");
  pb::User ana = Invitee(admin, "ana");
  now_ -= absl::Hours(1);  // the clock stepped back while we were down
  Reopen();
  admin = *Login("admin@acme.example");  // the old token was minted "in the future"
  pb::User bob = Invitee(admin, "bob");
  EXPECT_GT(bob.id(), ana.id()) << "a reused id would overwrite another person";
  auto still_ana = identity_->GetUser(Claims(admin), ana.id());
  ASSERT_TRUE(still_ana.ok());
  EXPECT_EQ(still_ana->handle(), "ana");
}

}  // namespace
}  // namespace parley::identity
