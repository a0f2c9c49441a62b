#include "notify/src/presence.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "parley/status/status.h"

namespace parley::notify {
namespace {

constexpr char kSep = '\x1f';

// Characters of valid UTF-8, or nullopt.
std::optional<size_t> Utf8Chars(const std::string& s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80         ? 1
                       : (c >> 5) == 6  ? 2
                       : (c >> 4) == 14 ? 3
                       : (c >> 3) == 30 ? 4
                                        : 0;
    if (len == 0 || i + len > s.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return std::nullopt;
    }
    i += len;
    ++n;
  }
  return n;
}

}  // namespace

std::string PresenceKey(uint64_t user) { return absl::StrCat("parley:presence:", user); }

absl::StatusOr<pb::HeartbeatResponse> Presence::Heartbeat(const common::v1::TokenClaims& caller,
                                                          const pb::HeartbeatRequest& req) {
  switch (req.state()) {
    case pb::PRESENCE_STATE_ONLINE:
    case pb::PRESENCE_STATE_AWAY:
    case pb::PRESENCE_STATE_DO_NOT_DISTURB:
      break;
    default:
      return absl::InvalidArgumentError(
          "state: PRESENCE_STATE_ONLINE, PRESENCE_STATE_AWAY or PRESENCE_STATE_DO_NOT_DISTURB");
  }
  auto chars = Utf8Chars(req.status_text());
  if (!chars.has_value()) return absl::InvalidArgumentError("status_text: not valid UTF-8");
  if (*chars > kMaxStatusTextChars) {
    return status::TooLong("status_text", *chars, kMaxStatusTextChars);
  }
  pb::HeartbeatResponse resp;
  *resp.mutable_heartbeat_interval() =
      google::protobuf::util::TimeUtil::SecondsToDuration(absl::ToInt64Seconds(kHeartbeatInterval));
  if (redis_ == nullptr) return resp;  // accepted and dropped
  const std::string value =
      absl::StrCat(caller.org_id(), std::string(1, kSep), static_cast<int>(req.state()),
                   std::string(1, kSep), req.status_text());
  // Redis down: accepted and dropped (the next heartbeat will land).
  auto set = redis_->Pipeline({{"SET", PresenceKey(caller.user_id()), value, "EX",
                                absl::StrCat(absl::ToInt64Seconds(kPresenceTtl))}});
  if (set.ok()) {
    Remember(caller.user_id(),
             {caller.org_id(), req.state(), req.status_text(), absl::Now() + kPresenceCacheTtl});
  }
  return resp;
}

void Presence::Remember(uint64_t user, Cached c) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() >= kMaxPresenceCache) cache_.clear();  // bounded; refills in a second
  cache_[user] = std::move(c);
}

absl::StatusOr<pb::GetPresenceResponse> Presence::Get(const common::v1::TokenClaims& caller,
                                                      const pb::GetPresenceRequest& req) {
  if (static_cast<size_t>(req.user_ids_size()) > kMaxPresenceIds) {
    return status::TooMany("user_ids", req.user_ids_size(), kMaxPresenceIds);
  }
  pb::GetPresenceResponse resp;
  for (uint64_t id : req.user_ids()) {
    pb::Presence* p = resp.add_presences();
    p->set_user_id(id);
    p->set_state(pb::PRESENCE_STATE_UNKNOWN);
  }
  if (redis_ == nullptr || !redis_->up() || req.user_ids_size() == 0) return resp;
  // Recent heartbeats from the cache; one MGET for the others. A value names
  // its person's org, so people with a heartbeat need no directory lookup;
  // the rest are OFFLINE if they are of the caller's org, else UNKNOWN.
  const absl::Time now = absl::Now();
  std::vector<int> missing;
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    for (int i = 0; i < req.user_ids_size(); ++i) {
      auto it = cache_.find(req.user_ids(i));
      if (it == cache_.end() || it->second.expires <= now) {
        missing.push_back(i);
      } else if (it->second.org == caller.org_id()) {
        resp.mutable_presences(i)->set_state(it->second.state);
        resp.mutable_presences(i)->set_status_text(it->second.text);
      }
    }
  }
  if (missing.empty()) return resp;
  std::vector<std::string> mget = {"MGET"};
  mget.reserve(missing.size() + 1);
  for (int i : missing) mget.push_back(PresenceKey(req.user_ids(i)));
  auto replies = redis_->Pipeline({mget});
  if (!replies.ok()) return resp;  // Redis went down: UNKNOWN, not an error
  const redisReply* r = (*replies)[0].get();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != missing.size()) return resp;
  std::vector<uint64_t> absent;
  for (size_t k = 0; k < missing.size(); ++k) {
    const int i = missing[k];
    const redisReply* e = r->element[k];
    if (e->type != REDIS_REPLY_STRING) {
      absent.push_back(req.user_ids(i));
      continue;
    }
    const absl::string_view value(e->str, e->len);
    const size_t a = value.find(kSep);
    const size_t b = a == absl::string_view::npos ? a : value.find(kSep, a + 1);
    uint64_t org = 0;
    int state = 0;
    if (b == absl::string_view::npos || !absl::SimpleAtoi(value.substr(0, a), &org) ||
        !absl::SimpleAtoi(value.substr(a + 1, b - a - 1), &state) ||
        !pb::PresenceState_IsValid(state)) {
      continue;  // a value this version does not read: UNKNOWN
    }
    Cached c{org, static_cast<pb::PresenceState>(state), std::string(value.substr(b + 1)),
             now + kPresenceCacheTtl};
    if (org == caller.org_id()) {  // another org's person stays UNKNOWN
      resp.mutable_presences(i)->set_state(c.state);
      resp.mutable_presences(i)->set_status_text(c.text);
    }
    Remember(req.user_ids(i), std::move(c));
  }
  if (absent.empty()) return resp;
  auto people = directory_->Get(absent);
  if (!people.ok()) return resp;  // identity unreachable: UNKNOWN, not an error
  for (uint64_t id : absent) {
    auto it = people->find(id);
    if (it == people->end() || it->second.org_id != caller.org_id()) continue;
    for (int i = 0; i < req.user_ids_size(); ++i) {
      if (req.user_ids(i) == id) {
        resp.mutable_presences(i)->set_state(pb::PRESENCE_STATE_OFFLINE);  // no heartbeat in 90 s
      }
    }
  }
  return resp;
}

}  // namespace parley::notify
