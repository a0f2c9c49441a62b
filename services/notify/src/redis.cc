#include "notify/src/redis.h"

#include <poll.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "parley/log/log.h"

namespace parley::notify {
absl::StatusOr<RedisOptions> ParseRedisAddress(const std::string& addr) {
  RedisOptions o;
  const auto colon = addr.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(addr.substr(colon + 1), &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("redis_addr: \"", addr, "\" is not host:port"));
  }
  o.host = addr.substr(0, colon);
  o.port = port;
  return o;
}

absl::StatusOr<RedisContext> RedisConnect(const RedisOptions& options) {
  RedisContext c(redisConnectWithTimeout(options.host.c_str(), options.port,
                                         absl::ToTimeval(options.timeout)));
  if (c == nullptr) return absl::UnavailableError("redis: out of memory");
  if (c->err != 0) {
    return absl::UnavailableError(
        absl::StrCat("redis ", options.host, ":", options.port, ": ", c->errstr));
  }
  if (redisSetTimeout(c.get(), absl::ToTimeval(options.timeout)) != REDIS_OK) {
    return absl::UnavailableError("redis: cannot set the timeout");
  }
  return c;
}

RedisPool::RedisPool(RedisOptions options, std::function<void(bool)> on_up_change)
    : options_(std::move(options)), on_up_change_(std::move(on_up_change)) {
  for (size_t i = 0; i < std::max<size_t>(1, options_.connections); ++i) {
    slots_.push_back(std::make_unique<Slot>());
  }
  if (on_up_change_) on_up_change_(false);
  monitor_ = std::thread([this] { Monitor(); });
}

RedisPool::~RedisPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  monitor_.join();
}

void RedisPool::MarkDown() {
  {
    std::lock_guard<std::mutex> state(state_mu_);
    if (!up_.exchange(false)) return;
    epoch_.fetch_add(1);
    log::Warn("redis unavailable; presence answers UNKNOWN until it returns",
              {{"redis", absl::StrCat(options_.host, ":", options_.port)}});
    if (on_up_change_) on_up_change_(false);
  }
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();  // the monitor starts reconnecting at once
}

void RedisPool::MarkUp() {
  std::lock_guard<std::mutex> state(state_mu_);
  if (up_.exchange(true)) return;
  log::Info("redis available", {{"redis", absl::StrCat(options_.host, ":", options_.port)}});
  if (on_up_change_) on_up_change_(true);
}

absl::StatusOr<std::vector<RedisReply>> RedisPool::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (!up_.load()) return absl::UnavailableError("redis is unavailable");
  Slot& slot = *slots_[next_.fetch_add(1) % slots_.size()];
  std::lock_guard<std::mutex> lock(slot.mu);
  // A pooled connection may have died with a Redis restart that the monitor
  // has not noticed: a failure on one is retried once on a fresh connection
  // before Redis counts as down.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (slot.context != nullptr && slot.epoch != epoch_.load()) slot.context.reset();
    const bool fresh = slot.context == nullptr;
    if (fresh) {
      auto c = RedisConnect(options_);
      if (!c.ok()) {
        MarkDown();
        return c.status();
      }
      slot.context = *std::move(c);
      slot.epoch = epoch_.load();
    }
    redisContext* c = slot.context.get();
    for (const auto& cmd : commands) {
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const auto& a : cmd) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
    }
    std::vector<RedisReply> replies;
    replies.reserve(commands.size());
    bool failed = false;
    std::string err;
    for (size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
        err = c->errstr;
        failed = true;
        break;
      }
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    if (!failed) return replies;
    slot.context.reset();  // a context with an error is not reusable
    if (fresh) {
      MarkDown();
      return absl::UnavailableError(absl::StrCat("redis: ", err));
    }
  }
  return absl::UnavailableError("redis: unreachable");
}

void RedisPool::Monitor() {
  absl::Duration backoff = options_.initial_backoff;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    bool ok = false;
    {
      auto c = RedisConnect(options_);
      if (c.ok()) {
        RedisReply r(static_cast<redisReply*>(redisCommand(c->get(), "PING")));
        ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
      }
    }
    lock.lock();
    if (stop_) break;
    if (ok) {
      lock.unlock();
      MarkUp();
      lock.lock();
      backoff = options_.initial_backoff;
      // While up, check once a second (calls notice failures themselves).
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || !up_.load(); });
    } else {
      lock.unlock();
      MarkDown();
      lock.lock();
      cv_.wait_for(lock, absl::ToChronoNanoseconds(backoff), [&] { return stop_; });
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

RedisSubscriber::RedisSubscriber(RedisOptions options, std::string channel,
                                 std::function<void(const std::string&)> on_message,
                                 std::function<void()> on_subscribed)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      on_message_(std::move(on_message)),
      on_subscribed_(std::move(on_subscribed)),
      thread_([this] { Run(); }) {}

RedisSubscriber::~RedisSubscriber() {
  stop_ = true;
  thread_.join();
}

void RedisSubscriber::Run() {
  constexpr absl::Duration kPingAfter = absl::Seconds(5);
  constexpr absl::Duration kDeadAfter = absl::Seconds(15);
  absl::Duration backoff = options_.initial_backoff;
  while (!stop_) {
    auto c = RedisConnect(options_);
    RedisReply subscribed;
    if (c.ok()) {
      redisEnableKeepAlive(c->get());
      subscribed.reset(
          static_cast<redisReply*>(redisCommand(c->get(), "SUBSCRIBE %s", channel_.c_str())));
    }
    const bool ok =
        c.ok() && subscribed != nullptr && subscribed->type == REDIS_REPLY_ARRAY &&
        subscribed->elements >= 1 && subscribed->element[0]->type == REDIS_REPLY_STRING &&
        std::string(subscribed->element[0]->str, subscribed->element[0]->len) == "subscribe";
    if (!ok) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = options_.initial_backoff;
    subscribed_ = true;
    if (on_subscribed_) on_subscribed_();
    redisContext* ctx = c->get();
    absl::Time heard = absl::Now();
    bool pinged = false;
    // Read with poll() so that a quiet channel is not a timeout error (which
    // would make the context unusable) and stop_ is noticed within 200 ms.
    while (!stop_) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(ctx, &raw) != REDIS_OK) break;
      if (raw != nullptr) {
        heard = absl::Now();
        pinged = false;
        RedisReply r(static_cast<redisReply*>(raw));
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            std::string(r->element[0]->str, r->element[0]->len) == "message") {
          on_message_(std::string(r->element[2]->str, r->element[2]->len));
        }
        continue;
      }
      const absl::Duration quiet = absl::Now() - heard;
      if (quiet > kDeadAfter) break;  // no answer to the ping: reconnect
      if (quiet > kPingAfter && !pinged) {
        redisAppendCommand(ctx, "PING");
        int done = 0;
        while (!done) {
          if (redisBufferWrite(ctx, &done) != REDIS_OK) break;
        }
        pinged = true;
      }
      pollfd p{.fd = ctx->fd, .events = POLLIN, .revents = 0};
      const int n = poll(&p, 1, 200);
      if (n < 0) break;
      if (n == 0) continue;
      if (redisBufferRead(ctx) != REDIS_OK) break;  // closed or failed: reconnect
    }
    subscribed_ = false;
  }
}

}  // namespace parley::notify
