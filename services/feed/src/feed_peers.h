// The other feed shards, as feed's logic sees them: the internal calls it
// makes, with StatusOr results and the caller's deadline. Calls that go to
// several shards are one method call taking every shard's request; the gRPC
// implementation (peers.h) sends them in parallel. Unit tests use a fake.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "parley/feed/v1/feed.pb.h"

namespace parley::feed {

// The longest a call to another shard may take, whatever the caller allows.
inline constexpr absl::Duration kPeerTimeout = absl::Seconds(5);

// The deadline for a call to another shard made now on behalf of a caller
// whose own deadline is `caller` (infinite for background work).
inline absl::Time PeerDeadline(absl::Time caller = absl::InfiniteFuture()) {
  return std::min(caller, absl::Now() + kPeerTimeout);
}

class FeedPeers {
 public:
  // One request per shard (a shard may appear more than once); responses come
  // back in the same order. The first failure fails the whole call.
  template <typename Request>
  using ByShard = std::vector<std::pair<int32_t, Request>>;

  virtual ~FeedPeers() = default;

  virtual absl::StatusOr<std::vector<v1::GetPostCountsResponse>> GetPostCounts(
      const ByShard<v1::GetPostCountsRequest>& calls, absl::Time deadline) = 0;
  virtual absl::StatusOr<std::vector<v1::PullPostsResponse>> PullPosts(
      const ByShard<v1::PullPostsRequest>& calls, absl::Time deadline) = 0;
  virtual absl::Status DeliverTimelineEntries(
      const ByShard<v1::DeliverTimelineEntriesRequest>& calls, absl::Time deadline) = 0;
  virtual absl::Status RemoveTimelineEntries(const ByShard<v1::RemoveTimelineEntriesRequest>& calls,
                                             absl::Time deadline) = 0;
  virtual absl::StatusOr<std::vector<v1::GetGroupsResponse>> GetGroups(
      const ByShard<v1::GetGroupsRequest>& calls, absl::Time deadline) = 0;
  virtual absl::StatusOr<std::vector<v1::CountUserGroupsResponse>> CountUserGroups(
      const ByShard<v1::CountUserGroupsRequest>& calls, absl::Time deadline) = 0;
  virtual absl::StatusOr<std::vector<v1::GetInsightCountersResponse>> GetInsightCounters(
      const ByShard<v1::GetInsightCountersRequest>& calls, absl::Time deadline) = 0;
};

}  // namespace parley::feed
