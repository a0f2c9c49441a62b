// Feed over real gRPC on loopback, with a real identity in the same server
// (as in the all-in-one binary) and real RocksDB in a temp dir.
#include <map>
#include <set>
#include <thread>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "feed/src/module.h"
#include "feed_fixture.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "identity/src/module.h"
#include "parley/events/events.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/notify/v1/notify.grpc.pb.h"
#include "parley/status/status.h"
#include "parley/storage/keys.h"
#include "parley/testing/testing.h"
#include "people.h"

namespace parley::feed {
namespace {

namespace idpb = ::parley::identity::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using test::Account;
using test::Ctx;

// The followee's half of a follow arrives from the follower's shard as
// events. A follow and an unfollow (or a block and a late follow) in one
// batch must leave no follower edge behind. Feed core on shard 0 of 2.
TEST(FeedApplyEventsTest, EventsOfOneBatchSeeEachOther) {
  testing::TempDir dir;
  auto db = storage::Db::Open(Feed::StorageOptions(dir.Sub("feed")));
  ASSERT_TRUE(db.ok()) << db.status();
  FeedOptions options;
  options.shards = *shard::ShardMap::Create(2, 0, "127.0.0.1:1,127.0.0.1:2");
  auto feed = Feed::Create(db->get(), /*directory=*/nullptr, options);
  ASSERT_TRUE(feed.ok()) << feed.status();
  uint64_t here = 1000, there = 1000;  // a person on shard 0 and one on shard 1
  while (options.shards.ShardOf(here) != 0) ++here;
  while (options.shards.ShardOf(there) != 1) ++there;

  uint64_t sequence = 0;
  auto batch = [&](std::vector<events::v1::Event> events) {
    pb::ApplyEventsRequest req;
    req.mutable_batch()->set_producer("feed-1/test");
    for (auto& e : events) {
      e.set_producer("feed-1/test");
      e.set_sequence(++sequence);
      *req.mutable_batch()->add_events() = e;
    }
    auto resp = (*feed)->ApplyEvents(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->applied_through_sequence() : 0;
  };
  auto follow = [&](bool add) {
    events::v1::Event e;
    auto* f = add ? e.mutable_followed() : nullptr;
    auto* u = add ? nullptr : e.mutable_unfollowed();
    (add ? f->mutable_follower() : u->mutable_follower())->set_id(there);
    (add ? f->mutable_followee() : u->mutable_followee())->set_id(here);
    return e;
  };
  EXPECT_EQ(batch({follow(true), follow(false)}), 2u);
  EXPECT_EQ((*feed)->FollowerCount(here), 0u) << "the unfollow saw the follow";
  EXPECT_EQ(batch({follow(true)}), 3u);
  EXPECT_EQ((*feed)->FollowerCount(here), 1u);
  // A re-delivered batch changes nothing.
  sequence = 2;
  EXPECT_EQ(batch({follow(true)}), 3u);
  EXPECT_EQ((*feed)->FollowerCount(here), 1u);
  // A block removes the edge; a follow that arrives after it is dropped.
  events::v1::Event block;
  block.mutable_blocked()->set_blocker_id(here);
  block.mutable_blocked()->set_blocked_user_id(there);
  EXPECT_EQ(batch({block, follow(true)}), 5u);
  EXPECT_EQ((*feed)->FollowerCount(here), 0u);
}

TEST_F(FeedTest, ReadYourWriteThenFanOutToEveryFollower) {
  Account ana = MakeOrg("acme.example");
  std::vector<Account> followers;
  for (int i = 0; i < 5; ++i) {
    followers.push_back(AddUser("acme.example", "f" + std::to_string(i)));
    ASSERT_TRUE(Follow(followers.back(), ana).ok());
  }
  pb::Post post;
  ASSERT_TRUE(
      Post(ana, "hello #parley from @f0, @f1@acme.example, @nobody, @f2@globex.example", &post)
          .ok());
  EXPECT_EQ(post.author().handle(), "admin");
  EXPECT_THAT(post.hashtags(), ElementsAre("parley"));
  std::set<uint64_t> mentioned;
  for (const auto& m : post.mentions()) mentioned.insert(m.id());
  EXPECT_EQ(mentioned, (std::set<uint64_t>{followers[0].id, followers[1].id}))
      << "unknown handles and other domains stay text";
  EXPECT_EQ(post.visibility(), common::v1::VISIBILITY_ORG);
  // The author sees it at once, before any fan-out.
  EXPECT_THAT(Home(ana), ElementsAre(post.id()));
  WaitForFanOut();
  for (const auto& f : followers) EXPECT_THAT(Home(f), ElementsAre(post.id()));
  // A non-follower does not get it in their home, but may read it.
  Account other = AddUser("acme.example", "other");
  EXPECT_TRUE(Home(other).empty());
  EXPECT_EQ(GetPostCode(other, post.id()), grpc::OK);
}

TEST_F(FeedTest, PagesNeverOverlapOrSkipAndAreNewestFirst) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  Account cat = AddUser("acme.example", "cat");
  ASSERT_TRUE(Follow(cat, ana).ok());
  ASSERT_TRUE(Follow(cat, bob).ok());
  std::vector<uint64_t> expected;
  for (int i = 0; i < 45; ++i) {
    expected.push_back(PostId(i % 3 == 0 ? bob : ana, "post " + std::to_string(i)));
  }
  expected.push_back(PostId(cat, "my own"));
  WaitForFanOut();
  std::sort(expected.rbegin(), expected.rend());
  for (int size : {1, 7, 20, 100}) EXPECT_EQ(Home(cat, size), expected) << "page size " << size;
}

class SmallHeadFeedTest : public FeedTest {
 protected:
  SmallHeadFeedTest() { head_ = 20; }
};

TEST_F(SmallHeadFeedTest, TimelineNeverRunsOutPastTheHead) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  Account cat = AddUser("acme.example", "cat");
  std::vector<uint64_t> expected;
  // Posts from before the follow: only the newest (backfill) are copied.
  for (int i = 0; i < 130; ++i) expected.push_back(PostId(ana, "old " + std::to_string(i)));
  ASSERT_TRUE(Follow(cat, ana).ok());
  ASSERT_TRUE(Follow(cat, bob).ok());
  for (int i = 0; i < 60; ++i) {
    expected.push_back(PostId(i % 2 ? ana : bob, "new " + std::to_string(i)));
  }
  WaitForFanOut();
  // The head was trimmed to about 20 entries...
  EXPECT_LE(feed_->feed->HomeEntryCount(cat.id), 20u + 20u);
  // ...yet every post of everyone followed is reachable, in order, exactly once.
  std::sort(expected.rbegin(), expected.rend());
  EXPECT_EQ(Home(cat, 9), expected);
  EXPECT_EQ(Home(cat, 100), expected);
}

TEST_F(FeedTest, FollowBackfillsAndUnfollowRemoves) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  uint64_t p1 = PostId(ana, "one");
  uint64_t p2 = PostId(ana, "two");
  ASSERT_TRUE(Follow(bob, ana).ok());
  ASSERT_TRUE(Follow(bob, ana).ok());  // idempotent
  EXPECT_THAT(Home(bob), ElementsAre(p2, p1));
  EXPECT_EQ(feed_->feed->FollowerCount(ana.id), 1u);
  pb::ListFollowersRequest lf;
  lf.set_user_id(ana.id);
  pb::ListFollowersResponse followers;
  ASSERT_TRUE(stub_->ListFollowers(Ctx(bob.token).get(), lf, &followers).ok());
  ASSERT_EQ(followers.users_size(), 1);
  EXPECT_EQ(followers.users(0).handle(), "bob");
  pb::UnfollowUserRequest un;
  un.set_user_id(ana.id);
  pb::UnfollowUserResponse unr;
  ASSERT_TRUE(stub_->UnfollowUser(Ctx(bob.token).get(), un, &unr).ok());
  ASSERT_TRUE(stub_->UnfollowUser(Ctx(bob.token).get(), un, &unr).ok());
  EXPECT_TRUE(Home(bob).empty());
  EXPECT_EQ(feed_->feed->FollowerCount(ana.id), 0u);
  EXPECT_EQ(Follow(bob, bob).error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(FeedTest, VisibilityMatrix) {
  Account ana = MakeOrg("acme.example");
  Account fol = AddUser("acme.example", "fol");       // follows ana
  Account stranger = AddUser("acme.example", "str");  // does not follow
  Account blocker = AddUser("acme.example", "blk");   // follows, then blocks ana
  Account muter = AddUser("acme.example", "mut");     // follows, mutes ana
  Account globex = MakeOrg("globex.example");         // another org
  for (const Account* a : {&fol, &blocker, &muter}) ASSERT_TRUE(Follow(*a, ana).ok());
  uint64_t open = PostId(ana, "for everyone");
  uint64_t closed = PostId(ana, "followers only", common::v1::VISIBILITY_FOLLOWERS);
  WaitForFanOut();

  // Followers-only: followers and the author see it everywhere; others nowhere.
  EXPECT_THAT(Home(fol), ElementsAre(closed, open));
  EXPECT_EQ(GetPostCode(fol, closed), grpc::OK);
  EXPECT_EQ(GetPostCode(stranger, closed), grpc::NOT_FOUND);
  EXPECT_EQ(GetPostCode(stranger, open), grpc::OK);
  EXPECT_THAT(UserTimeline(stranger, ana), ElementsAre(open));
  EXPECT_THAT(UserTimeline(fol, ana), ElementsAre(closed, open));
  pb::CreateCommentRequest cr;
  cr.set_post_id(closed);
  cr.set_body("can I?");
  pb::CreateCommentResponse crr;
  EXPECT_EQ(stub_->CreateComment(Ctx(stranger.token).get(), cr, &crr).error_code(),
            grpc::NOT_FOUND);

  // Another org: nothing, not even the public post.
  EXPECT_EQ(GetPostCode(globex, open), grpc::NOT_FOUND);
  EXPECT_TRUE(UserTimeline(globex, ana).empty());
  EXPECT_EQ(Follow(globex, ana).error_code(), grpc::NOT_FOUND);

  // Muted: gone from the muter's home only.
  pb::MuteUserRequest mr;
  mr.set_user_id(ana.id);
  pb::MuteUserResponse mresp;
  ASSERT_TRUE(stub_->MuteUser(Ctx(muter.token).get(), mr, &mresp).ok());
  EXPECT_TRUE(Home(muter).empty());
  EXPECT_EQ(GetPostCode(muter, open), grpc::OK);

  // Blocked: follows dropped both ways, content hidden both ways, no re-follow.
  pb::BlockUserRequest br;
  br.set_user_id(ana.id);
  pb::BlockUserResponse bresp;
  ASSERT_TRUE(stub_->BlockUser(Ctx(blocker.token).get(), br, &bresp).ok());
  EXPECT_TRUE(Home(blocker).empty());
  EXPECT_EQ(GetPostCode(blocker, open), grpc::NOT_FOUND);
  EXPECT_TRUE(UserTimeline(blocker, ana).empty());
  EXPECT_EQ(Follow(blocker, ana).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(Follow(ana, blocker).error_code(), grpc::FAILED_PRECONDITION);
  pb::ListFollowersRequest lf;
  lf.set_user_id(ana.id);
  pb::ListFollowersResponse lfr;
  EXPECT_EQ(stub_->ListFollowers(Ctx(blocker.token).get(), lf, &lfr).error_code(), grpc::NOT_FOUND)
      << "a blocked person's lists are hidden too";
  uint64_t blockers_post = PostId(blocker, "you can't see this");
  EXPECT_EQ(GetPostCode(ana, blockers_post), grpc::NOT_FOUND);

  // A blocked person's comment is hidden from the blocker's thread.
  pb::CreateCommentRequest c1;
  c1.set_post_id(open);
  c1.set_body("first");
  ASSERT_TRUE(stub_->CreateComment(Ctx(fol.token).get(), c1, &crr).ok());
  pb::GetThreadRequest tr;
  tr.set_post_id(open);
  pb::GetThreadResponse thread;
  ASSERT_TRUE(stub_->GetThread(Ctx(ana.token).get(), tr, &thread).ok());
  EXPECT_EQ(thread.comments_size(), 1);

  // Deleted: gone everywhere, for everyone.
  pb::DeletePostRequest dr;
  dr.set_post_id(open);
  pb::DeletePostResponse dresp;
  EXPECT_EQ(stub_->DeletePost(Ctx(fol.token).get(), dr, &dresp).error_code(),
            grpc::PERMISSION_DENIED);
  ASSERT_TRUE(stub_->DeletePost(Ctx(ana.token).get(), dr, &dresp).ok());
  WaitForFanOut();
  EXPECT_THAT(Home(fol), ElementsAre(closed));
  EXPECT_THAT(Home(ana), ElementsAre(closed));
  EXPECT_EQ(GetPostCode(fol, open), grpc::NOT_FOUND);
  EXPECT_THAT(UserTimeline(stranger, ana), ElementsAre());
  EXPECT_EQ(stub_->GetThread(Ctx(fol.token).get(), tr, &thread).error_code(), grpc::NOT_FOUND);
}

TEST_F(FeedTest, AnOrgAdminMayDeleteAnyonesPostAMemberMayNot) {
  Account admin = MakeOrg("acme.example");
  Account ana = AddUser("acme.example", "ana");
  Account bob = AddUser("acme.example", "bob");
  ASSERT_TRUE(Follow(bob, ana).ok());
  uint64_t p = PostId(ana, "an unfortunate post");
  WaitForFanOut();
  ASSERT_THAT(Home(bob), ElementsAre(p));
  pb::DeletePostRequest dr;
  dr.set_post_id(p);
  pb::DeletePostResponse drr;
  EXPECT_EQ(stub_->DeletePost(Ctx(bob.token).get(), dr, &drr).error_code(),
            grpc::PERMISSION_DENIED);
  ASSERT_TRUE(stub_->DeletePost(Ctx(admin.token).get(), dr, &drr).ok());
  WaitForFanOut();
  EXPECT_TRUE(Home(bob).empty());
  EXPECT_TRUE(Home(ana).empty());
  EXPECT_EQ(GetPostCode(ana, p), grpc::NOT_FOUND);
  // Another org's admin cannot even see it exists.
  Account globex = MakeOrg("globex.example");
  uint64_t q = PostId(ana, "second");
  dr.set_post_id(q);
  EXPECT_EQ(stub_->DeletePost(Ctx(globex.token).get(), dr, &drr).error_code(), grpc::NOT_FOUND);
}

TEST_F(FeedTest, SuspendedAuthorIsHiddenEverywhere) {
  Account admin = MakeOrg("acme.example");
  Account ana = AddUser("acme.example", "ana");
  Account bob = AddUser("acme.example", "bob");
  ASSERT_TRUE(Follow(bob, ana).ok());
  uint64_t p = PostId(ana, "soon suspended");
  uint64_t q = PostId(bob, "bob's own");
  WaitForFanOut();
  ASSERT_THAT(Home(bob), ElementsAre(q, p));
  idpb::SuspendUserRequest sr;
  sr.set_user_id(ana.id);
  idpb::SuspendUserResponse sresp;
  grpc::Status s = id_->SuspendUser(Ctx(admin.token).get(), sr, &sresp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(Home(bob), ElementsAre(q));
  EXPECT_EQ(GetPostCode(bob, p), grpc::NOT_FOUND);
  // Ana's access token still verifies until it expires, but she may not write.
  EXPECT_EQ(Post(ana, "still here?").error_code(), grpc::PERMISSION_DENIED);
  pb::CreateCommentRequest cr;
  cr.set_post_id(q);
  cr.set_body("me neither?");
  pb::CreateCommentResponse crr;
  EXPECT_EQ(stub_->CreateComment(Ctx(ana.token).get(), cr, &crr).error_code(),
            grpc::PERMISSION_DENIED);
  pb::LikePostRequest lp;
  lp.set_post_id(q);
  pb::LikePostResponse lpr;
  EXPECT_EQ(stub_->LikePost(Ctx(ana.token).get(), lp, &lpr).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_TRUE(UserTimeline(bob, ana).empty());
  pb::ListFollowingRequest lf;
  pb::ListFollowingResponse following;
  ASSERT_TRUE(stub_->ListFollowing(Ctx(bob.token).get(), lf, &following).ok());
  EXPECT_EQ(following.users_size(), 0);
  idpb::ReactivateUserRequest rr;
  rr.set_user_id(ana.id);
  idpb::ReactivateUserResponse rresp;
  ASSERT_TRUE(id_->ReactivateUser(Ctx(admin.token).get(), rr, &rresp).ok());
  EXPECT_THAT(Home(bob), ElementsAre(q, p));
}

TEST_F(FeedTest, CommentsRepliesAndLikesAreCountedOnce) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  uint64_t post = PostId(ana, "question?");
  pb::CreateCommentRequest cr;
  cr.set_post_id(post);
  cr.set_body("top");
  pb::CreateCommentResponse top;
  ASSERT_TRUE(stub_->CreateComment(Ctx(bob.token).get(), cr, &top).ok());
  cr.set_parent_comment_id(top.comment().id());
  cr.set_body("reply");
  pb::CreateCommentResponse reply;
  ASSERT_TRUE(stub_->CreateComment(Ctx(ana.token).get(), cr, &reply).ok());
  EXPECT_EQ(reply.comment().parent_comment_id(), top.comment().id());
  cr.set_parent_comment_id(reply.comment().id());  // a reply to a reply joins the top level
  pb::CreateCommentResponse reply2;
  ASSERT_TRUE(stub_->CreateComment(Ctx(bob.token).get(), cr, &reply2).ok());
  EXPECT_EQ(reply2.comment().parent_comment_id(), top.comment().id());

  pb::LikePostRequest lp;
  lp.set_post_id(post);
  pb::LikePostResponse lpr;
  ASSERT_TRUE(stub_->LikePost(Ctx(bob.token).get(), lp, &lpr).ok());
  ASSERT_TRUE(stub_->LikePost(Ctx(bob.token).get(), lp, &lpr).ok());  // idempotent
  pb::LikeCommentRequest lc;
  lc.set_comment_id(top.comment().id());
  pb::LikeCommentResponse lcr;
  ASSERT_TRUE(stub_->LikeComment(Ctx(ana.token).get(), lc, &lcr).ok());
  ASSERT_TRUE(stub_->LikeComment(Ctx(ana.token).get(), lc, &lcr).ok());

  pb::Post seen;
  ASSERT_EQ(GetPostCode(bob, post, &seen), grpc::OK);
  EXPECT_EQ(seen.like_count(), 1u);
  EXPECT_EQ(seen.comment_count(), 3u);
  EXPECT_TRUE(seen.viewer_has_liked());
  ASSERT_EQ(GetPostCode(ana, post, &seen), grpc::OK);
  EXPECT_FALSE(seen.viewer_has_liked());

  pb::GetThreadRequest tr;
  tr.set_post_id(post);
  pb::GetThreadResponse thread;
  ASSERT_TRUE(stub_->GetThread(Ctx(ana.token).get(), tr, &thread).ok());
  ASSERT_EQ(thread.comments_size(), 1);
  EXPECT_EQ(thread.comments(0).reply_count(), 2u);
  EXPECT_EQ(thread.comments(0).like_count(), 1u);
  EXPECT_TRUE(thread.comments(0).viewer_has_liked());
  pb::ListRepliesRequest rr;
  rr.set_comment_id(top.comment().id());
  rr.set_page_size(1);
  pb::ListRepliesResponse replies;
  ASSERT_TRUE(stub_->ListReplies(Ctx(ana.token).get(), rr, &replies).ok());
  ASSERT_EQ(replies.comments_size(), 1);
  EXPECT_EQ(replies.comments(0).id(), reply.comment().id());
  rr.set_page_token(replies.next_page_token());
  ASSERT_TRUE(stub_->ListReplies(Ctx(ana.token).get(), rr, &replies).ok());
  ASSERT_EQ(replies.comments_size(), 1);
  EXPECT_EQ(replies.comments(0).id(), reply2.comment().id());
  EXPECT_TRUE(replies.next_page_token().empty());

  // Unlike twice, delete the top comment (its replies go with it).
  pb::UnlikePostRequest ul;
  ul.set_post_id(post);
  pb::UnlikePostResponse ulr;
  ASSERT_TRUE(stub_->UnlikePost(Ctx(bob.token).get(), ul, &ulr).ok());
  ASSERT_TRUE(stub_->UnlikePost(Ctx(bob.token).get(), ul, &ulr).ok());
  pb::DeleteCommentRequest dc;
  dc.set_comment_id(top.comment().id());
  pb::DeleteCommentResponse dcr;
  ASSERT_TRUE(stub_->DeleteComment(Ctx(bob.token).get(), dc, &dcr).ok());
  ASSERT_EQ(GetPostCode(bob, post, &seen), grpc::OK);
  EXPECT_EQ(seen.like_count(), 0u);
  EXPECT_EQ(seen.comment_count(), 0u);
  EXPECT_FALSE(seen.viewer_has_liked());
}

class LimitedFeedTest : public FeedTest {
 protected:
  LimitedFeedTest() { rate_ = 5; }
};

TEST_F(LimitedFeedTest, LimitsAreNamedAndEnforced) {
  Account ana = MakeOrg("acme.example");
  auto code_and_message = [&](const std::string& body) {
    grpc::Status s = Post(ana, body);
    return std::make_pair(s.error_code(), s.error_message());
  };
  auto [c1, m1] = code_and_message(std::string(5001, 'x'));
  EXPECT_EQ(c1, grpc::INVALID_ARGUMENT);
  EXPECT_THAT(m1, HasSubstr("5000"));
  EXPECT_EQ(code_and_message("").first, grpc::INVALID_ARGUMENT);
  // Invalid UTF-8 in a proto3 string never reaches the handler: the request
  // fails to parse (gRPC answers INTERNAL). Utf8Length guards other callers.
  EXPECT_NE(code_and_message("bad \xC0\xAF utf8").first, grpc::OK);
  std::string many;
  for (int i = 0; i < 51; ++i) many += "@u" + std::to_string(i) + " ";
  auto [c2, m2] = code_and_message(many);
  EXPECT_EQ(c2, grpc::INVALID_ARGUMENT);
  EXPECT_THAT(m2, HasSubstr("mentions"));
  // Exactly at the limits is fine (5,000 multi-byte characters).
  std::string max_body;
  for (int i = 0; i < 5000; ++i) max_body += "\xC3\xA9";
  EXPECT_EQ(code_and_message(max_body).first, grpc::OK);
  pb::ListHomeTimelineRequest req;
  req.set_page_size(101);
  pb::ListHomeTimelineResponse resp;
  grpc::Status s = stub_->ListHomeTimeline(Ctx(ana.token).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size"));
  pb::CreatePostRequest group_req;
  group_req.set_body("in a group?");
  group_req.set_group_id(42);
  pb::CreatePostResponse group_resp;
  EXPECT_EQ(stub_->CreatePost(Ctx(ana.token).get(), group_req, &group_resp).error_code(),
            grpc::INVALID_ARGUMENT)
      << "group_id without VISIBILITY_GROUP";
  req.set_page_size(10);
  req.set_page_token("garbage");
  EXPECT_EQ(stub_->ListHomeTimeline(Ctx(ana.token).get(), req, &resp).error_code(),
            grpc::INVALID_ARGUMENT);
  // Rate: 5 writes per minute; one was spent on the long body above.
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(code_and_message("ok " + std::to_string(i)).first, grpc::OK);
  auto [c3, m3] = code_and_message("one too many");
  EXPECT_EQ(c3, grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(m3, HasSubstr("per minute"));
}

TEST_F(FeedTest, InternalRpcsRejectUserTokensAndDeliveryIsIdempotent) {
  Account ana = MakeOrg("acme.example");
  pb::DeliverTimelineEntriesRequest req;
  req.mutable_post()->set_id(123456789);
  req.mutable_post()->set_org_id(1);
  req.mutable_post()->mutable_author()->set_id(ana.id);
  req.add_recipient_user_ids(ana.id);
  pb::DeliverTimelineEntriesResponse resp;
  EXPECT_EQ(internal_->DeliverTimelineEntries(Ctx(ana.token).get(), req, &resp).error_code(),
            grpc::PERMISSION_DENIED);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        internal_->DeliverTimelineEntries(Ctx(credential_->Token()).get(), req, &resp).ok());
  }
  EXPECT_EQ(feed_->feed->HomeEntryCount(ana.id), 1u);
  for (int i = 0; i < 10001; ++i) req.add_recipient_user_ids(ana.id);
  EXPECT_EQ(
      internal_->DeliverTimelineEntries(Ctx(credential_->Token()).get(), req, &resp).error_code(),
      grpc::INVALID_ARGUMENT);
}

class HeavyFeedTest : public FeedTest {
 protected:
  HeavyFeedTest() { threshold_ = 3; }
};

TEST_F(HeavyFeedTest, HeavyAuthorsArePulledNotPushed) {
  Account star = MakeOrg("acme.example");
  Account light = AddUser("acme.example", "light");
  // The star has 4 followers (above the threshold of 3), the light author 3.
  std::vector<Account> fans;
  for (int i = 0; i < 4; ++i) {
    fans.push_back(AddUser("acme.example", "fan" + std::to_string(i)));
    ASSERT_TRUE(Follow(fans.back(), star).ok());
    if (i < 3) {
      ASSERT_TRUE(Follow(fans.back(), light).ok());
    }
  }
  fans.pop_back();
  std::vector<uint64_t> expected;
  for (int i = 0; i < 12; ++i) expected.push_back(PostId(i % 2 ? star : light, "p"));
  WaitForFanOut();
  std::sort(expected.rbegin(), expected.rend());
  for (const auto& f : fans) {
    // Only the light author's posts were pushed...
    EXPECT_EQ(feed_->feed->HomeEntryCount(f.id), 6u);
    // ...but the reader sees both, merged in order.
    EXPECT_EQ(Home(f, 5), expected);
  }
}

TEST_F(FeedTest, AcknowledgedPostsSurviveARestart) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  ASSERT_TRUE(Follow(bob, ana).ok());
  std::vector<uint64_t> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(PostId(ana, "p" + std::to_string(i)));
  Shutdown();  // possibly before fan-out finished: the outbox resumes it
  Boot();
  WaitForFanOut();
  std::sort(ids.rbegin(), ids.rend());
  EXPECT_EQ(Home(bob), ids);
}

// ListSnapshotEvents tells what this shard homes, as the upserts a consumer
// (search) rebuilds from: each group, membership, post, comment, follow and
// block exactly once; nothing deleted, pending or copied from another shard;
// groups before memberships and posts before comments, on pages of any size.
TEST_F(FeedTest, SnapshotEventsTellEverythingHomedHereOnce) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  Account cat = AddUser("acme.example", "cat");
  Account dan = AddUser("acme.example", "dan");
  ASSERT_TRUE(Follow(bob, ana).ok());
  ASSERT_TRUE(Follow(cat, ana).ok());
  ASSERT_TRUE(Follow(ana, bob).ok());
  pb::BlockUserRequest block;
  block.set_user_id(cat.id);
  pb::BlockUserResponse blocked;
  ASSERT_TRUE(stub_->BlockUser(Ctx(dan.token).get(), block, &blocked).ok());

  auto create_group = [&](const std::string& name, common::v1::GroupPrivacy privacy) {
    pb::CreateGroupRequest req;
    req.set_name(name);
    req.set_description(name + " talk");
    req.set_privacy(privacy);
    pb::CreateGroupResponse resp;
    EXPECT_TRUE(stub_->CreateGroup(Ctx(ana.token).get(), req, &resp).ok());
    return resp.group().id();
  };
  const uint64_t guild = create_group("Guild", common::v1::GROUP_PRIVACY_PUBLIC);
  const uint64_t board = create_group("Board", common::v1::GROUP_PRIVACY_PRIVATE);
  const uint64_t old = create_group("Old", common::v1::GROUP_PRIVACY_PUBLIC);
  pb::JoinGroupRequest join;
  join.set_group_id(guild);
  pb::JoinGroupResponse joined;
  ASSERT_TRUE(stub_->JoinGroup(Ctx(bob.token).get(), join, &joined).ok());
  pb::InviteToGroupRequest invite;  // invited is not a member
  invite.set_group_id(board);
  invite.set_user_id(cat.id);
  pb::InviteToGroupResponse invited;
  ASSERT_TRUE(stub_->InviteToGroup(Ctx(ana.token).get(), invite, &invited).ok());
  pb::RequestToJoinGroupRequest ask;  // nor is someone who asked to join
  ask.set_group_id(board);
  pb::RequestToJoinGroupResponse asked;
  ASSERT_TRUE(stub_->RequestToJoinGroup(Ctx(dan.token).get(), ask, &asked).ok());
  pb::ArchiveGroupRequest archive;
  archive.set_group_id(old);
  pb::ArchiveGroupResponse archived;
  ASSERT_TRUE(stub_->ArchiveGroup(Ctx(ana.token).get(), archive, &archived).ok());

  const uint64_t org_post = PostId(ana, "hello #parley @bob");
  const uint64_t followers_post = PostId(bob, "for my followers", common::v1::VISIBILITY_FOLLOWERS);
  pb::CreatePostRequest group_req;
  group_req.set_body("board only");
  group_req.set_visibility(common::v1::VISIBILITY_GROUP);
  group_req.set_group_id(board);
  pb::CreatePostResponse group_resp;
  ASSERT_TRUE(stub_->CreatePost(Ctx(ana.token).get(), group_req, &group_resp).ok());
  const uint64_t group_post = group_resp.post().id();
  const uint64_t deleted_post = PostId(cat, "soon gone");
  auto comment = [&](const Account& a, uint64_t post, uint64_t parent) {
    pb::CreateCommentRequest req;
    req.set_post_id(post);
    req.set_parent_comment_id(parent);
    req.set_body("a comment");
    pb::CreateCommentResponse resp;
    grpc::Status s = stub_->CreateComment(Ctx(a.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.comment().id();
  };
  const uint64_t top = comment(bob, org_post, 0);
  const uint64_t reply = comment(cat, org_post, top);
  const uint64_t group_comment = comment(ana, group_post, 0);
  comment(ana, deleted_post, 0);  // goes with its post
  pb::DeletePostRequest del;
  del.set_post_id(deleted_post);
  pb::DeletePostResponse deleted;
  ASSERT_TRUE(stub_->DeletePost(Ctx(cat.token).get(), del, &deleted).ok());

  // A copy of another shard's post, as fan-out leaves it here: that shard tells it.
  pb::DeliverTimelineEntriesRequest copy;
  copy.mutable_post()->set_id((*ids::IdGenerator::Create(1))->Next());
  copy.mutable_post()->set_org_id(1);
  copy.mutable_post()->mutable_author()->set_id(ana.id);
  copy.mutable_post()->set_body("homed on shard 1");
  copy.mutable_post()->set_visibility(common::v1::VISIBILITY_ORG);
  copy.add_recipient_user_ids(bob.id);
  ASSERT_TRUE(feed_->feed->DeliverTimelineEntries(copy).ok());

  const std::string service = credential_->Token();
  auto list = [&](int32_t page_size, const std::string& token, pb::ListSnapshotEventsResponse* r) {
    pb::ListSnapshotEventsRequest req;
    req.set_page_size(page_size);
    req.set_page_token(token);
    return internal_->ListSnapshotEvents(Ctx(service).get(), req, r);
  };
  // Every event of a snapshot read with `page_size`; a post written after the
  // first page is `late` (a live event the snapshot may tell too).
  uint64_t late = 0;
  uint64_t snapshot_sequence = 0;
  auto snapshot = [&](int32_t page_size) {
    std::vector<events::v1::Event> all;
    std::set<uint64_t> sequences;
    const uint64_t newest = feed_->feed->outbox()->CommittedThrough();
    snapshot_sequence = newest;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      pb::ListSnapshotEventsResponse page;
      grpc::Status s = list(page_size, token, &page);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      EXPECT_LE(page.events_size(), page_size);
      sequences.insert(page.snapshot_sequence());
      if (pages == 0 && late == 0) late = PostId(ana, "written while the snapshot is read");
      all.insert(all.end(), page.events().begin(), page.events().end());
      token = page.next_page_token();
      if (token.empty()) break;
    }
    EXPECT_THAT(sequences, ElementsAre(newest)) << "the first page's, on every page";
    return all;
  };
  std::vector<events::v1::Event> events = snapshot(2);
  EXPECT_GT(feed_->feed->outbox()->CommittedThrough(), snapshot_sequence) << "the late post";

  auto name = [](const events::v1::Event& e) -> std::string {
    switch (e.payload_case()) {
      case events::v1::Event::kGroupCreated:
        return absl::StrCat("group ", e.group_created().group().id());
      case events::v1::Event::kGroupUpdated:
        return absl::StrCat("archived ", e.group_updated().group().id());
      case events::v1::Event::kGroupMemberJoined:
        return absl::StrCat("member ", e.group_member_joined().group_id(), " ",
                            e.group_member_joined().user().id());
      case events::v1::Event::kPostCreated:
        return absl::StrCat("post ", e.post_created().post_id());
      case events::v1::Event::kCommentCreated:
        return absl::StrCat("comment ", e.comment_created().comment_id());
      case events::v1::Event::kFollowed:
        return absl::StrCat("follow ", e.followed().follower().id(), " ",
                            e.followed().followee().id());
      case events::v1::Event::kBlocked:
        return absl::StrCat("block ", e.blocked().blocker_id(), " ", e.blocked().blocked_user_id());
      default:
        return absl::StrCat("unexpected ", e.payload_case());
    }
  };
  auto id = [](auto... parts) { return absl::StrCat(parts...); };
  const std::multiset<std::string> expected = {id("group ", guild),
                                               id("group ", board),
                                               id("group ", old),
                                               id("archived ", old),
                                               id("member ", guild, " ", ana.id),
                                               id("member ", guild, " ", bob.id),
                                               id("member ", board, " ", ana.id),
                                               id("member ", old, " ", ana.id),
                                               id("post ", org_post),
                                               id("post ", followers_post),
                                               id("post ", group_post),
                                               id("post ", late),
                                               id("comment ", top),
                                               id("comment ", reply),
                                               id("comment ", group_comment),
                                               id("follow ", bob.id, " ", ana.id),
                                               id("follow ", cat.id, " ", ana.id),
                                               id("follow ", ana.id, " ", bob.id),
                                               id("block ", dan.id, " ", cat.id)};
  std::multiset<std::string> told;
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < events.size(); ++i) {
    told.insert(name(events[i]));
    position[name(events[i])] = i;
  }
  EXPECT_EQ(told, expected) << "each exactly once; no deleted post or its comment, no copy, no "
                               "invitation or request";

  // Order: groups, then memberships, posts, comments, follows, blocks.
  EXPECT_EQ(position[id("archived ", old)], position[id("group ", old)] + 1);
  EXPECT_LT(position[id("archived ", old)], position[id("member ", guild, " ", ana.id)]);
  EXPECT_LT(position[id("member ", old, " ", ana.id)], position[id("post ", org_post)]);
  EXPECT_LT(position[id("post ", late)], position[id("comment ", top)]);
  EXPECT_LT(position[id("comment ", group_comment)], position[id("follow ", bob.id, " ", ana.id)]);
  EXPECT_LT(position[id("follow ", ana.id, " ", bob.id)],
            position[id("block ", dan.id, " ", cat.id)]);

  // Upserts of this shard's producer, with the org and the fields live events carry.
  std::set<uint64_t> orgs;
  for (const auto& e : events) {
    EXPECT_EQ(e.sequence(), 0u);
    EXPECT_EQ(e.producer(), feed_->feed->outbox()->producer_id());
    EXPECT_TRUE(e.has_create_time());
    orgs.insert(e.org_id());
  }
  EXPECT_THAT(feed_->feed->outbox()->producer_id(), ::testing::StartsWith("feed-0/"));
  ASSERT_EQ(orgs.size(), 1u);
  EXPECT_NE(*orgs.begin(), 0u);
  auto at = [&](const std::string& key) -> const events::v1::Event& {
    return events[position.at(key)];
  };
  const auto& hello = at(id("post ", org_post)).post_created();
  EXPECT_EQ(hello.author().handle(), "admin");
  EXPECT_EQ(hello.body(), "hello #parley @bob");
  EXPECT_THAT(hello.hashtags(), ElementsAre("parley"));
  ASSERT_EQ(hello.mentions_size(), 1);
  EXPECT_EQ(hello.mentions(0).id(), bob.id);
  EXPECT_EQ(hello.visibility(), common::v1::VISIBILITY_ORG);
  EXPECT_EQ(hello.kind(), common::v1::POST_KIND_STATUS);
  EXPECT_TRUE(hello.has_create_time());
  EXPECT_EQ(at(id("post ", followers_post)).post_created().visibility(),
            common::v1::VISIBILITY_FOLLOWERS);
  const auto& board_post = at(id("post ", group_post)).post_created();
  EXPECT_EQ(board_post.visibility(), common::v1::VISIBILITY_GROUP);
  EXPECT_EQ(board_post.group().id(), board);
  EXPECT_EQ(board_post.group().name(), "Board");
  EXPECT_EQ(board_post.group().privacy(), common::v1::GROUP_PRIVACY_PRIVATE);
  const auto& replied = at(id("comment ", reply)).comment_created();
  EXPECT_EQ(replied.post_id(), org_post);
  EXPECT_EQ(replied.parent_comment_id(), top);
  EXPECT_EQ(replied.parent_comment_author_id(), bob.id);
  EXPECT_EQ(replied.post_author_id(), ana.id);
  EXPECT_EQ(replied.author().handle(), "cat");
  EXPECT_EQ(replied.post_visibility(), common::v1::VISIBILITY_ORG);
  EXPECT_EQ(replied.group_id(), 0u);
  const auto& in_board = at(id("comment ", group_comment)).comment_created();
  EXPECT_EQ(in_board.post_visibility(), common::v1::VISIBILITY_GROUP);
  EXPECT_EQ(in_board.group_id(), board);
  EXPECT_EQ(in_board.parent_comment_author_id(), 0u);
  const auto& created = at(id("group ", board)).group_created();
  EXPECT_EQ(created.group().name(), "Board");
  EXPECT_EQ(created.group().privacy(), common::v1::GROUP_PRIVACY_PRIVATE);
  EXPECT_EQ(created.description(), "Board talk");
  EXPECT_TRUE(at(id("archived ", old)).group_updated().archived());
  EXPECT_EQ(at(id("member ", guild, " ", bob.id)).group_member_joined().user().handle(), "bob");
  const auto& follow = at(id("follow ", bob.id, " ", ana.id)).followed();
  EXPECT_EQ(follow.follower().handle(), "bob");
  EXPECT_EQ(follow.followee().handle(), "admin");
  EXPECT_EQ(follow.followee().domain(), "acme.example");

  // Any page size tells the same, even one that splits a group from its
  // archived state.
  std::multiset<std::string> one_by_one;
  for (const auto& e : snapshot(1)) one_by_one.insert(name(e));
  EXPECT_EQ(one_by_one, expected);
  std::multiset<std::string> one_page;
  pb::ListSnapshotEventsResponse whole;
  ASSERT_TRUE(list(0, "", &whole).ok()) << "the default page size holds everything here";
  EXPECT_TRUE(whole.next_page_token().empty());
  for (const auto& e : whole.events()) one_page.insert(name(e));
  EXPECT_EQ(one_page, expected);

  pb::ListSnapshotEventsResponse resp;
  grpc::Status too_big = list(kMaxSnapshotPageSize + 1, "", &resp);
  EXPECT_EQ(too_big.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(too_big.error_message(), "page_size: 1001 is out of range [1, 1000]");
  EXPECT_EQ(list(-1, "", &resp).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(list(2, "!!", &resp).error_code(), grpc::INVALID_ARGUMENT);
  const std::string unknown_section = std::string("\x01z") + std::string(9, '\0');
  EXPECT_EQ(list(2, absl::WebSafeBase64Escape(unknown_section), &resp).error_code(),
            grpc::INVALID_ARGUMENT);
  const std::string short_key = std::string("\x01p") + std::string(9, '\0') + "abc";
  EXPECT_EQ(list(2, absl::WebSafeBase64Escape(short_key), &resp).error_code(),
            grpc::INVALID_ARGUMENT);
  pb::ListSnapshotEventsRequest req;
  EXPECT_EQ(internal_->ListSnapshotEvents(Ctx(ana.token).get(), req, &resp).error_code(),
            grpc::PERMISSION_DENIED)
      << "an internal RPC";
}

// A subscriber built the way notifications will be: a real gRPC service whose
// ApplyEvents applies batches with events::ApplyBatch into its own RocksDB,
// counting each event kind. Its first answer is lost after the batch was
// applied (it returns UNAVAILABLE), so the feed delivers that batch again.
class CountingSubscriber final : public notify::v1::NotificationInternalService::Service {
 public:
  explicit CountingSubscriber(const std::string& dir) {
    auto opts = storage::DbOptions::ForTesting(dir);
    opts.column_families = {"applied", "counts"};
    db_ = *storage::Db::Open(opts);
    applied_ = std::make_unique<storage::AppliedSequences>(db_.get(), db_->Cf("applied"));
  }
  grpc::Status ApplyEvents(grpc::ServerContext*, const notify::v1::ApplyEventsRequest* req,
                           notify::v1::ApplyEventsResponse* resp) override {
    auto through = events::ApplyBatch(
        *applied_, req->batch(), [&](const events::v1::Event& e, rocksdb::WriteBatch* b) {
          return storage::FromRocks(b->Merge(db_->Cf("counts"), storage::U64Key(e.payload_case()),
                                             storage::EncodeCounter(1)));
        });
    if (!through.ok()) return status::ToGrpc(through.status());
    if (calls_++ == 0) return grpc::Status(grpc::UNAVAILABLE, "the answer was lost");
    resp->set_applied_through_sequence(*through);
    return grpc::Status::OK;
  }
  int64_t Count(events::v1::Event::PayloadCase kind) {
    auto v = db_->Get(db_->Cf("counts"), storage::U64Key(kind));
    return v.ok() && v->has_value() ? storage::DecodeCounter(**v) : 0;
  }

 private:
  std::atomic<int> calls_{0};
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::AppliedSequences> applied_;
};

class SubscribedFeedTest : public FeedTest {
 protected:
  void SetUp() override {
    subscriber_ = std::make_unique<CountingSubscriber>(sub_dir_.path());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(subscriber_.get());
    sub_server_ = builder.BuildAndStart();
    notify_addr_ = "127.0.0.1:" + std::to_string(port);
    FeedTest::SetUp();
  }
  void TearDown() override {
    FeedTest::TearDown();
    sub_server_->Shutdown();
    absl::SetFlag(&FLAGS_notify_addr, "");
  }
  testing::TempDir sub_dir_;
  std::unique_ptr<CountingSubscriber> subscriber_;
  std::unique_ptr<grpc::Server> sub_server_;
};

TEST_F(SubscribedFeedTest, EventsReachSubscribersExactlyOnce) {
  using E = events::v1::Event;
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  ASSERT_TRUE(Follow(bob, ana).ok());
  uint64_t post = PostId(ana, "hi @bob");
  pb::CreateCommentRequest cr;
  cr.set_post_id(post);
  cr.set_body("hello");
  pb::CreateCommentResponse comment;
  ASSERT_TRUE(stub_->CreateComment(Ctx(bob.token).get(), cr, &comment).ok());
  pb::LikePostRequest lp;
  lp.set_post_id(post);
  pb::LikePostResponse lpr;
  ASSERT_TRUE(stub_->LikePost(Ctx(bob.token).get(), lp, &lpr).ok());
  ASSERT_TRUE(stub_->LikePost(Ctx(bob.token).get(), lp, &lpr).ok());  // no second event
  pb::DeletePostRequest dr;
  dr.set_post_id(post);
  pb::DeletePostResponse drr;
  ASSERT_TRUE(stub_->DeletePost(Ctx(ana.token).get(), dr, &drr).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return feed_->feed->outbox()->Pending("notify") == 0; },
                               absl::Seconds(30)));
  EXPECT_EQ(subscriber_->Count(E::kFollowed), 1);
  EXPECT_EQ(subscriber_->Count(E::kPostCreated), 1);
  EXPECT_EQ(subscriber_->Count(E::kMentioned), 1);
  EXPECT_EQ(subscriber_->Count(E::kCommentCreated), 1);
  EXPECT_EQ(subscriber_->Count(E::kLiked), 1);
  EXPECT_EQ(subscriber_->Count(E::kPostDeleted), 1);
  // A restart re-reads the cursor; nothing is delivered twice.
  Shutdown();
  Boot();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(subscriber_->Count(E::kPostCreated), 1);
}

// The group and question events notifications are built on: each once, and
// none for calls that change nothing.
TEST_F(SubscribedFeedTest, GroupAndAnswerEventsReachSubscribersExactlyOnce) {
  using E = events::v1::Event;
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  Account cat = AddUser("acme.example", "cat");
  pb::CreateGroupRequest cg;
  cg.set_name("Leadership");
  cg.set_privacy(common::v1::GROUP_PRIVACY_PRIVATE);
  pb::CreateGroupResponse group;
  ASSERT_TRUE(stub_->CreateGroup(Ctx(ana.token).get(), cg, &group).ok());
  const uint64_t g = group.group().id();
  pb::InviteToGroupRequest inv;
  inv.set_group_id(g);
  inv.set_user_id(bob.id);
  pb::InviteToGroupResponse invr;
  ASSERT_TRUE(stub_->InviteToGroup(Ctx(ana.token).get(), inv, &invr).ok());
  ASSERT_TRUE(stub_->InviteToGroup(Ctx(ana.token).get(), inv, &invr).ok());  // no second event
  pb::JoinGroupRequest join;
  join.set_group_id(g);
  pb::JoinGroupResponse joined;
  ASSERT_TRUE(stub_->JoinGroup(Ctx(bob.token).get(), join, &joined).ok());
  ASSERT_TRUE(stub_->JoinGroup(Ctx(bob.token).get(), join, &joined).ok());
  pb::RequestToJoinGroupRequest rj;
  rj.set_group_id(g);
  pb::RequestToJoinGroupResponse rjr;
  ASSERT_TRUE(stub_->RequestToJoinGroup(Ctx(cat.token).get(), rj, &rjr).ok());
  pb::ApproveJoinRequestRequest ap;
  ap.set_group_id(g);
  ap.set_user_id(cat.id);
  pb::ApproveJoinRequestResponse apr;
  ASSERT_TRUE(stub_->ApproveJoinRequest(Ctx(ana.token).get(), ap, &apr).ok());
  pb::CreatePostRequest ask;
  ask.set_kind(common::v1::POST_KIND_QUESTION);
  ask.set_visibility(common::v1::VISIBILITY_GROUP);
  ask.set_group_id(g);
  ask.set_body("who knows the budget?");
  pb::CreatePostResponse question;
  ASSERT_TRUE(stub_->CreatePost(Ctx(ana.token).get(), ask, &question).ok());
  std::vector<uint64_t> answers;
  for (const Account& who : {bob, cat}) {
    pb::CreateCommentRequest cr;
    cr.set_post_id(question.post().id());
    cr.set_body("me");
    pb::CreateCommentResponse c;
    ASSERT_TRUE(stub_->CreateComment(Ctx(who.token).get(), cr, &c).ok());
    answers.push_back(c.comment().id());
  }
  for (uint64_t answer : {answers[0], answers[0], answers[1]}) {  // the repeat changes nothing
    pb::AcceptAnswerRequest acc;
    acc.set_post_id(question.post().id());
    acc.set_comment_id(answer);
    pb::AcceptAnswerResponse accr;
    ASSERT_TRUE(stub_->AcceptAnswer(Ctx(ana.token).get(), acc, &accr).ok());
  }
  pb::RemoveGroupMemberRequest rm;
  rm.set_group_id(g);
  rm.set_user_id(cat.id);
  pb::RemoveGroupMemberResponse rmr;
  ASSERT_TRUE(stub_->RemoveGroupMember(Ctx(ana.token).get(), rm, &rmr).ok());
  pb::LeaveGroupRequest leave;
  leave.set_group_id(g);
  pb::LeaveGroupResponse left;
  ASSERT_TRUE(stub_->LeaveGroup(Ctx(bob.token).get(), leave, &left).ok());
  ASSERT_TRUE(stub_->LeaveGroup(Ctx(bob.token).get(), leave, &left).ok());
  pb::ArchiveGroupRequest ar;
  ar.set_group_id(g);
  pb::ArchiveGroupResponse arr;
  ASSERT_TRUE(stub_->ArchiveGroup(Ctx(ana.token).get(), ar, &arr).ok());
  ASSERT_TRUE(stub_->ArchiveGroup(Ctx(ana.token).get(), ar, &arr).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return feed_->feed->outbox()->Pending("notify") == 0; },
                               absl::Seconds(30)));
  EXPECT_EQ(subscriber_->Count(E::kGroupCreated), 1);
  EXPECT_EQ(subscriber_->Count(E::kGroupMemberJoined), 3);  // ana, bob, cat
  EXPECT_EQ(subscriber_->Count(E::kGroupInvited), 1);
  EXPECT_EQ(subscriber_->Count(E::kGroupJoinRequested), 1);
  EXPECT_EQ(subscriber_->Count(E::kGroupJoinApproved), 1);
  EXPECT_EQ(subscriber_->Count(E::kAnswerAccepted), 2);
  EXPECT_EQ(subscriber_->Count(E::kGroupMemberRemoved), 1);
  EXPECT_EQ(subscriber_->Count(E::kGroupMemberLeft), 1);
  EXPECT_EQ(subscriber_->Count(E::kGroupUpdated), 1);
  EXPECT_EQ(subscriber_->Count(E::kCommentCreated), 2);
}

}  // namespace
}  // namespace parley::feed
