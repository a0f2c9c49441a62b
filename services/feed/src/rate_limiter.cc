#include "feed/src/rate_limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace parley::feed {

absl::Status RateLimiter::CheckRate(uint64_t user_id) {
  const absl::Time now = now_();
  const double capacity = per_minute_;
  sync::MutexLock lock(&mu_);
  auto [it, inserted] = buckets_.try_emplace(user_id, Bucket{capacity, now});
  Bucket& b = it->second;
  if (!inserted) {
    b.tokens = std::min(capacity, b.tokens + absl::ToDoubleMinutes(now - b.updated) * capacity);
    b.updated = now;
  }
  if (b.tokens < 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rate limit: at most ", per_minute_,
                     " posts and comments per person per minute; try again shortly"));
  }
  b.tokens -= 1;
  return absl::OkStatus();
}

}  // namespace parley::feed
