#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "parley/sync/mutex.h"

namespace parley::sync {
namespace {

class Counter {
 public:
  void Add() {
    MutexLock lock(&mu_);
    ++value_;
    cv_.SignalAll();
  }
  // Waits until the counter reaches `n`.
  void AwaitAtLeast(int n) {
    MutexLock lock(&mu_);
    while (value_ < n) cv_.Wait(&mu_);
  }
  int value() {
    MutexLock lock(&mu_);
    return value_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(SyncTest, MutexSerialisesWritersAndCondVarWakesWaiters) {
  Counter counter;
  std::thread waiter([&] { counter.AwaitAtLeast(4000); });
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) counter.Add();
    });
  }
  for (auto& w : writers) w.join();
  waiter.join();
  EXPECT_EQ(counter.value(), 4000);
}

TEST(SyncTest, WaitWithTimeoutReportsTimeout) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(&mu);
  EXPECT_TRUE(cv.WaitWithTimeout(&mu, absl::Milliseconds(5)));
}

}  // namespace
}  // namespace parley::sync
