// Identity's part in the gRPC benchmarks (notify_stream, presence, search):
// user access tokens for synthetic people, and the Authenticator that checks
// them.
//
// The benchmarks need access tokens for thousands of synthetic people, which
// identity cannot issue in a benchmark's time: every login is an argon2id
// verification (and each person an argon2id registration), and identity
// refuses more than kMaxLoginsPerAddress (60) logins a minute from one
// address. So BenchAuth stands in for identity's signing key: it mints user
// access tokens with the claims Identity::IssueTokens puts in them, and builds
// the Authenticator the way directory::ConnectIdentity does (a user Verifier
// over a key ring holding the public key, a service Verifier over the service
// credential's key). Every call is therefore authenticated by the production
// Authenticator and Verifier code (Ed25519 signature, kind, expiry); only
// where the verification key comes from differs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "parley/auth/auth.h"

namespace parley::bench {

class BenchAuth {
 public:
  // Tokens name members of org `org_id`, whose domain is `org_domain`.
  BenchAuth(auth::ServiceCredential* credential, uint64_t org_id, std::string org_domain)
      : key_(auth::GenerateSigningKey(absl::Now())),
        org_id_(org_id),
        org_domain_(std::move(org_domain)) {
    auto user_ring = std::make_shared<auth::KeyRing>();
    user_ring->Add(auth::PublicPart(key_));
    auto user_verifier = std::make_shared<auth::Verifier>(
        user_ring, auth::VerifierOptions{.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS});
    auto service_ring = std::make_shared<auth::KeyRing>();
    service_ring->Add(credential->verification_key());
    auto service_verifier = std::make_shared<auth::Verifier>(
        service_ring, auth::VerifierOptions{.kind = auth::TokenKind::TOKEN_KIND_SERVICE});
    authenticator_ = std::make_unique<auth::Authenticator>(user_verifier, service_verifier);
  }
  BenchAuth(const BenchAuth&) = delete;
  BenchAuth& operator=(const BenchAuth&) = delete;

  auth::Authenticator* authenticator() const { return authenticator_.get(); }

  // An access token of member `user_id` of the org, valid for
  // auth::kAccessTokenLifetime (15 min) from now, as identity issues it.
  std::string UserToken(uint64_t user_id) {
    using google::protobuf::util::TimeUtil;
    const absl::Time now = absl::Now();
    auth::TokenClaims claims;
    claims.set_kind(auth::TokenKind::TOKEN_KIND_USER_ACCESS);
    claims.set_user_id(user_id);
    claims.set_org_id(org_id_);
    claims.set_org_domain(org_domain_);
    claims.add_roles("member");
    *claims.mutable_issue_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
    *claims.mutable_expire_time() =
        TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now + auth::kAccessTokenLifetime));
    claims.set_token_id(absl::StrCat("bench-", ++minted_));
    return auth::Mint(key_, std::move(claims));
  }

 private:
  const auth::SigningKey key_;
  const uint64_t org_id_;
  const std::string org_domain_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::atomic<uint64_t> minted_{0};
};

}  // namespace parley::bench
