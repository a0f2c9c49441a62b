// Identity's logic: organisations, people, credentials and tokens, stored in
// identity's own RocksDB. Knows nothing of gRPC: callers pass the verified
// caller (token claims) and get absl::Status errors. Tested directly.
//
// Every change to a person that other services index or enforce is published
// through an outbox (producer "identity/<random>"), committed in the same
// WriteBatch as the user record: UserUpdated (the whole profile) when someone
// becomes active (invite, approval, an org's first admin) or their profile
// changes, UserSuspended on suspension, UserReactivated on reactivation.
// Roles, passwords and tokens publish nothing.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "parley/auth/auth.h"
#include "parley/events/v1/events.pb.h"
#include "parley/identity/v1/identity.pb.h"
#include "parley/ids/ids.h"
#include "parley/storage/db.h"
#include "parley/storage/outbox.h"

namespace parley::identity {

namespace pb = ::parley::identity::v1;
using auth::TokenClaims;

// Named limits; every one is enforced with INVALID_ARGUMENT naming the field.
inline constexpr size_t kMinHandleLength = 2, kMaxHandleLength = 30;
inline constexpr size_t kMaxDisplayNameLength = 100;
inline constexpr size_t kMaxProfileFieldLength = 100;  // title, department, location
inline constexpr size_t kMaxSkills = 50, kMaxSkillLength = 40;
inline constexpr size_t kMaxBioLength = 2000;
inline constexpr size_t kMinPasswordLength = 12, kMaxPasswordLength = 256;
inline constexpr size_t kMaxPasswordBytes = 4 * kMaxPasswordLength;  // cheap pre-check
inline constexpr size_t kMaxBatchUsers = 500;
inline constexpr int kDefaultPageSize = 20, kMaxPageSize = 100;
inline constexpr int kDefaultSnapshotPageSize = 500, kMaxSnapshotPageSize = 1000;
inline constexpr size_t kMaxDomainLength = 253;
// Login throttling: failed attempts per account, attempts per client address.
inline constexpr int kMaxFailedLoginsPerAccount = 10;
inline constexpr absl::Duration kAccountLoginWindow = absl::Minutes(15);
inline constexpr int kMaxLoginsPerAddress = 60;
inline constexpr absl::Duration kAddressLoginWindow = absl::Minutes(1);
inline constexpr absl::Duration kRefreshTokenLifetime = absl::Hours(24 * 30);
inline constexpr absl::Duration kInviteLifetime = absl::Hours(24 * 7);

struct IdentityOptions {
  uint32_t node_id = 0;
  // A new signing key is made when the current one is older than this; the
  // old one keeps verifying until the tokens it signed have expired.
  absl::Duration signing_key_rotation = absl::Hours(24 * 7);
  // argon2id cost; the defaults are OWASP's minimum (m = 19 MiB, t = 2).
  uint64_t argon2_ops = 2;
  size_t argon2_memory_bytes = size_t{19} << 20;
  auth::Clock clock;  // default absl::Now
};

class Identity {
 public:
  static std::vector<std::string> ColumnFamilies();
  // `db` must have been opened with ColumnFamilies().
  static absl::StatusOr<std::unique_ptr<Identity>> Create(storage::Db* db, IdentityOptions options);

  // The events of changes to people (see above). Subscribers (search) get
  // a storage::Dispatcher on it; see module.h.
  storage::Outbox* outbox() const { return outbox_.get(); }

  // --- instance administration (service credential) ---
  absl::StatusOr<pb::CreateOrganizationResponse> CreateOrganization(
      const pb::CreateOrganizationRequest& req);
  absl::StatusOr<pb::Organization> GetOrganization(const pb::GetOrganizationRequest& req);

  // --- unauthenticated ---
  absl::StatusOr<pb::User> Register(const pb::RegisterRequest& req);
  // `client_address` is the peer, for per-address throttling.
  absl::StatusOr<pb::LoginResponse> Login(const pb::LoginRequest& req,
                                          const std::string& client_address);
  absl::StatusOr<pb::RefreshTokenResponse> RefreshToken(const pb::RefreshTokenRequest& req);
  absl::Status Logout(const pb::LogoutRequest& req);

  // --- authenticated person ---
  absl::Status ChangePassword(const TokenClaims& caller, const pb::ChangePasswordRequest& req);
  absl::StatusOr<pb::GetCurrentUserResponse> GetCurrentUser(const TokenClaims& caller);
  absl::StatusOr<pb::User> GetUser(const TokenClaims& caller, uint64_t user_id);
  absl::StatusOr<std::vector<pb::User>> BatchGetUsers(const TokenClaims& caller,
                                                      const std::vector<uint64_t>& ids);
  absl::StatusOr<pb::User> UpdateProfile(const TokenClaims& caller,
                                         const pb::UpdateProfileRequest& req);
  absl::StatusOr<pb::ListUsersResponse> ListUsers(const TokenClaims& caller,
                                                  const pb::ListUsersRequest& req);
  absl::StatusOr<std::vector<pb::User>> ResolveHandles(uint64_t org_id,
                                                       const std::vector<std::string>& handles);
  absl::StatusOr<pb::Invite> CreateInvite(const TokenClaims& caller,
                                          const pb::CreateInviteRequest& req);
  absl::StatusOr<pb::User> ApproveRegistration(const TokenClaims& caller, uint64_t user_id);
  absl::Status DeclineRegistration(const TokenClaims& caller, uint64_t user_id);
  absl::StatusOr<pb::User> SetSuspended(const TokenClaims& caller, uint64_t user_id,
                                        bool suspended);
  absl::StatusOr<pb::User> GrantRole(const TokenClaims& caller, uint64_t user_id, pb::Role role);
  absl::StatusOr<pb::User> RevokeRole(const TokenClaims& caller, uint64_t user_id, pb::Role role);

  // --- for other services ---
  // Current state as upsert events (UserUpdated for every active or suspended
  // person, followed by UserSuspended for a suspended one), paged by user id,
  // so a consumer rebuilds with the code that applies live events. Events
  // carry the outbox's producer id and sequence 0; snapshot_sequence is the
  // outbox's newest sequence when the first page was read (carried in the page
  // token): live events after it are what the snapshot may lack.
  absl::StatusOr<pb::ListSnapshotEventsResponse> ListSnapshotEvents(
      const pb::ListSnapshotEventsRequest& req);
  absl::StatusOr<std::vector<pb::User>> BatchGetUsersAnyOrg(const std::vector<uint64_t>& ids);
  std::vector<auth::VerificationKey> VerificationKeys();
  // Tokens of `user_id` issued before this are revoked.
  absl::Time NotBefore(uint64_t user_id);
  std::shared_ptr<auth::KeyRing> key_ring() const { return key_ring_; }

 private:
  Identity(storage::Db* db, IdentityOptions options, std::unique_ptr<ids::IdGenerator> ids);
  absl::Status LoadKeysAndRevocations();
  absl::StatusOr<auth::SigningKey> CurrentSigningKey();
  absl::StatusOr<std::optional<pb::User>> LoadUser(uint64_t user_id);
  absl::StatusOr<std::optional<pb::Organization>> LoadOrg(uint64_t org_id);
  absl::StatusOr<std::optional<uint64_t>> LoadOrgIdByDomain(const std::string& domain);
  // The user if they exist in the caller's org and the caller may see them; NOT_FOUND otherwise.
  absl::StatusOr<pb::User> VisibleUser(const TokenClaims& caller, uint64_t user_id);
  absl::Status RequireActiveCaller(const TokenClaims& caller, pb::User* out = nullptr);
  absl::Status RequireAdmin(const TokenClaims& caller);
  absl::StatusOr<std::string> HashPassword(const std::string& password);
  // Mints an access token and a fresh refresh token in `family` (0: new family).
  absl::StatusOr<pb::LoginResponse> IssueTokens(const pb::User& user, uint64_t family,
                                                rocksdb::WriteBatch* batch);
  void PutUser(rocksdb::WriteBatch* batch, const pb::User& user);
  void RevokeAllTokens(rocksdb::WriteBatch* batch, uint64_t user_id, absl::Time now);
  // Writes `batch` plus the user record and the events of the change from
  // `before` (null for a new person) to `user`, in one WriteBatch; with
  // `revoke_tokens`, every token of the user issued until now stops working.
  // Caller holds write_mu_ (which also keeps outbox sequences in commit order).
  absl::Status CommitUser(rocksdb::WriteBatch* batch, const pb::User* before, const pb::User& user,
                          bool revoke_tokens);
  absl::Status ThrottleLogin(const std::string& account, const std::string& address,
                             absl::Time now);
  // Both need throttle_mu_ held by the caller except ForgetFailures.
  absl::Status CheckAccountLocked(const std::string& account, absl::Time now);
  void ForgetFailures(const std::string& account);

  storage::Db* const db_;
  const IdentityOptions options_;
  std::unique_ptr<ids::IdGenerator> ids_;
  std::unique_ptr<storage::Outbox> outbox_;
  std::shared_ptr<auth::KeyRing> key_ring_ = std::make_shared<auth::KeyRing>();
  std::string dummy_hash_;  // verified against for unknown accounts, so timing does not tell

  std::mutex keys_mu_;
  std::vector<auth::SigningKey> signing_keys_;  // guarded by keys_mu_, newest last
  std::mutex write_mu_;  // serialises read-modify-write of users, handles and tokens
  std::mutex revocation_mu_;
  absl::flat_hash_map<uint64_t, absl::Time> not_before_;  // guarded by revocation_mu_
  std::mutex throttle_mu_;
  std::map<std::string, std::deque<absl::Time>> failed_logins_;   // guarded by throttle_mu_
  std::map<std::string, std::deque<absl::Time>> address_logins_;  // guarded by throttle_mu_
};

// Validation helpers, exposed for tests.
absl::Status ValidateHandle(absl::string_view handle);
absl::Status ValidateDomain(absl::string_view domain);
// Counts UTF-8 code points; INVALID_ARGUMENT if `text` is not valid UTF-8.
absl::StatusOr<size_t> Utf8Length(absl::string_view field, absl::string_view text);

}  // namespace parley::identity
