// The per-person write limit: a token bucket of `per_minute` posts plus
// comments, refilled continuously, with that burst. Per process.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "parley/sync/mutex.h"

namespace parley::feed {

class RateLimiter {
 public:
  RateLimiter(int32_t per_minute, std::function<absl::Time()> now)
      : per_minute_(per_minute), now_(std::move(now)) {}

  // Takes a token for `user_id`, or RESOURCE_EXHAUSTED when none is left.
  absl::Status CheckRate(uint64_t user_id);

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  const int32_t per_minute_;
  const std::function<absl::Time()> now_;
  sync::Mutex mu_;
  absl::flat_hash_map<uint64_t, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parley::feed
