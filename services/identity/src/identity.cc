#include "identity/src/identity.h"

#include <sodium.h>

#include <algorithm>

#include "absl/algorithm/container.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/field_mask_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "parley/events/events.h"
#include "parley/status/status.h"
#include "parley/storage/keys.h"

namespace parley::identity {
namespace {

using google::protobuf::util::TimeUtil;
using storage::U64Key;

// Column families.
constexpr char kOrgs[] = "orgs";                // org_id -> Organization
constexpr char kDomains[] = "domains";          // domain -> org_id
constexpr char kUsers[] = "users";              // user_id -> User
constexpr char kHandles[] = "handles";          // org_id handle -> user_id
constexpr char kCredentials[] = "credentials";  // user_id -> argon2id hash string
constexpr char kRevocations[] = "revocations";  // user_id -> not-before (unix micros)
constexpr char kInvites[] = "invites";          // hash(code) -> Invite
constexpr char kRefresh[] = "refresh";          // hash(token) -> RefreshRecord
constexpr char kFamilies[] = "families";        // family_id -> revoked marker
constexpr char kKeys[] = "keys";                // key_id -> seed | create | expire
constexpr char kOutbox[] = "outbox";            // storage::Outbox: events, cursors, producer

// Names the outbox's producer id ("identity/<random>"), as events.proto calls it.
constexpr char kProducerName[] = "identity";

namespace ev = ::parley::events::v1;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

std::string Hash32(absl::string_view secret) {
  unsigned char out[32];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

std::string RandomToken(absl::string_view prefix) {
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof(bytes));
  std::string encoded;
  absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)),
                            &encoded);
  return absl::StrCat(prefix, encoded);
}

rocksdb::Slice S(const std::string& s) { return rocksdb::Slice(s.data(), s.size()); }
absl::string_view SV(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// A u64 value read from disk; nullopt if it is not exactly 8 bytes.
std::optional<uint64_t> U64Value(absl::string_view v) {
  if (v.size() != 8) return std::nullopt;
  return storage::DecodeU64(v);
}

std::string HandleKey(uint64_t org_id, absl::string_view handle) {
  std::string key = U64Key(org_id);
  key.append(handle.data(), handle.size());
  return key;
}

// A refresh token's stored state: who, which family, when it expires, and
// whether it was already rotated (a second use means it was stolen).
struct RefreshRecord {
  uint64_t user_id = 0;
  uint64_t family = 0;
  int64_t issue_micros = 0;
  int64_t expire_micros = 0;
  bool rotated = false;

  std::string Encode() const {
    std::string out;
    storage::AppendU64(&out, user_id);
    storage::AppendU64(&out, family);
    storage::AppendU64(&out, static_cast<uint64_t>(issue_micros));
    storage::AppendU64(&out, static_cast<uint64_t>(expire_micros));
    out.push_back(rotated ? 1 : 0);
    return out;
  }
  static std::optional<RefreshRecord> Decode(absl::string_view in) {
    if (in.size() != 33) return std::nullopt;
    storage::KeyReader r(in);
    RefreshRecord rec;
    rec.user_id = *r.ReadU64();
    rec.family = *r.ReadU64();
    rec.issue_micros = static_cast<int64_t>(*r.ReadU64());
    rec.expire_micros = static_cast<int64_t>(*r.ReadU64());
    rec.rotated = r.rest()[0] != 0;
    return rec;
  }
};

const char* RoleName(pb::Role role) {
  switch (role) {
    case pb::ROLE_ADMIN:
      return "admin";
    case pb::ROLE_GUEST:
      return "guest";
    default:
      return "member";
  }
}

bool HasRole(const pb::User& user, pb::Role role) {
  return std::find(user.roles().begin(), user.roles().end(), role) != user.roles().end();
}

absl::Status NotFoundUser() { return absl::NotFoundError("user not found"); }
absl::Status BadLogin() { return absl::UnauthenticatedError("invalid login or password"); }

// What consumers know of a person: the whole profile, as UserUpdated carries it.
ev::UserUpdated ProfileOf(const pb::User& user) {
  ev::UserUpdated profile;
  profile.mutable_user()->set_id(user.id());
  profile.mutable_user()->set_handle(user.handle());
  profile.mutable_user()->set_domain(user.domain());
  profile.mutable_user()->set_display_name(user.display_name());
  profile.set_title(user.title());
  profile.set_department(user.department());
  profile.set_location(user.location());
  *profile.mutable_skills() = user.skills();
  profile.set_bio(user.bio());
  return profile;
}

// Active and suspended people are part of the state other services keep;
// pending registrations are not (yet).
bool Published(pb::UserState state) {
  return state == pb::USER_STATE_ACTIVE || state == pb::USER_STATE_SUSPENDED;
}

ev::Event NewEvent(const pb::User& user, absl::Time now) {
  ev::Event e;
  e.set_org_id(user.org_id());
  *e.mutable_create_time() = ToProto(now);
  return e;
}

// The events that turn `before` (null: nobody) into `after` for a consumer:
// the same as a snapshot would hold for `after` (UserUpdated, then
// UserSuspended), less what the consumer has already been told.
std::vector<ev::Event> UserEvents(const pb::User* before, const pb::User& after, absl::Time now) {
  std::vector<ev::Event> events;
  if (!Published(after.state())) return events;
  const bool known = before != nullptr && Published(before->state());
  const ev::UserUpdated profile = ProfileOf(after);
  if (!known || !google::protobuf::util::MessageDifferencer::Equals(ProfileOf(*before), profile)) {
    ev::Event e = NewEvent(after, now);
    *e.mutable_user_updated() = profile;
    events.push_back(std::move(e));
  }
  const bool was_suspended = known && before->state() == pb::USER_STATE_SUSPENDED;
  if (after.state() == pb::USER_STATE_SUSPENDED && !was_suspended) {
    ev::Event e = NewEvent(after, now);
    e.mutable_user_suspended()->set_user_id(after.id());
    events.push_back(std::move(e));
  } else if (after.state() == pb::USER_STATE_ACTIVE && was_suspended) {
    ev::Event e = NewEvent(after, now);
    e.mutable_user_reactivated()->set_user_id(after.id());
    events.push_back(std::move(e));
  }
  return events;
}

absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested == 0) return kDefaultPageSize;
  if (requested < 0 || requested > kMaxPageSize) {
    return status::OutOfRange("page_size", requested, 1, kMaxPageSize);
  }
  return requested;
}

}  // namespace

absl::StatusOr<size_t> Utf8Length(absl::string_view field, absl::string_view text) {
  size_t count = 0;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    if (len == 0 || i + len > text.size()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8"));
    }
    for (size_t j = 1; j < len; ++j) {
      if ((static_cast<unsigned char>(text[i + j]) >> 6) != 0x2) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8"));
      }
    }
    i += len;
    ++count;
  }
  return count;
}

static absl::Status CheckText(absl::string_view field, absl::string_view text, size_t limit) {
  auto length = Utf8Length(field, text);
  if (!length.ok()) return length.status();
  if (*length > limit) return status::TooLong(field, *length, limit);
  return absl::OkStatus();
}

absl::Status ValidateHandle(absl::string_view handle) {
  if (handle.size() < kMinHandleLength || handle.size() > kMaxHandleLength) {
    return absl::InvalidArgumentError(absl::StrCat("handle: must be ", kMinHandleLength, " to ",
                                                   kMaxHandleLength, " characters of [a-z0-9._]"));
  }
  for (char c : handle) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_')) {
      return absl::InvalidArgumentError(
          "handle: only lowercase letters, digits, '.' and '_' allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDomain(absl::string_view domain) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("domain: \"", domain, "\" ", why, " (expected lowercase like acme.example)"));
  };
  if (domain.empty() || domain.size() > kMaxDomainLength) return bad("has a bad length");
  size_t labels = 0;
  for (absl::string_view label : absl::StrSplit(domain, '.')) {
    ++labels;
    if (label.empty() || label.size() > 63) return bad("has an empty or overlong label");
    if (label.front() == '-' || label.back() == '-')
      return bad("has a label starting or ending with '-'");
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return bad("may hold only a-z, 0-9, '-' and '.'");
      }
    }
  }
  if (labels < 2) return bad("needs at least two labels");
  return absl::OkStatus();
}

std::vector<std::string> Identity::ColumnFamilies() {
  return {kOrgs,    kDomains, kUsers,    kHandles, kCredentials, kRevocations,
          kInvites, kRefresh, kFamilies, kKeys,    kOutbox};
}

Identity::Identity(storage::Db* db, IdentityOptions options, std::unique_ptr<ids::IdGenerator> ids)
    : db_(db), options_(std::move(options)), ids_(std::move(ids)) {}

absl::StatusOr<std::unique_ptr<Identity>> Identity::Create(storage::Db* db,
                                                           IdentityOptions options) {
  auth::InitSodium();
  if (!options.clock) options.clock = [] { return absl::Now(); };
  auto ids = ids::IdGenerator::Create(options.node_id);
  if (!ids.ok()) return ids.status();
  std::unique_ptr<Identity> identity(new Identity(db, std::move(options), *std::move(ids)));
  auto dummy = identity->HashPassword("parley-dummy-password-for-timing");
  if (!dummy.ok()) return dummy.status();
  identity->dummy_hash_ = *dummy;
  auto outbox = storage::Outbox::Open(db, kOutbox, kProducerName);
  if (!outbox.ok()) return outbox.status();
  identity->outbox_ = *std::move(outbox);
  if (auto s = identity->LoadKeysAndRevocations(); !s.ok()) return s;
  for (const char* cf : {kUsers, kOrgs}) {
    std::unique_ptr<rocksdb::Iterator> it(
        db->raw()->NewIterator(rocksdb::ReadOptions(), db->Cf(cf)));
    it->SeekToLast();
    if (it->Valid() && it->key().size() == 8)
      identity->ids_->AdvancePast(storage::DecodeU64(SV(it->key())));
  }
  if (auto key = identity->CurrentSigningKey(); !key.ok()) return key.status();
  return identity;
}

absl::Status Identity::LoadKeysAndRevocations() {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->raw()->NewIterator(rocksdb::ReadOptions(), db_->Cf(kKeys)));
  std::vector<auth::SigningKey> keys;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::string_view v(it->value().data(), it->value().size());
    if (v.size() != 48) return absl::DataLossError("identity: malformed signing key record");
    auto key = auth::SigningKeyFromSeed(v.substr(0, 32));
    if (!key.ok()) return key.status();
    key->create_time = absl::FromUnixMicros(static_cast<int64_t>(storage::DecodeU64(v.substr(32))));
    uint64_t expire = storage::DecodeU64(v.substr(40));
    key->expire_time = expire == UINT64_MAX ? absl::InfiniteFuture()
                                            : absl::FromUnixMicros(static_cast<int64_t>(expire));
    keys.push_back(*std::move(key));
  }
  if (!it->status().ok()) return storage::FromRocks(it->status(), "load keys");
  std::sort(keys.begin(), keys.end(),
            [](const auto& a, const auto& b) { return a.create_time < b.create_time; });
  {
    std::lock_guard<std::mutex> lock(keys_mu_);
    signing_keys_ = std::move(keys);
  }
  std::unique_ptr<rocksdb::Iterator> rev(
      db_->raw()->NewIterator(rocksdb::ReadOptions(), db_->Cf(kRevocations)));
  std::lock_guard<std::mutex> lock(revocation_mu_);
  for (rev->SeekToFirst(); rev->Valid(); rev->Next()) {
    if (rev->key().size() != 8 || rev->value().size() != 8) continue;
    not_before_[storage::DecodeU64(SV(rev->key()))] =
        absl::FromUnixMicros(static_cast<int64_t>(storage::DecodeU64(SV(rev->value()))));
  }
  return storage::FromRocks(rev->status(), "load revocations");
}

absl::StatusOr<auth::SigningKey> Identity::CurrentSigningKey() {
  std::lock_guard<std::mutex> lock(keys_mu_);
  const absl::Time now = options_.clock();
  if (signing_keys_.empty() ||
      now - signing_keys_.back().create_time >= options_.signing_key_rotation) {
    rocksdb::WriteBatch batch;
    if (!signing_keys_.empty()) {
      // The retiring key verifies until the last token it signed has expired.
      auth::SigningKey& old = signing_keys_.back();
      old.expire_time = now + auth::kAccessTokenLifetime + auth::kClockLeeway;
      std::string v = old.secret_key.substr(0, 32);
      storage::AppendU64(&v, static_cast<uint64_t>(absl::ToUnixMicros(old.create_time)));
      storage::AppendU64(&v, static_cast<uint64_t>(absl::ToUnixMicros(old.expire_time)));
      batch.Put(db_->Cf(kKeys), old.key_id, v);
    }
    auth::SigningKey fresh = auth::GenerateSigningKey(now);
    std::string v = fresh.secret_key.substr(0, 32);
    storage::AppendU64(&v, static_cast<uint64_t>(absl::ToUnixMicros(now)));
    storage::AppendU64(&v, UINT64_MAX);
    batch.Put(db_->Cf(kKeys), fresh.key_id, v);
    if (auto s = db_->Write(&batch); !s.ok()) return s;
    signing_keys_.push_back(std::move(fresh));
  }
  // Drop keys whose tokens can no longer be valid.
  std::vector<auth::VerificationKey> verification;
  for (const auto& k : signing_keys_) {
    if (k.expire_time + auth::kClockLeeway >= now) verification.push_back(auth::PublicPart(k));
  }
  key_ring_->Replace(std::move(verification));
  return signing_keys_.back();
}

std::vector<auth::VerificationKey> Identity::VerificationKeys() {
  (void)CurrentSigningKey();  // rotates if due, refreshes the ring
  std::vector<auth::VerificationKey> keys;
  std::lock_guard<std::mutex> lock(keys_mu_);
  for (const auto& k : signing_keys_) keys.push_back(auth::PublicPart(k));
  return keys;
}

absl::Time Identity::NotBefore(uint64_t user_id) {
  std::lock_guard<std::mutex> lock(revocation_mu_);
  auto it = not_before_.find(user_id);
  return it == not_before_.end() ? absl::InfinitePast() : it->second;
}

absl::StatusOr<std::string> Identity::HashPassword(const std::string& password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), options_.argon2_ops,
                            options_.argon2_memory_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::ResourceExhaustedError("password hashing ran out of memory");
  }
  return std::string(out);
}

absl::StatusOr<std::optional<pb::User>> Identity::LoadUser(uint64_t user_id) {
  auto value = db_->Get(db_->Cf(kUsers), U64Key(user_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<pb::User>();
  pb::User user;
  if (!user.ParseFromString(**value)) return absl::DataLossError("identity: malformed user record");
  return std::optional<pb::User>(std::move(user));
}

absl::StatusOr<std::optional<pb::Organization>> Identity::LoadOrg(uint64_t org_id) {
  auto value = db_->Get(db_->Cf(kOrgs), U64Key(org_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<pb::Organization>();
  pb::Organization org;
  if (!org.ParseFromString(**value)) return absl::DataLossError("identity: malformed org record");
  return std::optional<pb::Organization>(std::move(org));
}

absl::StatusOr<std::optional<uint64_t>> Identity::LoadOrgIdByDomain(const std::string& domain) {
  auto value = db_->Get(db_->Cf(kDomains), domain);
  if (!value.ok()) return value.status();
  if (!value->has_value() || (*value)->size() != 8) return std::optional<uint64_t>();
  return std::optional<uint64_t>(storage::DecodeU64(**value));
}

void Identity::PutUser(rocksdb::WriteBatch* batch, const pb::User& user) {
  batch->Put(db_->Cf(kUsers), S(U64Key(user.id())), user.SerializeAsString());
}

void Identity::RevokeAllTokens(rocksdb::WriteBatch* batch, uint64_t user_id, absl::Time now) {
  batch->Put(db_->Cf(kRevocations), S(U64Key(user_id)),
             S(U64Key(static_cast<uint64_t>(absl::ToUnixMicros(now)))));
}

absl::Status Identity::CommitUser(rocksdb::WriteBatch* batch, const pb::User* before,
                                  const pb::User& user, bool revoke_tokens) {
  const absl::Time now = options_.clock();
  PutUser(batch, user);
  if (revoke_tokens) RevokeAllTokens(batch, user.id(), now);
  std::vector<std::string> payloads;
  for (const ev::Event& e : UserEvents(before, user, now)) {
    payloads.push_back(events::EncodeForOutbox(e));
  }
  // With no events this is a plain write (no sequence is used).
  if (auto first = outbox_->Commit(batch, payloads); !first.ok()) return first.status();
  if (revoke_tokens) {
    std::lock_guard<std::mutex> lock(revocation_mu_);
    not_before_[user.id()] = now;
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::CreateOrganizationResponse> Identity::CreateOrganization(
    const pb::CreateOrganizationRequest& req) {
  if (auto s = ValidateDomain(req.domain()); !s.ok()) return s;
  if (req.display_name().empty()) return status::Required("display_name");
  if (auto s = CheckText("display_name", req.display_name(), kMaxDisplayNameLength); !s.ok())
    return s;
  const absl::Time now = options_.clock();
  pb::Organization org;
  org.set_id(ids_->Next());
  org.set_domain(req.domain());
  org.set_display_name(req.display_name());
  org.set_signup_policy(req.signup_policy() == pb::SIGNUP_POLICY_UNSPECIFIED
                            ? pb::SIGNUP_POLICY_INVITE_ONLY
                            : req.signup_policy());
  org.set_default_post_visibility(req.default_post_visibility());
  *org.mutable_create_time() = ToProto(now);

  pb::Invite invite;
  invite.set_code(RandomToken("inv-"));
  invite.set_org_id(org.id());
  invite.set_role(pb::ROLE_ADMIN);
  *invite.mutable_create_time() = ToProto(now);
  *invite.mutable_expire_time() = ToProto(now + kInviteLifetime);
  pb::Invite stored = invite;
  stored.clear_code();

  std::lock_guard<std::mutex> lock(write_mu_);
  auto existing = LoadOrgIdByDomain(req.domain());
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return absl::AlreadyExistsError(absl::StrCat("organisation ", req.domain(), " already exists"));
  }
  rocksdb::WriteBatch batch;
  batch.Put(db_->Cf(kOrgs), S(U64Key(org.id())), org.SerializeAsString());
  batch.Put(db_->Cf(kDomains), req.domain(), S(U64Key(org.id())));
  batch.Put(db_->Cf(kInvites), S(Hash32(invite.code())), stored.SerializeAsString());
  if (auto s = db_->Write(&batch); !s.ok()) return s;
  pb::CreateOrganizationResponse resp;
  *resp.mutable_organization() = org;
  *resp.mutable_admin_invite() = invite;
  return resp;
}

absl::StatusOr<pb::Organization> Identity::GetOrganization(const pb::GetOrganizationRequest& req) {
  uint64_t org_id = req.org_id();
  if (req.lookup_case() == pb::GetOrganizationRequest::kDomain) {
    auto id = LoadOrgIdByDomain(req.domain());
    if (!id.ok()) return id.status();
    if (!id->has_value()) return absl::NotFoundError("organisation not found");
    org_id = **id;
  }
  auto org = LoadOrg(org_id);
  if (!org.ok()) return org.status();
  if (!org->has_value()) return absl::NotFoundError("organisation not found");
  return **org;
}

absl::StatusOr<pb::User> Identity::Register(const pb::RegisterRequest& req) {
  if (auto s = ValidateHandle(req.handle()); !s.ok()) return s;
  if (req.display_name().empty()) return status::Required("display_name");
  if (auto s = CheckText("display_name", req.display_name(), kMaxDisplayNameLength); !s.ok())
    return s;
  if (req.password().size() > kMaxPasswordBytes) {
    return status::TooLong("password", req.password().size(), kMaxPasswordBytes, "bytes");
  }
  auto pw_length = Utf8Length("password", req.password());
  if (!pw_length.ok()) return pw_length.status();
  if (*pw_length < kMinPasswordLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("password: at least ", kMinPasswordLength, " characters required"));
  }
  if (*pw_length > kMaxPasswordLength)
    return status::TooLong("password", *pw_length, kMaxPasswordLength);
  auto org_id = LoadOrgIdByDomain(req.domain());
  if (!org_id.ok()) return org_id.status();
  if (!org_id->has_value()) return absl::NotFoundError("organisation not found");
  auto org = LoadOrg(**org_id);
  if (!org.ok()) return org.status();
  if (!org->has_value()) return absl::NotFoundError("organisation not found");

  // Hash outside the lock: it is the slow part, by design.
  auto hash = HashPassword(req.password());
  if (!hash.ok()) return hash.status();
  const absl::Time now = options_.clock();

  std::lock_guard<std::mutex> lock(write_mu_);
  pb::User user;
  user.set_id(ids_->Next());
  user.set_org_id(**org_id);
  user.set_handle(req.handle());
  user.set_domain(req.domain());
  user.set_display_name(req.display_name());
  *user.mutable_create_time() = ToProto(now);
  rocksdb::WriteBatch batch;
  if (!req.invite_code().empty()) {
    auto stored = db_->Get(db_->Cf(kInvites), Hash32(req.invite_code()));
    if (!stored.ok()) return stored.status();
    pb::Invite invite;
    if (!stored->has_value() || !invite.ParseFromString(**stored) || invite.org_id() != **org_id ||
        TimeUtil::TimestampToMicroseconds(invite.expire_time()) < absl::ToUnixMicros(now)) {
      return absl::PermissionDeniedError(
          "invite_code: unknown, used or expired for this organisation");
    }
    user.set_state(pb::USER_STATE_ACTIVE);
    user.add_roles(invite.role() == pb::ROLE_GUEST ? pb::ROLE_GUEST : pb::ROLE_MEMBER);
    if (invite.role() == pb::ROLE_ADMIN) user.add_roles(pb::ROLE_ADMIN);
    batch.Delete(db_->Cf(kInvites), S(Hash32(req.invite_code())));
  } else if ((*org)->signup_policy() == pb::SIGNUP_POLICY_OPEN_WITH_APPROVAL) {
    user.set_state(pb::USER_STATE_PENDING_APPROVAL);
    user.add_roles(pb::ROLE_MEMBER);
  } else {
    return absl::FailedPreconditionError("this organisation is invite-only: invite_code required");
  }
  auto taken = db_->Get(db_->Cf(kHandles), HandleKey(**org_id, req.handle()));
  if (!taken.ok()) return taken.status();
  if (taken->has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat("handle ", req.handle(), "@", req.domain(), " is taken"));
  }
  batch.Put(db_->Cf(kHandles), S(HandleKey(**org_id, req.handle())), S(U64Key(user.id())));
  batch.Put(db_->Cf(kCredentials), S(U64Key(user.id())), S(*hash));
  // Someone joining with an invite is active at once (UserUpdated); a pending
  // registration is announced when approved.
  if (auto s = CommitUser(&batch, /*before=*/nullptr, user, /*revoke_tokens=*/false); !s.ok()) {
    return s;
  }
  return user;
}

namespace {

// Drops timestamps older than `window`; drops whole entries that become empty
// once a map grows past `cap` (bounded memory without forgetting live limits).
void Prune(std::map<std::string, std::deque<absl::Time>>& m, std::deque<absl::Time>& q,
           absl::Time now, absl::Duration window, size_t cap) {
  while (!q.empty() && now - q.front() > window) q.pop_front();
  if (m.size() <= cap) return;
  for (auto it = m.begin(); it != m.end();) {
    while (!it->second.empty() && now - it->second.front() > window) it->second.pop_front();
    it = it->second.empty() && &it->second != &q ? m.erase(it) : std::next(it);
  }
}

constexpr size_t kThrottleEntriesBeforePrune = 100000;

}  // namespace

absl::Status Identity::ThrottleLogin(const std::string& account, const std::string& address,
                                     absl::Time now) {
  std::lock_guard<std::mutex> lock(throttle_mu_);
  auto& by_address = address_logins_[address];
  Prune(address_logins_, by_address, now, kAddressLoginWindow, kThrottleEntriesBeforePrune);
  if (static_cast<int>(by_address.size()) >= kMaxLoginsPerAddress) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many login attempts from this address: at most ", kMaxLoginsPerAddress,
                     " per ", absl::FormatDuration(kAddressLoginWindow), "; retry later"));
  }
  if (auto s = CheckAccountLocked(account, now); !s.ok()) return s;
  by_address.push_back(now);
  // Counted as a failure until it succeeds: concurrent guesses cannot all slip
  // in before the first one is recorded.
  failed_logins_[account].push_back(now);
  return absl::OkStatus();
}

absl::Status Identity::CheckAccountLocked(const std::string& account, absl::Time now) {
  auto& failures = failed_logins_[account];
  Prune(failed_logins_, failures, now, kAccountLoginWindow, kThrottleEntriesBeforePrune);
  if (static_cast<int>(failures.size()) >= kMaxFailedLoginsPerAccount) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many failed attempts for this account: at most ", kMaxFailedLoginsPerAccount, " per ",
        absl::FormatDuration(kAccountLoginWindow), "; retry later"));
  }
  return absl::OkStatus();
}

void Identity::ForgetFailures(const std::string& account) {
  std::lock_guard<std::mutex> lock(throttle_mu_);
  failed_logins_.erase(account);
}

absl::StatusOr<pb::LoginResponse> Identity::Login(const pb::LoginRequest& req,
                                                  const std::string& client_address) {
  if (req.login().empty()) return status::Required("login");
  if (req.password().size() > kMaxPasswordBytes) return BadLogin();
  const std::string account(req.login());
  if (auto s = ThrottleLogin(account, client_address, options_.clock()); !s.ok()) return s;

  std::optional<uint64_t> user_id;
  std::string stored_hash = dummy_hash_;
  size_t at = account.find('@');
  if (at != std::string::npos) {
    auto org_id = LoadOrgIdByDomain(account.substr(at + 1));
    if (!org_id.ok()) return org_id.status();
    if (org_id->has_value()) {
      auto uid = db_->Get(db_->Cf(kHandles), HandleKey(**org_id, account.substr(0, at)));
      if (!uid.ok()) return uid.status();
      if (uid->has_value() && (*uid)->size() == 8) {
        auto hash = db_->Get(db_->Cf(kCredentials), **uid);
        if (!hash.ok()) return hash.status();
        if (hash->has_value()) {
          user_id = storage::DecodeU64(**uid);
          stored_hash = **hash;
        }
      }
    }
  }
  // Unknown accounts are verified against a dummy hash: same answer, same time.
  const bool password_ok = crypto_pwhash_str_verify(stored_hash.c_str(), req.password().data(),
                                                    req.password().size()) == 0;
  if (!user_id || !password_ok) return BadLogin();

  // The password was checked without the lock (argon2 is slow by design). A
  // password change or suspension may have landed meanwhile: re-read both under
  // the lock, so tokens are issued only against the current state.
  std::lock_guard<std::mutex> lock(write_mu_);
  auto user = LoadUser(*user_id);
  if (!user.ok()) return user.status();
  auto current_hash = db_->Get(db_->Cf(kCredentials), U64Key(*user_id));
  if (!current_hash.ok()) return current_hash.status();
  if (!user->has_value() || !current_hash->has_value() || **current_hash != stored_hash) {
    return BadLogin();
  }
  ForgetFailures(account);
  if ((*user)->state() == pb::USER_STATE_SUSPENDED) {
    return absl::FailedPreconditionError("this account is suspended");
  }
  if ((*user)->state() == pb::USER_STATE_PENDING_APPROVAL) {
    return absl::FailedPreconditionError("this account awaits an administrator's approval");
  }
  rocksdb::WriteBatch batch;
  if (crypto_pwhash_str_needs_rehash(stored_hash.c_str(), options_.argon2_ops,
                                     options_.argon2_memory_bytes) != 0) {
    auto rehashed = HashPassword(req.password());  // parameters were raised since
    if (rehashed.ok()) batch.Put(db_->Cf(kCredentials), S(U64Key(*user_id)), S(*rehashed));
  }
  auto tokens = IssueTokens(**user, 0, &batch);
  if (!tokens.ok()) return tokens.status();
  if (auto s = db_->Write(&batch); !s.ok()) return s;
  return tokens;
}

absl::StatusOr<pb::LoginResponse> Identity::IssueTokens(const pb::User& user, uint64_t family,
                                                        rocksdb::WriteBatch* batch) {
  auto key = CurrentSigningKey();
  if (!key.ok()) return key.status();
  const absl::Time now = options_.clock();
  TokenClaims claims;
  claims.set_kind(auth::TokenKind::TOKEN_KIND_USER_ACCESS);
  claims.set_user_id(user.id());
  claims.set_org_id(user.org_id());
  claims.set_org_domain(user.domain());
  for (int role : user.roles()) claims.add_roles(RoleName(static_cast<pb::Role>(role)));
  *claims.mutable_issue_time() = ToProto(now);
  *claims.mutable_expire_time() = ToProto(now + auth::kAccessTokenLifetime);
  claims.set_token_id(absl::StrCat(ids_->Next()));

  RefreshRecord record;
  record.user_id = user.id();
  record.family = family != 0 ? family : ids_->Next();
  record.issue_micros = absl::ToUnixMicros(now);
  record.expire_micros = absl::ToUnixMicros(now + kRefreshTokenLifetime);
  std::string refresh = RandomToken("rt1-");
  batch->Put(db_->Cf(kRefresh), S(Hash32(refresh)), S(record.Encode()));

  pb::LoginResponse resp;
  resp.set_access_token(auth::Mint(*key, std::move(claims)));
  resp.set_refresh_token(std::move(refresh));
  *resp.mutable_access_token_expire_time() = ToProto(now + auth::kAccessTokenLifetime);
  *resp.mutable_user() = user;
  return resp;
}

absl::StatusOr<pb::RefreshTokenResponse> Identity::RefreshToken(
    const pb::RefreshTokenRequest& req) {
  if (req.refresh_token().empty()) return status::Required("refresh_token");
  const absl::Time now = options_.clock();
  const std::string key = Hash32(req.refresh_token());
  std::lock_guard<std::mutex> lock(write_mu_);
  auto stored = db_->Get(db_->Cf(kRefresh), key);
  if (!stored.ok()) return stored.status();
  std::optional<RefreshRecord> record =
      stored->has_value() ? RefreshRecord::Decode(**stored) : std::nullopt;
  if (!record) return absl::UnauthenticatedError("invalid refresh token");
  auto family_revoked = db_->Get(db_->Cf(kFamilies), U64Key(record->family));
  if (!family_revoked.ok()) return family_revoked.status();
  if (family_revoked->has_value()) return absl::UnauthenticatedError("refresh token revoked");
  if (record->rotated) {
    // A rotated token presented again: someone kept a copy. Revoke the family.
    rocksdb::WriteBatch batch;
    batch.Put(db_->Cf(kFamilies), S(U64Key(record->family)), "reused");
    if (auto s = db_->Write(&batch); !s.ok()) return s;
    return absl::UnauthenticatedError(
        "refresh token reused; every session of this login was revoked");
  }
  if (record->expire_micros < absl::ToUnixMicros(now))
    return absl::UnauthenticatedError("refresh token expired");
  if (absl::FromUnixMicros(record->issue_micros) <= NotBefore(record->user_id)) {
    return absl::UnauthenticatedError("refresh token revoked");
  }
  auto user = LoadUser(record->user_id);
  if (!user.ok()) return user.status();
  if (!user->has_value() || (*user)->state() != pb::USER_STATE_ACTIVE) {
    return absl::UnauthenticatedError("refresh token revoked");
  }
  rocksdb::WriteBatch batch;
  record->rotated = true;
  batch.Put(db_->Cf(kRefresh), S(key), S(record->Encode()));
  auto tokens = IssueTokens(**user, record->family, &batch);
  if (!tokens.ok()) return tokens.status();
  if (auto s = db_->Write(&batch); !s.ok()) return s;
  pb::RefreshTokenResponse resp;
  resp.set_access_token(tokens->access_token());
  resp.set_refresh_token(tokens->refresh_token());
  *resp.mutable_access_token_expire_time() = tokens->access_token_expire_time();
  return resp;
}

absl::Status Identity::Logout(const pb::LogoutRequest& req) {
  if (req.refresh_token().empty()) return status::Required("refresh_token");
  auto stored = db_->Get(db_->Cf(kRefresh), Hash32(req.refresh_token()));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::OkStatus();
  auto record = RefreshRecord::Decode(**stored);
  if (!record) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  batch.Put(db_->Cf(kFamilies), S(U64Key(record->family)), "logout");
  return db_->Write(&batch);
}

absl::Status Identity::RequireActiveCaller(const TokenClaims& caller, pb::User* out) {
  auto user = LoadUser(caller.user_id());
  if (!user.ok()) return user.status();
  if (!user->has_value() || (*user)->org_id() != caller.org_id()) {
    return absl::UnauthenticatedError("unknown caller");
  }
  if ((*user)->state() != pb::USER_STATE_ACTIVE) {
    return absl::PermissionDeniedError("your account is not active");
  }
  if (out) *out = **user;
  return absl::OkStatus();
}

absl::Status Identity::RequireAdmin(const TokenClaims& caller) {
  pb::User me;
  if (auto s = RequireActiveCaller(caller, &me); !s.ok()) return s;
  if (!HasRole(me, pb::ROLE_ADMIN)) {
    return absl::PermissionDeniedError("organisation administrators only");
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::User> Identity::VisibleUser(const TokenClaims& caller, uint64_t user_id) {
  auto user = LoadUser(user_id);
  if (!user.ok()) return user.status();
  // Another org's person is indistinguishable from one that does not exist.
  if (!user->has_value() || (*user)->org_id() != caller.org_id()) return NotFoundUser();
  if ((*user)->state() == pb::USER_STATE_PENDING_APPROVAL) {
    const bool admin =
        std::find(caller.roles().begin(), caller.roles().end(), "admin") != caller.roles().end();
    if (!admin) return NotFoundUser();
  }
  return **user;
}

absl::Status Identity::ChangePassword(const TokenClaims& caller,
                                      const pb::ChangePasswordRequest& req) {
  pb::User me;
  if (auto s = RequireActiveCaller(caller, &me); !s.ok()) return s;
  auto length = Utf8Length("new_password", req.new_password());
  if (!length.ok()) return length.status();
  if (*length < kMinPasswordLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("new_password: at least ", kMinPasswordLength, " characters required"));
  }
  if (*length > kMaxPasswordLength)
    return status::TooLong("new_password", *length, kMaxPasswordLength);
  const std::string account = absl::StrCat("change-password:", me.id());
  {
    std::lock_guard<std::mutex> lock(throttle_mu_);
    if (auto s = CheckAccountLocked(account, options_.clock()); !s.ok()) return s;
    failed_logins_[account].push_back(options_.clock());
  }
  auto stored = db_->Get(db_->Cf(kCredentials), U64Key(me.id()));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value() ||
      crypto_pwhash_str_verify((*stored)->c_str(), req.current_password().data(),
                               req.current_password().size()) != 0) {
    return absl::PermissionDeniedError("current_password is wrong");
  }
  ForgetFailures(account);
  auto hash = HashPassword(req.new_password());
  if (!hash.ok()) return hash.status();
  // Under the lock: a concurrent refresh or login either finishes before the
  // revocation time is taken (and is revoked) or sees the new not-before.
  std::lock_guard<std::mutex> write_lock(write_mu_);
  if (auto s = RequireActiveCaller(caller, &me); !s.ok()) return s;  // fresh copy under the lock
  rocksdb::WriteBatch batch;
  batch.Put(db_->Cf(kCredentials), S(U64Key(me.id())), S(*hash));
  return CommitUser(&batch, /*before=*/&me, me, /*revoke_tokens=*/true);
}

absl::StatusOr<pb::GetCurrentUserResponse> Identity::GetCurrentUser(const TokenClaims& caller) {
  pb::GetCurrentUserResponse resp;
  if (auto s = RequireActiveCaller(caller, resp.mutable_user()); !s.ok()) return s;
  auto org = LoadOrg(caller.org_id());
  if (!org.ok()) return org.status();
  if (org->has_value()) *resp.mutable_organization() = **org;
  return resp;
}

absl::StatusOr<pb::User> Identity::GetUser(const TokenClaims& caller, uint64_t user_id) {
  if (auto s = RequireActiveCaller(caller); !s.ok()) return s;
  return VisibleUser(caller, user_id);
}

absl::StatusOr<std::vector<pb::User>> Identity::BatchGetUsers(const TokenClaims& caller,
                                                              const std::vector<uint64_t>& ids) {
  if (ids.size() > kMaxBatchUsers) return status::TooMany("user_ids", ids.size(), kMaxBatchUsers);
  if (auto s = RequireActiveCaller(caller); !s.ok()) return s;
  std::vector<pb::User> users;
  for (uint64_t id : ids) {
    auto user = VisibleUser(caller, id);
    if (user.ok()) {
      users.push_back(*std::move(user));
    } else if (!absl::IsNotFound(user.status())) {
      return user.status();
    }
  }
  return users;
}

absl::StatusOr<std::vector<pb::User>> Identity::BatchGetUsersAnyOrg(
    const std::vector<uint64_t>& ids) {
  if (ids.size() > kMaxBatchUsers) return status::TooMany("user_ids", ids.size(), kMaxBatchUsers);
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (uint64_t id : ids) keys.push_back(U64Key(id));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), db_->Cf(kUsers));
  std::vector<std::string> values;
  auto statuses = db_->raw()->MultiGet(rocksdb::ReadOptions(), cfs, slices, &values);
  std::vector<pb::User> users;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return storage::FromRocks(statuses[i], "batch get users");
    pb::User user;
    if (user.ParseFromString(values[i])) users.push_back(std::move(user));
  }
  return users;
}

absl::StatusOr<pb::User> Identity::UpdateProfile(const TokenClaims& caller,
                                                 const pb::UpdateProfileRequest& req) {
  static const std::vector<std::string> kEditable = {"display_name", "title",  "department",
                                                     "location",     "skills", "bio"};
  if (req.update_mask().paths_size() == 0) return status::Required("update_mask");
  for (const auto& path : req.update_mask().paths()) {
    if (std::find(kEditable.begin(), kEditable.end(), path) == kEditable.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: \"", path,
          "\" is not editable (display_name, title, department, location, skills, bio)"));
    }
  }
  const pb::User& in = req.user();
  // Only the fields named in the mask are read, so only they are validated.
  auto masked = [&](absl::string_view path) {
    return absl::c_linear_search(req.update_mask().paths(), path);
  };
  if (masked("display_name")) {
    if (in.display_name().empty()) return status::Required("user.display_name");
    if (auto s = CheckText("user.display_name", in.display_name(), kMaxDisplayNameLength); !s.ok())
      return s;
  }
  if (masked("title")) {
    if (auto s = CheckText("user.title", in.title(), kMaxProfileFieldLength); !s.ok()) return s;
  }
  if (masked("department")) {
    if (auto s = CheckText("user.department", in.department(), kMaxProfileFieldLength); !s.ok())
      return s;
  }
  if (masked("location")) {
    if (auto s = CheckText("user.location", in.location(), kMaxProfileFieldLength); !s.ok())
      return s;
  }
  if (masked("bio")) {
    if (auto s = CheckText("user.bio", in.bio(), kMaxBioLength); !s.ok()) return s;
  }
  if (masked("skills")) {
    if (static_cast<size_t>(in.skills_size()) > kMaxSkills) {
      return status::TooMany("user.skills", in.skills_size(), kMaxSkills);
    }
    for (const auto& skill : in.skills()) {
      if (skill.empty()) return absl::InvalidArgumentError("user.skills: empty skill");
      if (auto s = CheckText("user.skills", skill, kMaxSkillLength); !s.ok()) return s;
    }
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  pb::User me;
  if (auto s = RequireActiveCaller(caller, &me); !s.ok()) return s;
  const pb::User before = me;
  google::protobuf::util::FieldMaskUtil::MergeOptions merge;
  merge.set_replace_repeated_fields(true);
  google::protobuf::util::FieldMaskUtil::MergeMessageTo(in, req.update_mask(), merge, &me);
  rocksdb::WriteBatch batch;
  // UserUpdated only if a value actually changed.
  if (auto s = CommitUser(&batch, &before, me, /*revoke_tokens=*/false); !s.ok()) return s;
  return me;
}

absl::StatusOr<pb::ListUsersResponse> Identity::ListUsers(const TokenClaims& caller,
                                                          const pb::ListUsersRequest& req) {
  auto page_size = PageSize(req.page_size());
  if (!page_size.ok()) return page_size.status();
  if (auto s = RequireActiveCaller(caller); !s.ok()) return s;
  std::string after;
  if (!req.page_token().empty() && !absl::WebSafeBase64Unescape(req.page_token(), &after)) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  const std::string prefix = U64Key(caller.org_id());
  const std::string upper = storage::PrefixSuccessor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read;
  read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator(read, db_->Cf(kHandles)));
  const std::string start = HandleKey(caller.org_id(), after);
  it->Seek(start);
  if (it->Valid() && !after.empty() && it->key() == rocksdb::Slice(start)) it->Next();
  pb::ListUsersResponse resp;
  std::string last_handle;
  // Bounded: at most page_size users returned, and at most 10 pages' worth examined.
  for (int examined = 0;
       it->Valid() && resp.users_size() < *page_size && examined < *page_size * 10;
       it->Next(), ++examined) {
    last_handle = it->key().ToString().substr(8);
    auto id = U64Value(SV(it->value()));
    if (!id) continue;
    auto user = VisibleUser(caller, *id);
    if (!user.ok()) continue;
    if (req.state() != pb::USER_STATE_UNSPECIFIED && user->state() != req.state()) continue;
    *resp.add_users() = *std::move(user);
  }
  if (!it->status().ok()) return storage::FromRocks(it->status(), "list users");
  if (it->Valid() && !last_handle.empty()) {
    std::string token;
    absl::WebSafeBase64Escape(last_handle, &token);
    resp.set_next_page_token(token);
  }
  return resp;
}

absl::StatusOr<std::vector<pb::User>> Identity::ResolveHandles(
    uint64_t org_id, const std::vector<std::string>& handles) {
  if (handles.size() > kMaxBatchUsers)
    return status::TooMany("handles", handles.size(), kMaxBatchUsers);
  auto org = LoadOrg(org_id);
  if (!org.ok()) return org.status();
  if (!org->has_value()) return std::vector<pb::User>();
  std::vector<uint64_t> ids;
  for (const auto& entry : handles) {
    // "handle" or "handle@<this org's domain>"; another domain resolves to nobody.
    std::string handle = entry;
    if (auto at = handle.find('@'); at != std::string::npos) {
      if (handle.substr(at + 1) != (*org)->domain()) continue;
      handle.resize(at);
    }
    auto uid = db_->Get(db_->Cf(kHandles), HandleKey(org_id, handle));
    if (!uid.ok()) return uid.status();
    if (uid->has_value()) {
      if (auto id = U64Value(**uid)) ids.push_back(*id);
    }
  }
  auto users = BatchGetUsersAnyOrg(ids);
  if (!users.ok()) return users.status();
  std::vector<pb::User> active;
  for (auto& u : *users) {
    if (u.state() == pb::USER_STATE_ACTIVE) active.push_back(std::move(u));
  }
  return active;
}

absl::StatusOr<pb::Invite> Identity::CreateInvite(const TokenClaims& caller,
                                                  const pb::CreateInviteRequest& req) {
  if (auto s = RequireAdmin(caller); !s.ok()) return s;
  const absl::Time now = options_.clock();
  pb::Invite invite;
  invite.set_code(RandomToken("inv-"));
  invite.set_org_id(caller.org_id());
  invite.set_role(req.role() == pb::ROLE_UNSPECIFIED ? pb::ROLE_MEMBER : req.role());
  invite.set_inviter_id(caller.user_id());
  *invite.mutable_create_time() = ToProto(now);
  *invite.mutable_expire_time() = ToProto(now + kInviteLifetime);
  pb::Invite stored = invite;
  stored.clear_code();
  rocksdb::WriteBatch batch;
  batch.Put(db_->Cf(kInvites), S(Hash32(invite.code())), stored.SerializeAsString());
  if (auto s = db_->Write(&batch); !s.ok()) return s;
  return invite;
}

absl::StatusOr<pb::User> Identity::ApproveRegistration(const TokenClaims& caller,
                                                       uint64_t user_id) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (auto s = RequireAdmin(caller); !s.ok()) return s;
  auto user = VisibleUser(caller, user_id);
  if (!user.ok()) return user.status();
  if (user->state() != pb::USER_STATE_PENDING_APPROVAL) {
    return absl::FailedPreconditionError("this person is not awaiting approval");
  }
  const pb::User before = *user;
  user->set_state(pb::USER_STATE_ACTIVE);
  rocksdb::WriteBatch batch;
  if (auto s = CommitUser(&batch, &before, *user, /*revoke_tokens=*/false); !s.ok()) return s;
  return user;
}

absl::Status Identity::DeclineRegistration(const TokenClaims& caller, uint64_t user_id) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (auto s = RequireAdmin(caller); !s.ok()) return s;
  auto user = VisibleUser(caller, user_id);
  if (!user.ok()) return user.status();
  if (user->state() != pb::USER_STATE_PENDING_APPROVAL) {
    return absl::FailedPreconditionError("this person is not awaiting approval");
  }
  rocksdb::WriteBatch batch;
  batch.Delete(db_->Cf(kUsers), S(U64Key(user_id)));
  batch.Delete(db_->Cf(kHandles), S(HandleKey(user->org_id(), user->handle())));
  batch.Delete(db_->Cf(kCredentials), S(U64Key(user_id)));
  return db_->Write(&batch);
}

absl::StatusOr<pb::User> Identity::SetSuspended(const TokenClaims& caller, uint64_t user_id,
                                                bool suspended) {
  if (suspended && user_id == caller.user_id()) {
    return absl::FailedPreconditionError("an administrator cannot suspend themselves");
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  if (auto s = RequireAdmin(caller); !s.ok()) return s;
  auto user = VisibleUser(caller, user_id);
  if (!user.ok()) return user.status();
  if (user->state() == pb::USER_STATE_PENDING_APPROVAL) {
    return absl::FailedPreconditionError("this person is awaiting approval");
  }
  const pb::User before = *user;
  user->set_state(suspended ? pb::USER_STATE_SUSPENDED : pb::USER_STATE_ACTIVE);
  rocksdb::WriteBatch batch;
  // UserSuspended / UserReactivated only when the state changes; suspending
  // again still revokes tokens issued since.
  if (auto s = CommitUser(&batch, &before, *user, /*revoke_tokens=*/suspended); !s.ok()) return s;
  return user;
}

absl::StatusOr<pb::User> Identity::GrantRole(const TokenClaims& caller, uint64_t user_id,
                                             pb::Role role) {
  if (role == pb::ROLE_UNSPECIFIED || !pb::Role_IsValid(role)) return status::Required("role");
  std::lock_guard<std::mutex> lock(write_mu_);
  if (auto s = RequireAdmin(caller); !s.ok()) return s;
  auto user = VisibleUser(caller, user_id);
  if (!user.ok()) return user.status();
  google::protobuf::RepeatedField<int> roles;
  for (int r : user->roles()) {
    // Member and guest exclude each other.
    if ((role == pb::ROLE_MEMBER && r == pb::ROLE_GUEST) ||
        (role == pb::ROLE_GUEST && r == pb::ROLE_MEMBER))
      continue;
    if (r != role) roles.Add(r);
  }
  roles.Add(role);
  const bool narrowed = role == pb::ROLE_GUEST && !HasRole(*user, pb::ROLE_GUEST);
  const pb::User before = *user;
  *user->mutable_roles() = roles;
  // A member made a guest loses reach: their member tokens stop at once.
  rocksdb::WriteBatch batch;
  if (auto s = CommitUser(&batch, &before, *user, /*revoke_tokens=*/narrowed); !s.ok()) return s;
  return user;
}

absl::StatusOr<pb::User> Identity::RevokeRole(const TokenClaims& caller, uint64_t user_id,
                                              pb::Role role) {
  if (role != pb::ROLE_ADMIN) {
    return absl::InvalidArgumentError(
        "role: only ROLE_ADMIN can be revoked (grant MEMBER or GUEST to switch)");
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  if (auto s = RequireAdmin(caller); !s.ok()) return s;
  auto user = VisibleUser(caller, user_id);
  if (!user.ok()) return user.status();
  if (!HasRole(*user, pb::ROLE_ADMIN)) return user;
  // Refuse to remove the org's last admin: nobody could administer it afterwards.
  int admins = 0;
  const std::string prefix = U64Key(caller.org_id());
  std::unique_ptr<rocksdb::Iterator> it(
      db_->raw()->NewIterator(rocksdb::ReadOptions(), db_->Cf(kHandles)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && admins < 2; it->Next()) {
    auto other_id = U64Value(SV(it->value()));
    if (!other_id) continue;
    auto other = LoadUser(*other_id);
    if (other.ok() && other->has_value() && HasRole(**other, pb::ROLE_ADMIN) &&
        (*other)->state() == pb::USER_STATE_ACTIVE) {
      ++admins;
    }
  }
  if (admins < 2)
    return absl::FailedPreconditionError("cannot revoke the organisation's last administrator");
  google::protobuf::RepeatedField<int> roles;
  for (int r : user->roles()) {
    if (r != pb::ROLE_ADMIN) roles.Add(r);
  }
  const pb::User before = *user;
  *user->mutable_roles() = roles;
  rocksdb::WriteBatch batch;
  if (auto s = CommitUser(&batch, &before, *user, /*revoke_tokens=*/true); !s.ok()) return s;
  return user;
}

absl::StatusOr<pb::ListSnapshotEventsResponse> Identity::ListSnapshotEvents(
    const pb::ListSnapshotEventsRequest& req) {
  int page_size = req.page_size() == 0 ? kDefaultSnapshotPageSize : req.page_size();
  if (page_size < 2 || page_size > kMaxSnapshotPageSize) {
    return status::OutOfRange("page_size", req.page_size(), 2, kMaxSnapshotPageSize);
  }
  // Page token: base64url of [u64 last user id][u64 snapshot sequence].
  uint64_t after = 0;
  uint64_t snapshot_sequence = 0;
  if (req.page_token().empty()) {
    // Taken before anything is read, so every event up to it is reflected in
    // the pages; later ones may be too (they are upserts, applied again).
    snapshot_sequence = outbox_->CommittedThrough();
  } else {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(req.page_token(), &raw) || raw.size() != 16) {
      return absl::InvalidArgumentError("page_token: malformed");
    }
    after = storage::DecodeU64(raw);
    snapshot_sequence = storage::DecodeU64(absl::string_view(raw).substr(8));
  }
  pb::ListSnapshotEventsResponse resp;
  resp.set_snapshot_sequence(snapshot_sequence);
  const absl::Time now = options_.clock();
  std::unique_ptr<rocksdb::Iterator> it(
      db_->raw()->NewIterator(rocksdb::ReadOptions(), db_->Cf(kUsers)));
  uint64_t last = 0;
  it->Seek(S(U64Key(after + 1)));
  // A person's two events never straddle a page: stop while there is room for both.
  for (; it->Valid() && resp.events_size() + 2 <= page_size; it->Next()) {
    pb::User user;
    if (!user.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("identity: malformed user record");
    }
    last = user.id();
    // Exactly what the live events of this person add up to.
    for (ev::Event& e : UserEvents(/*before=*/nullptr, user, now)) {
      e.set_producer(outbox_->producer_id());
      *resp.add_events() = std::move(e);
    }
  }
  if (!it->status().ok()) return storage::FromRocks(it->status(), "snapshot");
  if (it->Valid() && last != 0) {
    std::string raw = U64Key(last);
    storage::AppendU64(&raw, snapshot_sequence);
    std::string token;
    absl::WebSafeBase64Escape(raw, &token);
    resp.set_next_page_token(token);
  }
  return resp;
}

}  // namespace parley::identity
