// A channel that exists only later: the all-in-one binary's in-process channel
// is created when its server starts, after the modules that use it. Get()
// waits for Set().
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

#include "grpcpp/channel.h"

namespace parley::server {

class ChannelSlot {
 public:
  void Set(std::shared_ptr<grpc::Channel> channel) {
    std::lock_guard<std::mutex> lock(mu_);
    channel_ = std::move(channel);
    cv_.notify_all();
  }
  std::shared_ptr<grpc::Channel> Get() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return channel_ != nullptr; });
    return channel_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<grpc::Channel> channel_;  // guarded by mu_
};

}  // namespace parley::server
