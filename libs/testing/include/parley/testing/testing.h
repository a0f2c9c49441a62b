// Test support: temporary directories, free loopback ports and child
// processes (servers under test, redis-server) started and stopped by pid.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace parley::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close).
int FreePort();

// A child process. The destructor sends SIGKILL if it is still running.
class Process {
 public:
  // Starts argv[0] (a path) with the given arguments; stdout and stderr go to
  // `log_path` if non-empty, else are inherited.
  static Process Start(const std::vector<std::string>& argv, const std::string& log_path = "",
                       const std::vector<std::string>& extra_env = {});
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();

  pid_t pid() const { return pid_; }
  void Signal(int sig) const;
  // Waits for exit; returns the exit code, 128+signal if killed, or -1 on timeout.
  int Wait(absl::Duration timeout);
  bool running();

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  friend class RedisServer;
  Process() = default;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// The path of a binary built in this build tree (PARLEY_TEST_BIN_DIR is set by ctest).
std::string BinaryPath(const std::string& relative);

// Polls until `predicate` holds or `timeout` passes; returns the final result.
template <typename Pred>
bool WaitFor(Pred predicate, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!predicate()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

std::string ReadFile(const std::string& path);

// Whether something accepts TCP connections on 127.0.0.1:port.
bool PortOpen(int port);

// A real redis-server on a free loopback port, without persistence, started
// and stopped by pid (the destructor kills it).
class RedisServer {
 public:
  // Logs to <dir>/redis.log; waits until it accepts connections.
  explicit RedisServer(std::string dir);
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // SIGKILL, as a crash would.
  void Kill();
  // Starts it again on the same port (empty: nothing survived the kill).
  void Restart();

 private:
  void Launch();
  std::string dir_;
  int port_ = 0;
  Process process_;
};

}  // namespace parley::testing

namespace parley::testing {
// GET http://127.0.0.1:<port><path>; returns the body, or "" on any failure.
std::string HttpGet(int port, const std::string& path);
}  // namespace parley::testing
