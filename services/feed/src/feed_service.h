// gRPC adapters for Feed: authenticate, call the logic, convert the status.
// RPCs of the communities issue (groups, questions, insights) and the
// multi-shard internals (PullPosts, GetPostCounts, ListSnapshotEvents) are not
// overridden, so they answer UNIMPLEMENTED.
#pragma once

#include "feed/src/feed.h"
#include "parley/auth/auth.h"
#include "parley/feed/v1/feed.grpc.pb.h"

namespace parley::feed {

class FeedGrpcService final : public pb::FeedService::Service {
 public:
  FeedGrpcService(Feed* feed, auth::Authenticator* auth) : feed_(feed), auth_(auth) {}

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
#undef PARLEY_FEED_RPC

 private:
  Feed* const feed_;
  auth::Authenticator* const auth_;
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

 private:
  Feed* const feed_;
  auth::Authenticator* const auth_;
};

}  // namespace parley::feed
