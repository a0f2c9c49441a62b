// The one place where absl::Status (used inside every service) and grpc::Status
// (what goes on the wire) convert into each other, plus constructors for the
// errors every service returns, so messages read the same everywhere.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace parley::status {

// INTERNAL means a bug; UNAVAILABLE means retry later; the message is kept.
grpc::Status ToGrpc(const absl::Status& status);
absl::Status FromGrpc(const grpc::Status& status);

// INVALID_ARGUMENT naming the field and the limit, e.g.
// "body: 5001 characters, at most 5000 allowed".
absl::Status TooLong(absl::string_view field, size_t actual, size_t limit,
                     absl::string_view unit = "characters");
absl::Status TooMany(absl::string_view field, size_t actual, size_t limit);
absl::Status OutOfRange(absl::string_view field, int64_t actual, int64_t min, int64_t max);
absl::Status Required(absl::string_view field);

}  // namespace parley::status
