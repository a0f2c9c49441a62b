#include "parley/auth/auth.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"

namespace parley::auth {
namespace {

constexpr absl::string_view kPrefix = "pt1.";

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}
absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string Base64Url(absl::string_view bin) {
  std::string out(sodium_base64_ENCODED_LEN(bin.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bin.data()),
                    bin.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);  // trailing NUL
  return out;
}

std::optional<std::string> FromBase64Url(absl::string_view text) {
  std::string out(text.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

absl::Time DefaultNow() { return absl::Now(); }

}  // namespace

void InitSodium() {
  static const int once = [] {
    if (sodium_init() < 0) {
      std::fprintf(stderr, "parley: libsodium failed to initialise\n");
      std::abort();
    }
    return 0;
  }();
  (void)once;
}

std::string KeyIdFor(absl::string_view public_key) {
  InitSodium();
  unsigned char hash[8];
  crypto_generichash(hash, sizeof(hash), reinterpret_cast<const unsigned char*>(public_key.data()),
                     public_key.size(), nullptr, 0);
  return absl::StrCat("k",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(hash), 8)));
}

static SigningKey KeyFromSeedBytes(const unsigned char* seed) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, seed);
  SigningKey key;
  key.public_key.assign(reinterpret_cast<char*>(pk), sizeof(pk));
  key.secret_key.assign(reinterpret_cast<char*>(sk), sizeof(sk));
  sodium_memzero(sk, sizeof(sk));
  key.key_id = KeyIdFor(key.public_key);
  return key;
}

SigningKey GenerateSigningKey(absl::Time now, absl::Duration lifetime) {
  InitSodium();
  unsigned char seed[crypto_sign_SEEDBYTES];
  randombytes_buf(seed, sizeof(seed));
  SigningKey key = KeyFromSeedBytes(seed);
  sodium_memzero(seed, sizeof(seed));
  key.create_time = now;
  key.expire_time = lifetime == absl::InfiniteDuration() ? absl::InfiniteFuture() : now + lifetime;
  return key;
}

absl::StatusOr<SigningKey> SigningKeyFromSeed(absl::string_view seed32) {
  InitSodium();
  if (seed32.size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError(
        absl::StrCat("key seed: ", seed32.size(), " bytes, exactly 32 required"));
  }
  return KeyFromSeedBytes(reinterpret_cast<const unsigned char*>(seed32.data()));
}

VerificationKey PublicPart(const SigningKey& key) {
  return VerificationKey{key.key_id, key.public_key, key.expire_time};
}

std::string Mint(const SigningKey& key, TokenClaims claims) {
  InitSodium();
  claims.set_key_id(key.key_id);
  std::string signed_part = absl::StrCat(kPrefix, Base64Url(claims.SerializeAsString()));
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size(),
                       reinterpret_cast<const unsigned char*>(key.secret_key.data()));
  return absl::StrCat(signed_part, ".",
                      Base64Url(absl::string_view(reinterpret_cast<char*>(sig), sizeof(sig))));
}

void KeyRing::Replace(std::vector<VerificationKey> keys) {
  std::lock_guard<std::mutex> lock(mu_);
  keys_.clear();
  for (auto& k : keys) keys_[k.key_id] = std::move(k);
}

void KeyRing::Add(VerificationKey key) {
  std::lock_guard<std::mutex> lock(mu_);
  keys_[key.key_id] = std::move(key);
}

std::optional<VerificationKey> KeyRing::Find(absl::string_view key_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key_id);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

size_t KeyRing::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.size();
}

Verifier::Verifier(std::shared_ptr<KeyRing> keys, VerifierOptions options)
    : keys_(std::move(keys)), options_(std::move(options)) {
  InitSodium();
  if (!options_.clock) options_.clock = DefaultNow;
}

absl::StatusOr<TokenClaims> Verifier::Verify(absl::string_view token) const {
  auto reject = [](absl::string_view why) {
    return absl::UnauthenticatedError(absl::StrCat("invalid token: ", why));
  };
  if (token.size() > kMaxTokenBytes) return reject("too long");
  if (!absl::StartsWith(token, kPrefix)) return reject("unknown format");
  const size_t dot = token.rfind('.');
  if (dot <= kPrefix.size()) return reject("malformed");
  const absl::string_view signed_part = token.substr(0, dot);
  auto payload = FromBase64Url(signed_part.substr(kPrefix.size()));
  auto signature = FromBase64Url(token.substr(dot + 1));
  if (!payload || !signature || signature->size() != crypto_sign_BYTES) return reject("malformed");
  TokenClaims claims;
  if (!claims.ParseFromString(*payload)) return reject("malformed payload");

  std::optional<VerificationKey> key = keys_->Find(claims.key_id());
  if (!key && options_.refresh_keys) {
    std::lock_guard<std::mutex> lock(refresh_mu_);
    key = keys_->Find(claims.key_id());  // another caller may have refreshed meanwhile
    const absl::Time now = options_.clock();
    if (!key && now - last_refresh_ >= options_.min_refresh_interval) {
      last_refresh_ = now;
      (void)options_.refresh_keys(*keys_);  // a failed refresh leaves the ring as it was
      key = keys_->Find(claims.key_id());
    }
  }
  if (!key) return reject("unknown key id");
  // A token whose signature was checked before is not checked again (an
  // Ed25519 verification costs tens of microseconds per call); everything
  // else, the key's presence and every time check included, still is.
  const std::string cache_key = absl::StrCat(key->public_key, token);
  bool verified;
  {
    std::lock_guard<std::mutex> lock(verified_mu_);
    verified = verified_.contains(cache_key);
  }
  if (!verified) {
    if (crypto_sign_verify_detached(
            reinterpret_cast<const unsigned char*>(signature->data()),
            reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(),
            reinterpret_cast<const unsigned char*>(key->public_key.data())) != 0) {
      return reject("bad signature");
    }
    std::lock_guard<std::mutex> lock(verified_mu_);
    if (verified_.size() >= kMaxVerifiedTokens) verified_.clear();
    verified_.insert(cache_key);
  }
  if (claims.kind() != options_.kind) return reject("wrong kind of token for this call");
  const absl::Time now = options_.clock();
  const absl::Time issued = FromProto(claims.issue_time());
  const absl::Time expires = FromProto(claims.expire_time());
  if (now > expires + kClockLeeway) return reject("expired");
  if (issued > now + kClockLeeway) return reject("issued in the future");
  if (now > key->expire_time + kClockLeeway) return reject("signing key retired");
  if (options_.not_before && claims.user_id() != 0 &&
      issued <= options_.not_before(claims.user_id())) {
    return reject("revoked");
  }
  return claims;
}

absl::StatusOr<std::unique_ptr<ServiceCredential>> ServiceCredential::FromHexSeed(
    absl::string_view hex_seed, std::string service_name, Clock clock) {
  std::string hex(absl::StripAsciiWhitespace(hex_seed));
  if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    return absl::InvalidArgumentError("service key: expected 64 hex digits (a 32-byte seed)");
  }
  auto key = SigningKeyFromSeed(absl::HexStringToBytes(hex));
  if (!key.ok()) return key.status();
  key->key_id = absl::StrCat("svc-", key->key_id);
  if (!clock) clock = DefaultNow;
  return std::unique_ptr<ServiceCredential>(
      new ServiceCredential(*std::move(key), std::move(service_name), std::move(clock)));
}

absl::StatusOr<std::unique_ptr<ServiceCredential>> ServiceCredential::FromFile(
    const std::string& path, std::string service_name, Clock clock) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("service key file ", path, ": cannot read"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto credential = FromHexSeed(ss.str(), std::move(service_name), std::move(clock));
  if (!credential.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service key file ", path, ": ", credential.status().message()));
  }
  return credential;
}

std::string ServiceCredential::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = clock_();
  if (token_.empty() || now > token_expire_time_ - kServiceTokenLifetime / 4) {
    TokenClaims claims;
    claims.set_kind(TokenKind::TOKEN_KIND_SERVICE);
    claims.set_service(service_);
    *claims.mutable_issue_time() = ToProto(now);
    *claims.mutable_expire_time() = ToProto(now + kServiceTokenLifetime);
    token_ = Mint(key_, std::move(claims));
    token_expire_time_ = now + kServiceTokenLifetime;
  }
  return token_;
}

void ServiceCredential::Attach(grpc::ClientContext* context) {
  context->AddMetadata("authorization", absl::StrCat("Bearer ", Token()));
}

absl::StatusOr<std::string> BearerToken(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing credentials: send \"authorization: Bearer <token>\"");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ") && !absl::ConsumePrefix(&value, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must be \"Bearer <token>\"");
  }
  return std::string(value);
}

absl::StatusOr<TokenClaims> Authenticator::AuthenticateUser(
    const grpc::ServerContext& context) const {
  auto token = BearerToken(context);
  if (!token.ok()) return token.status();
  return user_->Verify(*token);
}

absl::StatusOr<TokenClaims> Authenticator::AuthenticateService(
    const grpc::ServerContext& context) const {
  auto token = BearerToken(context);
  if (!token.ok()) return token.status();
  auto claims = service_->Verify(*token);
  if (claims.ok()) return claims;
  if (user_ && user_->Verify(*token).ok()) {
    return absl::PermissionDeniedError(
        "this is an internal RPC: it requires a service credential, not a user token");
  }
  return claims.status();
}

}  // namespace parley::auth
