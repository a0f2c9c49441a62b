#include "notify/src/presence.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
  (void)redis_->Pipeline({{"SET", PresenceKey(caller.user_id()), value, "EX",
                           absl::StrCat(absl::ToInt64Seconds(kPresenceTtl))}});
  return resp;
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
  // Only people of the caller's org are looked up; the others stay UNKNOWN.
  std::vector<uint64_t> ids(req.user_ids().begin(), req.user_ids().end());
  auto people = directory_->Get(ids);
  if (!people.ok()) return people.status();
  std::vector<int> slots;
  std::vector<std::string> mget = {"MGET"};
  for (int i = 0; i < req.user_ids_size(); ++i) {
    auto it = people->find(req.user_ids(i));
    if (it == people->end() || it->second.org_id != caller.org_id()) continue;
    slots.push_back(i);
    mget.push_back(PresenceKey(req.user_ids(i)));
  }
  if (slots.empty()) return resp;
  auto replies = redis_->Pipeline({mget});
  if (!replies.ok()) return resp;  // Redis went down: UNKNOWN, not an error
  const redisReply* r = (*replies)[0].get();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != slots.size()) return resp;
  for (size_t k = 0; k < slots.size(); ++k) {
    pb::Presence* p = resp.mutable_presences(slots[k]);
    const redisReply* e = r->element[k];
    if (e->type != REDIS_REPLY_STRING) {
      p->set_state(pb::PRESENCE_STATE_OFFLINE);  // no heartbeat within 90 s
      continue;
    }
    std::vector<std::string> parts =
        absl::StrSplit(absl::string_view(e->str, e->len), absl::MaxSplits(kSep, 2));
    uint64_t org = 0;
    int state = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &org) || org != caller.org_id() ||
        !absl::SimpleAtoi(parts[1], &state) || !pb::PresenceState_IsValid(state)) {
      continue;  // stays UNKNOWN
    }
    p->set_state(static_cast<pb::PresenceState>(state));
    p->set_status_text(parts[2]);
  }
  return resp;
}

}  // namespace parley::notify
