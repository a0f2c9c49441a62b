#include "parley/config/config.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace parley::config {

std::string EnvVarFor(absl::string_view flag_name) {
  return absl::StrCat("PARLEY_", absl::AsciiStrToUpper(flag_name));
}

absl::Status ApplyEnvironment() {
  for (auto& [name, flag] : absl::GetAllFlags()) {
    std::string env = EnvVarFor(name);
    const char* value = std::getenv(env.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid value \"", value, "\" in ", env, " for --", name, ": ", error));
    }
  }
  return absl::OkStatus();
}

namespace {
bool IsParleySource(absl::string_view file) {
  return absl::StrContains(file, "libs/") || absl::StrContains(file, "services/") ||
         absl::StrContains(file, "tools/");
}
}  // namespace

std::vector<char*> ParseFlags(int argc, char** argv, absl::string_view usage) {
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsParleySource;
  usage_config.contains_helpshort_flags = IsParleySource;
  usage_config.normalize_filename = [](absl::string_view f) { return std::string(f); };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(absl::StrCat(
      usage, "\n\nEvery --flag can also be set by the environment variable PARLEY_<FLAG> ",
      "(e.g. --grpc_addr by PARLEY_GRPC_ADDR); the command line wins."));
  absl::Status env = ApplyEnvironment();
  if (!env.ok()) ExitOnInvalidConfig(argc > 0 ? argv[0] : "parley", env);
  return absl::ParseCommandLine(argc, argv);
}

std::string HostPort::ToString() const {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view flag, absl::string_view value) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", flag, " \"", value, "\": ", why, " (expected host:port)"));
  };
  size_t colon = value.rfind(':');
  if (colon == absl::string_view::npos) return invalid("missing port");
  absl::string_view host = value.substr(0, colon);
  absl::string_view port_text = value.substr(colon + 1);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return invalid("missing host");
  int port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return invalid("port must be a number from 0 to 65535");
  }
  return HostPort{std::string(host), port};
}

absl::Status CheckRange(absl::string_view flag, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", flag, " ", value, ": must be in [", min, ", ", max, "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckNotEmpty(absl::string_view flag, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required"));
  return absl::OkStatus();
}

void ExitOnInvalidConfig(absl::string_view program, const absl::Status& status) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(status.message().size()), status.message().data());
  std::exit(2);
}

}  // namespace parley::config
