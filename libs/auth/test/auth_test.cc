#include "parley/auth/auth.h"

#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace parley::auth {
namespace {

using google::protobuf::util::TimeUtil;
using ::parley::common::v1::TokenKind;

google::protobuf::Timestamp Ts(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

class AuthTest : public ::testing::Test {
 protected:
  AuthTest() : key_(GenerateSigningKey(now_)) { ring_->Add(PublicPart(key_)); }

  TokenClaims UserClaims(uint64_t user_id = 7) {
    TokenClaims c;
    c.set_kind(TokenKind::TOKEN_KIND_USER_ACCESS);
    c.set_user_id(user_id);
    c.set_org_id(3);
    c.set_org_domain("acme.example");
    c.add_roles("member");
    *c.mutable_issue_time() = Ts(now_);
    *c.mutable_expire_time() = Ts(now_ + kAccessTokenLifetime);
    return c;
  }
  Verifier UserVerifier(VerifierOptions options = {}) {
    options.kind = TokenKind::TOKEN_KIND_USER_ACCESS;
    options.clock = [this] { return now_; };
    return Verifier(ring_, std::move(options));
  }
  static std::string Reason(const absl::StatusOr<TokenClaims>& r) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
    return std::string(r.status().message());
  }

  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  SigningKey key_;
  std::shared_ptr<KeyRing> ring_ = std::make_shared<KeyRing>();
};

TEST_F(AuthTest, ValidTokenVerifiesWithItsClaims) {
  auto claims = UserVerifier().Verify(Mint(key_, UserClaims()));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->user_id(), 7u);
  EXPECT_EQ(claims->org_domain(), "acme.example");
  EXPECT_EQ(claims->key_id(), key_.key_id);
}

TEST_F(AuthTest, TamperedPayloadIsRejected) {
  std::string token = Mint(key_, UserClaims(7));
  std::string other = Mint(key_, UserClaims(8));
  // Swap in the payload of a token for another user, keeping the signature.
  std::string forged = other.substr(0, other.rfind('.')) + token.substr(token.rfind('.'));
  EXPECT_EQ(Reason(UserVerifier().Verify(forged)), "invalid token: bad signature");
}

TEST_F(AuthTest, TamperedSignatureIsRejected) {
  std::string token = Mint(key_, UserClaims());
  token[token.size() - 5] = token[token.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Reason(UserVerifier().Verify(token)), "invalid token: bad signature");
}

TEST_F(AuthTest, UnknownKeyIdIsRejected) {
  SigningKey stranger = GenerateSigningKey(now_);
  EXPECT_EQ(Reason(UserVerifier().Verify(Mint(stranger, UserClaims()))),
            "invalid token: unknown key id");
}

TEST_F(AuthTest, UnknownKeyIdTriggersOneRateLimitedRefresh) {
  SigningKey rotated = GenerateSigningKey(now_);
  int refreshes = 0;
  VerifierOptions options;
  options.refresh_keys = [&](KeyRing& ring) {
    ++refreshes;
    ring.Add(PublicPart(rotated));
    return absl::OkStatus();
  };
  Verifier verifier = UserVerifier(options);
  EXPECT_TRUE(verifier.Verify(Mint(rotated, UserClaims())).ok());
  EXPECT_TRUE(verifier.Verify(Mint(rotated, UserClaims())).ok());
  EXPECT_EQ(refreshes, 1);
  SigningKey never = GenerateSigningKey(now_);
  now_ += absl::Seconds(10);  // past min_refresh_interval
  EXPECT_FALSE(verifier.Verify(Mint(never, UserClaims())).ok());
  EXPECT_FALSE(verifier.Verify(Mint(never, UserClaims())).ok());
  EXPECT_EQ(refreshes, 2) << "garbage key ids must not hammer identity";
}

TEST_F(AuthTest, ExpiredAndFutureTokensAreRejected) {
  std::string token = Mint(key_, UserClaims());
  now_ += kAccessTokenLifetime + kClockLeeway + absl::Seconds(1);
  EXPECT_EQ(Reason(UserVerifier().Verify(token)), "invalid token: expired");
  now_ -= absl::Hours(1);
  EXPECT_EQ(Reason(UserVerifier().Verify(token)), "invalid token: issued in the future");
}

TEST_F(AuthTest, RetiredKeyStopsVerifying) {
  SigningKey old_key = GenerateSigningKey(now_, absl::Minutes(20));
  ring_->Add(PublicPart(old_key));
  std::string token = Mint(old_key, UserClaims());
  EXPECT_TRUE(UserVerifier().Verify(token).ok()) << "old key verifies until it expires";
  now_ += absl::Minutes(21);
  EXPECT_FALSE(UserVerifier().Verify(token).ok());
}

TEST_F(AuthTest, ARememberedSignatureSkipsNoOtherCheck) {
  Verifier verifier = UserVerifier();
  const std::string token = Mint(key_, UserClaims());
  ASSERT_TRUE(verifier.Verify(token).ok());
  ASSERT_TRUE(verifier.Verify(token).ok());  // now from the cache
  std::string forged = token;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifier.Verify(forged).ok()) << "another string is verified afresh";
  now_ += kAccessTokenLifetime + absl::Minutes(1);
  EXPECT_EQ(Reason(verifier.Verify(token)), "invalid token: expired");
  now_ -= kAccessTokenLifetime + absl::Minutes(1);
  ring_->Replace({});
  EXPECT_EQ(Reason(verifier.Verify(token)), "invalid token: unknown key id");
}

TEST_F(AuthTest, NotBeforeRevokesOlderTokensOfThatUserOnly) {
  std::string before = Mint(key_, UserClaims(7));
  std::string other_user = Mint(key_, UserClaims(8));
  VerifierOptions options;
  absl::Time revoked_at = now_ + absl::Seconds(1);
  options.not_before = [&](uint64_t user) { return user == 7 ? revoked_at : absl::InfinitePast(); };
  now_ += absl::Seconds(2);
  Verifier verifier = UserVerifier(options);
  EXPECT_EQ(Reason(verifier.Verify(before)), "invalid token: revoked");
  EXPECT_TRUE(verifier.Verify(other_user).ok());
  EXPECT_TRUE(verifier.Verify(Mint(key_, UserClaims(7))).ok()) << "a token issued after is fine";
}

TEST_F(AuthTest, MalformedTokensAreRejectedNotCrashed) {
  Verifier verifier = UserVerifier();
  for (std::string bad :
       {std::string(""), std::string("pt1."), std::string("pt1.."), std::string("pt1.!!!.???"),
        std::string("Bearer x"), std::string("pt1.AAAA.AAAA"), std::string(5000, 'a'),
        std::string("pt1.") + std::string(100, '.')}) {
    auto r = verifier.Verify(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

TEST_F(AuthTest, ServiceTokensAndUserTokensAreNotInterchangeable) {
  auto credential =
      ServiceCredential::FromHexSeed(std::string(64, 'a'), "feed", [this] { return now_; });
  ASSERT_TRUE(credential.ok());
  auto service_ring = std::make_shared<KeyRing>();
  service_ring->Add((*credential)->verification_key());
  Verifier service_verifier(
      service_ring, {.kind = TokenKind::TOKEN_KIND_SERVICE, .clock = [this] { return now_; }});
  auto claims = service_verifier.Verify((*credential)->Token());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->service(), "feed");
  EXPECT_FALSE(service_verifier.Verify(Mint(key_, UserClaims())).ok())
      << "user token, service call";
  EXPECT_FALSE(UserVerifier().Verify((*credential)->Token()).ok()) << "service token, user call";
  // Even a user-kind token signed with the service key is refused by the user verifier
  // (unknown key) and a service-kind token signed by identity's key by the service one.
  TokenClaims sneaky = UserClaims();
  sneaky.set_kind(TokenKind::TOKEN_KIND_SERVICE);
  EXPECT_FALSE(service_verifier.Verify(Mint(key_, sneaky)).ok());
}

TEST_F(AuthTest, ServiceKeyMustBe32HexBytes) {
  EXPECT_FALSE(ServiceCredential::FromHexSeed("abc", "feed").ok());
  EXPECT_FALSE(ServiceCredential::FromHexSeed(std::string(64, 'z'), "feed").ok());
  EXPECT_TRUE(ServiceCredential::FromHexSeed(std::string(64, '0') + "\n", "feed").ok());
  EXPECT_FALSE(ServiceCredential::FromFile("/nonexistent/key", "feed").ok());
}

}  // namespace
}  // namespace parley::auth
