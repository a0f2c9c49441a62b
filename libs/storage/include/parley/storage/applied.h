// The consumer side of the outbox: apply a producer's entries exactly once.
//
// Delivery is at-least-once and in sequence order per producer. The consumer
// keeps, per producer id, the last sequence it applied, and writes it in the
// same WriteBatch as the effect of the entries. A re-delivered entry
// (sequence ≤ last applied) is skipped; a crash between the effect and the
// marker cannot happen because they are one atomic write.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "parley/storage/db.h"

namespace parley::storage {

class AppliedSequences {
 public:
  // Markers live in `cf` (key: producer id, value: 8-byte sequence).
  AppliedSequences(Db* db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}

  absl::StatusOr<uint64_t> LastApplied(absl::string_view producer) const;

  // Adds the effect of every entry of `sequences` (increasing) above the last
  // applied one to one batch via `apply(index, batch)`, records the new last
  // sequence in it, and writes it. Batches are applied one at a time; `apply`
  // is called under that lock. Returns the producer's last applied sequence
  // afterwards. An error from `apply` writes nothing.
  using ApplyFn = std::function<absl::Status(size_t index, rocksdb::WriteBatch* batch)>;
  absl::StatusOr<uint64_t> Apply(absl::string_view producer, const std::vector<uint64_t>& sequences,
                                 const ApplyFn& apply);

 private:
  Db* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  std::mutex mu_;  // one Apply at a time: read marker, write effect + marker
};

}  // namespace parley::storage
