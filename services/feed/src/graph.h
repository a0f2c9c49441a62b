// The graph's public operations: follow (with the backfill of the followee's
// recent posts), unfollow, block, unblock, mute, unmute, and the follower and
// following lists.
#pragma once

#include "feed/src/catch_up.h"
#include "feed/src/graph_store.h"
#include "feed/src/store.h"
#include "feed/src/timelines.h"
#include "feed/src/visibility.h"

namespace parley::feed {

class Graph : FeedPart {
 public:
  Graph(FeedStore* store, GraphStore* graph, Timelines* timelines, Visibility* visibility,
        CatchUpWorker* catch_up);

  absl::Status Follow(const Caller& caller, uint64_t user_id);
  absl::Status Unfollow(const Caller& caller, uint64_t user_id);
  absl::Status Block(const Caller& caller, uint64_t user_id);
  absl::Status Unblock(const Caller& caller, uint64_t user_id);
  absl::Status Mute(const Caller& caller, uint64_t user_id);
  absl::Status Unmute(const Caller& caller, uint64_t user_id);
  absl::StatusOr<pb::ListFollowersResponse> ListFollowers(const Caller& caller,
                                                          const pb::ListFollowersRequest& req);
  absl::StatusOr<pb::ListFollowingResponse> ListFollowing(const Caller& caller,
                                                          const pb::ListFollowingRequest& req);

 private:
  template <typename Response, typename Request>
  absl::StatusOr<Response> ListGraph(const Caller& caller, const Request& req,
                                     rocksdb::ColumnFamilyHandle* index);

  GraphStore* const graph_;
  Timelines* const timelines_;
  Visibility* const visibility_;
  CatchUpWorker* const catch_up_;
  rocksdb::ColumnFamilyHandle* const meta_;
};

}  // namespace parley::feed
