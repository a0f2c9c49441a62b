// Helpers every service's gRPC handlers share.
#pragma once

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "parley/log/log.h"
#include "parley/status/status.h"

namespace parley::server {

// Sets the log request id of the handler's thread from the call's
// x-request-id metadata for the lifetime of the handler.
class CallScope {
 public:
  explicit CallScope(const grpc::ServerContext* ctx) : rid_(RequestId(ctx)) {}

 private:
  static std::string RequestId(const grpc::ServerContext* ctx) {
    auto it = ctx->client_metadata().find("x-request-id");
    return it == ctx->client_metadata().end() ? ""
                                              : std::string(it->second.data(), it->second.size());
  }
  log::ScopedRequestId rid_;
};

// The gRPC status of `result`; on success `fill` moves the value into the response.
template <typename T, typename Fn>
grpc::Status Respond(absl::StatusOr<T> result, Fn&& fill) {
  if (!result.ok()) return status::ToGrpc(result.status());
  fill(*std::move(result));
  return grpc::Status::OK;
}

}  // namespace parley::server
