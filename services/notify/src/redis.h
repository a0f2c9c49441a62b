// Redis for notifications: presence keys and the pub/sub channel that wakes
// streams on other replicas. Redis is optional at every call site: a call
// fails fast with UNAVAILABLE while it is down, and the pool reconnects in the
// background (with backoff) so that everything recovers without a restart.
//
// hiredis contexts are not thread-safe: the pool holds a few connections, each
// used by one caller at a time, every one with connect and I/O timeouts.
#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace parley::notify {

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using RedisContext = std::unique_ptr<redisContext, RedisContextDeleter>;

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // Connect and every read or write.
  absl::Duration timeout = absl::Milliseconds(200);
  size_t connections = 4;
  // Reconnect attempts back off from this to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
};

// Parses "host:port".
absl::StatusOr<RedisOptions> ParseRedisAddress(const std::string& addr);

// One connection, connected with timeouts.
absl::StatusOr<RedisContext> RedisConnect(const RedisOptions& options);

class RedisPool {
 public:
  // `on_up_change(up)` is called whenever Redis becomes reachable or not.
  RedisPool(RedisOptions options, std::function<void(bool)> on_up_change);
  ~RedisPool();

  // Sends the commands in one round trip and returns their replies in order.
  // UNAVAILABLE (without waiting) while Redis is down or reconnecting.
  absl::StatusOr<std::vector<RedisReply>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);
  bool up() const { return up_.load(); }
  const RedisOptions& options() const { return options_; }

 private:
  struct Slot {
    std::mutex mu;
    RedisContext context;  // null: not connected
    uint64_t epoch = 0;    // the pool's epoch when it connected
  };
  void MarkDown();
  void MarkUp();
  void Monitor();  // pings while up, reconnects with backoff while down

  const RedisOptions options_;
  std::function<void(bool)> on_up_change_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> up_{false};
  // Bumped when Redis goes down: connections made before are dropped on
  // their next use (a restarted Redis closed them all).
  std::atomic<uint64_t> epoch_{0};
  std::mutex state_mu_;  // orders up_ changes with their callbacks
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread monitor_;
};

// Receives messages of one channel on its own connection and thread, and
// resubscribes after Redis comes back. A quiet connection is pinged, and
// dropped when it stays silent (a peer gone without closing).
class RedisSubscriber {
 public:
  // `on_subscribed` runs after every (re)subscription: messages published
  // while it was not subscribed are lost, so listeners should catch up.
  RedisSubscriber(RedisOptions options, std::string channel,
                  std::function<void(const std::string&)> on_message,
                  std::function<void()> on_subscribed = nullptr);
  ~RedisSubscriber();
  // Whether it is subscribed now.
  bool up() const { return subscribed_.load(); }

 private:
  void Run();
  const RedisOptions options_;
  const std::string channel_;
  std::function<void(const std::string&)> on_message_;
  std::function<void()> on_subscribed_;
  std::atomic<bool> subscribed_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace parley::notify
