// Start-up configuration: absl flags with PARLEY_<FLAG> environment fallbacks
// (the command line wins), and validators whose errors name the flag, so a bad
// value stops the process with a message an operator can act on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parley::config {

// The environment variable that backs --flag_name: PARLEY_FLAG_NAME.
std::string EnvVarFor(absl::string_view flag_name);

// Applies PARLEY_* environment values to every registered flag, then parses the
// command line. Returns the positional arguments (argv[0] first). A malformed
// value in the environment exits with status 2 naming the variable and the flag.
// --help lists the flags defined in Parley's own sources with their env names.
std::vector<char*> ParseFlags(int argc, char** argv, absl::string_view usage);

// Applies PARLEY_* values from the environment. Exposed for tests.
absl::Status ApplyEnvironment();

struct HostPort {
  std::string host;
  int port = 0;
  std::string ToString() const;
};
// "host:port" or "[v6]:port"; port 0..65535 (0: pick a free one).
absl::StatusOr<HostPort> ParseHostPort(absl::string_view flag, absl::string_view value);
absl::Status CheckRange(absl::string_view flag, int64_t value, int64_t min, int64_t max);
absl::Status CheckNotEmpty(absl::string_view flag, absl::string_view value);

// Prints "<program>: <status message>" to stderr and exits with status 2.
[[noreturn]] void ExitOnInvalidConfig(absl::string_view program, const absl::Status& status);

}  // namespace parley::config
