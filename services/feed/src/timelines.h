// Reading timelines: a person's page, a group's, and the home timeline (the
// materialized head merged with pulled heavy authors and groups, then, past
// the horizon, a k-way merge over the followees' and groups' timelines), plus
// the pulls from other shards and the backfill of a new follow or membership.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "feed/src/graph_store.h"
#include "feed/src/group_store.h"
#include "feed/src/home_store.h"
#include "feed/src/post_store.h"
#include "feed/src/store.h"
#include "feed/src/visibility.h"

namespace parley::feed {

// A timeline candidate: the post, its author, and the group it came through
// (0 when it came through its author).
struct Candidate {
  uint64_t id, author, group;
  bool operator>(const Candidate& o) const { return id > o.id; }
};

class Timelines : FeedPart {
 public:
  Timelines(FeedStore* store, HomeStore* homes, GraphStore* graph, GroupStore* memberships,
            PostStore* post_store, Visibility* visibility);

  absl::StatusOr<pb::ListHomeTimelineResponse> ListHomeTimeline(
      const Caller& caller, const pb::ListHomeTimelineRequest& req);
  absl::StatusOr<pb::ListUserTimelineResponse> ListUserTimeline(
      const Caller& caller, const pb::ListUserTimelineRequest& req);
  absl::StatusOr<pb::ListGroupTimelineResponse> ListGroupTimeline(
      const Caller& caller, const pb::ListGroupTimelineRequest& req);
  // FeedInternalService.PullPosts: posts of authors and groups homed here.
  absl::StatusOr<pb::PullPostsResponse> PullPosts(const pb::PullPostsRequest& req);

  // Copies the newest follow_backfill posts of `author` (or `group`) into
  // owner's head, if the backfill marker is still pending.
  absl::Status Backfill(uint64_t owner, uint64_t author);
  absl::Status BackfillGroup(uint64_t owner, uint64_t group);

 private:
  // Each request goes to its shard, all in parallel; the posts come back in
  // the requests' order, kept as local copies so that they hydrate like
  // delivered ones.
  absl::StatusOr<std::vector<std::vector<pb::Post>>> PullRemote(
      const FeedPeers::ByShard<pb::PullPostsRequest>& requests, absl::Time deadline);
  static pb::PullPostsRequest PullRequest(uint64_t viewer, const std::vector<uint64_t>& authors,
                                          const std::vector<uint64_t>& groups, uint64_t before,
                                          size_t max);
  // Newest candidates older than `before` of `authors` and `groups` (any
  // shard), at most `max`, one per post; `more` tells whether a source may
  // have had more.
  absl::StatusOr<std::vector<Candidate>> NewestOf(uint64_t viewer, absl::Time deadline,
                                                  const std::vector<uint64_t>& authors,
                                                  const std::vector<uint64_t>& groups,
                                                  uint64_t before, size_t max, bool* more);
  std::vector<uint64_t> HeavyGroups(const Viewer& viewer);
  // Appends up to `size` posts readable by `viewer` from `source` (newest
  // first: ids below `before`), from `cursor`; returns the next cursor (0: done).
  absl::StatusOr<uint64_t> FillPage(
      const Viewer& viewer, uint64_t cursor, int32_t size,
      const std::function<std::vector<uint64_t>(uint64_t before, size_t n)>& source,
      google::protobuf::RepeatedPtrField<pb::Post>* posts);

  HomeStore* const homes_;
  GraphStore* const graph_;
  GroupStore* const memberships_;
  PostStore* const post_store_;
  Visibility* const visibility_;
  rocksdb::ColumnFamilyHandle* const posts_;
  rocksdb::ColumnFamilyHandle* const meta_;
};

}  // namespace parley::feed
