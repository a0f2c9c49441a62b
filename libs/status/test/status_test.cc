#include "parley/status/status.h"

#include "gtest/gtest.h"
#include "parley/status/macros.h"

namespace parley::status {
namespace {

TEST(StatusTest, RoundTripsEveryCanonicalCode) {
  for (int code = 0; code <= 16; ++code) {
    absl::Status in(static_cast<absl::StatusCode>(code), code == 0 ? "" : "msg");
    grpc::Status wire = ToGrpc(in);
    EXPECT_EQ(static_cast<int>(wire.error_code()), code);
    EXPECT_EQ(FromGrpc(wire), in);
  }
}

TEST(StatusTest, LimitMessagesNameFieldAndLimit) {
  absl::Status s = TooLong("body", 5001, 5000);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "body: 5001 characters, at most 5000 allowed");
  EXPECT_EQ(TooMany("user_ids", 501, 500).message(), "user_ids: 501 entries, at most 500 allowed");
  EXPECT_EQ(OutOfRange("page_size", 0, 1, 100).message(), "page_size: 0 is out of range [1, 100]");
  EXPECT_EQ(Required("login").message(), "login: required");
}

absl::Status FailIf(bool fail) { return fail ? absl::NotFoundError("gone") : absl::OkStatus(); }
absl::StatusOr<int> ValueOr(bool fail, int value) {
  if (fail) return absl::DataLossError("bad");
  return value;
}

absl::Status UseReturnIfError(bool fail, int* reached) {
  RETURN_IF_ERROR(FailIf(fail));
  RETURN_IF_ERROR(ValueOr(false, 1));
  ++*reached;
  return absl::OkStatus();
}

absl::StatusOr<int> UseAssignOrReturn(bool fail, int* calls) {
  ASSIGN_OR_RETURN(int a, (++*calls, ValueOr(fail, 20)));
  int b = 0;
  ASSIGN_OR_RETURN(b, ValueOr(false, 22));
  return a + b;
}

TEST(StatusMacrosTest, ReturnIfErrorPassesTheErrorUp) {
  int reached = 0;
  EXPECT_EQ(UseReturnIfError(true, &reached), absl::NotFoundError("gone"));
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(UseReturnIfError(false, &reached).ok());
  EXPECT_EQ(reached, 1);
}

TEST(StatusMacrosTest, AssignOrReturnEvaluatesOnceAndAssigns) {
  int calls = 0;
  EXPECT_EQ(UseAssignOrReturn(true, &calls).status(), absl::DataLossError("bad"));
  EXPECT_EQ(calls, 1);
  auto ok = UseAssignOrReturn(false, &calls);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 42);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace parley::status
