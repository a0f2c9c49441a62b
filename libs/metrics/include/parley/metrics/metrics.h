// RPC metrics for every server: parley_rpc_requests_total{service,method,code}
// and parley_rpc_duration_seconds{service,method}, recorded by a gRPC server
// interceptor into a registry the server owns (no global registry).
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace parley::metrics {

class RpcMetrics {
 public:
  explicit RpcMetrics(prometheus::Registry& registry);
  // `full_method` is gRPC's "/package.Service/Method".
  void Record(absl::string_view full_method, grpc::StatusCode code, double seconds);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
};

// Splits "/package.Service/Method" into {"package.Service", "Method"}.
std::pair<std::string, std::string> SplitMethod(absl::string_view full_method);
// "OK", "INVALID_ARGUMENT", ... (the canonical names).
const char* CodeName(grpc::StatusCode code);

// Interceptor factory for grpc::ServerBuilder::experimental().SetInterceptorCreators.
// Records metrics, and tags each call with a request id ("x-request-id" from the
// client, or a fresh one) that is echoed in the response's initial metadata.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeServerInterceptorFactory(
    std::shared_ptr<RpcMetrics> metrics);

}  // namespace parley::metrics
