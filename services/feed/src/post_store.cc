#include "feed/src/post_store.h"

#include "feed/src/keys.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

PostStore::PostStore(FeedStore* store)
    : FeedPart(store), posts_(db_->Cf("posts")), user_posts_(db_->Cf("user_posts")) {}

absl::StatusOr<std::optional<pb::Post>> PostStore::ReadPost(uint64_t post_id) {
  auto v = db_->Get(posts_, U64Key(post_id));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<pb::Post>();
  pb::Post p;
  if (!p.ParseFromString(**v)) return absl::DataLossError(absl::StrCat("post ", post_id));
  return std::optional<pb::Post>(std::move(p));
}

std::vector<uint64_t> PostStore::AuthorPostIds(uint64_t author, uint64_t before, size_t limit,
                                               bool skip_group_posts) {
  std::vector<uint64_t> out;
  std::string prefix = U64Key(author);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, user_posts_));
  it->Seek(before == 0 ? prefix : DescKey(author, before - 1));
  for (; it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Next()) {
    if (skip_group_posts && !it->value().empty()) continue;  // the value names the group
    out.push_back(DecodeDescU64(absl::string_view(it->key().data() + 8, 8)));
  }
  return out;
}

}  // namespace parley::feed
