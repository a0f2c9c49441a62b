#include "feed/src/feed_service.h"

#include "parley/log/log.h"
#include "parley/status/status.h"

namespace parley::feed {
namespace {

using status::ToGrpc;

std::string RequestId(const grpc::ServerContext* ctx) {
  auto it = ctx->client_metadata().find("x-request-id");
  return it == ctx->client_metadata().end() ? ""
                                            : std::string(it->second.data(), it->second.size());
}

template <typename T, typename Fn>
grpc::Status Respond(absl::StatusOr<T> result, Fn&& fill) {
  if (!result.ok()) return ToGrpc(result.status());
  fill(*std::move(result));
  return grpc::Status::OK;
}

}  // namespace

#define PARLEY_AUTH(ctx, Kind)                     \
  log::ScopedRequestId scope(RequestId(ctx));      \
  auto caller = auth_->Authenticate##Kind(*(ctx)); \
  if (!caller.ok()) return ToGrpc(caller.status())

#define PARLEY_USER_STATUS_RPC(Name, call)                                                   \
  grpc::Status FeedGrpcService::Name(grpc::ServerContext* ctx, const pb::Name##Request* req, \
                                     pb::Name##Response*) {                                  \
    PARLEY_AUTH(ctx, User);                                                                  \
    return ToGrpc(call);                                                                     \
  }

PARLEY_USER_STATUS_RPC(FollowUser, feed_->Follow(*caller, req->user_id()))
PARLEY_USER_STATUS_RPC(UnfollowUser, feed_->Unfollow(*caller, req->user_id()))
PARLEY_USER_STATUS_RPC(BlockUser, feed_->Block(*caller, req->user_id()))
PARLEY_USER_STATUS_RPC(UnblockUser, feed_->Unblock(*caller, req->user_id()))
PARLEY_USER_STATUS_RPC(MuteUser, feed_->Mute(*caller, req->user_id()))
PARLEY_USER_STATUS_RPC(UnmuteUser, feed_->Unmute(*caller, req->user_id()))
PARLEY_USER_STATUS_RPC(DeletePost, feed_->DeletePost(*caller, req->post_id()))
PARLEY_USER_STATUS_RPC(DeleteComment, feed_->DeleteComment(*caller, req->comment_id()))
PARLEY_USER_STATUS_RPC(LikePost, feed_->LikePost(*caller, req->post_id(), true))
PARLEY_USER_STATUS_RPC(UnlikePost, feed_->LikePost(*caller, req->post_id(), false))
PARLEY_USER_STATUS_RPC(LikeComment, feed_->LikeComment(*caller, req->comment_id(), true))
PARLEY_USER_STATUS_RPC(UnlikeComment, feed_->LikeComment(*caller, req->comment_id(), false))
#undef PARLEY_USER_STATUS_RPC

// RPCs whose response is what the logic returns.
#define PARLEY_USER_WHOLE_RPC(Name, call)                                                    \
  grpc::Status FeedGrpcService::Name(grpc::ServerContext* ctx, const pb::Name##Request* req, \
                                     pb::Name##Response* resp) {                             \
    PARLEY_AUTH(ctx, User);                                                                  \
    return Respond(call, [&](pb::Name##Response r) { *resp = std::move(r); });               \
  }

PARLEY_USER_WHOLE_RPC(ListFollowers, feed_->ListFollowers(*caller, *req))
PARLEY_USER_WHOLE_RPC(ListFollowing, feed_->ListFollowing(*caller, *req))
PARLEY_USER_WHOLE_RPC(GetThread, feed_->GetThread(*caller, *req))
PARLEY_USER_WHOLE_RPC(ListReplies, feed_->ListReplies(*caller, *req))
PARLEY_USER_WHOLE_RPC(ListHomeTimeline, feed_->ListHomeTimeline(*caller, *req))
PARLEY_USER_WHOLE_RPC(ListUserTimeline, feed_->ListUserTimeline(*caller, *req))
#undef PARLEY_USER_WHOLE_RPC

grpc::Status FeedGrpcService::CreatePost(grpc::ServerContext* ctx, const pb::CreatePostRequest* req,
                                         pb::CreatePostResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(feed_->CreatePost(*caller, *req),
                 [&](pb::Post p) { *resp->mutable_post() = std::move(p); });
}

grpc::Status FeedGrpcService::GetPost(grpc::ServerContext* ctx, const pb::GetPostRequest* req,
                                      pb::GetPostResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(feed_->GetPost(*caller, req->post_id()),
                 [&](pb::Post p) { *resp->mutable_post() = std::move(p); });
}

grpc::Status FeedGrpcService::CreateComment(grpc::ServerContext* ctx,
                                            const pb::CreateCommentRequest* req,
                                            pb::CreateCommentResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(feed_->CreateComment(*caller, *req),
                 [&](pb::Comment c) { *resp->mutable_comment() = std::move(c); });
}

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

}  // namespace parley::feed
