#include "feed/src/peers.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parley/status/status.h"
#include "parley/sync/mutex.h"

namespace parley::feed {

GrpcFeedPeers::GrpcFeedPeers(const shard::ShardMap& shards, auth::ServiceCredential* credential)
    : shard_count_(shards.count()), self_(shards.self()), credential_(credential) {
  public_.resize(shards.count());
  internal_.resize(shards.count());
  for (int32_t i = 0; i < shards.count(); ++i) {
    if (i == shards.self()) continue;
    auto channel = grpc::CreateChannel(shards.address(i), grpc::InsecureChannelCredentials());
    public_[i] = v1::FeedService::NewStub(channel);
    internal_[i] = v1::FeedInternalService::NewStub(channel);
  }
}

namespace {

// Counts outstanding calls; Wait returns when every one has called Done.
class Pending {
 public:
  explicit Pending(size_t n) : left_(n) {}
  void Done() {
    sync::MutexLock lock(&mu_);
    if (--left_ == 0) cv_.SignalAll();
  }
  void Wait() {
    sync::MutexLock lock(&mu_);
    while (left_ > 0) cv_.Wait(&mu_);
  }

 private:
  sync::Mutex mu_;
  sync::CondVar cv_;
  size_t left_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

template <typename Request, typename Response, typename AsyncMethod>
absl::StatusOr<std::vector<Response>> GrpcFeedPeers::CallAll(const ByShard<Request>& calls,
                                                             absl::Time deadline,
                                                             AsyncMethod method) {
  for (const auto& [shard, request] : calls) {
    if (shard < 0 || shard >= shard_count_ || shard == self_) {
      return absl::InternalError(absl::StrCat("no peer feed shard ", shard));
    }
  }
  std::vector<Response> responses(calls.size());
  std::vector<grpc::Status> statuses(calls.size());
  std::vector<grpc::ClientContext> contexts(calls.size());
  Pending pending(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    contexts[i].set_deadline(absl::ToChronoTime(deadline));
    credential_->Attach(&contexts[i]);
    method(internal_[calls[i].first]->async(), &contexts[i], &calls[i].second, &responses[i],
           [&, i](grpc::Status s) {
             statuses[i] = std::move(s);
             pending.Done();
           });
  }
  pending.Wait();
  for (const grpc::Status& s : statuses) {
    if (!s.ok()) return status::FromGrpc(s);
  }
  return responses;
}

// Starts one call of the internal service's `Name` (the callback overload).
#define PARLEY_PEER_METHOD(Name)                                          \
  [](auto* async, grpc::ClientContext* ctx, const v1::Name##Request* req, \
     v1::Name##Response* resp,                                            \
     std::function<void(grpc::Status)> done) { async->Name(ctx, req, resp, std::move(done)); }

absl::StatusOr<std::vector<v1::GetPostCountsResponse>> GrpcFeedPeers::GetPostCounts(
    const ByShard<v1::GetPostCountsRequest>& calls, absl::Time deadline) {
  return CallAll<v1::GetPostCountsRequest, v1::GetPostCountsResponse>(
      calls, deadline, PARLEY_PEER_METHOD(GetPostCounts));
}

absl::StatusOr<std::vector<v1::PullPostsResponse>> GrpcFeedPeers::PullPosts(
    const ByShard<v1::PullPostsRequest>& calls, absl::Time deadline) {
  return CallAll<v1::PullPostsRequest, v1::PullPostsResponse>(calls, deadline,
                                                              PARLEY_PEER_METHOD(PullPosts));
}

absl::Status GrpcFeedPeers::DeliverTimelineEntries(
    const ByShard<v1::DeliverTimelineEntriesRequest>& calls, absl::Time deadline) {
  return CallAll<v1::DeliverTimelineEntriesRequest, v1::DeliverTimelineEntriesResponse>(
             calls, deadline, PARLEY_PEER_METHOD(DeliverTimelineEntries))
      .status();
}

absl::Status GrpcFeedPeers::RemoveTimelineEntries(
    const ByShard<v1::RemoveTimelineEntriesRequest>& calls, absl::Time deadline) {
  return CallAll<v1::RemoveTimelineEntriesRequest, v1::RemoveTimelineEntriesResponse>(
             calls, deadline, PARLEY_PEER_METHOD(RemoveTimelineEntries))
      .status();
}

absl::StatusOr<std::vector<v1::GetGroupsResponse>> GrpcFeedPeers::GetGroups(
    const ByShard<v1::GetGroupsRequest>& calls, absl::Time deadline) {
  return CallAll<v1::GetGroupsRequest, v1::GetGroupsResponse>(calls, deadline,
                                                              PARLEY_PEER_METHOD(GetGroups));
}

absl::StatusOr<std::vector<v1::CountUserGroupsResponse>> GrpcFeedPeers::CountUserGroups(
    const ByShard<v1::CountUserGroupsRequest>& calls, absl::Time deadline) {
  return CallAll<v1::CountUserGroupsRequest, v1::CountUserGroupsResponse>(
      calls, deadline, PARLEY_PEER_METHOD(CountUserGroups));
}

absl::StatusOr<std::vector<v1::GetInsightCountersResponse>> GrpcFeedPeers::GetInsightCounters(
    const ByShard<v1::GetInsightCountersRequest>& calls, absl::Time deadline) {
  return CallAll<v1::GetInsightCountersRequest, v1::GetInsightCountersResponse>(
      calls, deadline, PARLEY_PEER_METHOD(GetInsightCounters));
}

#undef PARLEY_PEER_METHOD

}  // namespace parley::feed
