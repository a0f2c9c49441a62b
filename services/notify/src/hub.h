// Wakes the streams (Subscribe calls) of people whose inbox changed. Streams
// read what changed from the inbox themselves, so a wake-up carries no data:
// a missed or repeated one can never lose or duplicate an entry.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace parley::notify {

class StreamHub {
 public:
  explicit StreamHub(size_t max_streams_per_user) : max_per_user_(max_streams_per_user) {}

  // Holds one stream's place; released on destruction.
  class Registration {
   public:
    Registration(StreamHub* hub, uint64_t user) : hub_(hub), user_(user) {}
    ~Registration() { hub_->Release(user_); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    StreamHub* const hub_;
    const uint64_t user_;
  };
  // RESOURCE_EXHAUSTED beyond max_streams_per_user open streams of `user`.
  absl::StatusOr<std::unique_ptr<Registration>> Register(uint64_t user) {
    std::lock_guard<std::mutex> lock(mu_);
    User& u = users_[user];
    if (u.streams >= max_per_user_) {
      return absl::ResourceExhaustedError("too many open streams for this person (at most " +
                                          std::to_string(max_per_user_) + "): close one first");
    }
    ++u.streams;
    return std::make_unique<Registration>(this, user);
  }

  // The user's change counter: read it before reading the inbox, then Wait
  // for it to move.
  uint64_t Generation(uint64_t user) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = users_.find(user);
    return it == users_.end() ? 0 : it->second.generation;
  }
  // Returns when the user's inbox changed after `seen`, the hub stopped, or
  // `deadline` passed.
  void Wait(uint64_t user, uint64_t seen, absl::Time deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    auto found = users_.find(user);
    if (found == users_.end()) return;                               // not registered
    std::shared_ptr<std::condition_variable> cv = found->second.cv;  // one per person
    cv->wait_until(lock, absl::ToChronoTime(deadline), [&] {
      if (stopped_) return true;
      auto it = users_.find(user);
      return it != users_.end() && it->second.generation != seen;
    });
  }
  void Notify(uint64_t user) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = users_.find(user);
    if (it == users_.end()) return;  // nobody is listening here
    ++it->second.generation;
    it->second.cv->notify_all();
  }
  // Wakes every stream (they re-read, and re-decide how long to wait).
  void WakeAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [user, u] : users_) {
      ++u.generation;
      u.cv->notify_all();
    }
  }
  // Ends every stream (shutdown): Wait returns at once from now on.
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    for (auto& [user, u] : users_) u.cv->notify_all();
  }
  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }
  size_t open_streams() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& [user, u] : users_) n += u.streams;
    return n;
  }

 private:
  struct User {
    size_t streams = 0;
    uint64_t generation = 0;
    std::shared_ptr<std::condition_variable> cv = std::make_shared<std::condition_variable>();
  };
  void Release(uint64_t user) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = users_.find(user);
    if (it != users_.end() && --it->second.streams == 0) users_.erase(it);
  }

  const size_t max_per_user_;
  std::mutex mu_;
  absl::flat_hash_map<uint64_t, User> users_;  // guarded by mu_
  bool stopped_ = false;                       // guarded by mu_
};

}  // namespace parley::notify
