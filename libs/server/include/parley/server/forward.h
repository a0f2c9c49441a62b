// Forwarding a caller's request to the shard that owns the data: the new call
// carries the caller's token and request id, and a mark so that the receiving
// shard never forwards it again (two shards with different shard maps would
// otherwise bounce it between them).
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"

namespace parley::server {

inline constexpr char kForwardedHeader[] = "x-parley-forwarded";

inline bool WasForwarded(const grpc::ServerContext& in) {
  return in.client_metadata().count(kForwardedHeader) > 0;
}

// A context for forwarding `in`: the caller's authorization and request id,
// the forwarded mark, and the earlier of the caller's deadline and `max`.
inline std::unique_ptr<grpc::ClientContext> ForwardContext(const grpc::ServerContext& in,
                                                           absl::Duration max) {
  auto out = std::make_unique<grpc::ClientContext>();
  out->set_deadline(
      std::min(in.deadline(), std::chrono::system_clock::now() + absl::ToChronoNanoseconds(max)));
  for (const char* key : {"authorization", "x-request-id"}) {
    auto it = in.client_metadata().find(key);
    if (it != in.client_metadata().end()) {
      out->AddMetadata(key, std::string(it->second.data(), it->second.size()));
    }
  }
  out->AddMetadata(kForwardedHeader, "1");
  return out;
}

}  // namespace parley::server
