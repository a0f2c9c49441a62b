#include "parley/log/log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace parley::log {
namespace {

std::atomic<int> min_level{static_cast<int>(Level::kInfo)};
thread_local std::string current_request_id;

std::mutex sink_mu;
std::function<void(absl::string_view)>* sink = nullptr;  // guarded by sink_mu; null = stderr

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) return;  // nowhere to report a failing stderr
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

absl::StatusOr<Level> ParseLevel(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (lower == "debug") return Level::kDebug;
  if (lower == "info") return Level::kInfo;
  if (lower == "warn" || lower == "warning") return Level::kWarn;
  if (lower == "error") return Level::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level \"", name, "\" (expected debug, info, warn or error)"));
}

void SetMinLevel(Level level) { min_level.store(static_cast<int>(level)); }
bool Enabled(Level level) { return static_cast<int>(level) >= min_level.load(); }

void AppendJsonString(std::string* out, absl::string_view text) {
  out->push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

Field::Field(absl::string_view key, absl::string_view value) : key_(key) {
  AppendJsonString(&json_value_, value);
}
Field::Field(absl::string_view key, int64_t value) : key_(key), json_value_(absl::StrCat(value)) {}
Field::Field(absl::string_view key, uint64_t value) : key_(key), json_value_(absl::StrCat(value)) {}
Field::Field(absl::string_view key, double value)
    : key_(key), json_value_(std::isfinite(value) ? absl::StrCat(value) : "null") {}
Field::Field(absl::string_view key, bool value)
    : key_(key), json_value_(value ? "true" : "false") {}

void Log(Level level, absl::string_view message, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::string line;
  line.reserve(128 + message.size());
  absl::StrAppend(&line, "{\"ts\":\"",
                  absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                  "\",\"level\":\"", LevelName(level), "\",\"msg\":");
  AppendJsonString(&line, message);
  if (!current_request_id.empty()) {
    line.append(",\"request_id\":");
    AppendJsonString(&line, current_request_id);
  }
  for (const Field& field : fields) {
    line.push_back(',');
    AppendJsonString(&line, field.key());
    line.push_back(':');
    line.append(field.json_value());
  }
  line.append("}\n");
  std::lock_guard<std::mutex> lock(sink_mu);
  if (sink != nullptr) {
    (*sink)(line);
  } else {
    WriteAll(STDERR_FILENO, line);
  }
}

ScopedRequestId::ScopedRequestId(absl::string_view request_id)
    : previous_(std::move(current_request_id)) {
  current_request_id = std::string(request_id);
}
ScopedRequestId::~ScopedRequestId() { current_request_id = std::move(previous_); }
absl::string_view CurrentRequestId() { return current_request_id; }

void SetSinkForTesting(std::function<void(absl::string_view line)> new_sink) {
  std::lock_guard<std::mutex> lock(sink_mu);
  delete sink;
  sink = new_sink ? new std::function<void(absl::string_view)>(std::move(new_sink)) : nullptr;
}

}  // namespace parley::log
