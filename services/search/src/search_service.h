// gRPC adapters for search: authenticate, call the index, convert the status.
#pragma once

#include <vector>

#include "parley/auth/auth.h"
#include "parley/search/v1/search.grpc.pb.h"
#include "search/src/index.h"

namespace parley::search {

class SearchGrpcService final : public pb::SearchService::Service {
 public:
  SearchGrpcService(Index* index, auth::Authenticator* auth) : index_(index), auth_(auth) {}

#define PARLEY_SEARCH_RPC(Name)                                             \
  grpc::Status Name(grpc::ServerContext* ctx, const pb::Name##Request* req, \
                    pb::Name##Response* resp) override;
  PARLEY_SEARCH_RPC(SearchPosts)
  PARLEY_SEARCH_RPC(SearchPeople)
  PARLEY_SEARCH_RPC(SearchGroups)
  PARLEY_SEARCH_RPC(Suggest)
#undef PARLEY_SEARCH_RPC

 private:
  Index* const index_;
  auth::Authenticator* const auth_;
};

class SearchInternalGrpcService final : public pb::SearchInternalService::Service {
 public:
  // `sources` builds the snapshot readers of every producer (identity and each
  // feed shard) for Rebuild.
  SearchInternalGrpcService(Index* index, auth::Authenticator* auth,
                            std::function<std::vector<SnapshotSource>()> sources)
      : index_(index), auth_(auth), sources_(std::move(sources)) {}

  grpc::Status ApplyEvents(grpc::ServerContext* ctx, const pb::ApplyEventsRequest* req,
                           pb::ApplyEventsResponse* resp) override;
  grpc::Status Rebuild(grpc::ServerContext* ctx, const pb::RebuildRequest* req,
                       pb::RebuildResponse* resp) override;

 private:
  Index* const index_;
  auth::Authenticator* const auth_;
  std::function<std::vector<SnapshotSource>()> sources_;
};

}  // namespace parley::search
