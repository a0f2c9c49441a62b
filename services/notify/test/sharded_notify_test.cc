// Two parley-notify shards, parley-feed, parley-identity and a real
// redis-server on loopback: inboxes live on their owner's shard, any shard
// answers any call, and a stream served by the other shard is woken through
// Redis pub/sub, or by polling the owner while Redis is down.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "../../feed/test/people.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "parley/auth/auth.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/notify/v1/notify.grpc.pb.h"
#include "parley/shard/shard.h"
#include "parley/testing/testing.h"

namespace parley::notify {
namespace {

namespace pb = ::parley::notify::v1;
namespace feedpb = ::parley::feed::v1;
namespace idpb = ::parley::identity::v1;
using feed::test::Account;
using feed::test::Ctx;

constexpr char kServiceKey[] = "3a1c2a9d4e5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f";

class ShardedNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<testing::RedisServer>(dir_.Sub("redis"));
    const std::string key_file = dir_.Sub("service.key");
    FILE* f = fopen(key_file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs(kServiceKey, f);
    fclose(f);
    const std::string id_addr = Addr(), feed_addr = Addr();
    notify_addrs_ = {Addr(), Addr()};
    const std::string all = notify_addrs_[0] + "," + notify_addrs_[1];
    Start("identity",
          {testing::BinaryPath("services/identity/parley-identity"), "--grpc_addr=" + id_addr,
           "--data_dir=" + dir_.Sub("identity")},
          key_file);
    Start("feed",
          {testing::BinaryPath("services/feed/parley-feed"), "--grpc_addr=" + feed_addr,
           "--data_dir=" + dir_.Sub("feed"), "--identity_addr=" + id_addr, "--notify_addr=" + all,
           "--user_cache_ttl_s=0"},
          key_file);
    for (int i = 0; i < 2; ++i) {
      Start(
          "notify" + std::to_string(i),
          {testing::BinaryPath("services/notify/parley-notify"), "--grpc_addr=" + notify_addrs_[i],
           "--data_dir=" + dir_.Sub("notify" + std::to_string(i)), "--identity_addr=" + id_addr,
           "--redis_addr=" + redis_->address(), "--shard_count=2",
           "--shard_index=" + std::to_string(i), "--shard_addrs=" + all, "--user_cache_ttl_s=0",
           "--node_id=" + std::to_string(i)},
          key_file);
    }
    auto id_channel = grpc::CreateChannel(id_addr, grpc::InsecureChannelCredentials());
    auto feed_channel = grpc::CreateChannel(feed_addr, grpc::InsecureChannelCredentials());
    for (const auto& ch : {id_channel, feed_channel}) {
      ASSERT_TRUE(ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)))
          << Logs();
    }
    for (const auto& a : notify_addrs_) {
      auto ch = grpc::CreateChannel(a, grpc::InsecureChannelCredentials());
      ASSERT_TRUE(ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)))
          << Logs();
      notify_.push_back(pb::NotificationService::NewStub(ch));
    }
    id_ = idpb::IdentityService::NewStub(id_channel);
    id_internal_ = idpb::IdentityInternalService::NewStub(id_channel);
    feed_ = feedpb::FeedService::NewStub(feed_channel);
  }
  void TearDown() override {
    notify_.clear();  // open channels would hold the servers' drain
    feed_.reset();
    id_.reset();
    id_internal_.reset();
    for (auto& p : procs_) p.Signal(SIGTERM);
    for (auto& p : procs_) EXPECT_EQ(p.Wait(absl::Seconds(30)), 0);
    if (HasFailure()) std::cerr << Logs();
  }
  std::string Addr() { return "127.0.0.1:" + std::to_string(testing::FreePort()); }
  void Start(const std::string& name, std::vector<std::string> argv, const std::string& key) {
    argv.push_back("--metrics_addr=");
    argv.push_back("--service_key_file=" + key);
    procs_.push_back(testing::Process::Start(argv, dir_.Sub(name + ".log")));
    logs_.push_back(name);
  }
  std::string Logs() {
    std::string out;
    for (const auto& l : logs_) out += "--- " + l + "\n" + testing::ReadFile(dir_.Sub(l + ".log"));
    return out;
  }
  std::string ServiceToken() {
    return (*auth::ServiceCredential::FromHexSeed(kServiceKey, "test"))->Token();
  }
  std::vector<pb::Notification> List(const Account& a, int via) {
    pb::ListNotificationsRequest req;
    pb::ListNotificationsResponse resp;
    grpc::Status s = notify_[via]->ListNotifications(Ctx(a.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.notifications().begin(), resp.notifications().end()};
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::RedisServer> redis_;
  std::vector<std::string> notify_addrs_;
  std::vector<testing::Process> procs_;
  std::vector<std::string> logs_;
  std::unique_ptr<idpb::IdentityService::Stub> id_;
  std::unique_ptr<idpb::IdentityInternalService::Stub> id_internal_;
  std::unique_ptr<feedpb::FeedService::Stub> feed_;
  std::vector<std::unique_ptr<pb::NotificationService::Stub>> notify_;
};

TEST_F(ShardedNotifyTest, InboxOnItsShardStreamsFromTheOther) {
  Account admin =
      feed::test::MakeOrg(id_.get(), id_internal_.get(), ServiceToken(), "acme.example");
  // Someone homed on each shard.
  std::vector<Account> on[2];
  on[shard::JumpConsistentHash(admin.id, 2)].push_back(admin);
  for (int n = 0; n < 40 && (on[0].empty() || on[1].empty() || on[1].size() < 2); ++n) {
    Account a = feed::test::AddMember(id_.get(), admin, "acme.example", "u" + std::to_string(n));
    on[shard::JumpConsistentHash(a.id, 2)].push_back(a);
  }
  ASSERT_FALSE(on[0].empty());
  ASSERT_GE(on[1].size(), 2u);
  const Account ana = on[0][0], bob = on[1][0], cat = on[1][1];

  // ana's stream, served by shard 1 (her inbox is on shard 0).
  auto ctx = Ctx(ana.token, 120);
  auto reader = notify_[1]->Subscribe(ctx.get(), pb::SubscribeRequest());
  std::mutex mu;
  std::vector<pb::Notification> streamed;
  std::thread t([&] {
    pb::SubscribeResponse r;
    while (reader->Read(&r)) {
      std::lock_guard<std::mutex> lock(mu);
      streamed.push_back(r.notification());
    }
  });
  auto streamed_count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return streamed.size();
  };
  absl::SleepFor(absl::Milliseconds(300));  // subscribed before the first event

  feedpb::FollowUserRequest follow;
  follow.set_user_id(ana.id);
  feedpb::FollowUserResponse fr;
  ASSERT_TRUE(feed_->FollowUser(Ctx(bob.token).get(), follow, &fr).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return streamed_count() == 1; }, absl::Seconds(10)));
  // Inbox calls are answered by either shard.
  for (int via : {0, 1}) {
    auto entries = List(ana, via);
    ASSERT_EQ(entries.size(), 1u) << "via shard " << via;
    EXPECT_EQ(entries[0].kind(), pb::NOTIFICATION_KIND_NEW_FOLLOWER);
    EXPECT_EQ(entries[0].actors(0).id(), bob.id);
  }
  EXPECT_TRUE(List(bob, 0).empty());
  pb::MarkReadRequest mark;
  mark.set_up_to_notification_id(List(ana, 1)[0].id());
  pb::MarkReadResponse left;
  ASSERT_TRUE(notify_[1]->MarkRead(Ctx(ana.token).get(), mark, &left).ok());
  pb::GetUnreadCountResponse unread;
  ASSERT_TRUE(
      notify_[0]->GetUnreadCount(Ctx(ana.token).get(), pb::GetUnreadCountRequest(), &unread).ok());
  EXPECT_EQ(unread.unread_count(), 0u);

  // Redis dies: the stream on the other shard still gets new entries (it
  // polls the owner), only later.
  redis_->Kill();
  ASSERT_TRUE(feed_->FollowUser(Ctx(cat.token).get(), follow, &fr).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return streamed_count() == 2; }, absl::Seconds(15)));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(streamed[1].actor_count(), 2u);  // bob's entry, bumped by cat
    EXPECT_EQ(streamed[1].replaced_notification_id(), streamed[0].id());
    EXPECT_GT(streamed[1].id(), streamed[0].id());
  }
  ctx->TryCancel();
  t.join();
}

}  // namespace
}  // namespace parley::notify
