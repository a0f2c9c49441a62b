// kill -9 the feed process again and again while a post is being written and
// fanned out; after each restart the outbox resumes. In the end every follower
// has every acknowledged post exactly once. PARLEY_CHAOS_CYCLES sets the number
// of kills (default 4; tests/chaos/feed_kill_loop runs hundreds).
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "parley/auth/auth.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/testing/testing.h"
#include "people.h"

namespace parley::feed {
namespace {

namespace pb = ::parley::feed::v1;
namespace idpb = ::parley::identity::v1;

constexpr char kServiceKey[] = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
constexpr int kFollowers = 24;

using test::Account;
using test::Ctx;

class FeedCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_file_ = dir_.Sub("service.key");
    FILE* f = fopen(key_file_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs(kServiceKey, f);
    fclose(f);
    id_addr_ = "127.0.0.1:" + std::to_string(testing::FreePort());
    identity_ = testing::Process::Start(
        {testing::BinaryPath("services/identity/parley-identity"), "--grpc_addr=" + id_addr_,
         "--metrics_addr=", "--data_dir=" + dir_.Sub("identity"),
         "--service_key_file=" + key_file_},
        dir_.Sub("identity.log"));
    feed_addr_ = "127.0.0.1:" + std::to_string(testing::FreePort());
    auto channel = grpc::CreateChannel(id_addr_, grpc::InsecureChannelCredentials());
    ASSERT_TRUE(
        channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
    id_ = idpb::IdentityService::NewStub(channel);
    id_internal_ = idpb::IdentityInternalService::NewStub(channel);
  }
  void TearDown() override {
    feed_stub_.reset();
    id_.reset();
    id_internal_.reset();
    if (feed_.has_value()) {
      feed_->Signal(SIGTERM);
      feed_->Wait(absl::Seconds(30));
    }
    identity_->Signal(SIGTERM);
    identity_->Wait(absl::Seconds(30));
    if (HasFailure()) std::cerr << testing::ReadFile(dir_.Sub("feed.log"));
  }

  void StartFeed() {
    feed_ = testing::Process::Start(
        {testing::BinaryPath("services/feed/parley-feed"), "--grpc_addr=" + feed_addr_,
         "--metrics_addr=", "--data_dir=" + dir_.Sub("feed"), "--service_key_file=" + key_file_,
         "--identity_addr=" + id_addr_, "--post_rate_per_minute=100000"},
        dir_.Sub("feed.log"));
    auto channel = grpc::CreateChannel(feed_addr_, grpc::InsecureChannelCredentials());
    ASSERT_TRUE(
        channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
    feed_stub_ = pb::FeedService::NewStub(channel);
  }

  std::vector<Account> People(int n) {
    auto credential = auth::ServiceCredential::FromHexSeed(kServiceKey, "test");
    std::vector<Account> out = {
        test::MakeOrg(id_.get(), id_internal_.get(), (*credential)->Token(), "acme.example")};
    for (int i = 1; i < n; ++i) {
      out.push_back(test::AddMember(id_.get(), out[0], "acme.example", "u" + std::to_string(i)));
    }
    return out;
  }
  // All of `a`'s home timeline, every page.
  absl::StatusOr<std::vector<uint64_t>> Home(const Account& a) {
    std::vector<uint64_t> ids;
    std::string token;
    do {
      pb::ListHomeTimelineRequest req;
      req.set_page_size(100);
      req.set_page_token(token);
      pb::ListHomeTimelineResponse resp;
      grpc::Status s = feed_stub_->ListHomeTimeline(Ctx(a.token).get(), req, &resp);
      if (!s.ok()) return absl::UnavailableError(s.error_message());
      for (const auto& p : resp.posts()) ids.push_back(p.id());
      token = resp.next_page_token();
    } while (!token.empty());
    return ids;
  }

  testing::TempDir dir_;
  std::string key_file_, id_addr_, feed_addr_;
  std::optional<testing::Process> identity_;
  std::optional<testing::Process> feed_;
  std::unique_ptr<idpb::IdentityService::Stub> id_;
  std::unique_ptr<idpb::IdentityInternalService::Stub> id_internal_;
  std::unique_ptr<pb::FeedService::Stub> feed_stub_;
};

TEST_F(FeedCrashTest, EveryAcknowledgedPostReachesEveryFollowerExactlyOnce) {
  const char* env = std::getenv("PARLEY_CHAOS_CYCLES");
  const int cycles = env != nullptr ? std::atoi(env) : 4;
  StartFeed();
  std::vector<Account> people = People(kFollowers + 1);
  const Account author = people[0];
  std::vector<Account> followers(people.begin() + 1, people.end());
  for (const auto& f : followers) {
    pb::FollowUserRequest req;
    req.set_user_id(author.id);
    pb::FollowUserResponse resp;
    ASSERT_TRUE(feed_stub_->FollowUser(Ctx(f.token).get(), req, &resp).ok());
  }

  std::set<uint64_t> acknowledged;
  std::mt19937 rng(42);
  for (int cycle = 0; cycle < cycles; ++cycle) {
    // Write posts until the kill lands at a random moment: the process dies in
    // the middle of commits and of fan-out.
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::thread writer([&] {
      auto stub = pb::FeedService::NewStub(
          grpc::CreateChannel(feed_addr_, grpc::InsecureChannelCredentials()));
      for (int i = 0; !stop; ++i) {
        pb::CreatePostRequest req;
        req.set_body("cycle " + std::to_string(cycle) + " post " + std::to_string(i));
        pb::CreatePostResponse resp;
        if (stub->CreatePost(Ctx(author.token, 2).get(), req, &resp).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged.insert(resp.post().id());
        }
      }
    });
    absl::SleepFor(absl::Milliseconds(150 + rng() % 350));
    feed_->Signal(SIGKILL);
    feed_->Wait(absl::Seconds(10));
    stop = true;
    writer.join();
    StartFeed();
  }
  ASSERT_GT(acknowledged.size(), 0u);
  // After the last restart the outbox drains; every follower sees every
  // acknowledged post once (posts committed but not acknowledged before a
  // kill may appear too, also once).
  for (const auto& f : followers) {
    std::vector<uint64_t> home;
    bool complete = testing::WaitFor(
        [&] {
          auto h = Home(f);
          if (!h.ok()) return false;
          home = *h;
          std::set<uint64_t> seen(home.begin(), home.end());
          return std::includes(seen.begin(), seen.end(), acknowledged.begin(), acknowledged.end());
        },
        absl::Seconds(60));
    EXPECT_TRUE(complete) << "follower " << f.id << " has " << home.size() << " of "
                          << acknowledged.size() << " acknowledged posts";
    std::set<uint64_t> unique(home.begin(), home.end());
    EXPECT_EQ(unique.size(), home.size()) << "a post appears twice";
    EXPECT_TRUE(std::is_sorted(home.rbegin(), home.rend())) << "not newest first";
  }
  std::cerr << "crash test: " << cycles << " kills, " << acknowledged.size()
            << " acknowledged posts, " << followers.size() << " followers\n";
}

}  // namespace
}  // namespace parley::feed
