#include "feed/src/catch_up.h"

#include "parley/log/log.h"

namespace parley::feed {

void CatchUpWorker::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void CatchUpWorker::Wake() {
  sync::MutexLock lock(&mu_);
  wake_ = true;
  cv_.SignalAll();
}

void CatchUpWorker::Stop() {
  {
    sync::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void CatchUpWorker::Run() {
  mu_.Lock();
  while (!stop_) {
    if (!wake_) cv_.WaitWithTimeout(&mu_, absl::Seconds(1));
    if (stop_) break;
    wake_ = false;
    mu_.Unlock();
    absl::Status s = work_();
    if (!s.ok()) log::Warn("follower catch-up failed; retrying", {{"error", s.ToString()}});
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace parley::feed
