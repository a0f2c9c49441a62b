#include "feed/src/feed_service.h"

#include "parley/log/log.h"
#include "parley/server/call.h"
#include "parley/server/forward.h"
#include "parley/status/status.h"

namespace parley::feed {
namespace {

using server::CallScope;
using server::Respond;
using status::ToGrpc;

}  // namespace

// Authenticates the call; `caller` is the claims and `who` the claims with the
// call's deadline, for the logic.
#define PARLEY_AUTH(ctx, Kind)                      \
  CallScope scope(ctx);                             \
  auto caller = auth_->Authenticate##Kind(*(ctx));  \
  if (!caller.ok()) return ToGrpc(caller.status()); \
  const Caller who(*caller, absl::FromChrono((ctx)->deadline()))

template <typename Req, typename Resp>
std::optional<grpc::Status> FeedGrpcService::Route(grpc::ServerContext* ctx, int32_t shard,
                                                   const Req& req, Resp* resp,
                                                   Method<Req, Resp> method) {
  const auto& shards = feed_->options().shards;
  if (shard == shards.self()) return std::nullopt;
  if (shard < 0 || shard >= shards.count() || peers_ == nullptr) {
    return grpc::Status(grpc::NOT_FOUND, "no such record on any shard");
  }
  if (server::WasForwarded(*ctx)) {
    return grpc::Status(grpc::FAILED_PRECONDITION,
                        "forwarded to the wrong feed shard: shard maps disagree");
  }
  auto out = server::ForwardContext(*ctx, kPeerTimeout);
  return (peers_->Public(shard)->*method)(out.get(), req, resp);
}

int32_t FeedGrpcService::UserShard(uint64_t user_id) const {
  return feed_->options().shards.ShardOf(user_id);
}

// Ids of posts and comments carry their home shard; 0 stays here (and fails validation).
int32_t FeedGrpcService::IdShard(uint64_t id) const {
  return id == 0 ? feed_->options().shards.self() : feed_->ShardOfId(id);
}

#define PARLEY_ROUTE(Name, shard)                                                          \
  if (auto routed = Route(ctx, shard, *req, resp, &pb::FeedService::Stub::Name); routed) { \
    return *routed;                                                                        \
  }

#define PARLEY_USER_STATUS_RPC(Name, shard, call)                                            \
  grpc::Status FeedGrpcService::Name(grpc::ServerContext* ctx, const pb::Name##Request* req, \
                                     pb::Name##Response* resp) {                             \
    PARLEY_AUTH(ctx, User);                                                                  \
    PARLEY_ROUTE(Name, shard)                                                                \
    return ToGrpc(call);                                                                     \
  }

#define CALLER UserShard(caller->user_id())
PARLEY_USER_STATUS_RPC(FollowUser, CALLER, feed_->Follow(who, req->user_id()))
PARLEY_USER_STATUS_RPC(UnfollowUser, CALLER, feed_->Unfollow(who, req->user_id()))
PARLEY_USER_STATUS_RPC(BlockUser, CALLER, feed_->Block(who, req->user_id()))
PARLEY_USER_STATUS_RPC(UnblockUser, CALLER, feed_->Unblock(who, req->user_id()))
PARLEY_USER_STATUS_RPC(MuteUser, CALLER, feed_->Mute(who, req->user_id()))
PARLEY_USER_STATUS_RPC(UnmuteUser, CALLER, feed_->Unmute(who, req->user_id()))
PARLEY_USER_STATUS_RPC(DeletePost, IdShard(req->post_id()), feed_->DeletePost(who, req->post_id()))
PARLEY_USER_STATUS_RPC(DeleteComment, IdShard(req->comment_id()),
                       feed_->DeleteComment(who, req->comment_id()))
PARLEY_USER_STATUS_RPC(LikePost, IdShard(req->post_id()),
                       feed_->LikePost(who, req->post_id(), true))
PARLEY_USER_STATUS_RPC(UnlikePost, IdShard(req->post_id()),
                       feed_->LikePost(who, req->post_id(), false))
PARLEY_USER_STATUS_RPC(LikeComment, IdShard(req->comment_id()),
                       feed_->LikeComment(who, req->comment_id(), true))
PARLEY_USER_STATUS_RPC(UnlikeComment, IdShard(req->comment_id()),
                       feed_->LikeComment(who, req->comment_id(), false))
PARLEY_USER_STATUS_RPC(MuteGroup, CALLER, feed_->MuteGroup(who, req->group_id(), true))
PARLEY_USER_STATUS_RPC(UnmuteGroup, CALLER, feed_->MuteGroup(who, req->group_id(), false))
#define GROUP IdShard(req->group_id())
PARLEY_USER_STATUS_RPC(RequestToJoinGroup, GROUP, feed_->RequestToJoinGroup(who, req->group_id()))
PARLEY_USER_STATUS_RPC(ApproveJoinRequest, GROUP,
                       feed_->AnswerJoinRequest(who, req->group_id(), req->user_id(), true))
PARLEY_USER_STATUS_RPC(DeclineJoinRequest, GROUP,
                       feed_->AnswerJoinRequest(who, req->group_id(), req->user_id(), false))
PARLEY_USER_STATUS_RPC(InviteToGroup, GROUP,
                       feed_->InviteToGroup(who, req->group_id(), req->user_id()))
PARLEY_USER_STATUS_RPC(LeaveGroup, GROUP, feed_->LeaveGroup(who, req->group_id()))
PARLEY_USER_STATUS_RPC(RemoveGroupMember, GROUP,
                       feed_->RemoveGroupMember(who, req->group_id(), req->user_id()))
PARLEY_USER_STATUS_RPC(PromoteGroupMember, GROUP,
                       feed_->PromoteGroupMember(who, req->group_id(), req->user_id()))
#undef PARLEY_USER_STATUS_RPC

// RPCs whose response is what the logic returns.
#define PARLEY_USER_WHOLE_RPC(Name, shard, call)                                             \
  grpc::Status FeedGrpcService::Name(grpc::ServerContext* ctx, const pb::Name##Request* req, \
                                     pb::Name##Response* resp) {                             \
    PARLEY_AUTH(ctx, User);                                                                  \
    PARLEY_ROUTE(Name, shard)                                                                \
    return Respond(call, [&](pb::Name##Response r) { *resp = std::move(r); });               \
  }

#define SUBJECT UserShard(req->user_id() != 0 ? req->user_id() : caller->user_id())
PARLEY_USER_WHOLE_RPC(ListFollowers, SUBJECT, feed_->ListFollowers(who, *req))
PARLEY_USER_WHOLE_RPC(ListFollowing, SUBJECT, feed_->ListFollowing(who, *req))
PARLEY_USER_WHOLE_RPC(ListUserTimeline, SUBJECT, feed_->ListUserTimeline(who, *req))
PARLEY_USER_WHOLE_RPC(GetThread, IdShard(req->post_id()), feed_->GetThread(who, *req))
PARLEY_USER_WHOLE_RPC(ListReplies, IdShard(req->comment_id()), feed_->ListReplies(who, *req))
PARLEY_USER_WHOLE_RPC(ListHomeTimeline, CALLER, feed_->ListHomeTimeline(who, *req))
PARLEY_USER_WHOLE_RPC(ListGroupTimeline, GROUP, feed_->ListGroupTimeline(who, *req))
PARLEY_USER_WHOLE_RPC(ListGroupMembers, GROUP, feed_->ListGroupMembers(who, *req))
PARLEY_USER_WHOLE_RPC(ListMyGroups, CALLER, feed_->ListMyGroups(who, *req))
PARLEY_USER_WHOLE_RPC(ListMyOpenQuestions, CALLER, feed_->ListMyOpenQuestions(who, *req))
PARLEY_USER_WHOLE_RPC(ListGroupUnansweredQuestions, GROUP,
                      feed_->ListGroupUnansweredQuestions(who, *req))
#undef SUBJECT
#undef PARLEY_USER_WHOLE_RPC

// RPCs answering with one message in a field of the response.
#define PARLEY_USER_FIELD_RPC(Name, shard, call, field)                                      \
  grpc::Status FeedGrpcService::Name(grpc::ServerContext* ctx, const pb::Name##Request* req, \
                                     pb::Name##Response* resp) {                             \
    PARLEY_AUTH(ctx, User);                                                                  \
    PARLEY_ROUTE(Name, shard)                                                                \
    return Respond(call, [&](auto v) { *resp->mutable_##field() = std::move(v); });          \
  }
PARLEY_USER_FIELD_RPC(CreateGroup, CALLER, feed_->CreateGroup(who, *req), group)
PARLEY_USER_FIELD_RPC(GetGroup, GROUP, feed_->GetGroup(who, req->group_id()), group)
PARLEY_USER_FIELD_RPC(UpdateGroup, IdShard(req->group().id()), feed_->UpdateGroup(who, *req), group)
PARLEY_USER_FIELD_RPC(ArchiveGroup, GROUP, feed_->ArchiveGroup(who, req->group_id()), group)
PARLEY_USER_FIELD_RPC(JoinGroup, GROUP, feed_->JoinGroup(who, req->group_id()), group)
PARLEY_USER_FIELD_RPC(AcceptAnswer, IdShard(req->post_id()), feed_->AcceptAnswer(who, *req), post)
// Org insights from any shard (each adds up all shards); a group's on its shard.
PARLEY_USER_FIELD_RPC(GetParticipationInsights, req->group_id() != 0 ? GROUP : CALLER,
                      feed_->GetParticipationInsights(who, *req), insights)
#undef PARLEY_USER_FIELD_RPC

grpc::Status FeedGrpcService::CreatePost(grpc::ServerContext* ctx, const pb::CreatePostRequest* req,
                                         pb::CreatePostResponse* resp) {
  PARLEY_AUTH(ctx, User);
  // A group post is homed on its group's shard.
  PARLEY_ROUTE(CreatePost, req->visibility() == common::v1::VISIBILITY_GROUP && req->group_id() != 0
                               ? GROUP
                               : CALLER)
  return Respond(feed_->CreatePost(who, *req),
                 [&](pb::Post p) { *resp->mutable_post() = std::move(p); });
}

grpc::Status FeedGrpcService::GetPost(grpc::ServerContext* ctx, const pb::GetPostRequest* req,
                                      pb::GetPostResponse* resp) {
  PARLEY_AUTH(ctx, User);
  PARLEY_ROUTE(GetPost, IdShard(req->post_id()))
  return Respond(feed_->GetPost(who, req->post_id()),
                 [&](pb::Post p) { *resp->mutable_post() = std::move(p); });
}

grpc::Status FeedGrpcService::CreateComment(grpc::ServerContext* ctx,
                                            const pb::CreateCommentRequest* req,
                                            pb::CreateCommentResponse* resp) {
  PARLEY_AUTH(ctx, User);
  PARLEY_ROUTE(CreateComment, IdShard(req->post_id()))
  return Respond(feed_->CreateComment(who, *req),
                 [&](pb::Comment c) { *resp->mutable_comment() = std::move(c); });
}

#undef GROUP

grpc::Status FeedInternalGrpcService::DeliverTimelineEntries(
    grpc::ServerContext* ctx, const pb::DeliverTimelineEntriesRequest* req,
    pb::DeliverTimelineEntriesResponse*) {
  PARLEY_AUTH(ctx, Service);
  return ToGrpc(feed_->DeliverTimelineEntries(*req));
}

grpc::Status FeedInternalGrpcService::RemoveTimelineEntries(
    grpc::ServerContext* ctx, const pb::RemoveTimelineEntriesRequest* req,
    pb::RemoveTimelineEntriesResponse*) {
  PARLEY_AUTH(ctx, Service);
  return ToGrpc(feed_->RemoveTimelineEntries(*req));
}

grpc::Status FeedInternalGrpcService::ApplyEvents(grpc::ServerContext* ctx,
                                                  const pb::ApplyEventsRequest* req,
                                                  pb::ApplyEventsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(feed_->ApplyEvents(*req),
                 [&](pb::ApplyEventsResponse r) { *resp = std::move(r); });
}

grpc::Status FeedInternalGrpcService::PullPosts(grpc::ServerContext* ctx,
                                                const pb::PullPostsRequest* req,
                                                pb::PullPostsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(feed_->PullPosts(*req), [&](pb::PullPostsResponse r) { *resp = std::move(r); });
}

grpc::Status FeedInternalGrpcService::GetGroups(grpc::ServerContext* ctx,
                                                const pb::GetGroupsRequest* req,
                                                pb::GetGroupsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(feed_->GetGroups(*req), [&](pb::GetGroupsResponse r) { *resp = std::move(r); });
}

grpc::Status FeedInternalGrpcService::CountUserGroups(grpc::ServerContext* ctx,
                                                      const pb::CountUserGroupsRequest* req,
                                                      pb::CountUserGroupsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(feed_->CountUserGroups(*req),
                 [&](pb::CountUserGroupsResponse r) { *resp = std::move(r); });
}

grpc::Status FeedInternalGrpcService::GetInsightCounters(grpc::ServerContext* ctx,
                                                         const pb::GetInsightCountersRequest* req,
                                                         pb::GetInsightCountersResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(feed_->GetInsightCounters(*req),
                 [&](pb::GetInsightCountersResponse r) { *resp = std::move(r); });
}

grpc::Status FeedInternalGrpcService::ListSnapshotEvents(grpc::ServerContext* ctx,
                                                         const pb::ListSnapshotEventsRequest* req,
                                                         pb::ListSnapshotEventsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(feed_->ListSnapshotEvents(*req),
                 [&](pb::ListSnapshotEventsResponse r) { *resp = std::move(r); });
}

grpc::Status FeedInternalGrpcService::GetPostCounts(grpc::ServerContext* ctx,
                                                    const pb::GetPostCountsRequest* req,
                                                    pb::GetPostCountsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(feed_->GetPostCounts(*req),
                 [&](pb::GetPostCountsResponse r) { *resp = std::move(r); });
}

}  // namespace parley::feed
