// gRPC adapters for Feed: authenticate, call the logic, convert the status.
#pragma once

#include <optional>

#include "feed/src/feed.h"
#include "feed/src/peers.h"
#include "parley/auth/auth.h"
#include "parley/feed/v1/feed.grpc.pb.h"

namespace parley::feed {

// Every shard accepts every public call: a call about data homed on another
// shard (the caller's timeline, graph and groups list live on the caller's
// shard; a group, its membership and its posts on the group's; any other post
// and its comments and likes on its author's) is forwarded there once, with
// the caller's token.
class FeedGrpcService final : public pb::FeedService::Service {
 public:
  FeedGrpcService(Feed* feed, auth::Authenticator* auth, GrpcFeedPeers* peers)
      : feed_(feed), auth_(auth), peers_(peers) {}

#define PARLEY_FEED_RPC(Name)                                               \
  grpc::Status Name(grpc::ServerContext* ctx, const pb::Name##Request* req, \
                    pb::Name##Response* resp) override;
  PARLEY_FEED_RPC(FollowUser)
  PARLEY_FEED_RPC(UnfollowUser)
  PARLEY_FEED_RPC(ListFollowers)
  PARLEY_FEED_RPC(ListFollowing)
  PARLEY_FEED_RPC(BlockUser)
  PARLEY_FEED_RPC(UnblockUser)
  PARLEY_FEED_RPC(MuteUser)
  PARLEY_FEED_RPC(UnmuteUser)
  PARLEY_FEED_RPC(CreatePost)
  PARLEY_FEED_RPC(GetPost)
  PARLEY_FEED_RPC(DeletePost)
  PARLEY_FEED_RPC(GetThread)
  PARLEY_FEED_RPC(ListReplies)
  PARLEY_FEED_RPC(CreateComment)
  PARLEY_FEED_RPC(DeleteComment)
  PARLEY_FEED_RPC(LikePost)
  PARLEY_FEED_RPC(UnlikePost)
  PARLEY_FEED_RPC(LikeComment)
  PARLEY_FEED_RPC(UnlikeComment)
  PARLEY_FEED_RPC(ListHomeTimeline)
  PARLEY_FEED_RPC(ListUserTimeline)
  PARLEY_FEED_RPC(ListGroupTimeline)
  PARLEY_FEED_RPC(MuteGroup)
  PARLEY_FEED_RPC(UnmuteGroup)
  PARLEY_FEED_RPC(CreateGroup)
  PARLEY_FEED_RPC(GetGroup)
  PARLEY_FEED_RPC(UpdateGroup)
  PARLEY_FEED_RPC(ArchiveGroup)
  PARLEY_FEED_RPC(JoinGroup)
  PARLEY_FEED_RPC(RequestToJoinGroup)
  PARLEY_FEED_RPC(ApproveJoinRequest)
  PARLEY_FEED_RPC(DeclineJoinRequest)
  PARLEY_FEED_RPC(InviteToGroup)
  PARLEY_FEED_RPC(LeaveGroup)
  PARLEY_FEED_RPC(RemoveGroupMember)
  PARLEY_FEED_RPC(PromoteGroupMember)
  PARLEY_FEED_RPC(ListGroupMembers)
  PARLEY_FEED_RPC(ListMyGroups)
  PARLEY_FEED_RPC(AcceptAnswer)
  PARLEY_FEED_RPC(ListMyOpenQuestions)
  PARLEY_FEED_RPC(ListGroupUnansweredQuestions)
  PARLEY_FEED_RPC(GetParticipationInsights)
#undef PARLEY_FEED_RPC

 private:
  template <typename Req, typename Resp>
  using Method = grpc::Status (pb::FeedService::Stub::*)(grpc::ClientContext*, const Req&, Resp*);
  // Forwards the call to `shard` unless it is this one (then nullopt).
  template <typename Req, typename Resp>
  std::optional<grpc::Status> Route(grpc::ServerContext* ctx, int32_t shard, const Req& req,
                                    Resp* resp, Method<Req, Resp> method);
  int32_t UserShard(uint64_t user_id) const;
  int32_t IdShard(uint64_t id) const;

  Feed* const feed_;
  auth::Authenticator* const auth_;
  GrpcFeedPeers* const peers_;
};

class FeedInternalGrpcService final : public pb::FeedInternalService::Service {
 public:
  FeedInternalGrpcService(Feed* feed, auth::Authenticator* auth) : feed_(feed), auth_(auth) {}
  grpc::Status DeliverTimelineEntries(grpc::ServerContext* ctx,
                                      const pb::DeliverTimelineEntriesRequest* req,
                                      pb::DeliverTimelineEntriesResponse* resp) override;
  grpc::Status RemoveTimelineEntries(grpc::ServerContext* ctx,
                                     const pb::RemoveTimelineEntriesRequest* req,
                                     pb::RemoveTimelineEntriesResponse* resp) override;
  grpc::Status ApplyEvents(grpc::ServerContext* ctx, const pb::ApplyEventsRequest* req,
                           pb::ApplyEventsResponse* resp) override;
  grpc::Status PullPosts(grpc::ServerContext* ctx, const pb::PullPostsRequest* req,
                         pb::PullPostsResponse* resp) override;
  grpc::Status GetPostCounts(grpc::ServerContext* ctx, const pb::GetPostCountsRequest* req,
                             pb::GetPostCountsResponse* resp) override;
  grpc::Status GetGroups(grpc::ServerContext* ctx, const pb::GetGroupsRequest* req,
                         pb::GetGroupsResponse* resp) override;
  grpc::Status CountUserGroups(grpc::ServerContext* ctx, const pb::CountUserGroupsRequest* req,
                               pb::CountUserGroupsResponse* resp) override;
  grpc::Status GetInsightCounters(grpc::ServerContext* ctx,
                                  const pb::GetInsightCountersRequest* req,
                                  pb::GetInsightCountersResponse* resp) override;
  // This shard's own state (each shard answers for itself; never forwarded).
  grpc::Status ListSnapshotEvents(grpc::ServerContext* ctx,
                                  const pb::ListSnapshotEventsRequest* req,
                                  pb::ListSnapshotEventsResponse* resp) override;

 private:
  Feed* const feed_;
  auth::Authenticator* const auth_;
};

}  // namespace parley::feed
