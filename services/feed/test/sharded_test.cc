// Three parley-feed shard processes and a parley-identity on loopback: users
// land on shards by jump hash; fan-out, follows, blocks, likes, deletes and
// heavy authors work across shards, and any shard answers any public call.
#include <signal.h>

#include <iostream>
#include <map>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/shard/shard.h"
#include "parley/testing/testing.h"
#include "people.h"

namespace parley::feed {
namespace {

namespace pb = ::parley::feed::v1;
namespace idpb = ::parley::identity::v1;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

constexpr char kServiceKey[] = "7f1c2a9d4e5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f";
constexpr int kShards = 3;

using test::Ctx;

struct Account {
  uint64_t id = 0;
  std::string token;
  int shard = 0;
};

class ShardedFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string key_file = dir_.Sub("service.key");
    {
      FILE* f = fopen(key_file.c_str(), "w");
      ASSERT_NE(f, nullptr);
      fputs(kServiceKey, f);
      fclose(f);
    }
    const std::string id_addr = "127.0.0.1:" + std::to_string(testing::FreePort());
    procs_.push_back(testing::Process::Start(
        {testing::BinaryPath("services/identity/parley-identity"), "--grpc_addr=" + id_addr,
         "--metrics_addr=", "--data_dir=" + dir_.Sub("identity"), "--service_key_file=" + key_file},
        dir_.Sub("identity.log")));
    std::vector<std::string> addrs;
    for (int i = 0; i < kShards; ++i) {
      addrs.push_back("127.0.0.1:" + std::to_string(testing::FreePort()));
    }
    std::string all = addrs[0] + "," + addrs[1] + "," + addrs[2];
    for (int i = 0; i < kShards; ++i) {
      procs_.push_back(testing::Process::Start(
          {testing::BinaryPath("services/feed/parley-feed"), "--grpc_addr=" + addrs[i],
           "--metrics_addr=", "--data_dir=" + dir_.Sub("feed" + std::to_string(i)),
           "--service_key_file=" + key_file, "--identity_addr=" + id_addr, "--shard_count=3",
           "--shard_index=" + std::to_string(i), "--shard_addrs=" + all, "--user_cache_ttl_s=0",
           "--fanout_push_threshold=4", "--node_id=" + std::to_string(i)},
          dir_.Sub("feed" + std::to_string(i) + ".log")));
    }
    auto id_channel = grpc::CreateChannel(id_addr, grpc::InsecureChannelCredentials());
    id_ = idpb::IdentityService::NewStub(id_channel);
    id_internal_ = idpb::IdentityInternalService::NewStub(id_channel);
    for (int i = 0; i < kShards; ++i) {
      auto channel = grpc::CreateChannel(addrs[i], grpc::InsecureChannelCredentials());
      ASSERT_TRUE(
          channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)))
          << "shard " << i << ": "
          << testing::ReadFile(dir_.Sub("feed" + std::to_string(i) + ".log"));
      feeds_.push_back(pb::FeedService::NewStub(channel));
    }
    ASSERT_TRUE(
        id_channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
    service_token_ = MintServiceToken();
  }
  void TearDown() override {
    feeds_.clear();
    id_.reset();
    id_internal_.reset();
    for (auto& p : procs_) p.Signal(SIGTERM);
    for (auto& p : procs_) EXPECT_EQ(p.Wait(absl::Seconds(30)), 0);
    if (HasFailure()) {
      for (const char* log : {"identity.log", "feed0.log", "feed1.log", "feed2.log"}) {
        std::cerr << "--- " << log << "\n" << testing::ReadFile(dir_.Sub(log));
      }
    }
  }

  std::string MintServiceToken();

  // People until every shard has at least `per_shard` of them.
  // People until every shard has at least `per_shard` of them.
  std::map<int, std::vector<Account>> People(int per_shard) {
    test::Account admin =
        test::MakeOrg(id_.get(), id_internal_.get(), service_token_, "acme.example");
    std::map<int, std::vector<Account>> by_shard;
    auto add = [&](const test::Account& a) {
      int shard = shard::JumpConsistentHash(a.id, kShards);
      by_shard[shard].push_back({a.id, a.token, shard});
    };
    add(admin);
    for (int n = 0; n < 60; ++n) {
      bool done = true;
      for (int i = 0; i < kShards; ++i) done = done && by_shard[i].size() >= size_t(per_shard);
      if (done) break;
      add(test::AddMember(id_.get(), admin, "acme.example", "u" + std::to_string(n)));
    }
    return by_shard;
  }

  // Calls go to shard `via` (any shard answers; the data may live elsewhere).
  grpc::Status Follow(const Account& a, const Account& b, int via) {
    pb::FollowUserRequest req;
    req.set_user_id(b.id);
    pb::FollowUserResponse resp;
    return feeds_[via]->FollowUser(Ctx(a.token).get(), req, &resp);
  }
  uint64_t Post(const Account& a, const std::string& body, int via,
                common::v1::Visibility v = common::v1::VISIBILITY_ORG) {
    pb::CreatePostRequest req;
    req.set_body(body);
    req.set_visibility(v);
    pb::CreatePostResponse resp;
    grpc::Status s = feeds_[via]->CreatePost(Ctx(a.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.post().id();
  }
  std::vector<pb::Post> Home(const Account& a, int via) {
    pb::ListHomeTimelineRequest req;
    req.set_page_size(100);
    pb::ListHomeTimelineResponse resp;
    grpc::Status s = feeds_[via]->ListHomeTimeline(Ctx(a.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.posts().begin(), resp.posts().end()};
  }
  std::vector<uint64_t> HomeIds(const Account& a, int via) {
    std::vector<uint64_t> ids;
    for (const auto& p : Home(a, via)) ids.push_back(p.id());
    return ids;
  }
  bool Eventually(const std::function<bool()>& f) { return testing::WaitFor(f, absl::Seconds(30)); }

  testing::TempDir dir_;
  std::vector<testing::Process> procs_;
  std::unique_ptr<idpb::IdentityService::Stub> id_;
  std::unique_ptr<idpb::IdentityInternalService::Stub> id_internal_;
  std::vector<std::unique_ptr<pb::FeedService::Stub>> feeds_;
  std::string service_token_;
};

}  // namespace
}  // namespace parley::feed

#include "parley/auth/auth.h"

namespace parley::feed {
namespace {

std::string ShardedFeedTest::MintServiceToken() {
  auto credential = auth::ServiceCredential::FromHexSeed(kServiceKey, "test");
  EXPECT_TRUE(credential.ok());
  return (*credential)->Token();
}

TEST_F(ShardedFeedTest, FanOutFollowsBlocksAndCountsAcrossThreeShards) {
  auto people = People(3);
  for (int i = 0; i < kShards; ++i) ASSERT_GE(people[i].size(), 3u) << "shard " << i;
  const Account author = people[0][0];
  // Followers on every shard (one of them on the author's own), each call sent
  // to a shard that is not the follower's.
  std::vector<Account> followers = {people[0][1], people[1][0], people[2][0]};
  for (const auto& f : followers) ASSERT_TRUE(Follow(f, author, (f.shard + 1) % kShards).ok());

  const uint64_t open = Post(author, "hello shards", 1);
  const uint64_t closed = Post(author, "followers only", 2, common::v1::VISIBILITY_FOLLOWERS);
  for (const auto& f : followers) {
    EXPECT_TRUE(Eventually([&] {
      return HomeIds(f, 0) == std::vector<uint64_t>{closed, open};
    })) << "follower on shard "
        << f.shard;
  }
  // The author's follower list (on the author's shard) has the remote followers.
  pb::ListFollowersRequest lf;
  lf.set_user_id(author.id);
  pb::ListFollowersResponse fl;
  EXPECT_TRUE(Eventually([&] {
    fl.Clear();
    return feeds_[2]->ListFollowers(Ctx(author.token).get(), lf, &fl).ok() && fl.users_size() == 3;
  }));

  // A like from shard 2's follower shows in the counts a shard-1 reader sees.
  pb::LikePostRequest like;
  like.set_post_id(open);
  pb::LikePostResponse liked;
  ASSERT_TRUE(feeds_[0]->LikePost(Ctx(followers[2].token).get(), like, &liked).ok());
  pb::CreateCommentRequest cr;
  cr.set_post_id(open);
  cr.set_body("from shard 1");
  pb::CreateCommentResponse comment;
  ASSERT_TRUE(feeds_[2]->CreateComment(Ctx(followers[1].token).get(), cr, &comment).ok());
  auto home1 = Home(followers[1], 0);
  ASSERT_EQ(home1.size(), 2u);
  EXPECT_EQ(home1[1].like_count(), 1u);
  EXPECT_EQ(home1[1].comment_count(), 1u);
  EXPECT_FALSE(home1[1].viewer_has_liked());
  EXPECT_TRUE(Home(followers[2], 1)[1].viewer_has_liked());

  // Followers-only: a non-follower on another shard cannot read it.
  const Account stranger = people[1][1];
  pb::GetPostRequest gp;
  gp.set_post_id(closed);
  pb::GetPostResponse got;
  EXPECT_EQ(feeds_[1]->GetPost(Ctx(stranger.token).get(), gp, &got).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(feeds_[1]->GetPost(Ctx(followers[2].token).get(), gp, &got).error_code(), grpc::OK);

  // Follow backfills across shards.
  const Account late = people[2][1];
  ASSERT_TRUE(Follow(late, author, 0).ok());
  EXPECT_THAT(HomeIds(late, 1), ElementsAre(closed, open));

  // Unfollow from another shard: gone from that reader's home.
  pb::UnfollowUserRequest un;
  un.set_user_id(author.id);
  pb::UnfollowUserResponse unr;
  ASSERT_TRUE(feeds_[0]->UnfollowUser(Ctx(late.token).get(), un, &unr).ok());
  EXPECT_TRUE(HomeIds(late, 2).empty());

  // Block across shards: the author's posts disappear for the blocker, and the
  // blocker cannot read them on the author's shard either.
  pb::BlockUserRequest br;
  br.set_user_id(author.id);
  pb::BlockUserResponse brr;
  ASSERT_TRUE(feeds_[0]->BlockUser(Ctx(followers[1].token).get(), br, &brr).ok());
  EXPECT_TRUE(HomeIds(followers[1], 1).empty());
  gp.set_post_id(open);
  EXPECT_TRUE(Eventually([&] {
    return feeds_[2]->GetPost(Ctx(followers[1].token).get(), gp, &got).error_code() ==
           grpc::NOT_FOUND;
  }));
  EXPECT_TRUE(Eventually([&] {
    fl.Clear();
    return feeds_[0]->ListFollowers(Ctx(author.token).get(), lf, &fl).ok() && fl.users_size() == 2;
  }));

  // Delete: gone from every shard.
  pb::DeletePostRequest dr;
  dr.set_post_id(open);
  pb::DeletePostResponse drr;
  ASSERT_TRUE(feeds_[1]->DeletePost(Ctx(author.token).get(), dr, &drr).ok());
  for (const auto& f : {followers[0], followers[2]}) {
    EXPECT_TRUE(Eventually([&] { return HomeIds(f, 1) == std::vector<uint64_t>{closed}; }))
        << "follower on shard " << f.shard;
  }
}

TEST_F(ShardedFeedTest, HeavyAuthorsOnAnotherShardArePulled) {
  auto people = People(3);
  const Account star = people[1][0];
  // Five followers (threshold 4) spread over the shards.
  std::vector<Account> fans;
  for (int i = 0; i < kShards; ++i) {
    for (const auto& a : people[i]) {
      if (a.id != star.id && fans.size() < 5) fans.push_back(a);
    }
  }
  ASSERT_EQ(fans.size(), 5u);
  for (const auto& f : fans) ASSERT_TRUE(Follow(f, star, 0).ok());
  std::vector<uint64_t> posts;
  for (int i = 0; i < 3; ++i) posts.push_back(Post(star, "star post " + std::to_string(i), 2));
  std::sort(posts.rbegin(), posts.rend());
  for (const auto& f : fans) {
    EXPECT_TRUE(Eventually([&] { return HomeIds(f, 0) == posts; })) << "fan on shard " << f.shard;
  }
}

}  // namespace
}  // namespace parley::feed
