#include "parley/storage/applied.h"

#include "absl/strings/str_cat.h"
#include "parley/storage/keys.h"

namespace parley::storage {

absl::StatusOr<uint64_t> AppliedSequences::LastApplied(absl::string_view producer) const {
  auto value = db_->Get(cf_, producer);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return 0;
  if ((*value)->size() != 8) {
    return absl::DataLossError(absl::StrCat("applied marker of ", producer, " is corrupt"));
  }
  return DecodeU64(**value);
}

absl::StatusOr<uint64_t> AppliedSequences::Apply(absl::string_view producer,
                                                 const std::vector<uint64_t>& sequences,
                                                 const ApplyFn& apply) {
  if (producer.empty()) return absl::InvalidArgumentError("producer: required");
  std::lock_guard<std::mutex> lock(mu_);
  auto last = LastApplied(producer);
  if (!last.ok()) return last.status();
  uint64_t through = *last;
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i] <= through) continue;  // already applied: a re-delivery
    absl::Status s = apply(i, &batch);
    if (!s.ok()) return s;
    through = sequences[i];
  }
  if (through == *last) return through;
  std::string marker;
  AppendU64(&marker, through);
  rocksdb::Status s = batch.Put(cf_, rocksdb::Slice(producer.data(), producer.size()), marker);
  if (!s.ok()) return FromRocks(s, "applied marker");
  absl::Status w = db_->Write(&batch);
  if (!w.ok()) return w;
  return through;
}

}  // namespace parley::storage
