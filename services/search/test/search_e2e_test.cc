// Search end to end over real gRPC on loopback: identity, feed and search in
// one server (as in the all-in-one binary, both producers' events reach search
// through the in-process channel), real RocksDB and Xapian in a temp dir.
// People, posts and groups made through the public APIs become searchable;
// a suspension hides an author; Rebuild from the sources' snapshots gives the
// same answers; auth and bad input get the right codes.
#include <thread>

#include "../../feed/test/people.h"
#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "feed/src/module.h"
#include "gmock/gmock.h"
#include "google/protobuf/field_mask.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "identity/src/module.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/search/v1/search.grpc.pb.h"
#include "parley/testing/testing.h"
#include "search/src/module.h"

ABSL_DECLARE_FLAG(int, user_cache_ttl_s);
ABSL_DECLARE_FLAG(int, post_rate_per_minute);

namespace parley::search {
namespace {

namespace idpb = ::parley::identity::v1;
namespace feedpb = ::parley::feed::v1;
using feed::test::Account;
using feed::test::Ctx;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr char kDomain[] = "acme.example";

class SearchE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetFlag(&FLAGS_user_cache_ttl_s, 0);
    absl::SetFlag(&FLAGS_post_rate_per_minute, 10000);
    config_.data_dir = dir_.path();
    config_.server.grpc_addr = "127.0.0.1:0";
    config_.server.metrics_addr = "";
    config_.server.drain_timeout = absl::Seconds(5);
    credential_ = *server::LoadServiceCredential(config_, "test");
    auto self = std::make_shared<server::ChannelSlot>();
    auto identity = identity::IdentityModule::Create(config_, *credential_, self);
    ASSERT_TRUE(identity.ok()) << identity.status();
    identity_ = *std::move(identity);
    auto search = SearchModule::Create(config_, credential_.get(), self, self);
    ASSERT_TRUE(search.ok()) << search.status();
    search_ = *std::move(search);
    auto feed = feed::FeedModule::Create(config_, credential_.get(), self, nullptr, self);
    ASSERT_TRUE(feed.ok()) << feed.status();
    feed_ = *std::move(feed);
    std::vector<server::HostedService> hosted = identity_->Hosted();
    for (auto& h : feed_->Hosted()) hosted.push_back(h);
    for (auto& h : search_->Hosted()) hosted.push_back(h);
    server_ =
        *server::Server::Start(config_.server, hosted, std::make_shared<prometheus::Registry>());
    self->Set(server_->InProcessChannel());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    id_ = idpb::IdentityService::NewStub(channel_);
    id_internal_ = idpb::IdentityInternalService::NewStub(channel_);
    feeds_ = feedpb::FeedService::NewStub(channel_);
    stub_ = pb::SearchService::NewStub(channel_);
    internal_ = pb::SearchInternalService::NewStub(channel_);
    admin_ = feed::test::MakeOrg(id_.get(), id_internal_.get(), credential_->Token(), kDomain);
  }
  void TearDown() override {
    server_->Drain();
    server_.reset();
    feed_.reset();
    search_.reset();
    identity_.reset();
  }

  Account Add(const std::string& handle, const std::string& title,
              std::vector<std::string> skills) {
    Account a = feed::test::AddMember(id_.get(), admin_, kDomain, handle);
    idpb::UpdateProfileRequest req;
    req.mutable_user()->set_title(title);
    for (auto& s : skills) req.mutable_user()->add_skills(s);
    req.mutable_update_mask()->add_paths("title");
    req.mutable_update_mask()->add_paths("skills");
    idpb::UpdateProfileResponse resp;
    grpc::Status s = id_->UpdateProfile(Ctx(a.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return a;
  }
  uint64_t Post(const Account& a, const std::string& body,
                common::v1::Visibility visibility = common::v1::VISIBILITY_ORG,
                uint64_t group = 0) {
    feedpb::CreatePostRequest req;
    req.set_body(body);
    req.set_visibility(visibility);
    req.set_group_id(group);
    feedpb::CreatePostResponse resp;
    grpc::Status s = feeds_->CreatePost(Ctx(a.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.post().id();
  }
  std::vector<uint64_t> Search(const Account& viewer, const std::string& query,
                               grpc::Status* status = nullptr) {
    pb::SearchPostsRequest req;
    req.set_query(query);
    req.set_page_size(100);
    pb::SearchPostsResponse resp;
    grpc::Status s = stub_->SearchPosts(Ctx(viewer.token).get(), req, &resp);
    if (status != nullptr) *status = s;
    std::vector<uint64_t> ids;
    for (const auto& h : resp.hits()) ids.push_back(h.comment_id() ? h.comment_id() : h.post_id());
    return ids;
  }
  // Polls until `query` gives `want` for `viewer` (events are asynchronous).
  bool Eventually(const Account& viewer, const std::string& query, std::vector<uint64_t> want) {
    std::sort(want.begin(), want.end());
    for (int i = 0; i < 100; ++i) {
      auto got = Search(viewer, query);
      std::sort(got.begin(), got.end());
      if (got == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  testing::TempDir dir_;
  server::CommonConfig config_;
  std::unique_ptr<auth::ServiceCredential> credential_;
  std::unique_ptr<identity::IdentityModule> identity_;
  std::unique_ptr<feed::FeedModule> feed_;
  std::unique_ptr<SearchModule> search_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<idpb::IdentityService::Stub> id_;
  std::unique_ptr<idpb::IdentityInternalService::Stub> id_internal_;
  std::unique_ptr<feedpb::FeedService::Stub> feeds_;
  std::unique_ptr<pb::SearchService::Stub> stub_;
  std::unique_ptr<pb::SearchInternalService::Stub> internal_;
  Account admin_;
};

TEST_F(SearchE2ETest, EventsRebuildSuspensionAndCodes) {
  Account ana = Add("ana", "Site Reliability Engineer", {"Kubernetes", "Terraform"});
  Account bo = Add("bo", "Sales", {});
  Account cy = Add("cy", "Designer", {});
  // cy follows bo, so cy (only) reads bo's followers-only post.
  feedpb::FollowUserRequest follow;
  follow.set_user_id(bo.id);
  feedpb::FollowUserResponse followed;
  ASSERT_TRUE(feeds_->FollowUser(Ctx(cy.token).get(), follow, &followed).ok());
  feedpb::CreateGroupRequest group_req;
  group_req.set_name("Cluster Whisperers");
  group_req.set_description("private kubernetes talk");
  group_req.set_privacy(common::v1::GROUP_PRIVACY_PRIVATE);
  feedpb::CreateGroupResponse group;
  ASSERT_TRUE(feeds_->CreateGroup(Ctx(ana.token).get(), group_req, &group).ok());

  const uint64_t p1 = Post(ana, "upgrading kubernetes tonight #k8s");
  const uint64_t p2 =
      Post(bo, "kubernetes pricing for the followers", common::v1::VISIBILITY_FOLLOWERS);
  const uint64_t p3 = Post(ana, "kubernetes secrets in the group", common::v1::VISIBILITY_GROUP,
                           group.group().id());
  feedpb::CreateCommentRequest comment_req;
  comment_req.set_post_id(p1);
  comment_req.set_body("kubernetes rocks");
  feedpb::CreateCommentResponse comment;
  ASSERT_TRUE(feeds_->CreateComment(Ctx(cy.token).get(), comment_req, &comment).ok());
  const uint64_t c1 = comment.comment().id();

  EXPECT_TRUE(Eventually(ana, "kubernetes", {p1, p3, c1}));
  EXPECT_TRUE(Eventually(cy, "kubernetes", {p1, p2, c1}));
  EXPECT_TRUE(Eventually(bo, "kubernetes", {p1, p2, c1}));

  // Identity's events made people searchable by their declared skills.
  pb::SearchPeopleRequest people;
  people.set_query("kubernetes");
  pb::SearchPeopleResponse found;
  ASSERT_TRUE(stub_->SearchPeople(Ctx(bo.token).get(), people, &found).ok());
  ASSERT_GE(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).user().id(), ana.id);
  pb::SearchGroupsRequest groups;
  groups.set_query("kubernetes");
  pb::SearchGroupsResponse group_hits;
  ASSERT_TRUE(stub_->SearchGroups(Ctx(ana.token).get(), groups, &group_hits).ok());
  EXPECT_EQ(group_hits.total_size(), 1u);
  ASSERT_TRUE(stub_->SearchGroups(Ctx(bo.token).get(), groups, &group_hits).ok());
  EXPECT_EQ(group_hits.total_size(), 0u);

  // A deleted post goes; a suspended author's content goes.
  feedpb::DeletePostRequest del;
  del.set_post_id(p3);
  feedpb::DeletePostResponse deleted;
  ASSERT_TRUE(feeds_->DeletePost(Ctx(ana.token).get(), del, &deleted).ok());
  EXPECT_TRUE(Eventually(ana, "kubernetes", {p1, c1}));
  idpb::SuspendUserRequest suspend;
  suspend.set_user_id(bo.id);
  idpb::SuspendUserResponse suspended;
  ASSERT_TRUE(id_->SuspendUser(Ctx(admin_.token).get(), suspend, &suspended).ok());
  EXPECT_TRUE(Eventually(cy, "kubernetes", {p1, c1}));

  // Rebuild from identity's and feed's snapshots answers the same.
  const auto before_ana = Search(ana, "kubernetes"), before_cy = Search(cy, "kubernetes");
  pb::RebuildResponse rebuilt;
  grpc::Status s = internal_->Rebuild(Ctx(credential_->Token(), 120).get(), {}, &rebuilt);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rebuilt.post_count(), 2u);  // p1 and p2 (p3 deleted)
  EXPECT_EQ(rebuilt.comment_count(), 1u);
  EXPECT_EQ(rebuilt.person_count(), 4u);  // admin, ana, bo, cy
  EXPECT_EQ(rebuilt.group_count(), 1u);
  EXPECT_EQ(Search(ana, "kubernetes"), before_ana);
  EXPECT_EQ(Search(cy, "kubernetes"), before_cy);
  // Live events keep flowing into the rebuilt index.
  const uint64_t p4 = Post(ana, "kubernetes after the rebuild");
  EXPECT_TRUE(Eventually(cy, "kubernetes", {p1, c1, p4}));

  // Codes: no token, a service token on the public API, a person's token on
  // the internal API, a bad query.
  grpc::Status status;
  Search(Account{}, "kubernetes", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Search(Account{0, credential_->Token()}, "kubernetes", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  pb::ApplyEventsResponse applied;
  status = internal_->ApplyEvents(Ctx(ana.token).get(), {}, &applied);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  Search(ana, "\"unbalanced", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("unbalanced quote"));
}

}  // namespace
}  // namespace parley::search
