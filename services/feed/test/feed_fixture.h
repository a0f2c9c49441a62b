// The FeedTest fixture shared by the feed tests: real identity + feed in one
// gRPC server on loopback (as in the all-in-one binary), real RocksDB in a
// temp dir. Subclasses set head_, rate_, threshold_ or notify_addr_ in their
// constructor (the flags are set in SetUp, before Boot).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "feed/src/module.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "identity/src/module.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/testing/testing.h"
#include "people.h"

ABSL_DECLARE_FLAG(int, home_timeline_head);
ABSL_DECLARE_FLAG(int, post_rate_per_minute);
ABSL_DECLARE_FLAG(int, user_cache_ttl_s);
ABSL_DECLARE_FLAG(int64_t, fanout_push_threshold);
ABSL_DECLARE_FLAG(std::string, notify_addr);

namespace parley::feed {

class FeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetFlag(&FLAGS_user_cache_ttl_s, 0);
    absl::SetFlag(&FLAGS_home_timeline_head, head_);
    absl::SetFlag(&FLAGS_post_rate_per_minute, rate_);
    absl::SetFlag(&FLAGS_fanout_push_threshold, threshold_);
    absl::SetFlag(&FLAGS_notify_addr, notify_addr_);
    config_.data_dir = dir_.path();
    config_.server.grpc_addr = "127.0.0.1:0";
    config_.server.metrics_addr = "";
    credential_ = *server::LoadServiceCredential(config_, "test");
    Boot();
  }
  void TearDown() override { Shutdown(); }

  void Boot() {
    identity_ = *identity::IdentityModule::Create(config_, *credential_);
    auto slot = std::make_shared<ChannelSlot>();
    auto feed = FeedModule::Create(config_, credential_.get(), slot);
    ASSERT_TRUE(feed.ok()) << feed.status();
    feed_ = *std::move(feed);
    std::vector<server::HostedService> hosted = identity_->Hosted();
    for (auto& h : feed_->Hosted()) hosted.push_back(h);
    server_ =
        *server::Server::Start(config_.server, hosted, std::make_shared<prometheus::Registry>());
    slot->Set(server_->InProcessChannel());
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                       grpc::InsecureChannelCredentials());
    id_ = ::parley::identity::v1::IdentityService::NewStub(channel);
    id_internal_ = ::parley::identity::v1::IdentityInternalService::NewStub(channel);
    stub_ = pb::FeedService::NewStub(channel);
    internal_ = pb::FeedInternalService::NewStub(channel);
  }
  void Shutdown() {
    if (server_) server_->Drain();
    server_.reset();
    feed_.reset();
    identity_.reset();
  }

  // Creates an org and logs its first admin in.
  test::Account MakeOrg(const std::string& domain) {
    admins_[domain] = test::MakeOrg(id_.get(), id_internal_.get(), credential_->Token(), domain);
    return admins_[domain];
  }
  test::Account AddUser(const std::string& domain, const std::string& handle) {
    return test::AddMember(id_.get(), admins_[domain], domain, handle);
  }

  grpc::Status Follow(const test::Account& a, const test::Account& b) {
    pb::FollowUserRequest req;
    req.set_user_id(b.id);
    pb::FollowUserResponse resp;
    return stub_->FollowUser(test::Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Post(const test::Account& a, const std::string& body, pb::Post* out = nullptr,
                    common::v1::Visibility v = common::v1::VISIBILITY_UNSPECIFIED) {
    pb::CreatePostRequest req;
    req.set_body(body);
    req.set_visibility(v);
    pb::CreatePostResponse resp;
    grpc::Status s = stub_->CreatePost(test::Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.post();
    return s;
  }
  uint64_t PostId(const test::Account& a, const std::string& body,
                  common::v1::Visibility v = common::v1::VISIBILITY_UNSPECIFIED) {
    pb::Post p;
    grpc::Status s = Post(a, body, &p, v);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return p.id();
  }
  // Every page of `a`'s home timeline (page size `size`), as post ids.
  std::vector<uint64_t> Home(const test::Account& a, int size = 20) {
    std::vector<uint64_t> ids;
    std::string token;
    for (int pages = 0; pages < 10000; ++pages) {
      pb::ListHomeTimelineRequest req;
      req.set_page_size(size);
      req.set_page_token(token);
      pb::ListHomeTimelineResponse resp;
      grpc::Status s = stub_->ListHomeTimeline(test::Ctx(a.token).get(), req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const auto& p : resp.posts()) ids.push_back(p.id());
      token = resp.next_page_token();
      if (token.empty()) break;
    }
    return ids;
  }
  std::vector<uint64_t> UserTimeline(const test::Account& viewer, const test::Account& user) {
    std::vector<uint64_t> ids;
    std::string token;
    do {
      pb::ListUserTimelineRequest req;
      req.set_user_id(user.id);
      req.set_page_size(7);
      req.set_page_token(token);
      pb::ListUserTimelineResponse resp;
      grpc::Status s = stub_->ListUserTimeline(test::Ctx(viewer.token).get(), req, &resp);
      if (!s.ok()) return {};
      for (const auto& p : resp.posts()) ids.push_back(p.id());
      token = resp.next_page_token();
    } while (!token.empty());
    return ids;
  }
  grpc::StatusCode GetPostCode(const test::Account& a, uint64_t id, pb::Post* out = nullptr) {
    pb::GetPostRequest req;
    req.set_post_id(id);
    pb::GetPostResponse resp;
    auto code = stub_->GetPost(test::Ctx(a.token).get(), req, &resp).error_code();
    if (out != nullptr) *out = resp.post();
    return code;
  }
  // Waits until the fan-out worker has drained the outbox.
  void WaitForFanOut() {
    ASSERT_TRUE(testing::WaitFor([&] { return feed_->feed->outbox()->Pending("fanout") == 0; },
                                 absl::Seconds(60)));
  }

  std::string notify_addr_;
  int head_ = 800;
  int rate_ = 1000;
  int64_t threshold_ = 10000;
  testing::TempDir dir_;
  server::CommonConfig config_;
  std::unique_ptr<auth::ServiceCredential> credential_;
  std::unique_ptr<identity::IdentityModule> identity_;
  std::unique_ptr<FeedModule> feed_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<::parley::identity::v1::IdentityService::Stub> id_;
  std::unique_ptr<::parley::identity::v1::IdentityInternalService::Stub> id_internal_;
  std::unique_ptr<pb::FeedService::Stub> stub_;
  std::unique_ptr<pb::FeedInternalService::Stub> internal_;
  std::map<std::string, test::Account> admins_;
};

}  // namespace parley::feed
