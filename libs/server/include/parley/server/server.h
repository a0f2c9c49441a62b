// The service chassis: every Parley process builds its gRPC server here, so
// each gets health (per service name), reflection, RPC metrics, request ids,
// a message size limit, a Prometheus endpoint and graceful drain on SIGTERM.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/server.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}

namespace parley::server {

inline constexpr int kDefaultMaxMessageBytes = 4 << 20;

struct ServerOptions {
  std::string name = "parley";                  // process name for logs
  std::string grpc_addr = "127.0.0.1:7400";     // port 0 picks a free port
  std::string metrics_addr = "127.0.0.1:9400";  // empty: no /metrics endpoint
  int max_message_bytes = kDefaultMaxMessageBytes;
  // How long Drain() lets in-flight calls finish before cancelling them.
  absl::Duration drain_timeout = absl::Seconds(20);
};

struct HostedService {
  grpc::Service* service;  // not owned; outlives the server
  std::string full_name;   // e.g. "parley.identity.v1.IdentityService" (for health)
};

class Server {
 public:
  // Binds, starts serving and marks every hosted service SERVING. Errors name
  // the address that could not be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, const std::vector<HostedService>& services,
      std::shared_ptr<prometheus::Registry> registry);
  ~Server();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  // A channel to this server that bypasses the network (the all-in-one binary
  // wires its services together with these).
  std::shared_ptr<grpc::Channel> InProcessChannel();

  // Health goes NOT_SERVING for every service, new calls are refused, in-flight
  // calls get up to drain_timeout to finish, then the server stops. Idempotent.
  void Drain();

 private:
  Server() = default;
  ServerOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  bool drained_ = false;
};

// Call first in main, before any thread starts: blocks SIGTERM and SIGINT so
// that WaitForTerminationSignal() receives them instead of the default action.
void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace parley::server
