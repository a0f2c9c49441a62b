// Who is around, kept in Redis with a TTL: a heartbeat writes
// parley:presence:<user> = "<org>\x1f<state>\x1f<status text>" for 90 s.
// Without Redis (not configured, or down) heartbeats are accepted and dropped
// and everyone is PRESENCE_STATE_UNKNOWN: presence is never an error.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "notify/src/redis.h"
#include "parley/common/v1/auth.pb.h"
#include "parley/directory/directory.h"
#include "parley/notify/v1/notify.pb.h"

namespace parley::notify {

namespace pb = ::parley::notify::v1;

inline constexpr size_t kMaxPresenceIds = 500;
inline constexpr size_t kMaxStatusTextChars = 100;
inline constexpr absl::Duration kHeartbeatInterval = absl::Seconds(30);
inline constexpr absl::Duration kPresenceTtl = absl::Seconds(90);
// How stale another replica's view of a heartbeat may be.
inline constexpr absl::Duration kPresenceCacheTtl = absl::Seconds(1);
inline constexpr size_t kMaxPresenceCache = 200000;

std::string PresenceKey(uint64_t user);

class Presence {
 public:
  // `redis` may be null (presence not configured).
  Presence(RedisPool* redis, directory::Directory* directory)
      : redis_(redis), directory_(directory) {}
  absl::StatusOr<pb::HeartbeatResponse> Heartbeat(const common::v1::TokenClaims& caller,
                                                  const pb::HeartbeatRequest& req);
  absl::StatusOr<pb::GetPresenceResponse> Get(const common::v1::TokenClaims& caller,
                                              const pb::GetPresenceRequest& req);

 private:
  // Heartbeats seen recently (read from Redis, or written here), kept for
  // kPresenceCacheTtl: lookups of the same people by many viewers cost one
  // Redis read per second, not one per call.
  struct Cached {
    uint64_t org = 0;
    pb::PresenceState state = pb::PRESENCE_STATE_UNKNOWN;
    std::string text;
    absl::Time expires;
  };
  void Remember(uint64_t user, Cached c);

  RedisPool* const redis_;
  directory::Directory* const directory_;
  std::mutex cache_mu_;
  absl::flat_hash_map<uint64_t, Cached> cache_;  // guarded by cache_mu_
};

}  // namespace parley::notify
