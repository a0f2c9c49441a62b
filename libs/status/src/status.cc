#include "parley/status/status.h"

#include "absl/strings/str_cat.h"

namespace parley::status {

// absl and gRPC share the canonical code numbering (both follow google.rpc.Code).
grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status TooLong(absl::string_view field, size_t actual, size_t limit, absl::string_view unit) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", actual, " ", unit, ", at most ", limit, " allowed"));
}

absl::Status TooMany(absl::string_view field, size_t actual, size_t limit) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", actual, " entries, at most ", limit, " allowed"));
}

absl::Status OutOfRange(absl::string_view field, int64_t actual, int64_t min, int64_t max) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", actual, " is out of range [", min, ", ", max, "]"));
}

absl::Status Required(absl::string_view field) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
}

}  // namespace parley::status
