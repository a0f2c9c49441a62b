#include "parley/server/server.h"

#include <thread>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "parley/testing/testing.h"

namespace parley::server {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

// Health itself is the hosted service here: the chassis must not depend on any Parley service.
ServerOptions LocalOptions() {
  ServerOptions options;
  options.grpc_addr = "127.0.0.1:0";
  options.metrics_addr = "127.0.0.1:0";
  options.drain_timeout = absl::Seconds(5);
  return options;
}

HealthCheckResponse::ServingStatus Check(Health::Stub& stub, const std::string& service,
                                         grpc::StatusCode* code = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  grpc::Status s = stub.Check(&ctx, req, &resp);
  if (code) *code = s.error_code();
  return resp.status();
}

TEST(ServerTest, ServesHealthAndMetricsThenDrainsToNotServing) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto server = Server::Start(LocalOptions(), {}, registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->grpc_port(), 0);
  ASSERT_GT((*server)->metrics_port(), 0);

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = Health::NewStub(channel);
  EXPECT_EQ(Check(*stub, ""), HealthCheckResponse::SERVING);
  grpc::StatusCode code;
  Check(*stub, "no.such.Service", &code);
  EXPECT_EQ(code, grpc::NOT_FOUND);

  std::string metrics = testing::HttpGet((*server)->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("parley_rpc_requests_total{code=\"OK\",method=\"Check\","
                                 "service=\"grpc.health.v1.Health\"}"));
  EXPECT_THAT(metrics, HasSubstr("code=\"NOT_FOUND\""));
  EXPECT_THAT(metrics, HasSubstr("parley_rpc_duration_seconds_bucket"));

  // A watcher sees NOT_SERVING when the drain starts, before the server goes away.
  grpc::ClientContext watch_ctx;
  HealthCheckRequest watch_req;
  auto watch = stub->Watch(&watch_ctx, watch_req);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);
  std::thread drainer([&] { (*server)->Drain(); });
  bool saw_not_serving = false;
  while (watch->Read(&update)) {
    if (update.status() == HealthCheckResponse::NOT_SERVING) saw_not_serving = true;
  }
  drainer.join();
  EXPECT_TRUE(saw_not_serving);
}

TEST(ServerTest, InProcessChannelReachesTheServer) {
  auto server = Server::Start(LocalOptions(), {}, std::make_shared<prometheus::Registry>());
  ASSERT_TRUE(server.ok());
  auto stub = Health::NewStub((*server)->InProcessChannel());
  EXPECT_EQ(Check(*stub, ""), HealthCheckResponse::SERVING);
}

TEST(ServerTest, PortInUseFailsWithTheAddress) {
  auto first = Server::Start(LocalOptions(), {}, std::make_shared<prometheus::Registry>());
  ASSERT_TRUE(first.ok());
  ServerOptions taken = LocalOptions();
  taken.grpc_addr = "127.0.0.1:" + std::to_string((*first)->grpc_port());
  auto second = Server::Start(taken, {}, std::make_shared<prometheus::Registry>());
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(taken.grpc_addr));

  ServerOptions metrics_taken = LocalOptions();
  metrics_taken.metrics_addr = "127.0.0.1:" + std::to_string((*first)->metrics_port());
  auto third = Server::Start(metrics_taken, {}, std::make_shared<prometheus::Registry>());
  ASSERT_FALSE(third.ok());
  EXPECT_THAT(std::string(third.status().message()), HasSubstr("cannot serve metrics"));
}

}  // namespace
}  // namespace parley::server
