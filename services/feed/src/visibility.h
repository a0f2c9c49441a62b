// Who may read what: the viewer (their blocks, mutes and groups), the check of
// one post against them, and hydration (posts with counts, liked flags and
// current authors, minus what the viewer may not see).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "feed/src/graph_store.h"
#include "feed/src/group_store.h"
#include "feed/src/store.h"

namespace parley::feed {

struct Viewer {
  uint64_t id = 0;
  uint64_t org_id = 0;
  absl::flat_hash_set<uint64_t> blocked;  // either direction
  absl::flat_hash_set<uint64_t> muted;
  // Viewers homed here: their groups (their half of the membership) and the
  // groups they muted (with_mutes).
  absl::flat_hash_set<uint64_t> groups;
  absl::flat_hash_set<uint64_t> muted_groups;
  // A person's page: private-group posts only for their author.
  bool own_private_groups_only = false;
  // The caller's deadline, for calls to other shards while serving them.
  absl::Time deadline = absl::InfiniteFuture();
};

class Visibility : FeedPart {
 public:
  Visibility(FeedStore* store, GraphStore* graph, GroupStore* memberships);

  absl::StatusOr<Viewer> LoadViewer(const Caller& caller, bool with_mutes);
  // Whether `viewer` may read `post` (author activity checked separately).
  // With assume_follows, followers-only posts pass, and so do private-group
  // posts when this shard knows neither the group nor the viewer (the
  // reader's shard checks both).
  bool CanSee(const Viewer& viewer, const pb::Post& post, bool assume_follows = false);
  // Loads, filters and hydrates posts (counts, liked flags, authors), in order.
  absl::StatusOr<std::vector<pb::Post>> Hydrate(const Viewer& viewer,
                                                const std::vector<uint64_t>& post_ids);
  // Drops comments by people hidden from the viewer; fills authors, counts, liked.
  absl::Status FillComments(const Viewer& viewer, std::vector<pb::Comment>* comments);

 private:
  GraphStore* const graph_;
  GroupStore* const memberships_;
  rocksdb::ColumnFamilyHandle* const posts_;
  rocksdb::ColumnFamilyHandle* const counters_;
  rocksdb::ColumnFamilyHandle* const likes_;
};

}  // namespace parley::feed
