// The other feed shards: one channel each, with stubs for their public API
// (requests forwarded to the shard that owns the data) and internal API
// (fan-out deliveries, pulls, counts), every call with a deadline.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "parley/auth/auth.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/shard/shard.h"

namespace parley::feed {

class Peers {
 public:
  // Connects (lazily) to every shard of `shards` except this one.
  Peers(const shard::ShardMap& shards, auth::ServiceCredential* credential,
        absl::Duration deadline = absl::Seconds(5));

  v1::FeedService::Stub* Public(int32_t shard) { return public_.at(shard).get(); }
  v1::FeedInternalService::Stub* Internal(int32_t shard) { return internal_.at(shard).get(); }
  // A context with the deadline and the service credential.
  std::unique_ptr<grpc::ClientContext> ServiceContext();
  absl::Duration deadline() const { return deadline_; }

 private:
  auth::ServiceCredential* const credential_;
  const absl::Duration deadline_;
  std::vector<std::unique_ptr<v1::FeedService::Stub>> public_;
  std::vector<std::unique_ptr<v1::FeedInternalService::Stub>> internal_;
};

}  // namespace parley::feed
