#include "search/src/search_service.h"

#include "google/protobuf/util/time_util.h"
#include "parley/server/call.h"
#include "parley/status/status.h"

namespace parley::search {

using server::CallScope;
using server::Respond;
using status::ToGrpc;

#define PARLEY_AUTH(ctx, Kind)                     \
  CallScope scope(ctx);                            \
  auto caller = auth_->Authenticate##Kind(*(ctx)); \
  if (!caller.ok()) return ToGrpc(caller.status())

namespace {
Viewer ViewerOf(const auth::TokenClaims& claims) {
  return Viewer{.user_id = claims.user_id(), .org_id = claims.org_id()};
}
}  // namespace

grpc::Status SearchGrpcService::SearchPosts(grpc::ServerContext* ctx,
                                            const pb::SearchPostsRequest* req,
                                            pb::SearchPostsResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(index_->SearchPosts(ViewerOf(*caller), *req),
                 [&](pb::SearchPostsResponse r) { *resp = std::move(r); });
}

grpc::Status SearchGrpcService::SearchPeople(grpc::ServerContext* ctx,
                                             const pb::SearchPeopleRequest* req,
                                             pb::SearchPeopleResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(index_->SearchPeople(ViewerOf(*caller), *req),
                 [&](pb::SearchPeopleResponse r) { *resp = std::move(r); });
}

grpc::Status SearchGrpcService::SearchGroups(grpc::ServerContext* ctx,
                                             const pb::SearchGroupsRequest* req,
                                             pb::SearchGroupsResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(index_->SearchGroups(ViewerOf(*caller), *req),
                 [&](pb::SearchGroupsResponse r) { *resp = std::move(r); });
}

grpc::Status SearchGrpcService::Suggest(grpc::ServerContext* ctx, const pb::SuggestRequest* req,
                                        pb::SuggestResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(index_->Suggest(ViewerOf(*caller), *req),
                 [&](pb::SuggestResponse r) { *resp = std::move(r); });
}

grpc::Status SearchInternalGrpcService::ApplyEvents(grpc::ServerContext* ctx,
                                                    const pb::ApplyEventsRequest* req,
                                                    pb::ApplyEventsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(index_->Apply(req->batch()),
                 [&](uint64_t applied) { resp->set_applied_through_sequence(applied); });
}

grpc::Status SearchInternalGrpcService::Rebuild(grpc::ServerContext* ctx,
                                                const pb::RebuildRequest* /*req*/,
                                                pb::RebuildResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  const absl::Time start = absl::Now();
  return Respond(index_->Rebuild(sources_()), [&](RebuildCounts c) {
    resp->set_post_count(c.posts);
    resp->set_comment_count(c.comments);
    resp->set_person_count(c.people);
    resp->set_group_count(c.groups);
    *resp->mutable_duration() = google::protobuf::util::TimeUtil::NanosecondsToDuration(
        absl::ToInt64Nanoseconds(absl::Now() - start));
  });
}

}  // namespace parley::search
