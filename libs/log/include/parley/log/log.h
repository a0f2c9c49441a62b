// Structured logs: one JSON object per line on stderr with time, level,
// message, the current request id and typed fields. (Abseil 20220623 has no
// absl/log, and services need machine-readable logs anyway.)
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parley::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

absl::StatusOr<Level> ParseLevel(absl::string_view name);
void SetMinLevel(Level level);
bool Enabled(Level level);

// A key and a value already rendered as JSON (a quoted string, number or bool).
class Field {
 public:
  Field(absl::string_view key, absl::string_view value);
  Field(absl::string_view key, const char* value) : Field(key, absl::string_view(value)) {}
  Field(absl::string_view key, const std::string& value) : Field(key, absl::string_view(value)) {}
  Field(absl::string_view key, int64_t value);
  Field(absl::string_view key, int value) : Field(key, static_cast<int64_t>(value)) {}
  Field(absl::string_view key, uint64_t value);
  Field(absl::string_view key, double value);
  Field(absl::string_view key, bool value);

  absl::string_view key() const { return key_; }
  const std::string& json_value() const { return json_value_; }

 private:
  absl::string_view key_;
  std::string json_value_;
};

void Log(Level level, absl::string_view message, std::initializer_list<Field> fields = {});
inline void Debug(absl::string_view m, std::initializer_list<Field> f = {}) {
  Log(Level::kDebug, m, f);
}
inline void Info(absl::string_view m, std::initializer_list<Field> f = {}) {
  Log(Level::kInfo, m, f);
}
inline void Warn(absl::string_view m, std::initializer_list<Field> f = {}) {
  Log(Level::kWarn, m, f);
}
inline void Error(absl::string_view m, std::initializer_list<Field> f = {}) {
  Log(Level::kError, m, f);
}

// Sets the request id attached to every log line written by this thread while
// the object lives (gRPC handlers run one call per thread at a time).
class ScopedRequestId {
 public:
  explicit ScopedRequestId(absl::string_view request_id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};
absl::string_view CurrentRequestId();

// Replaces where lines go (default: stderr). For tests.
void SetSinkForTesting(std::function<void(absl::string_view line)> sink);

// Appends `text` to `out` as a JSON string literal, quotes included.
void AppendJsonString(std::string* out, absl::string_view text);

}  // namespace parley::log
