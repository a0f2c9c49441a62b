#include "parley/server/server.h"

#include <signal.h>

#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "parley/log/log.h"
#include "parley/metrics/metrics.h"
#include "prometheus/exposer.h"

namespace parley::server {

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, const std::vector<HostedService>& services,
    std::shared_ptr<prometheus::Registry> registry) {
  std::unique_ptr<Server> server(new Server());
  server->options_ = options;
  server->registry_ = registry;

  if (!options.metrics_addr.empty()) {
    try {
      server->exposer_ = std::make_unique<prometheus::Exposer>(options.metrics_addr);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", options.metrics_addr, ": ", e.what()));
    }
    server->exposer_->RegisterCollectable(registry);
    auto ports = server->exposer_->GetListeningPorts();
    server->metrics_port_ = ports.empty() ? 0 : ports.front();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_addr, grpc::InsecureServerCredentials(),
                           &server->grpc_port_);
  // gRPC sets SO_REUSEPORT by default: a second process would silently share the
  // port (and its data) instead of failing. One listener per port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  for (const auto& hosted : services) builder.RegisterService(hosted.service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(
      metrics::MakeServerInterceptorFactory(std::make_shared<metrics::RpcMetrics>(*registry)));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", options.grpc_addr,
                                               " (address in use or not local?)"));
  }
  auto* health = server->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  for (const auto& hosted : services) health->SetServingStatus(hosted.full_name, true);
  log::Info("serving", {{"server", options.name},
                        {"grpc_port", server->grpc_port_},
                        {"metrics_port", server->metrics_port_}});
  return server;
}

std::shared_ptr<grpc::Channel> Server::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_message_bytes);
  args.SetMaxSendMessageSize(options_.max_message_bytes);
  return server_->InProcessChannel(args);
}

void Server::Drain() {
  if (drained_ || !server_) return;
  drained_ = true;
  log::Info("draining", {{"server", options_.name},
                         {"timeout_s", absl::ToDoubleSeconds(options_.drain_timeout)}});
  server_->GetHealthCheckService()->Shutdown();  // every service reports NOT_SERVING
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoNanoseconds(options_.drain_timeout));
  server_->Wait();
  log::Info("drained", {{"server", options_.name}});
}

Server::~Server() { Drain(); }

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

}  // namespace parley::server
