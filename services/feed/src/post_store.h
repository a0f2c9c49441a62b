// Posts as stored on this shard ("posts": originals and compact copies of
// other shards' posts; "user_posts": each author's page, newest first). `mu()`
// serialises the check-then-write of likes, comment deletes and accepted
// answers (Posts and Questions hold it).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "feed/src/store.h"
#include "parley/sync/mutex.h"

namespace parley::feed {

class PostStore : FeedPart {
 public:
  explicit PostStore(FeedStore* store);

  sync::Mutex& mu() ABSL_LOCK_RETURNED(mu_) { return mu_; }

  absl::StatusOr<std::optional<pb::Post>> ReadPost(uint64_t post_id);
  // Newest post ids of `author` older than `before` (exclusive; 0: newest).
  // Their group posts reach people through the group, so fan-out, backfill and
  // merges skip them (skip_group_posts); only the author's page shows them.
  std::vector<uint64_t> AuthorPostIds(uint64_t author, uint64_t before, size_t limit,
                                      bool skip_group_posts = false);

 private:
  rocksdb::ColumnFamilyHandle* const posts_;
  rocksdb::ColumnFamilyHandle* const user_posts_;
  sync::Mutex mu_;
};

}  // namespace parley::feed
