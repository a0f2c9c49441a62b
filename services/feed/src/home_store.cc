#include "feed/src/home_store.h"

#include <algorithm>

#include "feed/src/keys.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

HomeStore::HomeStore(FeedStore* store)
    : FeedPart(store), home_(db_->Cf("home")), meta_(db_->Cf("meta")) {}

std::unique_ptr<rocksdb::Iterator> HomeStore::NewIterator() {
  return std::unique_ptr<rocksdb::Iterator>(db_->raw()->NewIterator({}, home_));
}

void HomeStore::AddEntry(uint64_t owner, uint64_t post_id, uint64_t author, uint64_t group,
                         rocksdb::WriteBatch* batch) {
  AddHomeSize(owner, 1);
  batch->Put(home_, DescKey(owner, post_id), HomeValue(author, group));
}

void HomeStore::RemoveEntry(uint64_t owner, uint64_t post_id, rocksdb::WriteBatch* batch) {
  batch->Delete(home_, DescKey(owner, post_id));
}

uint64_t HomeStore::Horizon(uint64_t owner) {
  auto v = db_->Get(meta_, CounterKey('h', owner));
  return v.ok() && v->has_value() && (*v)->size() == 8 ? DecodeU64(**v) : 0;
}

uint64_t HomeStore::HomeEntryCount(uint64_t owner) {
  uint64_t n = 0;
  std::string prefix = U64Key(owner);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
  return n;
}

// ---------------------------------------------------------------------------
// Graph
void HomeStore::RemoveAuthorFromHome(uint64_t owner, uint64_t author, rocksdb::WriteBatch* batch) {
  std::string prefix = U64Key(owner);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
  int64_t removed = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() == 8 && DecodeU64(it->value().ToString()) == author) {
      batch->Delete(home_, it->key());
      ++removed;
    }
  }
  if (removed > 0) AddHomeSize(owner, -removed);
}

void HomeStore::RemoveGroupFromHome(uint64_t owner, uint64_t group, rocksdb::WriteBatch* batch) {
  std::string prefix = U64Key(owner);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
  int64_t removed = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (ParseHomeValue(absl::string_view(it->value().data(), it->value().size())).second == group) {
      batch->Delete(home_, it->key());
      ++removed;
    }
  }
  if (removed > 0) AddHomeSize(owner, -removed);
}

void HomeStore::AddHomeSize(uint64_t owner, int64_t delta) {
  sync::MutexLock lock(&sizes_mu_);
  int64_t& size = home_sizes_[owner];
  size = std::max<int64_t>(0, size + delta);
}

absl::Status HomeStore::PutHomeEntries(uint64_t post_id, uint64_t author, uint64_t group,
                                       const std::vector<uint64_t>& owners) {
  rocksdb::WriteBatch batch;
  const std::string value = HomeValue(author, group);
  for (uint64_t owner : owners) batch.Put(home_, DescKey(owner, post_id), value);
  absl::Status s = db_->Write(&batch);
  if (!s.ok()) return s;
  for (uint64_t owner : owners) AddHomeSize(owner, 1);
  return absl::OkStatus();
}

// Head sizes are counted in memory (a counter in RocksDB would cost a merge
// per delivery and a merge-chain read per check). After a restart they start
// from zero, so a head may grow past its limit by one more slack before the
// next trim; trimming counts the real entries.
absl::Status HomeStore::TrimHomes(const std::vector<uint64_t>& owners) {
  const int64_t limit = static_cast<int64_t>(options_.home_head + options_.home_trim_slack);
  std::vector<uint64_t> due;
  {
    sync::MutexLock lock(&sizes_mu_);
    for (uint64_t o : owners) {
      auto it = home_sizes_.find(o);
      if (it != home_sizes_.end() && it->second > limit) due.push_back(o);
    }
  }
  if (due.empty()) return absl::OkStatus();
  sync::MutexLock lock(&home_mu_);
  for (const uint64_t owner : due) {
    std::string prefix = U64Key(owner);
    std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
    int64_t seen = 0;
    uint64_t last_kept = 0;
    std::string first_removed;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (seen < static_cast<int64_t>(options_.home_head)) {
        last_kept = DecodeDescU64(absl::string_view(it->key().data() + 8, 8));
      } else if (first_removed.empty()) {
        first_removed = it->key().ToString();
      }
      ++seen;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "home");
    const int64_t kept = std::min<int64_t>(seen, options_.home_head);
    if (seen > kept) {
      rocksdb::WriteBatch batch;
      batch.DeleteRange(home_, first_removed, PrefixSuccessor(prefix));
      // Everything newer than the oldest kept entry is complete in the head.
      uint64_t horizon = std::max(Horizon(owner), last_kept - 1);
      batch.Put(meta_, CounterKey('h', owner), U64Value(horizon));
      absl::Status s = db_->Write(&batch);
      if (!s.ok()) return s;
    }
    sync::MutexLock sizes(&sizes_mu_);
    home_sizes_[owner] = kept;
  }
  return absl::OkStatus();
}

absl::Status HomeStore::BackfillEntries(uint64_t owner, const std::string& marker,
                                        const std::string& expected,
                                        const std::vector<std::array<uint64_t, 3>>& entries,
                                        bool complete) {
  // An unfollow or leave while the posts were read deletes the marker, and a
  // new follow or join replaces it (a join's marker holds its order): then
  // this backfill is stale and writes nothing.
  auto now_marker = db_->Get(meta_, marker);
  if (!now_marker.ok()) return now_marker.status();
  if (!now_marker->has_value() || **now_marker != expected) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  batch.Delete(meta_, marker);  // the backfill is done
  for (const auto& [id, author, group] : entries) {
    batch.Put(home_, DescKey(owner, id), HomeValue(author, group));
  }
  AddHomeSize(owner, static_cast<int64_t>(entries.size()));
  if (!complete && !entries.empty()) {
    // The source has older posts that are not in the head: the head is
    // complete only above the oldest one copied.
    sync::MutexLock lock(&home_mu_);
    uint64_t horizon = std::max(Horizon(owner), entries.back()[0] - 1);
    batch.Put(meta_, CounterKey('h', owner), U64Value(horizon));
    absl::Status s = db_->Write(&batch);
    if (!s.ok()) return s;
  } else {
    absl::Status s = db_->Write(&batch);
    if (!s.ok()) return s;
  }
  return TrimHomes({owner});
}

absl::Status HomeStore::Writer::Add(uint64_t post_id, uint64_t author, uint64_t group,
                                    const std::vector<uint64_t>& owners) {
  for (uint64_t owner : owners) pending_.push_back({owner, post_id, author, group});
  return pending_.size() >= kHomeWriteBatch ? Flush() : absl::OkStatus();
}

absl::Status HomeStore::Writer::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  // In key order: the memtable's skip list inserts sorted keys much faster.
  std::sort(pending_.begin(), pending_.end(), [](const Entry& a, const Entry& b) {
    return a.owner != b.owner ? a.owner < b.owner : a.post_id > b.post_id;
  });
  // Reserved up front: each entry is about 40 bytes of batch (tag, family,
  // lengths, 16-byte key, 8-byte value); growing a multi-MB string is costly.
  rocksdb::WriteBatch batch(pending_.size() * 40 + 64);
  std::string key;
  for (const Entry& e : pending_) {
    key.clear();
    AppendU64(&key, e.owner);
    AppendDescU64(&key, e.post_id);
    batch.Put(homes_->home_, key, HomeValue(e.author, e.group));
  }
  absl::Status s = homes_->db_->Write(&batch);
  if (!s.ok()) return s;
  {
    sync::MutexLock lock(&homes_->sizes_mu_);
    for (const Entry& e : pending_) ++homes_->home_sizes_[e.owner];
  }
  for (const Entry& e : pending_) touched_.insert(e.owner);
  pending_.clear();
  return absl::OkStatus();
}

absl::Status HomeStore::Writer::Finish() {
  absl::Status s = Flush();
  if (!s.ok()) return s;
  std::vector<uint64_t> owners(touched_.begin(), touched_.end());
  touched_.clear();
  return homes_->TrimHomes(owners);
}

}  // namespace parley::feed
