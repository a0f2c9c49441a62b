#include "parley/metrics/metrics.h"

#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace parley::metrics {
namespace {

TEST(MetricsTest, SplitsGrpcMethodNames) {
  EXPECT_EQ(SplitMethod("/parley.feed.v1.FeedService/CreatePost"),
            std::make_pair(std::string("parley.feed.v1.FeedService"), std::string("CreatePost")));
  EXPECT_EQ(SplitMethod("odd").first, "odd");
}

TEST(MetricsTest, RecordsCountsByCodeAndDurations) {
  prometheus::Registry registry;
  RpcMetrics metrics(registry);
  metrics.Record("/parley.feed.v1.FeedService/CreatePost", grpc::OK, 0.002);
  metrics.Record("/parley.feed.v1.FeedService/CreatePost", grpc::OK, 0.004);
  metrics.Record("/parley.feed.v1.FeedService/CreatePost", grpc::INVALID_ARGUMENT, 0.001);
  std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_NE(text.find("parley_rpc_requests_total{code=\"OK\",method=\"CreatePost\","
                      "service=\"parley.feed.v1.FeedService\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("code=\"INVALID_ARGUMENT\""), std::string::npos);
  EXPECT_NE(text.find("parley_rpc_duration_seconds_count{method=\"CreatePost\","
                      "service=\"parley.feed.v1.FeedService\"} 3"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace parley::metrics
