// A background worker that runs `work` when woken, and at least once a
// second: feed's catch-up of followers and group members (FanOutWorker::CatchUp).
// It owns its thread, which runs between Start() and Stop() (or destruction).
#pragma once

#include <functional>
#include <thread>

#include "absl/status/status.h"
#include "parley/sync/mutex.h"

namespace parley::feed {

class CatchUpWorker {
 public:
  explicit CatchUpWorker(std::function<absl::Status()> work) : work_(std::move(work)) {}
  ~CatchUpWorker() { Stop(); }

  void Start();
  // Asks for a run soon (now, or after the one in progress).
  void Wake();
  // Waits for the run in progress, then ends the thread. Idempotent.
  void Stop();

 private:
  void Run();

  const std::function<absl::Status()> work_;
  sync::Mutex mu_;
  sync::CondVar cv_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace parley::feed
