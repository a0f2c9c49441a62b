// 64-bit time-ordered ids: | 41 bits ms since 2026-01-01 UTC | 10 bits node | 12 bits sequence |.
// Sorting ids sorts by creation time, which is what timelines and outboxes rely on.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace parley::ids {

inline constexpr int kNodeBits = 10;
inline constexpr int kSequenceBits = 12;
inline constexpr uint32_t kMaxNodeId = (1u << kNodeBits) - 1;
inline constexpr uint32_t kMaxSequence = (1u << kSequenceBits) - 1;
// 2026-01-01T00:00:00Z in Unix milliseconds.
inline constexpr int64_t kEpochUnixMillis = 1767225600000;

struct IdParts {
  int64_t unix_millis;
  uint32_t node_id;
  uint32_t sequence;
};
IdParts Split(uint64_t id);
absl::Time TimeOf(uint64_t id);
// The smallest id that could have been generated at `t` (for time-range scans).
uint64_t MinIdAt(absl::Time t);

// Generates unique, strictly increasing ids for one node. Thread-safe and
// lock-free. If the wall clock steps backwards, ids keep increasing by running
// on from the last issued millisecond; if a millisecond's 4,096 sequence
// numbers run out, it borrows the next millisecond rather than waiting.
class IdGenerator {
 public:
  using Clock = std::function<int64_t()>;  // Unix milliseconds

  static absl::StatusOr<std::unique_ptr<IdGenerator>> Create(uint32_t node_id,
                                                             Clock clock = nullptr);
  uint64_t Next();
  // Ids are not persisted: after a restart with the clock behind the last id
  // issued (a step back, or milliseconds borrowed under load), Next() could
  // repeat one. Services call this at start with the largest id they stored.
  void AdvancePast(uint64_t id);
  uint32_t node_id() const { return node_id_; }

 private:
  IdGenerator(uint32_t node_id, Clock clock) : node_id_(node_id), clock_(std::move(clock)) {}
  const uint32_t node_id_;
  const Clock clock_;
  std::atomic<uint64_t> last_{0};
};

}  // namespace parley::ids
