// Pieces of the gRPC benchmarks (timeline_read, notify_stream, presence,
// search): the serving configuration, a channel with its own connection, call
// metadata, and a closed-loop throughput meter.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "bench_util.h"
#include "grpc/grpc.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/status.h"
#include "parley/server/flags.h"

namespace parley::bench {

// The configuration the benchmarks serve with: a fresh data dir, loopback on a
// free port, no /metrics endpoint.
inline server::CommonConfig BenchConfig(const std::string& data_dir) {
  server::CommonConfig config;
  config.data_dir = data_dir;
  config.server.grpc_addr = "127.0.0.1:0";
  config.server.metrics_addr = "";
  config.server.drain_timeout = absl::Seconds(2);
  return config;
}

// A channel with its own connection (no subchannel sharing between channels).
inline std::shared_ptr<grpc::Channel> OwnChannel(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

// A 30 s deadline and, unless empty, "authorization: Bearer <token>".
inline void Prepare(grpc::ClientContext* ctx, const std::string& token) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
}

inline void CheckRpc(const grpc::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.error_message());
}

// Calls per second of `call(thread, n)` (n: the thread's call number) from
// `threads` threads in a closed loop for `seconds`; failed calls are counted
// in *errors, not in the rate.
inline double Throughput(int threads, double seconds,
                         const std::function<bool(int, uint64_t)>& call, uint64_t* errors) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0}, failed{0};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      uint64_t n = 0, good = 0, bad = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (call(t, n++)) {
          ++good;
        } else {
          ++bad;
        }
      }
      ok += good;
      failed += bad;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = Seconds(Clock::now() - start);
  if (errors != nullptr) *errors = failed.load();
  return static_cast<double>(ok.load()) / elapsed;
}

// The same for calls that do not need their number.
inline double Throughput(int threads, double seconds, const std::function<bool(int)>& call,
                         uint64_t* errors) {
  return Throughput(
      threads, seconds, [&](int t, uint64_t) { return call(t); }, errors);
}

}  // namespace parley::bench
