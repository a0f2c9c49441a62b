#include "feed/src/peers.h"

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace parley::feed {

Peers::Peers(const shard::ShardMap& shards, auth::ServiceCredential* credential,
             absl::Duration deadline)
    : credential_(credential), deadline_(deadline) {
  public_.resize(shards.count());
  internal_.resize(shards.count());
  for (int32_t i = 0; i < shards.count(); ++i) {
    if (i == shards.self()) continue;
    auto channel = grpc::CreateChannel(shards.address(i), grpc::InsecureChannelCredentials());
    public_[i] = v1::FeedService::NewStub(channel);
    internal_[i] = v1::FeedInternalService::NewStub(channel);
  }
}

std::unique_ptr<grpc::ClientContext> Peers::ServiceContext() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline_));
  credential_->Attach(ctx.get());
  return ctx;
}

}  // namespace parley::feed
