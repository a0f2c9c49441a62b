// FeedPeers over gRPC: one channel per other shard, with stubs for the public
// API (requests forwarded to the shard that owns the data) and the internal
// API. Calls to several shards go out at once (gRPC's callback API) and are
// awaited together, each with the caller's deadline and the service credential.
#pragma once

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "feed/src/feed_peers.h"
#include "parley/auth/auth.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/shard/shard.h"

namespace parley::feed {

class GrpcFeedPeers final : public FeedPeers {
 public:
  // Connects (lazily) to every shard of `shards` except this one.
  GrpcFeedPeers(const shard::ShardMap& shards, auth::ServiceCredential* credential);

  // For the adapter's forwarding of public calls.
  v1::FeedService::Stub* Public(int32_t shard) { return public_.at(shard).get(); }

  absl::StatusOr<std::vector<v1::GetPostCountsResponse>> GetPostCounts(
      const ByShard<v1::GetPostCountsRequest>& calls, absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::PullPostsResponse>> PullPosts(
      const ByShard<v1::PullPostsRequest>& calls, absl::Time deadline) override;
  absl::Status DeliverTimelineEntries(const ByShard<v1::DeliverTimelineEntriesRequest>& calls,
                                      absl::Time deadline) override;
  absl::Status RemoveTimelineEntries(const ByShard<v1::RemoveTimelineEntriesRequest>& calls,
                                     absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::GetGroupsResponse>> GetGroups(
      const ByShard<v1::GetGroupsRequest>& calls, absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::CountUserGroupsResponse>> CountUserGroups(
      const ByShard<v1::CountUserGroupsRequest>& calls, absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::GetInsightCountersResponse>> GetInsightCounters(
      const ByShard<v1::GetInsightCountersRequest>& calls, absl::Time deadline) override;

 private:
  template <typename Request, typename Response, typename AsyncMethod>
  absl::StatusOr<std::vector<Response>> CallAll(const ByShard<Request>& calls, absl::Time deadline,
                                                AsyncMethod method);

  const int32_t shard_count_;
  const int32_t self_;
  auth::ServiceCredential* const credential_;
  std::vector<std::unique_ptr<v1::FeedService::Stub>> public_;
  std::vector<std::unique_ptr<v1::FeedInternalService::Stub>> internal_;
};

}  // namespace parley::feed
