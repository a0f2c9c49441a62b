#include "parley/status/status.h"

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace parley::status
