// Notifications and presence over real gRPC on loopback: identity, feed and
// notify in one server (as in the all-in-one binary, feed's events reach
// notify through the in-process channel), real RocksDB in a temp dir and a real
// redis-server started and killed by the test.
#include <signal.h>

#include <atomic>
#include <set>
#include <thread>

#include "../../feed/test/people.h"
#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "feed/src/module.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "identity/src/module.h"
#include "notify/src/module.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/notify/v1/notify.grpc.pb.h"
#include "parley/testing/testing.h"

ABSL_DECLARE_FLAG(int, user_cache_ttl_s);
ABSL_DECLARE_FLAG(std::string, redis_addr);
ABSL_DECLARE_FLAG(int, post_rate_per_minute);

namespace parley::notify {
namespace {

namespace idpb = ::parley::identity::v1;
namespace feedpb = ::parley::feed::v1;
namespace ev = ::parley::events::v1;
using feed::test::Account;
using feed::test::Ctx;
using ::testing::ElementsAre;

class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<testing::RedisServer>(redis_dir_.path());
    absl::SetFlag(&FLAGS_user_cache_ttl_s, 0);
    absl::SetFlag(&FLAGS_post_rate_per_minute, 10000);
    absl::SetFlag(&FLAGS_redis_addr, redis_->address());
    config_.data_dir = dir_.path();
    config_.server.grpc_addr = "127.0.0.1:0";
    config_.server.metrics_addr = "";
    config_.server.drain_timeout = absl::Seconds(5);
    credential_ = *server::LoadServiceCredential(config_, "test");
    identity_ = *identity::IdentityModule::Create(config_, *credential_);
    auto self = std::make_shared<server::ChannelSlot>();
    auto notify = NotifyModule::Create(config_, credential_.get(), *registry_, self);
    ASSERT_TRUE(notify.ok()) << notify.status();
    notify_ = *std::move(notify);
    auto feed = feed::FeedModule::Create(config_, credential_.get(), self, self);
    ASSERT_TRUE(feed.ok()) << feed.status();
    feed_ = *std::move(feed);
    std::vector<server::HostedService> hosted = identity_->Hosted();
    for (auto& h : feed_->Hosted()) hosted.push_back(h);
    for (auto& h : notify_->Hosted()) hosted.push_back(h);
    server_ = *server::Server::Start(config_.server, hosted, registry_);
    self->Set(server_->InProcessChannel());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    id_ = idpb::IdentityService::NewStub(channel_);
    id_internal_ = idpb::IdentityInternalService::NewStub(channel_);
    feeds_ = feedpb::FeedService::NewStub(channel_);
    stub_ = pb::NotificationService::NewStub(channel_);
    internal_ = pb::NotificationInternalService::NewStub(channel_);
  }
  void TearDown() override {
    notify_->StopStreams();
    server_->Drain();
    server_.reset();
    feed_.reset();
    notify_.reset();
    identity_.reset();
    absl::SetFlag(&FLAGS_redis_addr, "");
  }

  Account MakeOrg(const std::string& domain) {
    admins_[domain] =
        feed::test::MakeOrg(id_.get(), id_internal_.get(), credential_->Token(), domain);
    return admins_[domain];
  }
  Account AddUser(const std::string& domain, const std::string& handle) {
    return feed::test::AddMember(id_.get(), admins_[domain], domain, handle);
  }
  common::v1::UserRef Ref(const Account& a) {
    common::v1::UserRef r;
    r.set_id(a.id);
    return r;
  }

  // Sends events as producer "p" with the next sequences.
  grpc::Status Apply(const std::vector<ev::Event>& events) {
    grpc::Status s = ApplyAt("p", seq_, events);
    seq_ += events.size();
    return s;
  }
  // Sends events as `producer` with sequences first, first+1, ...
  grpc::Status ApplyAt(const std::string& producer, uint64_t first,
                       const std::vector<ev::Event>& events) {
    pb::ApplyEventsRequest req;
    req.mutable_batch()->set_producer(producer);
    uint64_t seq = first;
    for (auto e : events) {
      e.set_sequence(seq++);
      e.set_producer(producer);
      *req.mutable_batch()->add_events() = std::move(e);
    }
    pb::ApplyEventsResponse resp;
    return internal_->ApplyEvents(Ctx(credential_->Token()).get(), req, &resp);
  }
  static ev::Event Like(const Account& who, uint64_t post, const Account& author,
                        uint64_t comment = 0, uint64_t group = 0) {
    ev::Event e;
    auto* l = e.mutable_liked();
    l->mutable_user()->set_id(who.id);
    l->set_post_id(post);
    l->set_comment_id(comment);
    l->set_content_author_id(author.id);
    l->set_group_id(group);
    return e;
  }
  static ev::Event Comment(const Account& who, uint64_t post, uint64_t comment,
                           const Account& post_author, uint64_t parent = 0,
                           uint64_t parent_author = 0) {
    ev::Event e;
    auto* c = e.mutable_comment_created();
    c->set_comment_id(comment);
    c->set_post_id(post);
    c->set_parent_comment_id(parent);
    c->mutable_author()->set_id(who.id);
    c->set_post_author_id(post_author.id);
    c->set_parent_comment_author_id(parent_author);
    return e;
  }

  std::vector<pb::Notification> List(const Account& a, bool unread_only = false) {
    pb::ListNotificationsRequest req;
    req.set_page_size(100);
    req.set_unread_only(unread_only);
    pb::ListNotificationsResponse resp;
    grpc::Status s = stub_->ListNotifications(Ctx(a.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.notifications().begin(), resp.notifications().end()};
  }
  uint64_t Unread(const Account& a) {
    pb::GetUnreadCountRequest req;
    pb::GetUnreadCountResponse resp;
    EXPECT_TRUE(stub_->GetUnreadCount(Ctx(a.token).get(), req, &resp).ok());
    return resp.unread_count();
  }
  std::map<pb::NotificationKind, int> Kinds(const Account& a) {
    std::map<pb::NotificationKind, int> out;
    for (const auto& n : List(a)) ++out[n.kind()];
    return out;
  }
  grpc::Status Heartbeat(const Account& a, pb::PresenceState state, const std::string& text) {
    pb::HeartbeatRequest req;
    req.set_state(state);
    req.set_status_text(text);
    pb::HeartbeatResponse resp;
    return stub_->Heartbeat(Ctx(a.token).get(), req, &resp);
  }
  std::vector<pb::Presence> Presence(const Account& viewer, const std::vector<uint64_t>& ids) {
    pb::GetPresenceRequest req;
    for (uint64_t id : ids) req.add_user_ids(id);
    pb::GetPresenceResponse resp;
    grpc::Status s = stub_->GetPresence(Ctx(viewer.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.presences().begin(), resp.presences().end()};
  }
  double RedisUpGauge() {
    for (const auto& family : registry_->Collect()) {
      if (family.name == "parley_notify_redis_up" && !family.metric.empty()) {
        return family.metric[0].gauge.value;
      }
    }
    return -1;
  }

  testing::TempDir dir_;
  testing::TempDir redis_dir_;
  std::unique_ptr<testing::RedisServer> redis_;
  server::CommonConfig config_;
  std::unique_ptr<auth::ServiceCredential> credential_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<identity::IdentityModule> identity_;
  std::unique_ptr<feed::FeedModule> feed_;
  std::unique_ptr<NotifyModule> notify_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<idpb::IdentityService::Stub> id_;
  std::unique_ptr<idpb::IdentityInternalService::Stub> id_internal_;
  std::unique_ptr<feedpb::FeedService::Stub> feeds_;
  std::unique_ptr<pb::NotificationService::Stub> stub_;
  std::unique_ptr<pb::NotificationInternalService::Stub> internal_;
  std::map<std::string, Account> admins_;
  uint64_t seq_ = 1;
};

// Every kind from its event, once, even when the whole batch comes twice.
TEST_F(NotifyTest, EachKindOncePerEventEvenWhenDeliveredTwice) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  Account cat = AddUser("acme.example", "cat");
  std::vector<ev::Event> events;
  {
    ev::Event e;
    *e.mutable_mentioned()->mutable_author() = Ref(bob);
    *e.mutable_mentioned()->add_mentioned_users() = Ref(ana);
    e.mutable_mentioned()->set_post_id(101);
    events.push_back(e);
  }
  events.push_back(Comment(bob, 101, 201, ana));               // COMMENT to ana
  events.push_back(Comment(cat, 101, 202, ana, 201, bob.id));  // REPLY to bob, COMMENT to ana
  events.push_back(Like(bob, 101, ana));                       // POST_LIKED
  events.push_back(Like(ana, 101, bob, 201));                  // COMMENT_LIKED to bob
  {
    ev::Event e;
    *e.mutable_followed()->mutable_follower() = Ref(bob);
    *e.mutable_followed()->mutable_followee() = Ref(ana);
    events.push_back(e);
  }
  common::v1::GroupRef group;
  group.set_id(301);
  group.set_name("Guild");
  group.set_privacy(common::v1::GROUP_PRIVACY_PRIVATE);
  {
    ev::Event e;
    *e.mutable_group_invited()->mutable_group() = group;
    *e.mutable_group_invited()->mutable_inviter() = Ref(ana);
    e.mutable_group_invited()->set_invitee_id(bob.id);
    events.push_back(e);
  }
  {
    ev::Event e;
    *e.mutable_group_join_requested()->mutable_group() = group;
    *e.mutable_group_join_requested()->mutable_requester() = Ref(cat);
    e.mutable_group_join_requested()->add_admin_user_ids(ana.id);
    events.push_back(e);
  }
  {
    ev::Event e;
    *e.mutable_group_join_approved()->mutable_group() = group;
    e.mutable_group_join_approved()->set_user_id(cat.id);
    *e.mutable_group_join_approved()->mutable_approver() = Ref(ana);
    events.push_back(e);
  }
  {
    ev::Event e;
    e.mutable_answer_accepted()->set_post_id(101);
    e.mutable_answer_accepted()->set_comment_id(201);
    e.mutable_answer_accepted()->set_answer_author_id(bob.id);
    *e.mutable_answer_accepted()->mutable_accepted_by() = Ref(ana);
    events.push_back(e);
  }
  ASSERT_TRUE(ApplyAt("test-producer", 1, events).ok());
  ASSERT_TRUE(ApplyAt("test-producer", 1, events).ok());  // delivered again: no-ops
  using K = pb::NotificationKind;
  EXPECT_EQ(Kinds(ana), (std::map<K, int>{{pb::NOTIFICATION_KIND_MENTION, 1},
                                          {pb::NOTIFICATION_KIND_COMMENT, 1},
                                          {pb::NOTIFICATION_KIND_POST_LIKED, 1},
                                          {pb::NOTIFICATION_KIND_NEW_FOLLOWER, 1},
                                          {pb::NOTIFICATION_KIND_GROUP_JOIN_REQUEST, 1}}));
  EXPECT_EQ(Kinds(bob), (std::map<K, int>{{pb::NOTIFICATION_KIND_REPLY, 1},
                                          {pb::NOTIFICATION_KIND_COMMENT_LIKED, 1},
                                          {pb::NOTIFICATION_KIND_GROUP_INVITE, 1},
                                          {pb::NOTIFICATION_KIND_ANSWER_ACCEPTED, 1}}));
  EXPECT_EQ(Kinds(cat), (std::map<K, int>{{pb::NOTIFICATION_KIND_GROUP_JOIN_APPROVED, 1}}));
  // Two comments on ana's post coalesced: bob and cat, cat first.
  for (const auto& n : List(ana)) {
    if (n.kind() != pb::NOTIFICATION_KIND_COMMENT) continue;
    EXPECT_EQ(n.actor_count(), 2u);
    ASSERT_EQ(n.actors_size(), 2);
    EXPECT_EQ(n.actors(0).id(), cat.id);
    EXPECT_EQ(n.actors(0).handle(), "cat");  // hydrated from identity
    EXPECT_EQ(n.comment_id(), 202u);         // the latest comment
  }
  EXPECT_EQ(Unread(ana), 5u);
  EXPECT_EQ(Unread(bob), 4u);
}

TEST_F(NotifyTest, CoalescingMarkReadAndUnreadCounts) {
  Account ana = MakeOrg("acme.example");
  std::vector<Account> fans;
  for (int i = 0; i < 5; ++i) fans.push_back(AddUser("acme.example", "fan" + std::to_string(i)));
  ASSERT_TRUE(Apply({Like(fans[0], 7, ana)}).ok());
  auto first = List(ana);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].replaced_notification_id(), 0u);
  for (int i = 1; i < 5; ++i) ASSERT_TRUE(Apply({Like(fans[i], 7, ana)}).ok());
  ASSERT_TRUE(Apply({Like(fans[2], 7, ana)}).ok());  // a repeat actor: no change
  auto entries = List(ana);
  ASSERT_EQ(entries.size(), 1u);
  const pb::Notification& n = entries[0];
  EXPECT_EQ(n.actor_count(), 5u);
  ASSERT_EQ(n.actors_size(), 3);  // the three most recent
  EXPECT_EQ(n.actors(0).id(), fans[4].id);
  EXPECT_EQ(n.actors(1).id(), fans[3].id);
  EXPECT_EQ(n.actors(2).id(), fans[2].id);
  EXPECT_GT(n.id(), first[0].id());  // bumped to a new id
  EXPECT_NE(n.replaced_notification_id(), 0u);
  EXPECT_EQ(Unread(ana), 1u);
  // A second subject, then mark one read, then everything.
  ASSERT_TRUE(Apply({Like(fans[0], 8, ana)}).ok());
  EXPECT_EQ(Unread(ana), 2u);
  auto both = List(ana);
  ASSERT_EQ(both.size(), 2u);
  pb::MarkReadRequest one;
  one.set_notification_id(both[1].id());
  pb::MarkReadResponse left;
  ASSERT_TRUE(stub_->MarkRead(Ctx(ana.token).get(), one, &left).ok());
  EXPECT_EQ(left.unread_count(), 1u);
  ASSERT_TRUE(stub_->MarkRead(Ctx(ana.token).get(), one, &left).ok());  // idempotent
  EXPECT_EQ(left.unread_count(), 1u);
  EXPECT_EQ(List(ana, /*unread_only=*/true).size(), 1u);
  // A new actor on the read entry bumps it and makes it unread again.
  Account late = AddUser("acme.example", "late");
  ASSERT_TRUE(Apply({Like(late, 7, ana)}).ok());
  EXPECT_EQ(Unread(ana), 2u);
  pb::MarkReadRequest all;
  all.set_up_to_notification_id(List(ana)[0].id());
  ASSERT_TRUE(stub_->MarkRead(Ctx(ana.token).get(), all, &left).ok());
  EXPECT_EQ(left.unread_count(), 0u);
  for (const auto& e : List(ana)) EXPECT_TRUE(e.read());
  pb::MarkReadRequest none;
  EXPECT_EQ(stub_->MarkRead(Ctx(ana.token).get(), none, &left).error_code(),
            grpc::INVALID_ARGUMENT);
}

TEST_F(NotifyTest, PreferencesDeletesAndBlocksSilenceNotifications) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  Account cat = AddUser("acme.example", "cat");
  pb::UpdatePreferencesRequest up;
  up.mutable_preferences()->add_muted_kinds(pb::NOTIFICATION_KIND_NEW_FOLLOWER);
  up.mutable_preferences()->add_muted_post_ids(55);
  up.mutable_preferences()->add_muted_group_ids(77);
  up.mutable_update_mask()->add_paths("muted_kinds");
  up.mutable_update_mask()->add_paths("muted_post_ids");
  up.mutable_update_mask()->add_paths("muted_group_ids");
  pb::UpdatePreferencesResponse prefs;
  ASSERT_TRUE(stub_->UpdatePreferences(Ctx(ana.token).get(), up, &prefs).ok());
  pb::GetPreferencesRequest get;
  pb::GetPreferencesResponse got;
  ASSERT_TRUE(stub_->GetPreferences(Ctx(ana.token).get(), get, &got).ok());
  EXPECT_THAT(got.preferences().muted_kinds(), ElementsAre(pb::NOTIFICATION_KIND_NEW_FOLLOWER));
  ev::Event follow;
  *follow.mutable_followed()->mutable_follower() = Ref(bob);
  *follow.mutable_followed()->mutable_followee() = Ref(ana);
  ASSERT_TRUE(Apply({follow}).ok());
  ASSERT_TRUE(Apply({Like(bob, 55, ana)}).ok());         // muted thread
  ASSERT_TRUE(Apply({Like(bob, 56, ana, 0, 77)}).ok());  // muted group
  EXPECT_TRUE(List(ana).empty());
  // A deleted post's notifications disappear, and later events about it are dropped.
  ASSERT_TRUE(Apply({Like(bob, 60, ana), Comment(cat, 60, 600, ana)}).ok());
  EXPECT_EQ(List(ana).size(), 2u);
  EXPECT_EQ(Unread(ana), 2u);
  ev::Event deleted;
  deleted.mutable_post_deleted()->set_post_id(60);
  deleted.mutable_post_deleted()->set_author_id(ana.id);
  ASSERT_TRUE(Apply({deleted, Like(cat, 60, ana)}).ok());
  EXPECT_TRUE(List(ana).empty());
  EXPECT_EQ(Unread(ana), 0u);
  // Blocked either way: never notifies.
  ev::Event block;
  block.mutable_blocked()->set_blocker_id(ana.id);
  block.mutable_blocked()->set_blocked_user_id(bob.id);
  ASSERT_TRUE(Apply({block, Like(bob, 61, ana)}).ok());
  EXPECT_TRUE(List(ana).empty());
  // Limits and bad input.
  pb::UpdatePreferencesRequest too_many;
  for (int i = 0; i < 1001; ++i) too_many.mutable_preferences()->add_muted_post_ids(i + 1);
  too_many.mutable_update_mask()->add_paths("muted_post_ids");
  EXPECT_EQ(stub_->UpdatePreferences(Ctx(ana.token).get(), too_many, &prefs).error_code(),
            grpc::INVALID_ARGUMENT);
  pb::UpdatePreferencesRequest no_mask;
  EXPECT_EQ(stub_->UpdatePreferences(Ctx(ana.token).get(), no_mask, &prefs).error_code(),
            grpc::INVALID_ARGUMENT);
  pb::ListNotificationsRequest big;
  big.set_page_size(101);
  pb::ListNotificationsResponse resp;
  EXPECT_EQ(stub_->ListNotifications(Ctx(ana.token).get(), big, &resp).error_code(),
            grpc::INVALID_ARGUMENT);
}

// Feed's events reach notify through its outbox: real posts, comments, likes.
TEST_F(NotifyTest, FeedActivityNotifiesThroughTheOutbox) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  feedpb::FollowUserRequest follow;
  follow.set_user_id(ana.id);
  feedpb::FollowUserResponse fr;
  ASSERT_TRUE(feeds_->FollowUser(Ctx(bob.token).get(), follow, &fr).ok());
  feedpb::CreatePostRequest post;
  post.set_body("hello @bob");
  feedpb::CreatePostResponse posted;
  ASSERT_TRUE(feeds_->CreatePost(Ctx(ana.token).get(), post, &posted).ok());
  feedpb::LikePostRequest like;
  like.set_post_id(posted.post().id());
  feedpb::LikePostResponse lr;
  ASSERT_TRUE(feeds_->LikePost(Ctx(bob.token).get(), like, &lr).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return Kinds(ana).size() == 2 && Kinds(bob).size() == 1; },
                               absl::Seconds(20)));
  EXPECT_EQ(Kinds(ana)[pb::NOTIFICATION_KIND_NEW_FOLLOWER], 1);
  EXPECT_EQ(Kinds(ana)[pb::NOTIFICATION_KIND_POST_LIKED], 1);
  EXPECT_EQ(Kinds(bob)[pb::NOTIFICATION_KIND_MENTION], 1);
  // Deleting the post takes its notifications away.
  feedpb::DeletePostRequest del;
  del.set_post_id(posted.post().id());
  feedpb::DeletePostResponse dr;
  ASSERT_TRUE(feeds_->DeletePost(Ctx(ana.token).get(), del, &dr).ok());
  EXPECT_TRUE(testing::WaitFor([&] { return Kinds(bob).empty() && Kinds(ana).size() == 1; },
                               absl::Seconds(20)));
}

// A stream: what it missed first, oldest first, then live; a reconnect with
// the last id seen gets exactly the rest.
TEST_F(NotifyTest, StreamResumesWithoutGapOrDuplicate) {
  Account ana = MakeOrg("acme.example");
  std::vector<Account> fans;
  for (int i = 0; i < 6; ++i) fans.push_back(AddUser("acme.example", "fan" + std::to_string(i)));
  auto like = [&](int fan, uint64_t post) {
    ASSERT_TRUE(Apply({Like(fans[fan], post, ana)}).ok());
  };
  like(0, 1);
  like(0, 2);
  std::vector<uint64_t> seen;
  std::mutex mu;
  auto ctx = Ctx(ana.token, 60);
  pb::SubscribeRequest req;
  auto reader = stub_->Subscribe(ctx.get(), req);
  std::thread t([&] {
    pb::SubscribeResponse r;
    while (reader->Read(&r)) {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(r.notification().id());
    }
  });
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size();
  };
  ASSERT_TRUE(testing::WaitFor([&] { return count() == 2; }, absl::Seconds(10)));
  like(1, 1);  // live: bumps post 1's entry
  like(2, 3);
  ASSERT_TRUE(testing::WaitFor([&] { return count() == 4; }, absl::Seconds(10)));
  ctx->TryCancel();
  t.join();
  uint64_t last;
  {
    std::lock_guard<std::mutex> lock(mu);
    last = seen.back();
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  }
  // Missed while disconnected.
  like(3, 2);
  like(4, 4);
  std::vector<uint64_t> resumed;
  auto ctx2 = Ctx(ana.token, 60);
  pb::SubscribeRequest again;
  again.set_after_notification_id(last);
  auto reader2 = stub_->Subscribe(ctx2.get(), again);
  pb::SubscribeResponse r;
  while (resumed.size() < 2 && reader2->Read(&r)) resumed.push_back(r.notification().id());
  like(5, 5);  // and live again
  ASSERT_TRUE(reader2->Read(&r));
  resumed.push_back(r.notification().id());
  ctx2->TryCancel();
  while (reader2->Read(&r)) resumed.push_back(r.notification().id());
  // Every id once, in order, and together exactly the inbox's current entries
  // plus the ones replaced since.
  std::vector<uint64_t> all = seen;
  all.insert(all.end(), resumed.begin(), resumed.end());
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(std::set<uint64_t>(all.begin(), all.end()).size(), all.size());
  std::set<uint64_t> inbox;
  for (const auto& n : List(ana)) inbox.insert(n.id());
  for (uint64_t id : inbox) EXPECT_EQ(std::count(all.begin(), all.end(), id), 1) << id;
  EXPECT_EQ(resumed.size(), 3u);
}

TEST_F(NotifyTest, StreamLimitExpiryAndSuspensionEndStreams) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  // At most 10 streams per person.
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<pb::SubscribeResponse>>> readers;
  for (size_t i = 0; i < kMaxStreamsPerUser; ++i) {
    ctxs.push_back(Ctx(bob.token, 60));
    readers.push_back(stub_->Subscribe(ctxs.back().get(), pb::SubscribeRequest()));
  }
  ASSERT_TRUE(testing::WaitFor([&] { return notify_->hub->open_streams() == kMaxStreamsPerUser; },
                               absl::Seconds(10)));
  {
    auto ctx = Ctx(bob.token);
    auto extra = stub_->Subscribe(ctx.get(), pb::SubscribeRequest());
    pb::SubscribeResponse r;
    EXPECT_FALSE(extra->Read(&r));
    EXPECT_EQ(extra->Finish().error_code(), grpc::RESOURCE_EXHAUSTED);
  }
  // The token expires: every stream ends UNAUTHENTICATED.
  notify_->public_service->SetClock([] { return absl::Now() + absl::Minutes(16); });
  for (size_t i = 0; i < readers.size(); ++i) {
    pb::SubscribeResponse r;
    while (readers[i]->Read(&r)) {
    }
    EXPECT_EQ(readers[i]->Finish().error_code(), grpc::UNAUTHENTICATED);
  }
  notify_->public_service->SetClock([] { return absl::Now(); });
  // A suspension ends the stream within the account check interval.
  auto ctx = Ctx(bob.token, 60);
  auto reader = stub_->Subscribe(ctx.get(), pb::SubscribeRequest());
  ASSERT_TRUE(
      testing::WaitFor([&] { return notify_->hub->open_streams() == 1; }, absl::Seconds(10)));
  idpb::SuspendUserRequest suspend;
  suspend.set_user_id(bob.id);
  idpb::SuspendUserResponse sr;
  ASSERT_TRUE(id_->SuspendUser(Ctx(ana.token).get(), suspend, &sr).ok());
  pb::SubscribeResponse r;
  while (reader->Read(&r)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::PERMISSION_DENIED);
}

// Nobody reads or marks another person's inbox, or sees presence across orgs.
TEST_F(NotifyTest, InboxesAndPresenceAreIsolated) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  Account zed = MakeOrg("globex.example");
  ASSERT_TRUE(Apply({Like(bob, 9, ana)}).ok());
  const uint64_t id = List(ana)[0].id();
  EXPECT_TRUE(List(bob).empty());
  pb::MarkReadRequest mark;
  mark.set_notification_id(id);
  pb::MarkReadResponse left;
  ASSERT_TRUE(stub_->MarkRead(Ctx(bob.token).get(), mark, &left).ok());  // bob's own inbox
  EXPECT_EQ(Unread(ana), 1u);
  pb::ListNotificationsRequest req;
  pb::ListNotificationsResponse resp;
  EXPECT_EQ(stub_->ListNotifications(Ctx("not-a-token").get(), req, &resp).error_code(),
            grpc::UNAUTHENTICATED);
  // Presence: the same org sees it, another org and unknown ids do not.
  ASSERT_TRUE(Heartbeat(ana, pb::PRESENCE_STATE_ONLINE, "").ok());
  ASSERT_TRUE(testing::WaitFor([&] { return notify_->redis->up(); }, absl::Seconds(10)));
  ASSERT_TRUE(Heartbeat(ana, pb::PRESENCE_STATE_ONLINE, "").ok());
  EXPECT_EQ(Presence(bob, {ana.id})[0].state(), pb::PRESENCE_STATE_ONLINE);
  EXPECT_EQ(Presence(zed, {ana.id})[0].state(), pb::PRESENCE_STATE_UNKNOWN);
  EXPECT_EQ(Presence(bob, {987654321})[0].state(), pb::PRESENCE_STATE_UNKNOWN);
  // ApplyEvents is for services.
  pb::ApplyEventsRequest apply;
  pb::ApplyEventsResponse applied;
  EXPECT_EQ(internal_->ApplyEvents(Ctx(ana.token).get(), apply, &applied).error_code(),
            grpc::PERMISSION_DENIED);
}

TEST_F(NotifyTest, PresenceDegradesWhenRedisDiesAndRecoversByItself) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  ASSERT_TRUE(testing::WaitFor([&] { return notify_->redis->up(); }, absl::Seconds(10)));
  EXPECT_EQ(RedisUpGauge(), 1);
  ASSERT_TRUE(Heartbeat(ana, pb::PRESENCE_STATE_AWAY, "at lunch").ok());
  auto p = Presence(bob, {ana.id, bob.id});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].state(), pb::PRESENCE_STATE_AWAY);
  EXPECT_EQ(p[0].status_text(), "at lunch");
  EXPECT_EQ(p[1].state(), pb::PRESENCE_STATE_OFFLINE);  // no heartbeat
  // Limits.
  EXPECT_EQ(Heartbeat(ana, pb::PRESENCE_STATE_ONLINE, std::string(101, 'x')).error_code(),
            grpc::INVALID_ARGUMENT);
  EXPECT_TRUE(Heartbeat(ana, pb::PRESENCE_STATE_ONLINE, std::string(100, 'x')).ok());
  EXPECT_EQ(Heartbeat(ana, pb::PRESENCE_STATE_OFFLINE, "").error_code(), grpc::INVALID_ARGUMENT);
  {
    pb::GetPresenceRequest req;
    for (int i = 0; i < 501; ++i) req.add_user_ids(i + 1);
    pb::GetPresenceResponse resp;
    EXPECT_EQ(stub_->GetPresence(Ctx(bob.token).get(), req, &resp).error_code(),
              grpc::INVALID_ARGUMENT);
  }

  // Redis dies: presence is UNKNOWN (not an error), heartbeats are accepted,
  // notifications keep flowing, the gauge says so.
  redis_->Kill();
  EXPECT_TRUE(Heartbeat(ana, pb::PRESENCE_STATE_ONLINE, "").ok());
  ASSERT_TRUE(testing::WaitFor([&] { return RedisUpGauge() == 0; }, absl::Seconds(10)));
  EXPECT_EQ(Presence(bob, {ana.id})[0].state(), pb::PRESENCE_STATE_UNKNOWN);
  EXPECT_TRUE(Heartbeat(ana, pb::PRESENCE_STATE_ONLINE, "").ok());
  ASSERT_TRUE(Apply({Like(bob, 9, ana)}).ok());
  EXPECT_EQ(List(ana).size(), 1u);
  EXPECT_EQ(Unread(ana), 1u);
  {
    auto ctx = Ctx(ana.token);
    auto reader = stub_->Subscribe(ctx.get(), pb::SubscribeRequest());
    pb::SubscribeResponse r;
    ASSERT_TRUE(reader->Read(&r));
    EXPECT_EQ(r.notification().kind(), pb::NOTIFICATION_KIND_POST_LIKED);
    ctx->TryCancel();
  }

  // Redis returns: presence works again within seconds, without a restart.
  const absl::Time back = absl::Now();
  redis_->Restart();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        (void)Heartbeat(ana, pb::PRESENCE_STATE_DO_NOT_DISTURB, "focus");
        return Presence(bob, {ana.id})[0].state() == pb::PRESENCE_STATE_DO_NOT_DISTURB;
      },
      absl::Seconds(10)));
  EXPECT_LT(absl::Now() - back, absl::Seconds(5));
  EXPECT_EQ(RedisUpGauge(), 1);
}

// Fixes from review: a person named twice in one event, comment deletes,
// repeated requests, blocked actors in a coalesced entry, long catch-ups.
TEST_F(NotifyTest, EdgeCasesOfCoalescingAndDeletes) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  Account cat = AddUser("acme.example", "cat");
  // Mentioned twice in one post: one entry, one unread.
  ev::Event twice;
  *twice.mutable_mentioned()->mutable_author() = Ref(bob);
  *twice.mutable_mentioned()->add_mentioned_users() = Ref(ana);
  *twice.mutable_mentioned()->add_mentioned_users() = Ref(ana);
  twice.mutable_mentioned()->set_post_id(900);
  ASSERT_TRUE(Apply({twice}).ok());
  EXPECT_EQ(List(ana).size(), 1u);
  EXPECT_EQ(Unread(ana), 1u);
  // A comment deleted takes its own entry along; a reply's too.
  ASSERT_TRUE(
      Apply({Comment(bob, 901, 9011, ana), Comment(cat, 901, 9012, ana, 9011, bob.id)}).ok());
  EXPECT_EQ(Kinds(ana)[pb::NOTIFICATION_KIND_COMMENT], 1);
  EXPECT_EQ(Kinds(bob)[pb::NOTIFICATION_KIND_REPLY], 1);
  ev::Event reply_gone;
  reply_gone.mutable_comment_deleted()->set_comment_id(9012);
  reply_gone.mutable_comment_deleted()->set_post_id(901);
  ASSERT_TRUE(Apply({reply_gone}).ok());
  EXPECT_EQ(Kinds(bob).count(pb::NOTIFICATION_KIND_REPLY), 0u);
  EXPECT_EQ(Unread(bob), 0u);
  // ana's COMMENT entry has bob and cat: deleting bob's comment leaves it.
  ev::Event bobs_gone;
  bobs_gone.mutable_comment_deleted()->set_comment_id(9011);
  bobs_gone.mutable_comment_deleted()->set_post_id(901);
  ASSERT_TRUE(Apply({bobs_gone}).ok());
  EXPECT_EQ(Kinds(ana)[pb::NOTIFICATION_KIND_COMMENT], 1);
  // A single commenter's entry goes with their comment.
  ASSERT_TRUE(Apply({Comment(cat, 902, 9021, ana)}).ok());
  ev::Event only_gone;
  only_gone.mutable_comment_deleted()->set_comment_id(9021);
  only_gone.mutable_comment_deleted()->set_post_id(902);
  ASSERT_TRUE(Apply({only_gone}).ok());
  int comments_on_902 = 0;
  for (const auto& n : List(ana)) comments_on_902 += n.post_id() == 902 ? 1 : 0;
  EXPECT_EQ(comments_on_902, 0);
  // A second join request by the same person is news again.
  common::v1::GroupRef g;
  g.set_id(77);
  g.set_name("Board");
  ev::Event request;
  *request.mutable_group_join_requested()->mutable_group() = g;
  *request.mutable_group_join_requested()->mutable_requester() = Ref(cat);
  request.mutable_group_join_requested()->add_admin_user_ids(bob.id);
  ASSERT_TRUE(Apply({request}).ok());
  pb::MarkReadRequest all;
  all.set_up_to_notification_id(List(bob)[0].id());
  pb::MarkReadResponse left;
  ASSERT_TRUE(stub_->MarkRead(Ctx(bob.token).get(), all, &left).ok());
  ASSERT_TRUE(Apply({request}).ok());
  EXPECT_EQ(Unread(bob), 1u);
  // Someone blocked after liking is not shown when the entry is bumped.
  ASSERT_TRUE(Apply({Like(bob, 903, ana)}).ok());
  ev::Event block;
  block.mutable_blocked()->set_blocker_id(ana.id);
  block.mutable_blocked()->set_blocked_user_id(bob.id);
  ASSERT_TRUE(Apply({block, Like(cat, 903, ana)}).ok());
  for (const auto& n : List(ana)) {
    if (n.post_id() != 903) continue;
    for (const auto& a : n.actors()) EXPECT_NE(a.id(), bob.id);
  }
}

// A stream catching up reads oldest first, a page at a time, so a burst of
// more than a page is not cut to its newest page.
TEST_F(NotifyTest, CatchUpReadsOldestFirstInPages) {
  Account ana = MakeOrg("acme.example");
  Account bob = AddUser("acme.example", "bob");
  const size_t total = kMaxReplay + 50;
  for (size_t start = 0; start < total; start += 500) {
    std::vector<ev::Event> batch;
    for (size_t i = start; i < std::min(total, start + 500); ++i) {
      batch.push_back(Like(bob, 10000 + i, ana));
    }
    ASSERT_TRUE(Apply(batch).ok());
  }
  auto first = notify_->inbox->Since(ana.id, 0, /*newest=*/false);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), kMaxReplay);
  EXPECT_EQ((*first)[0].post_id(), 10000u);  // the oldest
  auto rest = notify_->inbox->Since(ana.id, first->back().id(), false);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->size(), total - kMaxReplay);
  EXPECT_EQ(rest->back().post_id(), 10000 + total - 1);
  // A reconnect replays the newest page only.
  auto replay = notify_->inbox->Since(ana.id, 0, /*newest=*/true);
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->size(), kMaxReplay);
  EXPECT_EQ(replay->back().post_id(), 10000 + total - 1);
  // And a live stream receives all of them, in order, once.
  auto ctx = Ctx(ana.token, 60);
  pb::SubscribeRequest req;
  req.set_after_notification_id((*first)[0].id());
  auto reader = stub_->Subscribe(ctx.get(), req);
  pb::SubscribeResponse r;
  size_t got = 0;
  while (got < kMaxReplay && reader->Read(&r)) ++got;  // the newest page of the replay
  ASSERT_EQ(got, kMaxReplay);
  EXPECT_EQ(r.notification().post_id(), 10000 + total - 1);
  ctx->TryCancel();
}

}  // namespace
}  // namespace parley::notify
