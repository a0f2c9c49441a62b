#include "parley/ids/ids.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace parley::ids {
namespace {

constexpr int kTimeShift = kNodeBits + kSequenceBits;

uint64_t Compose(int64_t epoch_millis, uint32_t node_id, uint32_t sequence) {
  return (static_cast<uint64_t>(epoch_millis) << kTimeShift) |
         (static_cast<uint64_t>(node_id) << kSequenceBits) | sequence;
}

int64_t SystemUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

IdParts Split(uint64_t id) {
  return IdParts{static_cast<int64_t>(id >> kTimeShift) + kEpochUnixMillis,
                 static_cast<uint32_t>((id >> kSequenceBits) & kMaxNodeId),
                 static_cast<uint32_t>(id & kMaxSequence)};
}

absl::Time TimeOf(uint64_t id) { return absl::FromUnixMillis(Split(id).unix_millis); }

uint64_t MinIdAt(absl::Time t) {
  int64_t millis = std::max<int64_t>(0, absl::ToUnixMillis(t) - kEpochUnixMillis);
  return Compose(millis, 0, 0);
}

absl::StatusOr<std::unique_ptr<IdGenerator>> IdGenerator::Create(uint32_t node_id, Clock clock) {
  if (node_id > kMaxNodeId) {
    return absl::InvalidArgumentError(
        absl::StrCat("node_id: ", node_id, " is out of range [0, ", kMaxNodeId, "]"));
  }
  if (!clock) clock = SystemUnixMillis;
  return std::unique_ptr<IdGenerator>(new IdGenerator(node_id, std::move(clock)));
}

uint64_t IdGenerator::Next() {
  const int64_t now = std::max<int64_t>(0, clock_() - kEpochUnixMillis);
  const uint64_t fresh = Compose(now, node_id_, 0);
  uint64_t last = last_.load(std::memory_order_relaxed);
  while (true) {
    uint64_t next;
    if (fresh > last) {
      next = fresh;
    } else if ((last & kMaxSequence) < kMaxSequence) {
      next = last + 1;  // same (or earlier) millisecond: next sequence number
    } else {
      next = Compose(static_cast<int64_t>(last >> kTimeShift) + 1, node_id_, 0);
    }
    if (last_.compare_exchange_weak(last, next, std::memory_order_relaxed)) return next;
  }
}

void IdGenerator::AdvancePast(uint64_t id) {
  uint64_t last = last_.load(std::memory_order_relaxed);
  while (id > last && !last_.compare_exchange_weak(last, id, std::memory_order_relaxed)) {
  }
}

}  // namespace parley::ids
