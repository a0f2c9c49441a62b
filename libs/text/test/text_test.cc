#include "parley/text/text.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace parley::text {
namespace {

using ::testing::ElementsAre;

TEST(TextTest, LengthMentionsAndHashtags) {
  EXPECT_EQ(Utf8Length("héllo"), 5u);
  EXPECT_EQ(Utf8Length("\xF0\x9F\x98\x80"), 1u);         // one emoji
  EXPECT_FALSE(Utf8Length("\xC0\xAF").has_value());      // overlong
  EXPECT_FALSE(Utf8Length("\xED\xA0\x80").has_value());  // surrogate
  EXPECT_FALSE(Utf8Length("abc\xE2\x82").has_value());   // truncated
  EXPECT_THAT(ExtractMentions("hi @Ana and @bob.smith, mail x@y.z @ana @carol@acme.example."),
              ElementsAre("ana", "bob.smith", "carol@acme.example"));
  EXPECT_THAT(ExtractHashtags("#Kubernetes rocks #k8s a#b #kubernetes #"),
              ElementsAre("kubernetes", "k8s"));
}

}  // namespace
}  // namespace parley::text
