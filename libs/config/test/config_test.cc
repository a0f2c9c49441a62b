#include "parley/config/config.h"

#include <cstdlib>

#include "absl/flags/flag.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, config_test_port, 7, "test flag");
ABSL_FLAG(std::string, config_test_name, "x", "test flag");

namespace parley::config {
namespace {

TEST(ConfigTest, EnvVarNameIsPrefixedUppercase) {
  EXPECT_EQ(EnvVarFor("grpc_addr"), "PARLEY_GRPC_ADDR");
}

TEST(ConfigTest, EnvironmentSetsFlagsAndCommandLineWins) {
  setenv("PARLEY_CONFIG_TEST_PORT", "9000", 1);
  setenv("PARLEY_CONFIG_TEST_NAME", "from-env", 1);
  char arg0[] = "prog";
  char arg1[] = "--config_test_name=from-flag";
  char* argv[] = {arg0, arg1};
  auto positional = ParseFlags(2, argv, "test");
  EXPECT_EQ(positional.size(), 1u);
  EXPECT_EQ(absl::GetFlag(FLAGS_config_test_port), 9000);
  EXPECT_EQ(absl::GetFlag(FLAGS_config_test_name), "from-flag");
  unsetenv("PARLEY_CONFIG_TEST_PORT");
  unsetenv("PARLEY_CONFIG_TEST_NAME");
}

TEST(ConfigTest, MalformedEnvironmentValueNamesVariableAndFlag) {
  setenv("PARLEY_CONFIG_TEST_PORT", "not-a-number", 1);
  absl::Status s = ApplyEnvironment();
  unsetenv("PARLEY_CONFIG_TEST_PORT");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("PARLEY_CONFIG_TEST_PORT"), std::string::npos) << s;
  EXPECT_NE(s.message().find("--config_test_port"), std::string::npos) << s;
}

TEST(ConfigTest, MalformedEnvironmentExitsWithStatus2) {
  EXPECT_EXIT(
      {
        setenv("PARLEY_CONFIG_TEST_PORT", "oops", 1);
        char arg0[] = "prog";
        char* argv[] = {arg0};
        ParseFlags(1, argv, "test");
      },
      ::testing::ExitedWithCode(2), "PARLEY_CONFIG_TEST_PORT");
}

TEST(ConfigTest, ParsesHostPort) {
  auto hp = ParseHostPort("grpc_addr", "127.0.0.1:7400");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 7400);
  auto v6 = ParseHostPort("grpc_addr", "[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:0");
  for (const char* bad : {"127.0.0.1", ":80", "host:99999", "host:x", "host:-1"}) {
    auto r = ParseHostPort("grpc_addr", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--grpc_addr"), std::string::npos);
  }
}

TEST(ConfigTest, RangeAndRequiredChecksNameTheFlag) {
  EXPECT_TRUE(CheckRange("node_id", 5, 0, 1023).ok());
  EXPECT_EQ(CheckRange("node_id", 2000, 0, 1023).message(),
            "invalid --node_id 2000: must be in [0, 1023]");
  EXPECT_EQ(CheckNotEmpty("data_dir", "").message(), "--data_dir is required");
}

}  // namespace
}  // namespace parley::config
