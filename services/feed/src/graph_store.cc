#include "feed/src/graph_store.h"

#include <algorithm>

#include "feed/src/keys.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

GraphStore::GraphStore(FeedStore* store, HomeStore* homes)
    : FeedPart(store),
      homes_(homes),
      following_(db_->Cf("following")),
      following_idx_(db_->Cf("following_idx")),
      followers_(db_->Cf("followers")),
      followers_idx_(db_->Cf("followers_idx")),
      blocks_(db_->Cf("blocks")),
      mutes_(db_->Cf("mutes")),
      heavy_(db_->Cf("heavy")),
      counters_(db_->Cf("counters")) {}

bool GraphStore::Follows(uint64_t follower, uint64_t followee) {
  // The follower's shard has the following edge, the followee's the follower edge.
  auto v = options_.shards.IsLocal(follower) ? db_->Get(following_, U64Key(follower, followee))
                                             : db_->Get(followers_, U64Key(followee, follower));
  return v.ok() && v->has_value();
}

void GraphStore::EdgeHalves(uint64_t follower, uint64_t followee, uint64_t order, bool add,
                            rocksdb::WriteBatch* batch) {
  const int64_t delta = add ? 1 : -1;
  if (options_.shards.IsLocal(follower)) {
    if (add) {
      batch->Put(following_, U64Key(follower, followee), U64Value(order));
      batch->Put(following_idx_, IdxKey(follower, order, followee), "");
    } else {
      batch->Delete(following_, U64Key(follower, followee));
      batch->Delete(following_idx_, IdxKey(follower, order, followee));
      homes_->RemoveAuthorFromHome(follower, followee, batch);
    }
    batch->Merge(counters_, CounterKey(kFollowingCount, follower), EncodeCounter(delta));
  }
  if (options_.shards.IsLocal(followee)) {
    if (add) {
      batch->Put(followers_, U64Key(followee, follower), U64Value(order));
      batch->Put(followers_idx_, IdxKey(followee, order, follower), "");
    } else {
      batch->Delete(followers_, U64Key(followee, follower));
      batch->Delete(followers_idx_, IdxKey(followee, order, follower));
    }
    batch->Merge(counters_, CounterKey(kFollowerCount, followee), EncodeCounter(delta));
  }
}

// The follow order of an existing edge, read from whichever half is local.
std::optional<uint64_t> GraphStore::EdgeOrder(uint64_t follower, uint64_t followee) {
  auto v = options_.shards.IsLocal(follower) ? db_->Get(following_, U64Key(follower, followee))
                                             : db_->Get(followers_, U64Key(followee, follower));
  if (!v.ok() || !v->has_value() || (*v)->size() != 8) return std::nullopt;
  return DecodeU64(**v);
}

uint8_t GraphStore::BlockFlags(uint64_t a, uint64_t b) {
  auto v = db_->Get(blocks_, U64Key(a, b));
  return v.ok() && v->has_value() && !(*v)->empty() ? static_cast<uint8_t>((**v)[0]) : 0;
}

// Block records are kept on every shard (they are few, and any shard serving a
// post must know them); follow edges and home entries only where they live.
void GraphStore::ApplyBlock(uint64_t blocker, uint64_t blocked, bool block,
                            rocksdb::WriteBatch* batch) {
  auto set = [&](uint64_t a, uint64_t b, uint8_t f) {
    if (f == 0) {
      batch->Delete(blocks_, U64Key(a, b));
    } else {
      batch->Put(blocks_, U64Key(a, b), std::string(1, static_cast<char>(f)));
    }
  };
  if (block) {
    set(blocker, blocked, BlockFlags(blocker, blocked) | kIBlocked);
    set(blocked, blocker, BlockFlags(blocked, blocker) | kBlockedMe);
    for (auto [follower, followee] : {std::pair{blocker, blocked}, std::pair{blocked, blocker}}) {
      auto order = EdgeOrder(follower, followee);
      // Removing the edge also drops the followee's posts from the follower's home.
      if (order.has_value()) EdgeHalves(follower, followee, *order, false, batch);
    }
  } else {
    set(blocker, blocked, BlockFlags(blocker, blocked) & ~kIBlocked);
    set(blocked, blocker, BlockFlags(blocked, blocker) & ~kBlockedMe);
  }
}

std::vector<uint64_t> GraphStore::Followees(uint64_t user_id) {
  std::vector<uint64_t> out;
  std::string prefix = U64Key(user_id);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, following_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.push_back(DecodeU64(absl::string_view(it->key().data() + 8, 8)));
  }
  return out;
}

absl::flat_hash_set<uint64_t> GraphStore::FollowedAmong(uint64_t owner,
                                                        std::vector<uint64_t> candidates) {
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  std::vector<std::string> keys;
  for (uint64_t c : candidates) keys.push_back(U64Key(owner, c));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), following_);
  std::vector<std::string> values;
  auto st = db_->raw()->MultiGet({}, cfs, slices, &values);
  absl::flat_hash_set<uint64_t> out;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (st[i].ok()) out.insert(candidates[i]);
  }
  return out;
}

std::vector<uint64_t> GraphStore::HeavyFollowees(uint64_t user_id) {
  std::vector<uint64_t> heavy;
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, heavy_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() == 8) heavy.push_back(DecodeU64(it->key().ToString()));  // not groups
  }
  if (heavy.empty()) return heavy;
  const absl::flat_hash_set<uint64_t> followed = FollowedAmong(user_id, heavy);
  std::vector<uint64_t> out;
  for (uint64_t h : heavy) {
    if (followed.contains(h)) out.push_back(h);
  }
  return out;
}

uint64_t GraphStore::FollowerCount(uint64_t user_id) {
  auto v = db_->Get(counters_, CounterKey(kFollowerCount, user_id));
  return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
}

// ---------------------------------------------------------------------------
// Fan-out
absl::Status GraphStore::ForEachFollower(
    uint64_t author, const std::function<absl::Status(std::vector<uint64_t>&)>& chunk) {
  std::string prefix = U64Key(author);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, followers_));
  std::vector<uint64_t> batch;
  batch.reserve(options_.fanout_batch);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    batch.push_back(DecodeU64(absl::string_view(it->key().data() + 8, 8)));
    if (batch.size() == options_.fanout_batch) {
      absl::Status s = chunk(batch);
      if (!s.ok()) return s;
      batch.clear();
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "followers");
  if (!batch.empty()) return chunk(batch);
  return absl::OkStatus();
}

void GraphStore::SetMute(uint64_t owner, uint64_t muted, bool mute, rocksdb::WriteBatch* batch) {
  if (mute) {
    batch->Put(mutes_, U64Key(owner, muted), "");
  } else {
    batch->Delete(mutes_, U64Key(owner, muted));
  }
}

absl::Status GraphStore::LoadBlocksAndMutes(uint64_t user_id,
                                            absl::flat_hash_set<uint64_t>* blocked,
                                            absl::flat_hash_set<uint64_t>* muted) {
  const std::string prefix = U64Key(user_id);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, blocks_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    KeyReader key(absl::string_view(it->key().data(), it->key().size()));
    key.ReadU64();
    const std::optional<uint64_t> other = key.ReadU64();
    if (!other.has_value()) return absl::DataLossError("blocks: a short key");
    blocked->insert(*other);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "blocks");
  if (muted == nullptr) return absl::OkStatus();
  std::unique_ptr<rocksdb::Iterator> m(db_->raw()->NewIterator({}, mutes_));
  for (m->Seek(prefix); m->Valid() && m->key().starts_with(prefix); m->Next()) {
    KeyReader key(absl::string_view(m->key().data(), m->key().size()));
    key.ReadU64();
    const std::optional<uint64_t> other = key.ReadU64();
    if (!other.has_value()) return absl::DataLossError("mutes: a short key");
    muted->insert(*other);
  }
  return FromRocks(m->status(), "mutes");
}

absl::StatusOr<bool> GraphStore::IsHeavyAuthor(uint64_t author) {
  auto v = db_->Get(heavy_, U64Key(author));
  if (!v.ok()) return v.status();
  return v->has_value();
}

absl::StatusOr<bool> GraphStore::IsHeavyGroup(uint64_t group) {
  auto v = db_->Get(heavy_, Key1('g', group));
  if (!v.ok()) return v.status();
  return v->has_value();
}

void GraphStore::SetHeavy(uint64_t author, uint64_t group, bool pulled,
                          rocksdb::WriteBatch* batch) {
  const std::string key = group != 0 ? Key1('g', group) : U64Key(author);
  if (pulled) {
    batch->Put(heavy_, key, "");
  } else {
    batch->Delete(heavy_, key);
  }
}

}  // namespace parley::feed
