#include "parley/directory/directory.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parley/auth/identity_keys.h"
#include "parley/config/config.h"
#include "parley/status/status.h"

ABSL_FLAG(std::string, identity_addr, "",
          "host:port of identity (separate service processes; the all-in-one uses its own)");
ABSL_FLAG(int, user_cache_ttl_s, 10,
          "seconds people from identity are cached; a suspension takes effect within it "
          "(0..3600)");

namespace parley::directory {
namespace {
constexpr size_t kMaxPerCall = 500;  // identity's batch limit
constexpr absl::Duration kDeadline = absl::Seconds(2);

absl::Status Unavailable(absl::string_view what, const grpc::Status& s) {
  absl::Status st = status::FromGrpc(s);
  return absl::Status(st.code(), absl::StrCat("identity ", what, ": ", s.error_message()));
}
}  // namespace

Person PersonFromUser(const identity::v1::User& user) {
  Person p;
  p.ref.set_id(user.id());
  p.ref.set_handle(user.handle());
  p.ref.set_domain(user.domain());
  p.ref.set_display_name(user.display_name());
  p.org_id = user.org_id();
  p.active = user.state() == identity::v1::USER_STATE_ACTIVE;
  p.admin = std::find(user.roles().begin(), user.roles().end(), identity::v1::ROLE_ADMIN) !=
            user.roles().end();
  p.guest = std::find(user.roles().begin(), user.roles().end(), identity::v1::ROLE_GUEST) !=
            user.roles().end();
  return p;
}

absl::StatusOr<Person> Directory::GetOne(uint64_t id) {
  auto people = Get({id});
  if (!people.ok()) return people.status();
  auto it = people->find(id);
  if (it == people->end()) return absl::NotFoundError(absl::StrCat("user ", id, " not found"));
  return it->second;
}

IdentityDirectory::IdentityDirectory(std::function<std::shared_ptr<grpc::Channel>()> channel,
                                     auth::ServiceCredential* credential, absl::Duration ttl)
    : channel_(std::move(channel)), credential_(credential), ttl_(ttl) {}

std::unique_ptr<identity::v1::IdentityInternalService::Stub> IdentityDirectory::Stub() {
  return identity::v1::IdentityInternalService::NewStub(channel_());
}

void IdentityDirectory::Prepare(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(kDeadline));
  credential_->Attach(ctx);
}

absl::StatusOr<absl::flat_hash_map<uint64_t, Person>> IdentityDirectory::Get(
    const std::vector<uint64_t>& ids) {
  absl::flat_hash_map<uint64_t, Person> out;
  std::vector<uint64_t> missing;
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t id : ids) {
      auto it = people_.find(id);
      if (it != people_.end() && now - it->second.fetched < ttl_) {
        out.emplace(id, it->second.person);
      } else if (!out.contains(id)) {
        missing.push_back(id);
      }
    }
  }
  std::sort(missing.begin(), missing.end());
  missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
  if (missing.empty()) return out;
  auto stub = Stub();
  for (size_t start = 0; start < missing.size(); start += kMaxPerCall) {
    identity::v1::IdentityInternalServiceBatchGetUsersRequest req;
    for (size_t i = start; i < std::min(missing.size(), start + kMaxPerCall); ++i) {
      req.add_user_ids(missing[i]);
    }
    identity::v1::IdentityInternalServiceBatchGetUsersResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = stub->BatchGetUsers(&ctx, req, &resp);
    if (!s.ok()) return Unavailable("BatchGetUsers", s);
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& u : resp.users()) {
      Person p = PersonFromUser(u);
      people_[u.id()] = Cached{p, now};
      out.emplace(u.id(), std::move(p));
    }
  }
  return out;
}

absl::StatusOr<std::vector<Person>> IdentityDirectory::Resolve(
    uint64_t org_id, const std::vector<std::string>& handles) {
  std::vector<Person> out;
  if (handles.empty()) return out;
  identity::v1::IdentityInternalServiceResolveHandlesRequest req;
  req.set_org_id(org_id);
  for (const auto& h : handles) req.add_handles(h);
  identity::v1::IdentityInternalServiceResolveHandlesResponse resp;
  grpc::ClientContext ctx;
  Prepare(&ctx);
  grpc::Status s = Stub()->ResolveHandles(&ctx, req, &resp);
  if (!s.ok()) return Unavailable("ResolveHandles", s);
  for (const auto& u : resp.users()) out.push_back(PersonFromUser(u));
  return out;
}

absl::StatusOr<common::v1::Visibility> IdentityDirectory::DefaultVisibility(uint64_t org_id) {
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = orgs_.find(org_id);
    if (it != orgs_.end() && now - it->second.second < ttl_) return it->second.first;
  }
  identity::v1::GetOrganizationRequest req;
  req.set_org_id(org_id);
  identity::v1::GetOrganizationResponse resp;
  grpc::ClientContext ctx;
  Prepare(&ctx);
  grpc::Status s = Stub()->GetOrganization(&ctx, req, &resp);
  if (!s.ok()) return Unavailable("GetOrganization", s);
  common::v1::Visibility v = resp.organization().default_post_visibility();
  if (v == common::v1::VISIBILITY_UNSPECIFIED) v = common::v1::VISIBILITY_ORG;
  std::lock_guard<std::mutex> lock(mu_);
  orgs_[org_id] = {v, now};
  return v;
}

absl::StatusOr<IdentityClient> ConnectIdentity(auth::ServiceCredential* credential,
                                               std::shared_ptr<server::ChannelSlot> channel) {
  const int ttl = absl::GetFlag(FLAGS_user_cache_ttl_s);
  absl::Status s = config::CheckRange("user_cache_ttl_s", ttl, 0, 3600);
  if (!s.ok()) return s;
  if (channel == nullptr) {
    const std::string addr = absl::GetFlag(FLAGS_identity_addr);
    auto hp = config::ParseHostPort("identity_addr", addr);
    if (!hp.ok()) return hp.status();
    channel = std::make_shared<server::ChannelSlot>();
    channel->Set(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  }
  IdentityClient client;
  client.channel = channel;
  client.directory = std::make_unique<IdentityDirectory>([channel] { return channel->Get(); },
                                                         credential, absl::Seconds(ttl));
  auto user_verifier = std::make_shared<auth::Verifier>(
      std::make_shared<auth::KeyRing>(),
      auth::VerifierOptions{.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS,
                            .refresh_keys = [channel, credential](auth::KeyRing& ring) {
                              return auth::IdentityKeyFetcher(channel->Get(), credential)(ring);
                            }});
  auto service_ring = std::make_shared<auth::KeyRing>();
  service_ring->Add(credential->verification_key());
  auto service_verifier = std::make_shared<auth::Verifier>(
      service_ring, auth::VerifierOptions{.kind = auth::TokenKind::TOKEN_KIND_SERVICE});
  client.authenticator = std::make_unique<auth::Authenticator>(user_verifier, service_verifier);
  return client;
}

}  // namespace parley::directory
