// Communities (groups), questions with accepted answers and participation
// insights, through feed's public gRPC API: real identity + feed on loopback,
// real RocksDB (the FeedTest fixture). Checks the contract's exact statuses,
// limits and formulas.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "feed_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/testing/testing.h"
#include "people.h"

namespace parley::feed {
namespace {

namespace idpb = ::parley::identity::v1;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

using test::Account;
using test::Ctx;

constexpr common::v1::GroupPrivacy kPublic = common::v1::GROUP_PRIVACY_PUBLIC;
constexpr common::v1::GroupPrivacy kPrivate = common::v1::GROUP_PRIVACY_PRIVATE;
constexpr common::v1::PostKind kStatus = common::v1::POST_KIND_STATUS;
constexpr common::v1::PostKind kQuestion = common::v1::POST_KIND_QUESTION;
constexpr pb::GroupMemberState kNone = pb::GROUP_MEMBER_STATE_NONE;
constexpr pb::GroupMemberState kInvited = pb::GROUP_MEMBER_STATE_INVITED;
constexpr pb::GroupMemberState kRequested = pb::GROUP_MEMBER_STATE_REQUESTED;
constexpr pb::GroupMemberState kMember = pb::GROUP_MEMBER_STATE_MEMBER;
constexpr pb::GroupMemberState kAdmin = pb::GROUP_MEMBER_STATE_ADMIN;
constexpr int64_t kDay = 86400;

// (user id, state) of ListGroupMembers, in order.
using MemberList = std::vector<std::pair<uint64_t, pb::GroupMemberState>>;
using Ids = std::vector<uint64_t>;

// `s` repeated n times ("\xC3\xA9" is é: one character, two bytes).
std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

Ids IdsOf(const std::vector<pb::Post>& posts) {
  Ids ids;
  for (const auto& p : posts) ids.push_back(p.id());
  return ids;
}

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t seconds = absl::ToUnixSeconds(t);  // floor
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return ts;
}

absl::Time FromTs(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

int64_t DayOf(absl::Time t) {
  const int64_t s = absl::ToUnixSeconds(t);
  return s >= 0 ? s / kDay : (s - kDay + 1) / kDay;
}

class GroupsTest : public FeedTest {
 protected:
  // A person with ROLE_GUEST in `domain` (whose admin MakeOrg created).
  Account AddGuest(const std::string& domain, const std::string& handle) {
    idpb::CreateInviteRequest req;
    req.set_role(idpb::ROLE_GUEST);
    idpb::CreateInviteResponse inv;
    grpc::Status s = id_->CreateInvite(Ctx(admins_[domain].token).get(), req, &inv);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return test::Register(id_.get(), domain, handle, inv.invite().code());
  }

  // --- Groups ---

  grpc::Status CreateGroupStatus(const Account& a, const std::string& name,
                                 common::v1::GroupPrivacy privacy,
                                 const std::string& description = "", pb::Group* out = nullptr) {
    pb::CreateGroupRequest req;
    req.set_name(name);
    req.set_description(description);
    req.set_privacy(privacy);
    pb::CreateGroupResponse resp;
    grpc::Status s = stub_->CreateGroup(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.group();
    return s;
  }
  uint64_t CreateGroup(const Account& a, const std::string& name,
                       common::v1::GroupPrivacy privacy = kPublic) {
    pb::Group g;
    grpc::Status s = CreateGroupStatus(a, name, privacy, "", &g);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return g.id();
  }
  grpc::Status GetGroup(const Account& a, uint64_t group, pb::Group* out = nullptr) {
    pb::GetGroupRequest req;
    req.set_group_id(group);
    pb::GetGroupResponse resp;
    grpc::Status s = stub_->GetGroup(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.group();
    return s;
  }
  // The caller's viewer_state (UNSPECIFIED if GetGroup fails).
  pb::GroupMemberState StateOf(const Account& a, uint64_t group) {
    pb::Group g;
    grpc::Status s = GetGroup(a, group, &g);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? g.viewer_state() : pb::GROUP_MEMBER_STATE_UNSPECIFIED;
  }
  // member_count as `a` sees it.
  uint64_t CountAs(const Account& a, uint64_t group) {
    pb::Group g;
    grpc::Status s = GetGroup(a, group, &g);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return g.member_count();
  }
  grpc::Status Update(const Account& a, uint64_t group, const std::string& name,
                      const std::string& description, const std::vector<std::string>& paths,
                      pb::Group* out = nullptr) {
    pb::UpdateGroupRequest req;
    req.mutable_group()->set_id(group);
    req.mutable_group()->set_name(name);
    req.mutable_group()->set_description(description);
    for (const auto& p : paths) req.mutable_update_mask()->add_paths(p);
    pb::UpdateGroupResponse resp;
    grpc::Status s = stub_->UpdateGroup(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.group();
    return s;
  }
  grpc::Status Archive(const Account& a, uint64_t group, pb::Group* out = nullptr) {
    pb::ArchiveGroupRequest req;
    req.set_group_id(group);
    pb::ArchiveGroupResponse resp;
    grpc::Status s = stub_->ArchiveGroup(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.group();
    return s;
  }
  grpc::Status Join(const Account& a, uint64_t group, pb::Group* out = nullptr) {
    pb::JoinGroupRequest req;
    req.set_group_id(group);
    pb::JoinGroupResponse resp;
    grpc::Status s = stub_->JoinGroup(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.group();
    return s;
  }
  grpc::Status RequestJoin(const Account& a, uint64_t group) {
    pb::RequestToJoinGroupRequest req;
    req.set_group_id(group);
    pb::RequestToJoinGroupResponse resp;
    return stub_->RequestToJoinGroup(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Approve(const Account& a, uint64_t group, const Account& who) {
    pb::ApproveJoinRequestRequest req;
    req.set_group_id(group);
    req.set_user_id(who.id);
    pb::ApproveJoinRequestResponse resp;
    return stub_->ApproveJoinRequest(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Decline(const Account& a, uint64_t group, const Account& who) {
    pb::DeclineJoinRequestRequest req;
    req.set_group_id(group);
    req.set_user_id(who.id);
    pb::DeclineJoinRequestResponse resp;
    return stub_->DeclineJoinRequest(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Invite(const Account& a, uint64_t group, uint64_t user_id) {
    pb::InviteToGroupRequest req;
    req.set_group_id(group);
    req.set_user_id(user_id);
    pb::InviteToGroupResponse resp;
    return stub_->InviteToGroup(Ctx(a.token).get(), req, &resp);
  }
  // Invites `who` (by the admin `a`) and has them join.
  void InviteAndJoin(const Account& a, uint64_t group, const Account& who) {
    grpc::Status s = Invite(a, group, who.id);
    ASSERT_TRUE(s.ok()) << s.error_message();
    s = Join(who, group);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  grpc::Status Leave(const Account& a, uint64_t group) {
    pb::LeaveGroupRequest req;
    req.set_group_id(group);
    pb::LeaveGroupResponse resp;
    return stub_->LeaveGroup(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Remove(const Account& a, uint64_t group, uint64_t user_id) {
    pb::RemoveGroupMemberRequest req;
    req.set_group_id(group);
    req.set_user_id(user_id);
    pb::RemoveGroupMemberResponse resp;
    return stub_->RemoveGroupMember(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Promote(const Account& a, uint64_t group, uint64_t user_id) {
    pb::PromoteGroupMemberRequest req;
    req.set_group_id(group);
    req.set_user_id(user_id);
    pb::PromoteGroupMemberResponse resp;
    return stub_->PromoteGroupMember(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Mute(const Account& a, uint64_t group) {
    pb::MuteGroupRequest req;
    req.set_group_id(group);
    pb::MuteGroupResponse resp;
    return stub_->MuteGroup(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Unmute(const Account& a, uint64_t group) {
    pb::UnmuteGroupRequest req;
    req.set_group_id(group);
    pb::UnmuteGroupResponse resp;
    return stub_->UnmuteGroup(Ctx(a.token).get(), req, &resp);
  }

  // --- Posts, comments, answers ---

  grpc::Status Create(const Account& a, const std::string& body, common::v1::PostKind kind,
                      common::v1::Visibility visibility, uint64_t group, pb::Post* out = nullptr) {
    pb::CreatePostRequest req;
    req.set_kind(kind);
    req.set_body(body);
    req.set_visibility(visibility);
    req.set_group_id(group);
    pb::CreatePostResponse resp;
    grpc::Status s = stub_->CreatePost(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.post();
    return s;
  }
  grpc::Status GroupPostStatus(const Account& a, uint64_t group, const std::string& body,
                               common::v1::PostKind kind = kStatus, pb::Post* out = nullptr) {
    return Create(a, body, kind, common::v1::VISIBILITY_GROUP, group, out);
  }
  uint64_t GroupPost(const Account& a, uint64_t group, const std::string& body,
                     common::v1::PostKind kind = kStatus) {
    pb::Post p;
    grpc::Status s = GroupPostStatus(a, group, body, kind, &p);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return p.id();
  }
  // A question outside any group, readable by the org.
  uint64_t Ask(const Account& a, const std::string& body, pb::Post* out = nullptr) {
    pb::Post p;
    grpc::Status s = Create(a, body, kQuestion, common::v1::VISIBILITY_ORG, 0, &p);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (out != nullptr) *out = p;
    return p.id();
  }
  grpc::Status CommentStatus(const Account& a, uint64_t post, const std::string& body,
                             uint64_t parent = 0, pb::Comment* out = nullptr) {
    pb::CreateCommentRequest req;
    req.set_post_id(post);
    req.set_parent_comment_id(parent);
    req.set_body(body);
    pb::CreateCommentResponse resp;
    grpc::Status s = stub_->CreateComment(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.comment();
    return s;
  }
  uint64_t CommentId(const Account& a, uint64_t post, const std::string& body,
                     uint64_t parent = 0) {
    pb::Comment c;
    grpc::Status s = CommentStatus(a, post, body, parent, &c);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return c.id();
  }
  grpc::Status DeleteComment(const Account& a, uint64_t comment) {
    pb::DeleteCommentRequest req;
    req.set_comment_id(comment);
    pb::DeleteCommentResponse resp;
    return stub_->DeleteComment(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status DeletePost(const Account& a, uint64_t post) {
    pb::DeletePostRequest req;
    req.set_post_id(post);
    pb::DeletePostResponse resp;
    return stub_->DeletePost(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Like(const Account& a, uint64_t post) {
    pb::LikePostRequest req;
    req.set_post_id(post);
    pb::LikePostResponse resp;
    return stub_->LikePost(Ctx(a.token).get(), req, &resp);
  }
  grpc::Status Accept(const Account& a, uint64_t post, uint64_t comment, pb::Post* out = nullptr) {
    pb::AcceptAnswerRequest req;
    req.set_post_id(post);
    req.set_comment_id(comment);
    pb::AcceptAnswerResponse resp;
    grpc::Status s = stub_->AcceptAnswer(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.post();
    return s;
  }
  grpc::StatusCode ThreadCode(const Account& a, uint64_t post,
                              pb::GetThreadResponse* out = nullptr) {
    pb::GetThreadRequest req;
    req.set_post_id(post);
    pb::GetThreadResponse resp;
    grpc::StatusCode code = stub_->GetThread(Ctx(a.token).get(), req, &resp).error_code();
    if (out != nullptr) *out = resp;
    return code;
  }

  // --- Lists ---

  // Every page of a list RPC with page size `size`; the first failure's code, or OK.
  template <typename Req, typename Resp>
  grpc::StatusCode AllPages(grpc::Status (pb::FeedService::Stub::*rpc)(grpc::ClientContext*,
                                                                       const Req&, Resp*),
                            const Account& a, Req req, int size, std::vector<Resp>* pages) {
    req.set_page_size(size);
    for (int i = 0; i < 1000; ++i) {
      Resp resp;
      grpc::Status s = (stub_.get()->*rpc)(Ctx(a.token).get(), req, &resp);
      if (!s.ok()) return s.error_code();
      pages->push_back(resp);
      if (resp.next_page_token().empty()) return grpc::OK;
      req.set_page_token(resp.next_page_token());
    }
    ADD_FAILURE() << "more than 1000 pages";
    return grpc::UNKNOWN;
  }
  // The posts of every page; `code` gets the status (if null, it must be OK).
  template <typename Req, typename Resp>
  std::vector<pb::Post> AllPosts(grpc::Status (pb::FeedService::Stub::*rpc)(grpc::ClientContext*,
                                                                            const Req&, Resp*),
                                 const Account& a, const Req& req, grpc::StatusCode* code,
                                 int size) {
    std::vector<Resp> pages;
    grpc::StatusCode c = AllPages(rpc, a, req, size, &pages);
    if (code != nullptr) {
      *code = c;
    } else {
      EXPECT_EQ(c, grpc::OK);
    }
    std::vector<pb::Post> posts;
    if (c != grpc::OK) return posts;
    for (const auto& page : pages) {
      for (const auto& p : page.posts()) posts.push_back(p);
    }
    return posts;
  }
  std::vector<pb::Post> GroupPosts(const Account& a, uint64_t group,
                                   grpc::StatusCode* code = nullptr, int size = 20) {
    pb::ListGroupTimelineRequest req;
    req.set_group_id(group);
    return AllPosts(&pb::FeedService::Stub::ListGroupTimeline, a, req, code, size);
  }
  Ids GroupTimeline(const Account& a, uint64_t group, grpc::StatusCode* code = nullptr,
                    int size = 20) {
    return IdsOf(GroupPosts(a, group, code, size));
  }
  std::vector<pb::Post> UserPosts(const Account& viewer, const Account& user) {
    pb::ListUserTimelineRequest req;
    req.set_user_id(user.id);
    return AllPosts(&pb::FeedService::Stub::ListUserTimeline, viewer, req, nullptr, 7);
  }
  // The first page (100) of the home timeline.
  std::vector<pb::Post> HomePosts(const Account& a) {
    pb::ListHomeTimelineRequest req;
    req.set_page_size(100);
    pb::ListHomeTimelineResponse resp;
    grpc::Status s = stub_->ListHomeTimeline(Ctx(a.token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return std::vector<pb::Post>(resp.posts().begin(), resp.posts().end());
  }
  Ids OpenQuestions(const Account& a, int size = 20) {
    return IdsOf(AllPosts(&pb::FeedService::Stub::ListMyOpenQuestions, a,
                          pb::ListMyOpenQuestionsRequest(), nullptr, size));
  }
  Ids GroupUnanswered(const Account& a, uint64_t group, grpc::StatusCode* code = nullptr,
                      int size = 20) {
    pb::ListGroupUnansweredQuestionsRequest req;
    req.set_group_id(group);
    return IdsOf(
        AllPosts(&pb::FeedService::Stub::ListGroupUnansweredQuestions, a, req, code, size));
  }
  MemberList ListMembers(const Account& a, uint64_t group,
                         pb::GroupMemberState state = pb::GROUP_MEMBER_STATE_UNSPECIFIED,
                         grpc::StatusCode* code = nullptr, int size = 20) {
    pb::ListGroupMembersRequest req;
    req.set_group_id(group);
    req.set_state(state);
    std::vector<pb::ListGroupMembersResponse> pages;
    grpc::StatusCode c = AllPages(&pb::FeedService::Stub::ListGroupMembers, a, req, size, &pages);
    if (code != nullptr) {
      *code = c;
    } else {
      EXPECT_EQ(c, grpc::OK);
    }
    MemberList out;
    for (const auto& page : pages) {
      for (const auto& m : page.members()) out.emplace_back(m.user().id(), m.state());
    }
    return out;
  }
  std::vector<pb::Group> MyGroups(const Account& a, int size = 20) {
    std::vector<pb::ListMyGroupsResponse> pages;
    EXPECT_EQ(
        AllPages(&pb::FeedService::Stub::ListMyGroups, a, pb::ListMyGroupsRequest(), size, &pages),
        grpc::OK);
    std::vector<pb::Group> out;
    for (const auto& page : pages) {
      for (const auto& g : page.groups()) out.push_back(g);
    }
    return out;
  }
  Ids MyGroupIds(const Account& a, int size = 20) {
    Ids ids;
    for (const auto& g : MyGroups(a, size)) ids.push_back(g.id());
    return ids;
  }

  // Polls `a`'s home timeline until it holds every post of `ids` (fan-out is asynchronous).
  bool WaitForHome(const Account& a, const Ids& ids, absl::Duration timeout = absl::Seconds(10)) {
    return testing::WaitFor(
        [&] {
          Ids home = Home(a, 100);
          std::set<uint64_t> have(home.begin(), home.end());
          for (uint64_t id : ids) {
            if (have.count(id) == 0) return false;
          }
          return true;
        },
        timeout);
  }

  // The question `post` by `author` shows `comment` as its accepted answer (0: none) to
  // `viewer` in GetPost, GetThread, the author's page, the group's page (if `group`) and, if
  // `in_home`, the viewer's home timeline.
  void ExpectAccepted(const Account& viewer, const Account& author, uint64_t post, uint64_t comment,
                      bool in_home, uint64_t group = 0) {
    SCOPED_TRACE("viewer " + std::to_string(viewer.id) + ", post " + std::to_string(post));
    pb::Post seen;
    ASSERT_EQ(GetPostCode(viewer, post, &seen), grpc::OK);
    EXPECT_EQ(seen.accepted_comment_id(), comment) << "GetPost";
    pb::GetThreadResponse thread;
    ASSERT_EQ(ThreadCode(viewer, post, &thread), grpc::OK);
    EXPECT_EQ(thread.post().accepted_comment_id(), comment) << "GetThread";
    if (comment == 0) {
      EXPECT_FALSE(thread.has_accepted_answer());
    } else {
      EXPECT_EQ(thread.accepted_answer().id(), comment) << "GetThread.accepted_answer";
      EXPECT_EQ(thread.accepted_answer().post_id(), post);
    }
    auto accepted_in = [&](const std::vector<pb::Post>& posts, const char* where) {
      for (const auto& p : posts) {
        if (p.id() == post) {
          EXPECT_EQ(p.accepted_comment_id(), comment) << where;
          return;
        }
      }
      ADD_FAILURE() << "the question is missing from " << where;
    };
    accepted_in(UserPosts(viewer, author), "the author's timeline");
    if (group != 0) accepted_in(GroupPosts(viewer, group), "the group's timeline");
    if (in_home) accepted_in(HomePosts(viewer), "the home timeline");
  }
};

// --- a. Lifecycle, roles and limits ---

TEST_F(GroupsTest, LifecycleRolesAndLimits) {
  Account admin = MakeOrg("acme.example");
  Account owner = AddUser("acme.example", "owner");
  Account bob = AddUser("acme.example", "bob");
  Account cat = AddUser("acme.example", "cat");
  Account dan = AddUser("acme.example", "dan");
  Account eve = AddUser("acme.example", "eve");
  Account guest = AddGuest("acme.example", "guest");
  const std::string e = "\xC3\xA9";  // é: one character, two bytes

  // Names and descriptions count characters, not bytes.
  pb::Group g;
  EXPECT_EQ(CreateGroupStatus(owner, "", kPublic).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(CreateGroupStatus(owner, Repeat(e, 101), kPublic).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(CreateGroupStatus(owner, "long", kPublic, std::string(2001, 'x')).error_code(),
            grpc::INVALID_ARGUMENT);
  EXPECT_EQ(
      CreateGroupStatus(owner, "no privacy", common::v1::GROUP_PRIVACY_UNSPECIFIED).error_code(),
      grpc::INVALID_ARGUMENT);
  EXPECT_EQ(CreateGroupStatus(guest, "guests", kPublic).error_code(), grpc::PERMISSION_DENIED);
  grpc::Status s = CreateGroupStatus(owner, Repeat(e, 100), kPublic, Repeat(e, 2000), &g);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(g.name(), Repeat(e, 100));
  EXPECT_EQ(g.description(), Repeat(e, 2000));
  const uint64_t accents = g.id();

  pb::Group p;
  ASSERT_TRUE(CreateGroupStatus(owner, "Platform", kPublic, "all things platform", &p).ok());
  EXPECT_NE(p.id(), 0u);
  EXPECT_NE(p.org_id(), 0u);
  EXPECT_EQ(p.name(), "Platform");
  EXPECT_EQ(p.privacy(), kPublic);
  EXPECT_EQ(p.member_count(), 1u);
  EXPECT_EQ(p.viewer_state(), kAdmin);
  EXPECT_FALSE(p.archived());
  EXPECT_TRUE(p.has_create_time());
  const uint64_t pub = p.id();

  // page_size outside 1..100.
  for (int size : {-1, 101}) {
    SCOPED_TRACE(size);
    pb::ListGroupMembersRequest lm;
    lm.set_group_id(pub);
    lm.set_page_size(size);
    pb::ListGroupMembersResponse lmr;
    EXPECT_EQ(stub_->ListGroupMembers(Ctx(owner.token).get(), lm, &lmr).error_code(),
              grpc::INVALID_ARGUMENT);
    pb::ListMyGroupsRequest lg;
    lg.set_page_size(size);
    pb::ListMyGroupsResponse lgr;
    EXPECT_EQ(stub_->ListMyGroups(Ctx(owner.token).get(), lg, &lgr).error_code(),
              grpc::INVALID_ARGUMENT);
    pb::ListGroupTimelineRequest lt;
    lt.set_group_id(pub);
    lt.set_page_size(size);
    pb::ListGroupTimelineResponse ltr;
    EXPECT_EQ(stub_->ListGroupTimeline(Ctx(owner.token).get(), lt, &ltr).error_code(),
              grpc::INVALID_ARGUMENT);
  }

  // Public: anyone joins, idempotently; requests are for private groups.
  pb::Group joined;
  ASSERT_TRUE(Join(bob, pub, &joined).ok());
  EXPECT_EQ(joined.viewer_state(), kMember);
  EXPECT_EQ(joined.member_count(), 2u);
  ASSERT_TRUE(Join(bob, pub, &joined).ok());
  EXPECT_EQ(joined.member_count(), 2u);
  ASSERT_TRUE(Join(owner, pub, &joined).ok());
  EXPECT_EQ(joined.viewer_state(), kAdmin) << "an admin joining stays admin";
  EXPECT_EQ(CountAs(cat, pub), 2u);
  EXPECT_EQ(RequestJoin(cat, pub).error_code(), grpc::FAILED_PRECONDITION);

  // Private: no join without an invitation; outsiders see only the outline.
  pb::Group v;
  ASSERT_TRUE(CreateGroupStatus(owner, "Leadership", kPrivate, "private talk", &v).ok());
  const uint64_t priv = v.id();
  EXPECT_EQ(v.viewer_state(), kAdmin);
  EXPECT_EQ(Join(bob, priv).error_code(), grpc::FAILED_PRECONDITION);
  pb::Group outline;
  ASSERT_TRUE(GetGroup(bob, priv, &outline).ok());
  EXPECT_EQ(outline.id(), priv);
  EXPECT_EQ(outline.org_id(), v.org_id());
  EXPECT_EQ(outline.name(), "Leadership");
  EXPECT_EQ(outline.description(), "private talk");
  EXPECT_EQ(outline.privacy(), kPrivate);
  EXPECT_EQ(outline.viewer_state(), kNone);
  EXPECT_EQ(outline.member_count(), 0u);
  EXPECT_FALSE(outline.archived());
  EXPECT_FALSE(outline.has_create_time());
  grpc::StatusCode code = grpc::OK;
  EXPECT_THAT(ListMembers(bob, priv, pb::GROUP_MEMBER_STATE_UNSPECIFIED, &code), IsEmpty());
  EXPECT_EQ(code, grpc::NOT_FOUND);

  // Request, listed for admins only, approved.
  ASSERT_TRUE(RequestJoin(bob, priv).ok());
  ASSERT_TRUE(RequestJoin(bob, priv).ok());
  EXPECT_EQ(StateOf(bob, priv), kRequested);
  EXPECT_EQ(CountAs(bob, priv), 0u);
  EXPECT_EQ(ListMembers(owner, priv, kRequested), (MemberList{{bob.id, kRequested}}));
  ListMembers(bob, pub, kRequested, &code);
  EXPECT_EQ(code, grpc::PERMISSION_DENIED) << "a member of a public group, not its admin";
  ListMembers(bob, pub, kInvited, &code);
  EXPECT_EQ(code, grpc::PERMISSION_DENIED);
  ASSERT_TRUE(Approve(owner, priv, bob).ok());
  pb::Group as_member;
  ASSERT_TRUE(GetGroup(bob, priv, &as_member).ok());
  EXPECT_EQ(as_member.viewer_state(), kMember);
  EXPECT_EQ(as_member.member_count(), 2u);
  EXPECT_TRUE(as_member.has_create_time());
  EXPECT_EQ(Approve(owner, priv, bob).error_code(), grpc::NOT_FOUND) << "no pending request";
  EXPECT_THAT(ListMembers(owner, priv, kRequested), IsEmpty());

  // Declined: the request is gone.
  ASSERT_TRUE(RequestJoin(cat, priv).ok());
  EXPECT_EQ(Approve(bob, priv, cat).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Decline(bob, priv, cat).error_code(), grpc::PERMISSION_DENIED);
  ListMembers(bob, priv, kRequested, &code);
  EXPECT_EQ(code, grpc::PERMISSION_DENIED);
  ASSERT_TRUE(Decline(owner, priv, cat).ok());
  EXPECT_THAT(ListMembers(owner, priv, kRequested), IsEmpty());
  EXPECT_EQ(StateOf(cat, priv), kNone);
  EXPECT_EQ(Approve(owner, priv, cat).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Decline(owner, priv, cat).error_code(), grpc::NOT_FOUND);

  // Invitations: admins only in a private group; the invitee joins.
  EXPECT_EQ(Invite(bob, priv, dan.id).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Invite(owner, priv, owner.id).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Invite(owner, priv, 987654321).error_code(), grpc::NOT_FOUND);
  ASSERT_TRUE(Invite(owner, priv, dan.id).ok());
  ASSERT_TRUE(Invite(owner, priv, dan.id).ok());
  EXPECT_EQ(StateOf(dan, priv), kInvited);
  EXPECT_EQ(ListMembers(owner, priv, kInvited), (MemberList{{dan.id, kInvited}}));
  ASSERT_TRUE(Join(dan, priv, &joined).ok());
  EXPECT_EQ(joined.viewer_state(), kMember);
  EXPECT_EQ(joined.member_count(), 3u);
  EXPECT_THAT(ListMembers(owner, priv, kInvited), IsEmpty());
  ASSERT_TRUE(Invite(owner, priv, bob.id).ok()) << "a member: no change";
  EXPECT_EQ(StateOf(bob, priv), kMember);
  EXPECT_THAT(ListMembers(owner, priv, kInvited), IsEmpty());
  // An invited person asking to join becomes a member.
  ASSERT_TRUE(Invite(owner, priv, cat.id).ok());
  ASSERT_TRUE(RequestJoin(cat, priv).ok());
  EXPECT_EQ(StateOf(cat, priv), kMember);
  // Any member invites to a public group.
  ASSERT_TRUE(Invite(bob, pub, cat.id).ok());
  EXPECT_EQ(StateOf(cat, pub), kInvited);
  ASSERT_TRUE(Join(cat, pub).ok());
  EXPECT_EQ(StateOf(cat, pub), kMember);

  // Leaving; a request is withdrawn by leaving; the only admin stays while others remain.
  ASSERT_TRUE(Leave(dan, priv).ok());
  ASSERT_TRUE(Leave(dan, priv).ok());
  EXPECT_EQ(StateOf(dan, priv), kNone);
  EXPECT_EQ(CountAs(dan, priv), 0u);
  EXPECT_EQ(CountAs(owner, priv), 3u);
  ASSERT_TRUE(RequestJoin(dan, priv).ok());
  ASSERT_TRUE(Leave(dan, priv).ok());
  EXPECT_EQ(StateOf(dan, priv), kNone);
  EXPECT_THAT(ListMembers(owner, priv, kRequested), IsEmpty());
  EXPECT_EQ(Leave(owner, priv).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(StateOf(owner, priv), kAdmin);

  // Removing: admins only, not oneself, members and pending invitations.
  EXPECT_EQ(Remove(bob, pub, cat.id).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Remove(owner, pub, owner.id).error_code(), grpc::INVALID_ARGUMENT);
  ASSERT_TRUE(Remove(owner, pub, cat.id).ok());
  EXPECT_EQ(Remove(owner, pub, cat.id).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Remove(owner, pub, dan.id).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(StateOf(cat, pub), kNone);
  EXPECT_EQ(CountAs(owner, pub), 2u);
  ASSERT_TRUE(Invite(owner, priv, dan.id).ok());
  ASSERT_TRUE(Remove(owner, priv, dan.id).ok());
  EXPECT_EQ(StateOf(dan, priv), kNone);
  EXPECT_EQ(Join(dan, priv).error_code(), grpc::FAILED_PRECONDITION) << "invitation withdrawn";

  // Promoting: admins only, members only, idempotent.
  EXPECT_EQ(Promote(bob, priv, cat.id).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Promote(owner, priv, dan.id).error_code(), grpc::NOT_FOUND);
  ASSERT_TRUE(Promote(owner, priv, bob.id).ok());
  ASSERT_TRUE(Promote(owner, priv, bob.id).ok());
  EXPECT_EQ(StateOf(bob, priv), kAdmin);

  // Members, most recently joined first, on any page size.
  ASSERT_TRUE(Join(dan, pub).ok());
  ASSERT_TRUE(Join(cat, pub).ok());
  const MemberList pub_members = {
      {cat.id, kMember}, {dan.id, kMember}, {bob.id, kMember}, {owner.id, kAdmin}};
  EXPECT_EQ(ListMembers(eve, pub), pub_members) << "public: anyone in the org";
  EXPECT_EQ(ListMembers(eve, pub, pb::GROUP_MEMBER_STATE_UNSPECIFIED, nullptr, 1), pub_members);
  EXPECT_EQ(ListMembers(cat, pub, pb::GROUP_MEMBER_STATE_UNSPECIFIED, nullptr, 3), pub_members);
  const MemberList priv_members = {{cat.id, kMember}, {bob.id, kAdmin}, {owner.id, kAdmin}};
  EXPECT_EQ(ListMembers(cat, priv), priv_members);
  EXPECT_EQ(ListMembers(cat, priv, pb::GROUP_MEMBER_STATE_UNSPECIFIED, nullptr, 2), priv_members);

  // The caller's groups, most recently joined first.
  std::vector<pb::Group> bobs = MyGroups(bob);
  ASSERT_EQ(bobs.size(), 2u);
  EXPECT_EQ(bobs[0].id(), priv);
  EXPECT_EQ(bobs[0].viewer_state(), kAdmin);
  EXPECT_EQ(bobs[0].member_count(), 3u);
  EXPECT_EQ(bobs[1].id(), pub);
  EXPECT_EQ(bobs[1].viewer_state(), kMember);
  EXPECT_EQ(bobs[1].member_count(), 4u);
  EXPECT_EQ(MyGroupIds(bob, 1), (Ids{priv, pub}));
  EXPECT_EQ(MyGroupIds(owner), (Ids{priv, pub, accents}));
  EXPECT_EQ(MyGroupIds(owner, 2), (Ids{priv, pub, accents}));
  EXPECT_THAT(MyGroupIds(eve), IsEmpty());
  // With another admin, the owner may leave.
  ASSERT_TRUE(Leave(owner, priv).ok());
  EXPECT_EQ(MyGroupIds(owner), (Ids{pub, accents}));
  EXPECT_EQ(ListMembers(cat, priv), (MemberList{{cat.id, kMember}, {bob.id, kAdmin}}));
  EXPECT_EQ(Leave(bob, priv).error_code(), grpc::FAILED_PRECONDITION);

  // Updates: group admins only, by mask.
  pb::Group updated;
  ASSERT_TRUE(Update(owner, pub, "Platform team", "ignored", {"name"}, &updated).ok());
  EXPECT_EQ(updated.name(), "Platform team");
  EXPECT_EQ(updated.description(), "all things platform");
  ASSERT_TRUE(Update(owner, pub, "ignored", "infra and tooling", {"description"}, &updated).ok());
  EXPECT_EQ(updated.name(), "Platform team");
  EXPECT_EQ(updated.description(), "infra and tooling");
  EXPECT_EQ(Update(bob, pub, "Bob's", "", {"name"}).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Update(owner, pub, "Empty mask", "", {}).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Update(owner, pub, Repeat(e, 101), "", {"name"}).error_code(), grpc::INVALID_ARGUMENT);
  ASSERT_TRUE(GetGroup(eve, pub, &g).ok());
  EXPECT_EQ(g.name(), "Platform team");
  EXPECT_EQ(g.description(), "infra and tooling");

  // Archived: read-only, nobody joins; content stays readable.
  const uint64_t before = GroupPost(bob, pub, "before the archive");
  EXPECT_EQ(Archive(bob, pub).error_code(), grpc::PERMISSION_DENIED);
  pb::Group archived;
  ASSERT_TRUE(Archive(owner, pub, &archived).ok());
  EXPECT_TRUE(archived.archived());
  ASSERT_TRUE(Archive(owner, pub).ok());
  EXPECT_EQ(GroupPostStatus(bob, pub, "after the archive").error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(CommentStatus(bob, before, "too late").error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(Join(eve, pub).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(Invite(bob, pub, eve.id).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(GetPostCode(eve, before), grpc::OK);
  EXPECT_THAT(GroupTimeline(eve, pub), ElementsAre(before));
  ASSERT_TRUE(GetGroup(eve, pub, &g).ok());
  EXPECT_TRUE(g.archived());
  // An org admin who is not in the group may archive it too.
  ASSERT_TRUE(RequestJoin(eve, priv).ok());
  ASSERT_TRUE(Archive(admin, priv).ok());
  ASSERT_TRUE(GetGroup(bob, priv, &g).ok());
  EXPECT_TRUE(g.archived());
  EXPECT_EQ(Approve(bob, priv, eve).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(Invite(bob, priv, dan.id).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(RequestJoin(dan, priv).error_code(), grpc::FAILED_PRECONDITION);
}

// --- b. Groups per person ---

TEST_F(GroupsTest, APersonBelongsToAtMost500Groups) {
  MakeOrg("acme.example");
  Account many = AddUser("acme.example", "many");
  Account other = AddUser("acme.example", "other");
  Ids mine;
  for (int i = 0; i < 500; ++i) {
    pb::Group g;
    grpc::Status s = CreateGroupStatus(many, "group " + std::to_string(i), kPublic, "", &g);
    ASSERT_TRUE(s.ok()) << "group " << i << ": " << s.error_message();
    mine.push_back(g.id());
  }
  EXPECT_EQ(CreateGroupStatus(many, "group 500", kPublic).error_code(), grpc::FAILED_PRECONDITION);
  const uint64_t open = CreateGroup(other, "open", kPublic);
  const uint64_t closed = CreateGroup(other, "closed", kPrivate);
  EXPECT_EQ(Join(many, open).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(StateOf(many, open), kNone);
  EXPECT_EQ(CountAs(other, open), 1u);

  // Leaving one (the only member, so allowed) frees a place.
  ASSERT_TRUE(Leave(many, mine[0]).ok());
  ASSERT_TRUE(RequestJoin(many, closed).ok());
  grpc::Status s = Join(many, open);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(StateOf(many, open), kMember);
  // At 500 again: an approval does not get past the limit either.
  EXPECT_EQ(Approve(other, closed, many).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(CountAs(other, closed), 1u);
  ASSERT_TRUE(Leave(many, mine[1]).ok());
  s = Approve(other, closed, many);
  ASSERT_TRUE(s.ok()) << "the request survived the refused approval: " << s.error_message();
  EXPECT_EQ(StateOf(many, closed), kMember);
}

// --- c. Who reads what ---

TEST_F(GroupsTest, GroupContentVisibilityMatrix) {
  Account admin = MakeOrg("acme.example");        // creates and administers both groups
  Account a = AddUser("acme.example", "author");  // in both groups
  Account m = AddUser("acme.example", "member");  // in both groups
  Account n = AddUser("acme.example", "nonmember");
  Account r = AddUser("acme.example", "removed");  // in the private group, then removed
  Account x = MakeOrg("globex.example");           // another org
  const uint64_t pub = CreateGroup(admin, "Public", kPublic);
  const uint64_t priv = CreateGroup(admin, "Private", kPrivate);
  ASSERT_TRUE(Join(a, pub).ok());
  ASSERT_TRUE(Join(m, pub).ok());
  InviteAndJoin(admin, priv, a);
  InviteAndJoin(admin, priv, m);
  InviteAndJoin(admin, priv, r);

  const uint64_t by_r = GroupPost(r, priv, "before my removal");
  pb::Post pp;
  ASSERT_TRUE(GroupPostStatus(a, pub, "in the public group", kStatus, &pp).ok());
  EXPECT_EQ(pp.visibility(), common::v1::VISIBILITY_GROUP);
  EXPECT_EQ(pp.group().id(), pub);
  EXPECT_EQ(pp.group().name(), "Public");
  EXPECT_EQ(pp.group().privacy(), kPublic);
  const uint64_t in_pub = pp.id();
  pb::Post vp;
  ASSERT_TRUE(GroupPostStatus(a, priv, "in the private group", kStatus, &vp).ok());
  EXPECT_EQ(vp.group().id(), priv);
  EXPECT_EQ(vp.group().privacy(), kPrivate);
  const uint64_t in_priv = vp.id();
  const uint64_t q_pub = GroupPost(a, pub, "public question?", kQuestion);
  const uint64_t q_priv = GroupPost(a, priv, "private question?", kQuestion);
  pb::CreatePostRequest no_group;
  no_group.set_body("group visibility without a group");
  no_group.set_visibility(common::v1::VISIBILITY_GROUP);
  pb::CreatePostResponse no_group_resp;
  EXPECT_EQ(stub_->CreatePost(Ctx(a.token).get(), no_group, &no_group_resp).error_code(),
            grpc::INVALID_ARGUMENT);
  EXPECT_EQ(GroupPostStatus(n, pub, "not a member").error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(GroupPostStatus(n, priv, "not a member").error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(GroupPostStatus(x, pub, "another org").error_code(), grpc::NOT_FOUND);

  const Ids members_home = {q_priv, q_pub, in_priv, in_pub, by_r};
  ASSERT_TRUE(WaitForHome(r, {in_priv, q_priv}));
  ASSERT_TRUE(Remove(admin, priv, r.id).ok());
  ASSERT_TRUE(WaitForHome(m, members_home));
  WaitForFanOut();

  struct Viewer {
    const char* name;
    const Account* who;
    bool reads_public;
    bool reads_private;
  };
  const Viewer viewers[] = {{"group admin", &admin, true, true}, {"author", &a, true, true},
                            {"member", &m, true, true},          {"non-member", &n, true, false},
                            {"removed", &r, true, false},        {"other org", &x, false, false}};
  auto code_for = [](bool readable) { return readable ? grpc::OK : grpc::NOT_FOUND; };
  for (const Viewer& v : viewers) {
    SCOPED_TRACE(v.name);
    const Account& who = *v.who;
    for (uint64_t id : {in_pub, q_pub}) {
      EXPECT_EQ(GetPostCode(who, id), code_for(v.reads_public)) << "GetPost " << id;
      EXPECT_EQ(ThreadCode(who, id), code_for(v.reads_public)) << "GetThread " << id;
    }
    for (uint64_t id : {in_priv, q_priv}) {
      EXPECT_EQ(GetPostCode(who, id), code_for(v.reads_private)) << "GetPost " << id;
      EXPECT_EQ(ThreadCode(who, id), code_for(v.reads_private)) << "GetThread " << id;
    }
    if (v.who != &r) {
      EXPECT_EQ(GetPostCode(who, by_r), code_for(v.reads_private));
    }

    grpc::StatusCode code = grpc::OK;
    Ids timeline = GroupTimeline(who, pub, &code);
    EXPECT_EQ(code, code_for(v.reads_public)) << "ListGroupTimeline(public)";
    EXPECT_EQ(timeline, (v.reads_public ? Ids{q_pub, in_pub} : Ids{}));
    timeline = GroupTimeline(who, priv, &code);
    EXPECT_EQ(code, code_for(v.reads_private)) << "ListGroupTimeline(private)";
    EXPECT_EQ(timeline, (v.reads_private ? Ids{q_priv, in_priv, by_r} : Ids{}));
    EXPECT_EQ(GroupTimeline(who, priv, &code, 1), v.reads_private ? timeline : Ids{});

    Ids open = GroupUnanswered(who, pub, &code);
    EXPECT_EQ(code, code_for(v.reads_public)) << "ListGroupUnansweredQuestions(public)";
    EXPECT_EQ(open, v.reads_public ? Ids{q_pub} : Ids{});
    open = GroupUnanswered(who, priv, &code);
    EXPECT_EQ(code, code_for(v.reads_private)) << "ListGroupUnansweredQuestions(private)";
    EXPECT_EQ(open, v.reads_private ? Ids{q_priv} : Ids{});

    // The author's page: public-group posts for the org; private-group posts for the author.
    Ids expected_user;
    if (v.who == &a) {
      expected_user = {q_priv, q_pub, in_priv, in_pub};
    } else if (v.reads_public) {
      expected_user = {q_pub, in_pub};
    }
    EXPECT_EQ(UserTimeline(who, a), expected_user) << "ListUserTimeline(author)";

    pb::Group g;
    grpc::Status s = GetGroup(who, pub, &g);
    EXPECT_EQ(s.error_code(), code_for(v.reads_public)) << "GetGroup(public)";
    if (s.ok()) {
      EXPECT_EQ(g.member_count(), 3u);
    }
    s = GetGroup(who, priv, &g);
    EXPECT_EQ(s.error_code(), v.who == &x ? grpc::NOT_FOUND : grpc::OK) << "GetGroup(private)";
    if (s.ok()) {
      EXPECT_EQ(g.member_count(), v.reads_private ? 3u : 0u);
      EXPECT_EQ(g.viewer_state(), v.who == &admin ? kAdmin : v.reads_private ? kMember : kNone);
    }
    MemberList members = ListMembers(who, pub, pb::GROUP_MEMBER_STATE_UNSPECIFIED, &code);
    EXPECT_EQ(code, code_for(v.reads_public)) << "ListGroupMembers(public)";
    EXPECT_EQ(members.size(), v.reads_public ? 3u : 0u);
    members = ListMembers(who, priv, pb::GROUP_MEMBER_STATE_UNSPECIFIED, &code);
    EXPECT_EQ(code, code_for(v.reads_private)) << "ListGroupMembers(private)";
    if (v.reads_private) {
      EXPECT_EQ(members, (MemberList{{m.id, kMember}, {a.id, kMember}, {admin.id, kAdmin}}));
    } else {
      EXPECT_THAT(members, IsEmpty());
    }
  }

  // Home timelines: members get the group's posts; nobody else does.
  EXPECT_EQ(Home(m), members_home);
  EXPECT_EQ(Home(a), members_home);
  EXPECT_EQ(Home(admin), members_home);
  EXPECT_THAT(Home(n), IsEmpty()) << "public-group posts reach members' homes only";
  EXPECT_THAT(Home(x), IsEmpty());
  Ids removed_home = Home(r);
  for (uint64_t id : {in_priv, q_priv, in_pub, q_pub}) {
    EXPECT_THAT(removed_home, Not(Contains(id)));
  }

  // Comments: members only; likes: any reader.
  EXPECT_EQ(CommentStatus(m, in_pub, "member on public").error_code(), grpc::OK);
  EXPECT_EQ(CommentStatus(m, in_priv, "member on private").error_code(), grpc::OK);
  EXPECT_EQ(CommentStatus(n, in_pub, "may I?").error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(CommentStatus(r, in_pub, "may I?").error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(CommentStatus(n, in_priv, "may I?").error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(CommentStatus(r, in_priv, "may I?").error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(CommentStatus(x, in_pub, "may I?").error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Like(n, in_pub).error_code(), grpc::OK);
  EXPECT_EQ(Like(m, in_priv).error_code(), grpc::OK);
  EXPECT_EQ(Like(n, in_priv).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Like(r, in_priv).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Like(x, in_pub).error_code(), grpc::NOT_FOUND);
  pb::Post seen;
  ASSERT_EQ(GetPostCode(n, in_pub, &seen), grpc::OK);
  EXPECT_EQ(seen.like_count(), 1u);
  EXPECT_EQ(seen.comment_count(), 1u);
  EXPECT_TRUE(seen.viewer_has_liked());
  ASSERT_EQ(GetPostCode(a, in_priv, &seen), grpc::OK);
  EXPECT_EQ(seen.like_count(), 1u);
  EXPECT_EQ(seen.comment_count(), 1u);
  EXPECT_FALSE(seen.viewer_has_liked());
  pb::GetThreadResponse thread;
  ASSERT_EQ(ThreadCode(n, in_pub, &thread), grpc::OK);
  EXPECT_EQ(thread.comments_size(), 1);
}

// --- d. A removed member ---

TEST_F(GroupsTest, RemovedMemberStopsReceivingAndRejoiningRestoresAccess) {
  Account admin = MakeOrg("acme.example");
  Account m = AddUser("acme.example", "member");
  Account r = AddUser("acme.example", "removed");
  Account l = AddUser("acme.example", "leaver");
  const uint64_t priv = CreateGroup(admin, "Private", kPrivate);
  InviteAndJoin(admin, priv, m);
  InviteAndJoin(admin, priv, r);

  const uint64_t before = GroupPost(m, priv, "before the removal");
  ASSERT_TRUE(WaitForHome(r, {before}));
  ASSERT_EQ(GetPostCode(r, before), grpc::OK);
  ASSERT_TRUE(Remove(admin, priv, r.id).ok());
  // Access goes at once.
  EXPECT_EQ(GetPostCode(r, before), grpc::NOT_FOUND);
  EXPECT_EQ(ThreadCode(r, before), grpc::NOT_FOUND);
  grpc::StatusCode code = grpc::OK;
  GroupTimeline(r, priv, &code);
  EXPECT_EQ(code, grpc::NOT_FOUND);
  EXPECT_THAT(Home(r), IsEmpty());
  EXPECT_EQ(StateOf(r, priv), kNone);
  // New posts never reach them.
  const uint64_t after = GroupPost(m, priv, "after the removal");
  ASSERT_TRUE(WaitForHome(admin, {after}));
  WaitForFanOut();
  EXPECT_THAT(Home(r), IsEmpty());
  EXPECT_EQ(GetPostCode(r, after), grpc::NOT_FOUND);

  // Back through an invitation: access and the group's recent posts return.
  InviteAndJoin(admin, priv, r);
  EXPECT_EQ(GetPostCode(r, before), grpc::OK);
  EXPECT_EQ(GetPostCode(r, after), grpc::OK);
  EXPECT_EQ(GroupTimeline(r, priv), (Ids{after, before}));
  EXPECT_TRUE(WaitForHome(r, {after, before}));
  const uint64_t later = GroupPost(m, priv, "after the return");
  EXPECT_TRUE(WaitForHome(r, {later}));
  WaitForFanOut();
  EXPECT_EQ(Home(r), (Ids{later, after, before}));

  // A public group's leaver still reads it but no longer receives it.
  const uint64_t pub = CreateGroup(admin, "Public", kPublic);
  ASSERT_TRUE(Join(m, pub).ok());
  ASSERT_TRUE(Join(l, pub).ok());
  const uint64_t p1 = GroupPost(admin, pub, "while you were here");
  ASSERT_TRUE(WaitForHome(l, {p1}));
  ASSERT_TRUE(Leave(l, pub).ok());
  const uint64_t p2 = GroupPost(admin, pub, "after you left");
  ASSERT_TRUE(WaitForHome(m, {p2}));
  WaitForFanOut();
  EXPECT_THAT(Home(l), Not(Contains(p2)));
  EXPECT_EQ(GetPostCode(l, p2), grpc::OK);
}

// --- e. Muting a group ---

TEST_F(GroupsTest, MutedGroupLeavesHomeButStaysOnItsPage) {
  Account admin = MakeOrg("acme.example");
  Account m = AddUser("acme.example", "member");
  const uint64_t pub = CreateGroup(admin, "Public", kPublic);
  ASSERT_TRUE(Join(m, pub).ok());
  const uint64_t mine = PostId(m, "my own status", common::v1::VISIBILITY_ORG);
  const uint64_t p1 = GroupPost(admin, pub, "before the mute");
  ASSERT_TRUE(WaitForHome(m, {p1}));
  ASSERT_TRUE(Mute(m, pub).ok());
  ASSERT_TRUE(Mute(m, pub).ok());
  EXPECT_EQ(Home(m), (Ids{mine}));
  const uint64_t p2 = GroupPost(admin, pub, "while muted");
  WaitForFanOut();
  EXPECT_EQ(Home(m), (Ids{mine}));
  EXPECT_EQ(GroupTimeline(m, pub), (Ids{p2, p1}));
  EXPECT_EQ(GetPostCode(m, p2), grpc::OK);
  EXPECT_EQ(Home(admin), (Ids{p2, p1})) << "muting is the muter's only";
  EXPECT_EQ(StateOf(m, pub), kMember);

  ASSERT_TRUE(Unmute(m, pub).ok());
  ASSERT_TRUE(Unmute(m, pub).ok());
  EXPECT_TRUE(WaitForHome(m, {p2, p1}));
  EXPECT_EQ(Home(m), (Ids{p2, p1, mine}));
}

// --- f. Large groups are pulled at read time ---

class PulledGroupsTest : public GroupsTest {
 protected:
  PulledGroupsTest() { threshold_ = 2; }
};

TEST_F(PulledGroupsTest, LargeGroupPostsReachEveryMember) {
  Account admin = MakeOrg("acme.example");
  std::vector<Account> members = {admin};
  for (int i = 1; i < 5; ++i) members.push_back(AddUser("acme.example", "m" + std::to_string(i)));
  Account outsider = AddUser("acme.example", "outsider");
  const uint64_t group = CreateGroup(admin, "Big", kPrivate);
  for (size_t i = 1; i < members.size(); ++i) InviteAndJoin(admin, group, members[i]);
  ASSERT_EQ(CountAs(admin, group), 5u);

  // Members 0..3 post; member 4 only reads (and is removed later).
  Ids expected;
  for (int i = 0; i < 12; ++i) {
    expected.push_back(GroupPost(members[i % 4], group, "post " + std::to_string(i)));
  }
  std::sort(expected.rbegin(), expected.rend());
  WaitForFanOut();
  for (size_t i = 0; i < members.size(); ++i) {
    SCOPED_TRACE("member " + std::to_string(i));
    EXPECT_TRUE(
        testing::WaitFor([&] { return Home(members[i], 5) == expected; }, absl::Seconds(10)));
    EXPECT_EQ(Home(members[i], 5), expected);
    EXPECT_EQ(Home(members[i], 100), expected);
  }
  EXPECT_THAT(Home(outsider), IsEmpty());

  // The merge at read time respects membership.
  const Account& gone = members[4];
  ASSERT_TRUE(Remove(admin, group, gone.id).ok());
  EXPECT_THAT(Home(gone), IsEmpty());
  const uint64_t next = GroupPost(members[1], group, "after the removal");
  expected.insert(expected.begin(), next);
  WaitForFanOut();
  EXPECT_TRUE(testing::WaitFor([&] { return Home(members[2], 5) == expected; }, absl::Seconds(10)));
  EXPECT_EQ(Home(members[2], 5), expected);
  EXPECT_THAT(Home(gone), IsEmpty());
}

// --- g. Questions ---

TEST_F(GroupsTest, QuestionsAcceptedAnswersAndOpenLists) {
  Account admin = MakeOrg("acme.example");  // administers the groups below
  Account asker = AddUser("acme.example", "asker");
  Account bob = AddUser("acme.example", "bob");  // follows the asker
  Account cat = AddUser("acme.example", "cat");
  Account out = AddUser("acme.example", "outsider");
  ASSERT_TRUE(Follow(bob, asker).ok());

  pb::Post question;
  const uint64_t q = Ask(asker, "how do I deploy?", &question);
  EXPECT_EQ(question.kind(), kQuestion);
  EXPECT_EQ(question.accepted_comment_id(), 0u);
  const uint64_t c1 = CommentId(bob, q, "use the chart");
  const uint64_t c2 = CommentId(cat, q, "use parleyctl");
  ASSERT_TRUE(WaitForHome(bob, {q}));
  ExpectAccepted(bob, asker, q, 0, /*in_home=*/true);

  EXPECT_EQ(Accept(bob, q, c1).error_code(), grpc::PERMISSION_DENIED) << "not the author";
  EXPECT_EQ(Accept(admin, q, c1).error_code(), grpc::PERMISSION_DENIED) << "an org admin";
  pb::Post accepted;
  ASSERT_TRUE(Accept(asker, q, c1, &accepted).ok());
  EXPECT_EQ(accepted.id(), q);
  EXPECT_EQ(accepted.accepted_comment_id(), c1);
  ExpectAccepted(asker, asker, q, c1, true);
  ExpectAccepted(bob, asker, q, c1, true);
  ExpectAccepted(cat, asker, q, c1, false);

  // Changing the answer; a reply may be the answer too.
  ASSERT_TRUE(Accept(asker, q, c2, &accepted).ok());
  EXPECT_EQ(accepted.accepted_comment_id(), c2);
  ExpectAccepted(bob, asker, q, c2, true);
  pb::GetThreadResponse thread;
  ASSERT_EQ(ThreadCode(out, q, &thread), grpc::OK);
  EXPECT_EQ(thread.accepted_answer().body(), "use parleyctl");
  EXPECT_EQ(thread.accepted_answer().author().id(), cat.id);
  const uint64_t reply = CommentId(asker, q, "which chart?", c1);
  ASSERT_TRUE(Accept(asker, q, reply, &accepted).ok());
  EXPECT_EQ(accepted.accepted_comment_id(), reply);
  ExpectAccepted(cat, asker, q, reply, false);

  // Not a question; a comment of another post; no such comment.
  const uint64_t status = PostId(asker, "just a status", common::v1::VISIBILITY_ORG);
  const uint64_t on_status = CommentId(bob, status, "nice");
  EXPECT_EQ(Accept(asker, status, on_status).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(Accept(asker, q, on_status).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Accept(asker, q, 987654321).error_code(), grpc::NOT_FOUND);
  ExpectAccepted(cat, asker, q, reply, false);

  // A group question: a group admin (not the author) may accept; a plain member may not.
  const uint64_t pub = CreateGroup(admin, "Ops", kPublic);
  ASSERT_TRUE(Join(asker, pub).ok());
  ASSERT_TRUE(Join(bob, pub).ok());
  const uint64_t gq = GroupPost(asker, pub, "group question?", kQuestion);
  const uint64_t gc = CommentId(bob, gq, "group answer");
  EXPECT_EQ(Accept(bob, gq, gc).error_code(), grpc::PERMISSION_DENIED);
  ASSERT_TRUE(Accept(admin, gq, gc, &accepted).ok());
  EXPECT_EQ(accepted.accepted_comment_id(), gc);
  ExpectAccepted(cat, asker, gq, gc, false, pub);
  ASSERT_TRUE(WaitForHome(bob, {gq}));
  ExpectAccepted(bob, asker, gq, gc, true, pub);
  const uint64_t gq2 = GroupPost(asker, pub, "second group question?", kQuestion);
  GroupPost(bob, pub, "a group status");
  const uint64_t gq3 = GroupPost(bob, pub, "bob asks too?", kQuestion);
  EXPECT_EQ(GroupUnanswered(cat, pub), (Ids{gq3, gq2}));
  EXPECT_EQ(GroupUnanswered(cat, pub, nullptr, 1), (Ids{gq3, gq2}));

  // A private group's questions: readers only.
  const uint64_t priv = CreateGroup(admin, "Secret", kPrivate);
  InviteAndJoin(admin, priv, asker);
  const uint64_t pq = GroupPost(asker, priv, "private question?", kQuestion);
  const uint64_t pc = CommentId(admin, pq, "private answer");
  EXPECT_EQ(Accept(out, pq, pc).error_code(), grpc::NOT_FOUND);
  grpc::StatusCode code = grpc::OK;
  EXPECT_THAT(GroupUnanswered(out, priv, &code), IsEmpty());
  EXPECT_EQ(code, grpc::NOT_FOUND);
  EXPECT_EQ(GroupUnanswered(asker, priv), (Ids{pq}));
  EXPECT_EQ(GroupUnanswered(admin, priv), (Ids{pq}));
  pb::ListGroupUnansweredQuestionsRequest big;
  big.set_group_id(pub);
  big.set_page_size(101);
  pb::ListGroupUnansweredQuestionsResponse big_resp;
  EXPECT_EQ(stub_->ListGroupUnansweredQuestions(Ctx(cat.token).get(), big, &big_resp).error_code(),
            grpc::INVALID_ARGUMENT);

  // The asker's open questions, newest first: not the answered ones, not statuses.
  EXPECT_EQ(OpenQuestions(asker), (Ids{pq, gq2}));
  EXPECT_EQ(OpenQuestions(asker, 1), (Ids{pq, gq2}));
  EXPECT_EQ(OpenQuestions(bob), (Ids{gq3}));
  EXPECT_THAT(OpenQuestions(cat), IsEmpty());
  pb::ListMyOpenQuestionsRequest big_open;
  big_open.set_page_size(101);
  pb::ListMyOpenQuestionsResponse big_open_resp;
  EXPECT_EQ(
      stub_->ListMyOpenQuestions(Ctx(asker.token).get(), big_open, &big_open_resp).error_code(),
      grpc::INVALID_ARGUMENT);

  // Deleting the accepted answer opens the question again. Deleting another comment does not.
  ASSERT_TRUE(DeleteComment(cat, c2).ok());
  ExpectAccepted(cat, asker, q, reply, false);
  ASSERT_TRUE(DeleteComment(bob, c1).ok()) << "takes its reply, the accepted answer, along";
  ExpectAccepted(cat, asker, q, 0, false);
  ExpectAccepted(bob, asker, q, 0, true);
  EXPECT_EQ(OpenQuestions(asker), (Ids{pq, gq2, q}));
  const uint64_t c3 = CommentId(cat, q, "third time lucky");
  ASSERT_TRUE(Accept(asker, q, c3).ok());
  EXPECT_EQ(OpenQuestions(asker), (Ids{pq, gq2}));
  ASSERT_TRUE(DeleteComment(cat, c3).ok());
  ExpectAccepted(cat, asker, q, 0, false);
  EXPECT_EQ(OpenQuestions(asker), (Ids{pq, gq2, q}));
  ASSERT_TRUE(DeleteComment(bob, gc).ok());
  ExpectAccepted(cat, asker, gq, 0, false, pub);
  EXPECT_EQ(GroupUnanswered(cat, pub), (Ids{gq3, gq2, gq}));
  EXPECT_EQ(OpenQuestions(asker), (Ids{pq, gq2, gq, q}));
}

// --- h. Participation insights against a brute-force recount ---

class InsightsTest : public GroupsTest {
 protected:
  InsightsTest() { rate_ = 100000; }

  grpc::Status Insights(const Account& a, uint64_t group, const google::protobuf::Timestamp* start,
                        const google::protobuf::Timestamp* end,
                        pb::ParticipationInsights* out = nullptr) {
    pb::GetParticipationInsightsRequest req;
    req.set_group_id(group);
    if (start != nullptr) *req.mutable_start_time() = *start;
    if (end != nullptr) *req.mutable_end_time() = *end;
    pb::GetParticipationInsightsResponse resp;
    grpc::Status s = stub_->GetParticipationInsights(Ctx(a.token).get(), req, &resp);
    if (out != nullptr) *out = resp.insights();
    return s;
  }
};

struct PostRecord {
  uint64_t id = 0;
  int author = 0;
  bool in_group = false;
  bool question = false;
  bool followers_only = false;
  uint64_t reach = 0;  // audience at publication, without the author
  absl::Time create_time;
  std::vector<uint64_t> comments;  // top-level comments and replies on it
  std::vector<uint64_t> top_level;
  bool answered = false;
  uint64_t accepted_comment = 0;  // the current answer
  double answer_lo_ms = 0;        // accept call start - create_time (first acceptance)
  double answer_hi_ms = 0;        // accept call end - create_time
};

struct Figures {
  uint64_t active_posters = 0;
  uint64_t post_count = 0;
  uint64_t comment_count = 0;
  uint64_t question_count = 0;
  double top_share = 0;
  double gini = 0;
  double posts_per_day = 0;
  double comments_per_day = 0;
  double median_reach = 0;
  double answered_rate = 0;
  double answer_lo_ms = 0;
  double answer_hi_ms = 0;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The contract's formulas over `posts` (the scope's posts of the window).
Figures Recount(const std::vector<const PostRecord*>& posts, uint64_t comments, int days) {
  Figures f;
  std::map<int, uint64_t> per_author;
  std::vector<double> reach, lo, hi;
  uint64_t answered = 0;
  for (const PostRecord* p : posts) {
    ++per_author[p->author];
    reach.push_back(static_cast<double>(p->reach));
    if (!p->question) continue;
    ++f.question_count;
    if (p->answered) {
      ++answered;
      lo.push_back(p->answer_lo_ms);
      hi.push_back(p->answer_hi_ms);
    }
  }
  f.post_count = posts.size();
  f.comment_count = comments;
  f.active_posters = per_author.size();
  std::vector<uint64_t> counts;
  for (const auto& entry : per_author) counts.push_back(entry.second);
  std::sort(counts.begin(), counts.end());
  const size_t n = counts.size();
  if (n > 0) {
    const size_t k = (15 * n + 99) / 100;  // ceil(0.15 * n), exactly
    uint64_t top = 0;
    for (size_t i = n - k; i < n; ++i) top += counts[i];
    f.top_share = static_cast<double>(top) / static_cast<double>(f.post_count);
    double weighted = 0;
    for (size_t i = 0; i < n; ++i) weighted += static_cast<double>(i + 1) * counts[i];
    f.gini = 2 * weighted / (static_cast<double>(n) * static_cast<double>(f.post_count)) -
             static_cast<double>(n + 1) / static_cast<double>(n);
  }
  f.posts_per_day = static_cast<double>(f.post_count) / days;
  f.comments_per_day = static_cast<double>(f.comment_count) / days;
  f.median_reach = Median(reach);
  f.answered_rate = f.question_count == 0
                        ? 0
                        : static_cast<double>(answered) / static_cast<double>(f.question_count);
  f.answer_lo_ms = Median(lo);
  f.answer_hi_ms = Median(hi);
  return f;
}

void ExpectFigures(const pb::ParticipationInsights& got, const Figures& want) {
  EXPECT_EQ(got.active_posters(), want.active_posters);
  EXPECT_EQ(got.post_count(), want.post_count);
  EXPECT_EQ(got.comment_count(), want.comment_count);
  EXPECT_EQ(got.question_count(), want.question_count);
  EXPECT_NEAR(got.top_posters_post_share(), want.top_share, 1e-9);
  EXPECT_NEAR(got.post_gini_coefficient(), want.gini, 1e-9);
  EXPECT_NEAR(got.posts_per_day(), want.posts_per_day, 1e-9);
  EXPECT_NEAR(got.comments_per_day(), want.comments_per_day, 1e-9);
  EXPECT_NEAR(got.median_post_reach(), want.median_reach, 1e-9);
  EXPECT_NEAR(got.answered_question_rate(), want.answered_rate, 1e-9);
  const double ms = static_cast<double>(got.median_time_to_answer().seconds()) * 1000.0 +
                    static_cast<double>(got.median_time_to_answer().nanos()) / 1e6;
  // Millisecond precision on the server: a millisecond of slack either way.
  EXPECT_GE(ms, want.answer_lo_ms - 1.0);
  EXPECT_LE(ms, want.answer_hi_ms + 1.0);
}

TEST_F(InsightsTest, FiguresMatchABruteForceRecount) {
  const int64_t today = DayOf(absl::Now());
  Account admin = MakeOrg("acme.example");
  std::vector<Account> people = {admin};
  for (int i = 1; i < 25; ++i) people.push_back(AddUser("acme.example", "p" + std::to_string(i)));
  const int n = static_cast<int>(people.size());
  std::mt19937 rng(20240611);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
  // Skewed: person i is followed with weight 1/(i+1); people 0..17 post with weight
  // 1/(1 + rank) for a scrambled rank; 18..24 never post.
  std::vector<double> follow_weights, post_weights;
  for (int i = 0; i < n; ++i) {
    follow_weights.push_back(1.0 / (i + 1));
    post_weights.push_back(i < 18 ? 1.0 / (1 + (i * 7) % 18) : 0.0);
  }
  std::discrete_distribution<int> popular(follow_weights.begin(), follow_weights.end());
  std::discrete_distribution<int> poster(post_weights.begin(), post_weights.end());

  std::vector<std::set<int>> followers(n);  // followers[u]: who follows u now (never u)
  auto follow = [&](int a, int b) {
    if (a == b) return;
    grpc::Status s = Follow(people[a], people[b]);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (s.ok()) followers[b].insert(a);
  };
  auto unfollow = [&](int a, int b) {
    pb::UnfollowUserRequest req;
    req.set_user_id(people[b].id);
    pb::UnfollowUserResponse resp;
    grpc::Status s = stub_->UnfollowUser(Ctx(people[a].token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (s.ok()) followers[b].erase(a);
  };
  for (int a = 0; a < n; ++a) {
    const int k = uniform(0, 5);
    for (int j = 0; j < k; ++j) follow(a, popular(rng));
  }

  // One public group of 8; one more joins and one leaves along the way.
  const int group_admin = 1, late_joiner = 9, leaver = 13;
  const uint64_t group = CreateGroup(people[group_admin], "Guild", kPublic);
  std::set<int> members = {group_admin};
  for (int i : {2, 3, 5, 7, 11, 13, 17}) {
    ASSERT_TRUE(Join(people[i], group).ok());
    members.insert(i);
  }

  std::vector<PostRecord> posts;
  std::vector<size_t> questions;  // indexes into posts
  uint64_t comments_total = 0, comments_in_group = 0;
  auto may_comment = [&](const PostRecord& p, int who) {
    if (p.in_group) return members.count(who) > 0;
    if (p.followers_only) return who == p.author || followers[p.author].count(who) > 0;
    return true;
  };
  auto comment_on = [&](PostRecord& p) {
    std::vector<int> eligible;
    for (int c = 0; c < n; ++c) {
      if (may_comment(p, c)) eligible.push_back(c);
    }
    if (eligible.empty()) return true;
    const int who = eligible[uniform(0, static_cast<int>(eligible.size()) - 1)];
    uint64_t parent = 0;
    if (!p.top_level.empty() && chance(0.3)) {
      parent = p.top_level[uniform(0, static_cast<int>(p.top_level.size()) - 1)];
    }
    pb::Comment c;
    grpc::Status s =
        CommentStatus(people[who], p.id, "comment " + std::to_string(comments_total), parent, &c);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) return false;
    p.comments.push_back(c.id());
    if (parent == 0) p.top_level.push_back(c.id());
    ++comments_total;
    if (p.in_group) ++comments_in_group;
    return true;
  };

  for (int i = 0; i < 150; ++i) {
    if (i == 50) {
      ASSERT_TRUE(Join(people[late_joiner], group).ok());
      members.insert(late_joiner);
    }
    if (i == 100) {
      ASSERT_TRUE(Leave(people[leaver], group).ok());
      members.erase(leaver);
    }
    // Follows and unfollows along the way change later posts' reach.
    if (chance(0.15)) follow(uniform(0, n - 1), popular(rng));
    if (chance(0.06)) {
      const int b = popular(rng);
      if (!followers[b].empty()) {
        auto it = followers[b].begin();
        std::advance(it, uniform(0, static_cast<int>(followers[b].size()) - 1));
        unfollow(*it, b);
      }
    }
    PostRecord rec;
    rec.author = poster(rng);
    rec.in_group = members.count(rec.author) > 0 && chance(0.4);
    rec.question = chance(0.25);
    common::v1::Visibility visibility = common::v1::VISIBILITY_ORG;
    if (rec.in_group) {
      visibility = common::v1::VISIBILITY_GROUP;
      rec.reach = members.size() - 1;
    } else {
      rec.followers_only = chance(0.2);
      if (rec.followers_only) visibility = common::v1::VISIBILITY_FOLLOWERS;
      rec.reach = followers[rec.author].size();
    }
    pb::Post created;
    grpc::Status s =
        Create(people[rec.author], "post " + std::to_string(i), rec.question ? kQuestion : kStatus,
               visibility, rec.in_group ? group : 0, &created);
    ASSERT_TRUE(s.ok()) << "post " << i << ": " << s.error_message();
    rec.id = created.id();
    rec.create_time = FromTs(created.create_time());
    posts.push_back(rec);
    if (rec.question) questions.push_back(posts.size() - 1);
    // About 80 comments and replies, half of them on questions.
    if (chance(0.55)) {
      PostRecord& target =
          !questions.empty() && chance(0.5)
              ? posts[questions[uniform(0, static_cast<int>(questions.size()) - 1)]]
              : posts[uniform(0, static_cast<int>(posts.size()) - 1)];
      ASSERT_TRUE(comment_on(target));
    }
  }

  // Answers for about half of the questions: by the author, or the group's admin.
  for (size_t idx : questions) {
    PostRecord& p = posts[idx];
    if (p.comments.empty() || !chance(0.7)) continue;
    const int accepter = p.in_group && chance(0.5) ? group_admin : p.author;
    const uint64_t comment = p.comments[uniform(0, static_cast<int>(p.comments.size()) - 1)];
    const absl::Time start = absl::Now();
    grpc::Status s = Accept(people[accepter], p.id, comment);
    const absl::Time end = absl::Now();
    ASSERT_TRUE(s.ok()) << s.error_message();
    p.answered = true;
    p.accepted_comment = comment;
    p.answer_lo_ms = absl::ToDoubleMilliseconds(start - p.create_time);
    p.answer_hi_ms = absl::ToDoubleMilliseconds(end - p.create_time);
  }
  // Changing an answer later does not move the first acceptance.
  for (size_t idx : questions) {
    PostRecord& p = posts[idx];
    if (!p.answered || p.comments.size() < 2 || !chance(0.5)) continue;
    const uint64_t other = p.comments[0] == p.accepted_comment ? p.comments[1] : p.comments[0];
    ASSERT_TRUE(Accept(people[p.author], p.id, other).ok());
    p.accepted_comment = other;
  }

  std::vector<const PostRecord*> all, in_group;
  size_t answered = 0, followers_only = 0;
  for (const auto& p : posts) {
    all.push_back(&p);
    if (p.in_group) in_group.push_back(&p);
    if (p.answered) ++answered;
    if (p.followers_only) ++followers_only;
  }
  // The data exercises what it should.
  ASSERT_GE(comments_total, 50u);
  ASSERT_GE(answered, 5u);
  ASSERT_GE(questions.size() - answered, 5u);
  ASSERT_GE(in_group.size(), 10u);
  ASSERT_GE(followers_only, 3u);
  const Figures org_want = Recount(all, comments_total, 1);
  const Figures group_want = Recount(in_group, comments_in_group, 1);
  ASSERT_LT(org_want.active_posters, 25u);
  ASSERT_GT(org_want.gini, 0.1) << "posting is skewed";

  const google::protobuf::Timestamp now = Ts(absl::Now());
  pb::ParticipationInsights org, grp, grp_by_org_admin, defaults;
  grpc::Status s = Insights(admin, 0, &now, &now, &org);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = Insights(people[group_admin], group, &now, &now, &grp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = Insights(admin, group, &now, &now, &grp_by_org_admin);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = Insights(admin, 0, nullptr, nullptr, &defaults);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // Counted as events happen: deleting an accepted answer and a post changes nothing.
  for (const auto& p : posts) {
    if (p.answered) {
      ASSERT_TRUE(DeleteComment(people[p.author], p.accepted_comment).ok());
      break;
    }
  }
  for (const auto& p : posts) {
    if (!p.question && !p.in_group) {
      ASSERT_TRUE(DeletePost(people[p.author], p.id).ok());
      break;
    }
  }
  pb::ParticipationInsights after_delete;
  s = Insights(admin, 0, &now, &now, &after_delete);
  ASSERT_TRUE(s.ok()) << s.error_message();
  if (DayOf(absl::Now()) != today) GTEST_SKIP() << "ran across midnight UTC";

  EXPECT_EQ(org.start_time().seconds(), today * kDay);
  EXPECT_EQ(org.start_time().nanos(), 0);
  EXPECT_EQ(org.end_time().seconds(), (today + 1) * kDay);
  EXPECT_EQ(org.end_time().nanos(), 0);
  {
    SCOPED_TRACE("org");
    ExpectFigures(org, org_want);
  }
  {
    SCOPED_TRACE("group, by its admin");
    ExpectFigures(grp, group_want);
  }
  {
    SCOPED_TRACE("group, by an org admin");
    ExpectFigures(grp_by_org_admin, group_want);
  }
  {
    SCOPED_TRACE("org, after deletes");
    ExpectFigures(after_delete, org_want);
  }
  {
    SCOPED_TRACE("no window: the last 30 days");
    EXPECT_EQ(defaults.end_time().seconds(), (today + 1) * kDay);
    EXPECT_EQ(defaults.start_time().seconds(), (today - 29) * kDay);
    ExpectFigures(defaults, Recount(all, comments_total, 30));
  }

  // Who may ask.
  const Account& member = people[2];  // in the group; neither its admin nor an org admin
  EXPECT_EQ(Insights(member, 0, &now, &now).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Insights(member, group, &now, &now).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Insights(people[20], group, &now, &now).error_code(), grpc::PERMISSION_DENIED);
  const uint64_t secret = CreateGroup(people[3], "Secret", kPrivate);
  EXPECT_EQ(Insights(people[4], secret, &now, &now).error_code(), grpc::NOT_FOUND);
  pb::ParticipationInsights empty;
  ASSERT_TRUE(Insights(people[3], secret, &now, &now, &empty).ok());
  {
    SCOPED_TRACE("a group without posts");
    ExpectFigures(empty, Figures{});
  }

  // Windows: at most 366 whole days; the end not before the start.
  const absl::Time t = absl::Now();
  const google::protobuf::Timestamp at = Ts(t);
  const google::protobuf::Timestamp d365 = Ts(t - absl::Hours(24 * 365));
  const google::protobuf::Timestamp d366 = Ts(t - absl::Hours(24 * 366));
  const google::protobuf::Timestamp d400 = Ts(t - absl::Hours(24 * 400));
  EXPECT_EQ(Insights(admin, 0, &d400, &at).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Insights(admin, 0, &d366, &at).error_code(), grpc::INVALID_ARGUMENT)
      << "367 days once rounded";
  EXPECT_EQ(Insights(admin, 0, &at, &d365).error_code(), grpc::INVALID_ARGUMENT)
      << "end before start";
  pb::ParticipationInsights year;
  s = Insights(admin, 0, &d365, &at, &year);
  ASSERT_TRUE(s.ok()) << "366 days: " << s.error_message();
  EXPECT_EQ(year.end_time().seconds() - year.start_time().seconds(), 366 * kDay);
  EXPECT_EQ(year.post_count(), org_want.post_count);
  EXPECT_NEAR(year.posts_per_day(), static_cast<double>(org_want.post_count) / 366, 1e-9);
}

// Following (then unfollowing) a fellow member does not turn their group posts
// into ordinary entries: unfollowing them leaves the group's posts in place.
TEST_F(GroupsTest, UnfollowingAFellowMemberKeepsTheirGroupPosts) {
  Account admin = MakeOrg("acme.example");
  Account m = AddUser("acme.example", "mia");
  Account b = AddUser("acme.example", "bea");
  const uint64_t group = CreateGroup(admin, "Guild");
  ASSERT_TRUE(Join(m, group).ok());
  ASSERT_TRUE(Join(b, group).ok());
  const uint64_t post = GroupPost(b, group, "in the guild");
  ASSERT_TRUE(WaitForHome(m, {post}));
  ASSERT_TRUE(Follow(m, b).ok());
  pb::UnfollowUserRequest req;
  req.set_user_id(b.id);
  pb::UnfollowUserResponse resp;
  ASSERT_TRUE(stub_->UnfollowUser(Ctx(m.token).get(), req, &resp).ok());
  EXPECT_EQ(Home(m), Ids{post});
}

// The counts another shard asks for leave out private-group posts the viewer
// may not read (their shard may not know of a removal yet).
TEST_F(GroupsTest, PostCountsOfPrivateGroupsAreForMembersOnly) {
  Account admin = MakeOrg("acme.example");
  Account m = AddUser("acme.example", "mia");
  Account n = AddUser("acme.example", "ned");
  const uint64_t group = CreateGroup(admin, "Board", kPrivate);
  InviteAndJoin(admin, group, m);
  const uint64_t post = GroupPost(admin, group, "numbers");
  auto counted = [&](const Account& viewer) {
    pb::GetPostCountsRequest req;
    req.set_viewer_user_id(viewer.id);
    req.add_post_ids(post);
    pb::GetPostCountsResponse resp;
    grpc::Status s = internal_->GetPostCounts(Ctx(credential_->Token()).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.counts_size();
  };
  EXPECT_EQ(counted(m), 1);
  EXPECT_EQ(counted(admin), 1);
  EXPECT_EQ(counted(n), 0);
  ASSERT_TRUE(Remove(admin, group, m.id).ok());
  EXPECT_EQ(counted(m), 0);
}

// A private group's posts and comments mention (and so notify) members only.
TEST_F(GroupsTest, PrivateGroupMentionsReachMembersOnly) {
  Account admin = MakeOrg("acme.example");
  Account mia = AddUser("acme.example", "mia");
  Account ned = AddUser("acme.example", "ned");
  const uint64_t group = CreateGroup(admin, "Board", kPrivate);
  InviteAndJoin(admin, group, mia);
  pb::Post post;
  ASSERT_TRUE(GroupPostStatus(admin, group, "hi @mia and @ned", kStatus, &post).ok());
  ASSERT_EQ(post.mentions_size(), 1);
  EXPECT_EQ(post.mentions(0).id(), mia.id);
  pb::Comment comment;
  ASSERT_TRUE(CommentStatus(mia, post.id(), "@ned @admin", 0, &comment).ok());
  ASSERT_EQ(comment.mentions_size(), 1);
  EXPECT_EQ(comment.mentions(0).id(), admin.id);
  // In a public group everyone in the org may read it, so anyone is mentioned.
  const uint64_t open = CreateGroup(admin, "Guild");
  ASSERT_TRUE(GroupPostStatus(admin, open, "hi @ned", kStatus, &post).ok());
  EXPECT_EQ(post.mentions_size(), 1);
}

}  // namespace
}  // namespace parley::feed
