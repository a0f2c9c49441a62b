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
    admin_ = by_shard.begin()->second.front();
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
  Account admin_;  // the org's first admin (People)
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

// A group lives on its creator's shard; its members, readers and posts are
// spread over all three.
TEST_F(ShardedFeedTest, GroupsMembershipPostsAndQuestionsAcrossShards) {
  auto people = People(3);
  const Account owner = people[0][0], m1 = people[1][0], m2 = people[2][0], outsider = people[1][1];
  pb::CreateGroupRequest create;
  create.set_name("Leadership");
  create.set_privacy(common::v1::GROUP_PRIVACY_PRIVATE);
  pb::CreateGroupResponse created;
  ASSERT_TRUE(feeds_[2]->CreateGroup(Ctx(owner.token).get(), create, &created).ok());
  const uint64_t group = created.group().id();
  for (const Account& m : {m1, m2}) {
    pb::InviteToGroupRequest inv;
    inv.set_group_id(group);
    inv.set_user_id(m.id);
    pb::InviteToGroupResponse ir;
    ASSERT_TRUE(feeds_[1]->InviteToGroup(Ctx(owner.token).get(), inv, &ir).ok());
    pb::JoinGroupRequest join;
    join.set_group_id(group);
    pb::JoinGroupResponse jr;
    grpc::Status s = feeds_[0]->JoinGroup(Ctx(m.token).get(), join, &jr);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(jr.group().viewer_state(), pb::GROUP_MEMBER_STATE_MEMBER);
  }
  // A post by a member homed on shard 2, sent through shard 1, reaches every member.
  pb::CreatePostRequest post;
  post.set_body("private plans");
  post.set_visibility(common::v1::VISIBILITY_GROUP);
  post.set_group_id(group);
  pb::CreatePostResponse posted;
  grpc::Status s = feeds_[1]->CreatePost(Ctx(m2.token).get(), post, &posted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const uint64_t id = posted.post().id();
  for (const Account& m : {owner, m1, m2}) {
    EXPECT_TRUE(Eventually([&] {
      return HomeIds(m, (m.shard + 1) % kShards) == std::vector<uint64_t>{id};
    })) << "member on shard "
        << m.shard;
  }
  // Outsiders see nothing of it, through any shard.
  for (int via = 0; via < kShards; ++via) {
    pb::GetPostRequest get;
    get.set_post_id(id);
    pb::GetPostResponse got;
    EXPECT_EQ(feeds_[via]->GetPost(Ctx(outsider.token).get(), get, &got).error_code(),
              grpc::NOT_FOUND);
    pb::ListGroupTimelineRequest tl;
    tl.set_group_id(group);
    pb::ListGroupTimelineResponse tr;
    EXPECT_EQ(feeds_[via]->ListGroupTimeline(Ctx(outsider.token).get(), tl, &tr).error_code(),
              grpc::NOT_FOUND);
    EXPECT_THAT(HomeIds(outsider, via), Not(Contains(id)));
  }
  // The author's page (on shard 2) has it for the author only.
  auto user_timeline = [&](const Account& viewer, const Account& user) {
    pb::ListUserTimelineRequest req;
    req.set_user_id(user.id);
    pb::ListUserTimelineResponse resp;
    EXPECT_TRUE(feeds_[0]->ListUserTimeline(Ctx(viewer.token).get(), req, &resp).ok());
    std::vector<uint64_t> ids;
    for (const auto& p : resp.posts()) ids.push_back(p.id());
    return ids;
  };
  EXPECT_TRUE(Eventually([&] { return user_timeline(m2, m2) == std::vector<uint64_t>{id}; }));
  EXPECT_THAT(user_timeline(m1, m2), Not(Contains(id)));
  // My groups on a member's shard, hydrated from the group's shard.
  pb::ListMyGroupsRequest mine;
  pb::ListMyGroupsResponse my;
  ASSERT_TRUE(feeds_[0]->ListMyGroups(Ctx(m2.token).get(), mine, &my).ok());
  ASSERT_EQ(my.groups_size(), 1);
  EXPECT_EQ(my.groups(0).id(), group);
  EXPECT_EQ(my.groups(0).member_count(), 3u);
  EXPECT_EQ(my.groups(0).viewer_state(), pb::GROUP_MEMBER_STATE_MEMBER);

  // A question in the group: open for its author until answered.
  pb::CreatePostRequest ask;
  ask.set_body("who owns the budget?");
  ask.set_kind(common::v1::POST_KIND_QUESTION);
  ask.set_visibility(common::v1::VISIBILITY_GROUP);
  ask.set_group_id(group);
  pb::CreatePostResponse asked;
  ASSERT_TRUE(feeds_[2]->CreatePost(Ctx(m2.token).get(), ask, &asked).ok());
  auto open_questions = [&] {
    pb::ListMyOpenQuestionsRequest req;
    pb::ListMyOpenQuestionsResponse resp;
    EXPECT_TRUE(feeds_[1]->ListMyOpenQuestions(Ctx(m2.token).get(), req, &resp).ok());
    std::vector<uint64_t> ids;
    for (const auto& p : resp.posts()) ids.push_back(p.id());
    return ids;
  };
  EXPECT_TRUE(
      Eventually([&] { return open_questions() == std::vector<uint64_t>{asked.post().id()}; }));
  pb::CreateCommentRequest answer;
  answer.set_post_id(asked.post().id());
  answer.set_body("I do");
  pb::CreateCommentResponse answered;
  ASSERT_TRUE(feeds_[1]->CreateComment(Ctx(owner.token).get(), answer, &answered).ok());
  pb::AcceptAnswerRequest accept;
  accept.set_post_id(asked.post().id());
  accept.set_comment_id(answered.comment().id());
  pb::AcceptAnswerResponse accepted;
  s = feeds_[2]->AcceptAnswer(Ctx(m2.token).get(), accept, &accepted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(accepted.post().accepted_comment_id(), answered.comment().id());
  EXPECT_TRUE(open_questions().empty());
  // Someone on the group's shard follows the asker: the follow's backfill pulls
  // from the asker's shard, which must not overwrite the question's original.
  ASSERT_TRUE(Follow(people[0][1], m2, 1).ok());
  pb::GetPostRequest get_question;
  get_question.set_post_id(asked.post().id());
  pb::GetPostResponse question;
  ASSERT_TRUE(feeds_[2]->GetPost(Ctx(m2.token).get(), get_question, &question).ok());
  EXPECT_EQ(question.post().accepted_comment_id(), answered.comment().id());
  pb::ListGroupUnansweredQuestionsRequest unanswered;
  unanswered.set_group_id(group);
  pb::ListGroupUnansweredQuestionsResponse still_open;
  ASSERT_TRUE(feeds_[1]
                  ->ListGroupUnansweredQuestions(Ctx(owner.token).get(), unanswered, &still_open)
                  .ok());
  EXPECT_EQ(still_open.posts_size(), 0);

  // Removing a member (through another shard) takes the group out of their home.
  pb::RemoveGroupMemberRequest remove;
  remove.set_group_id(group);
  remove.set_user_id(m1.id);
  pb::RemoveGroupMemberResponse removed;
  ASSERT_TRUE(feeds_[2]->RemoveGroupMember(Ctx(owner.token).get(), remove, &removed).ok());
  EXPECT_TRUE(Eventually([&] { return HomeIds(m1, 0).empty(); }));
  pb::GetPostRequest get;
  get.set_post_id(id);
  pb::GetPostResponse got;
  EXPECT_EQ(feeds_[1]->GetPost(Ctx(m1.token).get(), get, &got).error_code(), grpc::NOT_FOUND);

  // Org insights add up every shard's counters.
  pb::GetParticipationInsightsRequest ins;
  pb::GetParticipationInsightsResponse insights;
  s = feeds_[1]->GetParticipationInsights(Ctx(admin_.token).get(), ins, &insights);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(insights.insights().post_count(), 2u);
  EXPECT_EQ(insights.insights().active_posters(), 1u);
  EXPECT_EQ(insights.insights().comment_count(), 1u);
  EXPECT_EQ(insights.insights().question_count(), 1u);
  EXPECT_DOUBLE_EQ(insights.insights().answered_question_rate(), 1.0);
  EXPECT_DOUBLE_EQ(insights.insights().median_post_reach(), 2.0);  // three members, less the author
}

// A public group with more members than --fanout_push_threshold (4) is pulled
// by its members' shards, like a heavy author.
TEST_F(ShardedFeedTest, LargeGroupsArePulledAcrossShards) {
  auto people = People(2);
  std::vector<Account> members;
  for (int i = 0; i < kShards; ++i) {
    for (const auto& a : people[i]) members.push_back(a);
  }
  ASSERT_GE(members.size(), 6u);
  members.resize(6);
  pb::CreateGroupRequest create;
  create.set_name("Everyone");
  create.set_privacy(common::v1::GROUP_PRIVACY_PUBLIC);
  pb::CreateGroupResponse created;
  ASSERT_TRUE(feeds_[0]->CreateGroup(Ctx(members[0].token).get(), create, &created).ok());
  for (size_t i = 1; i < members.size(); ++i) {
    pb::JoinGroupRequest join;
    join.set_group_id(created.group().id());
    pb::JoinGroupResponse jr;
    ASSERT_TRUE(feeds_[i % kShards]->JoinGroup(Ctx(members[i].token).get(), join, &jr).ok());
  }
  std::vector<uint64_t> posts;
  for (int i = 0; i < 3; ++i) {
    pb::CreatePostRequest post;
    post.set_body("all hands " + std::to_string(i));
    post.set_visibility(common::v1::VISIBILITY_GROUP);
    post.set_group_id(created.group().id());
    pb::CreatePostResponse posted;
    ASSERT_TRUE(feeds_[i]->CreatePost(Ctx(members[5].token).get(), post, &posted).ok());
    posts.push_back(posted.post().id());
  }
  std::sort(posts.rbegin(), posts.rend());
  for (const auto& m : members) {
    EXPECT_TRUE(Eventually([&] { return HomeIds(m, 2) == posts; }))
        << "member on shard " << m.shard;
  }
}

}  // namespace
}  // namespace parley::feed
