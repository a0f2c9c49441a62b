// Access tokens and service credentials: Ed25519 (libsodium) signatures over a
// TokenClaims protobuf, key ids for rotation, expiry, and per-user "not
// before" revocation. Every service verifies locally with identity's public
// keys; internal RPCs accept only service tokens, signed by a separate key.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "parley/common/v1/auth.pb.h"

namespace grpc {
class ServerContext;
class ClientContext;
}  // namespace grpc

namespace parley::auth {

using ::parley::common::v1::TokenClaims;
using ::parley::common::v1::TokenKind;
using Clock = std::function<absl::Time()>;

inline constexpr absl::Duration kAccessTokenLifetime = absl::Minutes(15);
inline constexpr absl::Duration kServiceTokenLifetime = absl::Hours(1);
// Tolerated clock skew between the minting and the verifying machine.
inline constexpr absl::Duration kClockLeeway = absl::Seconds(30);
inline constexpr size_t kMaxTokenBytes = 4096;

struct SigningKey {
  std::string key_id;
  std::string public_key;  // 32 bytes
  std::string secret_key;  // 64 bytes (libsodium: seed || public key)
  absl::Time create_time;
  // Tokens signed by this key verify until this time (rotation: a retired key
  // keeps verifying until its last token has expired).
  absl::Time expire_time = absl::InfiniteFuture();
};

struct VerificationKey {
  std::string key_id;
  std::string public_key;
  absl::Time expire_time = absl::InfiniteFuture();
};

// Ensures libsodium is initialised; every function here calls it.
void InitSodium();

SigningKey GenerateSigningKey(absl::Time now, absl::Duration lifetime = absl::InfiniteDuration());
absl::StatusOr<SigningKey> SigningKeyFromSeed(absl::string_view seed32);
// A stable id derived from the public key ("k" + 16 hex digits).
std::string KeyIdFor(absl::string_view public_key);
VerificationKey PublicPart(const SigningKey& key);

// Signs `claims` (key_id is set from `key`). Returns "pt1.<payload>.<signature>".
std::string Mint(const SigningKey& key, TokenClaims claims);

// A thread-safe set of verification keys by key id.
class KeyRing {
 public:
  void Replace(std::vector<VerificationKey> keys);
  void Add(VerificationKey key);
  std::optional<VerificationKey> Find(absl::string_view key_id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, VerificationKey, std::less<>> keys_;
};

struct VerifierOptions {
  TokenKind kind = TokenKind::TOKEN_KIND_UNSPECIFIED;
  // Called when a token names an unknown key id (identity rotated keys), at
  // most once per `min_refresh_interval`; it should refill the ring.
  std::function<absl::Status(KeyRing&)> refresh_keys;
  absl::Duration min_refresh_interval = absl::Seconds(5);
  // Tokens of `user_id` issued at or before the returned time are revoked (password
  // change, suspension). Nullptr: no per-user revocation.
  std::function<absl::Time(uint64_t user_id)> not_before;
  Clock clock;  // default: absl::Now
};

class Verifier {
 public:
  Verifier(std::shared_ptr<KeyRing> keys, VerifierOptions options);
  // UNAUTHENTICATED with a reason for anything but a valid, unexpired token of
  // the expected kind from a known key.
  absl::StatusOr<TokenClaims> Verify(absl::string_view token) const;
  KeyRing& keys() const { return *keys_; }

 private:
  std::shared_ptr<KeyRing> keys_;
  VerifierOptions options_;
  mutable std::mutex refresh_mu_;
  mutable absl::Time last_refresh_ = absl::InfinitePast();  // guarded by refresh_mu_
  // Tokens (prefixed by the verifying public key) whose signature checked out.
  static constexpr size_t kMaxVerifiedTokens = 100000;
  mutable std::mutex verified_mu_;
  mutable absl::flat_hash_set<std::string> verified_;  // guarded by verified_mu_
};

// A Parley service's credential for internal RPCs: a shared 32-byte seed
// (hex, from --service_key_file) from which every service derives the same
// Ed25519 key. Each service mints its own short-lived tokens naming itself.
class ServiceCredential {
 public:
  static absl::StatusOr<std::unique_ptr<ServiceCredential>> FromHexSeed(absl::string_view hex_seed,
                                                                        std::string service_name,
                                                                        Clock clock = nullptr);
  static absl::StatusOr<std::unique_ptr<ServiceCredential>> FromFile(const std::string& path,
                                                                     std::string service_name,
                                                                     Clock clock = nullptr);
  // A valid token, re-minted when less than a quarter of its life is left.
  std::string Token();
  // Adds "authorization: Bearer <token>" to an outgoing call.
  void Attach(grpc::ClientContext* context);
  // Verification key for the service verifier.
  VerificationKey verification_key() const { return PublicPart(key_); }

 private:
  ServiceCredential(SigningKey key, std::string service, Clock clock)
      : key_(std::move(key)), service_(std::move(service)), clock_(std::move(clock)) {}
  const SigningKey key_;
  const std::string service_;
  const Clock clock_;
  std::mutex mu_;
  std::string token_;             // guarded by mu_
  absl::Time token_expire_time_;  // guarded by mu_
};

// What gRPC handlers call first: the user or the service behind a call.
class Authenticator {
 public:
  Authenticator(std::shared_ptr<Verifier> user_verifier, std::shared_ptr<Verifier> service_verifier)
      : user_(std::move(user_verifier)), service_(std::move(service_verifier)) {}

  absl::StatusOr<TokenClaims> AuthenticateUser(const grpc::ServerContext& context) const;
  // A valid user token here gets PERMISSION_DENIED: internal RPCs are for services.
  absl::StatusOr<TokenClaims> AuthenticateService(const grpc::ServerContext& context) const;

  const Verifier& user_verifier() const { return *user_; }

 private:
  std::shared_ptr<Verifier> user_;
  std::shared_ptr<Verifier> service_;
};

// The bearer token of a call, or UNAUTHENTICATED if there is none.
absl::StatusOr<std::string> BearerToken(const grpc::ServerContext& context);

}  // namespace parley::auth
