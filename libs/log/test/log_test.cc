#include "parley/log/log.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace parley::log {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetSinkForTesting([this](absl::string_view line) { lines_.emplace_back(line); });
    SetMinLevel(Level::kInfo);
  }
  void TearDown() override { SetSinkForTesting(nullptr); }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, WritesOneJsonObjectPerLineWithFieldsAndRequestId) {
  {
    ScopedRequestId rid("req-42");
    Info("user \"logged\" in\n", {{"user_id", uint64_t{7}}, {"ok", true}, {"who", "a\\b"}});
  }
  Info("after");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_THAT(lines_[0], StartsWith("{\"ts\":\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"level\":\"info\",\"msg\":\"user \\\"logged\\\" in\\n\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"request_id\":\"req-42\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"user_id\":7,\"ok\":true,\"who\":\"a\\\\b\"}\n"));
  EXPECT_THAT(lines_[1], ::testing::Not(HasSubstr("request_id")));
}

TEST_F(LogTest, DropsLinesBelowMinimumLevel) {
  Debug("hidden");
  Warn("shown");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr("\"level\":\"warn\""));
}

TEST_F(LogTest, EscapesControlCharacters) {
  Info(std::string("a\x01z", 3));
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr("a\\u0001z"));
}

TEST(ParseLevelTest, AcceptsKnownNamesOnly) {
  EXPECT_EQ(*ParseLevel("DEBUG"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("warning"), Level::kWarn);
  EXPECT_FALSE(ParseLevel("loud").ok());
}

}  // namespace
}  // namespace parley::log
