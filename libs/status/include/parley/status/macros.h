// RETURN_IF_ERROR and ASSIGN_OR_RETURN: the one way to pass an error up.
// Callers handle errors; a callee does not log and return (docs/architecture.md).
#pragma once

#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PARLEY_STATUS_CONCAT_INNER_(a, b) a##b
#define PARLEY_STATUS_CONCAT_(a, b) PARLEY_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` (an absl::Status or absl::StatusOr) when it is
// not OK.
#define RETURN_IF_ERROR(expr)                                             \
  do {                                                                    \
    if (auto parley_status_ = ::parley::status::internal::AsStatus(expr); \
        ABSL_PREDICT_FALSE(!parley_status_.ok())) {                       \
      return parley_status_;                                              \
    }                                                                     \
  } while (false)

// ASSIGN_OR_RETURN(auto x, F()); or ASSIGN_OR_RETURN(x, F()); evaluates F()
// once, returns its status when it is not OK, and otherwise moves its value
// into the left-hand side.
#define ASSIGN_OR_RETURN(lhs, expr) \
  PARLEY_ASSIGN_OR_RETURN_IMPL_(PARLEY_STATUS_CONCAT_(parley_statusor_, __LINE__), lhs, expr)

#define PARLEY_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) {                \
    return std::move(statusor).status();                   \
  }                                                        \
  lhs = *std::move(statusor)

namespace parley::status::internal {

inline const absl::Status& AsStatus(const absl::Status& s) { return s; }
inline absl::Status AsStatus(absl::Status&& s) { return std::move(s); }
template <typename T>
absl::Status AsStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace parley::status::internal
