// The search index over a real Xapian database in a temp dir, fed the events
// feed and identity produce: relevance on a small fixed corpus, what each
// viewer may see (including counts and paging), deletes and edits, repeated
// delivery, rebuild, and bad queries.
#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "parley/testing/testing.h"
#include "parley/text/text.h"
#include "search/src/index.h"

namespace parley::search {
namespace {

namespace ev = ::parley::events::v1;
namespace cpb = ::parley::common::v1;
using google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr uint64_t kOrg = 1, kOtherOrg = 2;
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

class SearchIndexTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(double recency_weight = 1.0) {
    index_.reset();
    IndexOptions o;
    o.path = dir_.path() + "/search";
    o.recency_weight = recency_weight;
    o.clock = [] { return kNow; };
    auto index = Index::Open(o);
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = *std::move(index);
  }

  // Applies events as `producer` with the next sequences; all are kept for a
  // rebuild's snapshot.
  void Apply(std::vector<ev::Event> events, const std::string& producer = "feed-0") {
    ev::EventBatch batch;
    batch.set_producer(producer);
    for (auto& e : events) {
      e.set_producer(producer);
      e.set_sequence(++seq_[producer]);
      *batch.add_events() = e;
    }
    auto applied = index_->Apply(batch);
    ASSERT_TRUE(applied.ok()) << applied.status();
    EXPECT_EQ(*applied, seq_[producer]);
    last_batch_ = batch;
  }

  static ev::Event Person(uint64_t id, const std::string& handle, const std::string& title,
                          const std::string& department, std::vector<std::string> skills,
                          uint64_t org = kOrg, const std::string& location = "Berlin") {
    ev::Event e;
    e.set_org_id(org);
    auto* u = e.mutable_user_updated();
    u->mutable_user()->set_id(id);
    u->mutable_user()->set_handle(handle);
    u->mutable_user()->set_domain(org == kOrg ? "acme.example" : "other.example");
    u->mutable_user()->set_display_name(handle + " " + department);
    u->set_title(title);
    u->set_department(department);
    u->set_location(location);
    for (auto& s : skills) u->add_skills(s);
    return e;
  }
  static ev::Event Post(uint64_t id, uint64_t author, const std::string& body,
                        absl::Duration age = absl::Hours(1),
                        cpb::Visibility visibility = cpb::VISIBILITY_ORG, uint64_t group = 0,
                        bool private_group = false, uint64_t org = kOrg) {
    ev::Event e;
    e.set_org_id(org);
    auto* p = e.mutable_post_created();
    p->set_post_id(id);
    p->mutable_author()->set_id(author);
    p->mutable_author()->set_handle(absl::StrCat("user", author));
    p->set_kind(cpb::POST_KIND_STATUS);
    p->set_body(body);
    for (const auto& tag : text::ExtractHashtags(body)) p->add_hashtags(tag);
    p->set_visibility(visibility);
    if (group != 0) {
      p->mutable_group()->set_id(group);
      p->mutable_group()->set_name(absl::StrCat("Group ", group));
      p->mutable_group()->set_privacy(private_group ? cpb::GROUP_PRIVACY_PRIVATE
                                                    : cpb::GROUP_PRIVACY_PUBLIC);
      p->set_visibility(cpb::VISIBILITY_GROUP);
    }
    *p->mutable_create_time() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow - age));
    return e;
  }
  static ev::Event Comment(uint64_t id, uint64_t post, uint64_t author, const std::string& body,
                           uint64_t parent = 0, uint64_t post_author = 0) {
    ev::Event e;
    e.set_org_id(kOrg);
    auto* c = e.mutable_comment_created();
    c->set_comment_id(id);
    c->set_post_id(post);
    c->set_parent_comment_id(parent);
    c->set_post_author_id(post_author);
    c->mutable_author()->set_id(author);
    c->mutable_author()->set_handle(absl::StrCat("user", author));
    c->set_body(body);
    *c->mutable_create_time() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow));
    return e;
  }
  static ev::Event Group(uint64_t id, const std::string& name, const std::string& description,
                         bool is_private = false, uint64_t org = kOrg) {
    ev::Event e;
    e.set_org_id(org);
    auto* g = e.mutable_group_created();
    g->mutable_group()->set_id(id);
    g->mutable_group()->set_name(name);
    g->mutable_group()->set_privacy(is_private ? cpb::GROUP_PRIVACY_PRIVATE
                                               : cpb::GROUP_PRIVACY_PUBLIC);
    g->set_description(description);
    return e;
  }
  static ev::Event Joined(uint64_t group, uint64_t user) {
    ev::Event e;
    e.set_org_id(kOrg);
    e.mutable_group_member_joined()->set_group_id(group);
    e.mutable_group_member_joined()->mutable_user()->set_id(user);
    return e;
  }
  static ev::Event Follow(uint64_t follower, uint64_t followee) {
    ev::Event e;
    e.set_org_id(kOrg);
    e.mutable_followed()->mutable_follower()->set_id(follower);
    e.mutable_followed()->mutable_followee()->set_id(followee);
    return e;
  }
  static ev::Event Block(uint64_t blocker, uint64_t blocked) {
    ev::Event e;
    e.set_org_id(kOrg);
    e.mutable_blocked()->set_blocker_id(blocker);
    e.mutable_blocked()->set_blocked_user_id(blocked);
    return e;
  }

  // Post ids (comments as "c<id>") of every page of `query` for `viewer`.
  std::vector<std::string> Posts(uint64_t viewer, const std::string& query, int page_size = 100,
                                 pb::SortOrder order = pb::SORT_ORDER_RELEVANCE,
                                 uint64_t* total = nullptr, uint64_t org = kOrg) {
    std::vector<std::string> out;
    pb::SearchPostsRequest req;
    req.set_query(query);
    req.set_page_size(page_size);
    req.set_sort_order(order);
    for (int pages = 0; pages < 50; ++pages) {
      auto resp = index_->SearchPosts(Viewer{viewer, org}, req);
      EXPECT_TRUE(resp.ok()) << query << ": " << resp.status();
      if (!resp.ok()) return out;
      if (total != nullptr && pages == 0) *total = resp->total_size();
      EXPECT_TRUE(resp->hits_size() == page_size || resp->next_page_token().empty())
          << "a page that is not full must be the last";
      for (const auto& h : resp->hits()) {
        out.push_back(h.comment_id() != 0 ? absl::StrCat("c", h.comment_id())
                                          : absl::StrCat(h.post_id()));
      }
      if (resp->next_page_token().empty()) break;
      req.set_page_token(resp->next_page_token());
    }
    return out;
  }
  absl::Status PostsStatus(const std::string& query) {
    pb::SearchPostsRequest req;
    req.set_query(query);
    return index_->SearchPosts(Viewer{1, kOrg}, req).status();
  }

  testing::TempDir dir_;
  std::unique_ptr<Index> index_;
  std::map<std::string, uint64_t> seq_;
  ev::EventBatch last_batch_;
};

// A small fixed corpus with the results a person would expect on top.
TEST_F(SearchIndexTest, RelevanceOnAFixedCorpus) {
  Open(/*recency_weight=*/0);
  Apply({Post(1, 10, "Upgrading our Kubernetes cluster to 1.29 this weekend #kubernetes"),
         Post(2, 11, "Coffee machine on floor 3 is broken again"),
         Post(3, 12, "Kubernetes kubernetes kubernetes: operators, helm charts and kubernetes"),
         Post(4, 13, "Lunch and learn: distributed tracing with OpenTelemetry"),
         Post(5, 14, "The new espresso machine makes great coffee"),
         Post(6, 10, "Helm chart review for the payments service"),
         Post(7, 15, "Quarterly planning: security review of the payments service"),
         Post(8, 16, "Who knows how to rotate TLS certificates in the ingress?"),
         Post(9, 17, "Rotating certificates: we automated it with cert-manager"),
         Post(10, 18, "Team offsite in Lisbon next month, bring sunscreen"),
         Post(11, 12, "Debugging a memory leak in the search indexer"),
         Post(12, 19, "Memory leaks are not leaks when the cache is bounded")});
  // Single words, stemming, phrases, boolean operators, prefixes, filters.
  EXPECT_EQ(Posts(1, "kubernetes").front(), "3");  // densest match first
  EXPECT_THAT(Posts(1, "kubernetes"), UnorderedElementsAre("1", "3"));
  EXPECT_THAT(Posts(1, "coffee"), UnorderedElementsAre("2", "5"));
  EXPECT_THAT(Posts(1, "certificates rotate"), UnorderedElementsAre("8", "9"));  // stemming
  EXPECT_THAT(Posts(1, "\"payments service\""), UnorderedElementsAre("6", "7"));
  EXPECT_THAT(Posts(1, "\"service payments\""), ElementsAre());
  EXPECT_THAT(Posts(1, "helm AND review"), ElementsAre("6"));
  EXPECT_THAT(Posts(1, "espresso OR lisbon"), UnorderedElementsAre("5", "10"));
  EXPECT_THAT(Posts(1, "review NOT security"), ElementsAre("6"));
  EXPECT_THAT(Posts(1, "certif*"), UnorderedElementsAre("8", "9"));
  EXPECT_THAT(Posts(1, "leak"), UnorderedElementsAre("11", "12"));
  EXPECT_EQ(Posts(1, "memory leak indexer").front(), "11");
  EXPECT_THAT(Posts(1, "#kubernetes"), ElementsAre("1"));
  EXPECT_THAT(Posts(1, "from:user10"), UnorderedElementsAre("1", "6"));
  EXPECT_THAT(Posts(1, "helm from:user10"), ElementsAre("6"));
  EXPECT_THAT(Posts(1, "opentelemetry"), ElementsAre("4"));
}

TEST_F(SearchIndexTest, RecencyBoostAndTimeOrder) {
  Apply({Post(1, 10, "release notes for parley", absl::Hours(24 * 365)),
         Post(2, 11, "release notes for parley", absl::Hours(1)),
         Post(3, 12, "release notes for parley", absl::Hours(24 * 30))});
  // Equal text: the newest ranks first with the boost, and time order agrees.
  EXPECT_THAT(Posts(1, "release notes"), ElementsAre("2", "3", "1"));
  EXPECT_THAT(Posts(1, "release", 100, pb::SORT_ORDER_TIME), ElementsAre("2", "3", "1"));
  // Date range [start, end).
  pb::SearchPostsRequest req;
  req.set_query("release");
  *req.mutable_start_time() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) - 86400 * 60);
  *req.mutable_end_time() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) - 3600);
  auto resp = index_->SearchPosts(Viewer{1, kOrg}, req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->hits_size(), 1);
  EXPECT_EQ(resp->hits(0).post_id(), 3u);
}

// Who sees what: org, followers-only, private groups, blocks, suspensions,
// deletes. Counts and paging are those of the visible results only.
TEST_F(SearchIndexTest, VisibilityMatrixWithCountsAndPaging) {
  // 1 follows 10; 2 follows nobody; 3 is in private group 500; 4 blocked 10;
  // 11 blocked 5; 12 is suspended; 99 is in another org.
  Apply({Follow(1, 10), Group(500, "Leadership", "private stuff", true), Joined(500, 3),
         Block(4, 10), Block(11, 5)});
  std::vector<ev::Event> posts;
  for (uint64_t i = 0; i < 7; ++i) posts.push_back(Post(100 + i, 10, "roadmap public"));
  posts.push_back(Post(200, 10, "roadmap followers", absl::Hours(1), cpb::VISIBILITY_FOLLOWERS));
  posts.push_back(Post(300, 13, "roadmap private", absl::Hours(1), cpb::VISIBILITY_GROUP, 500,
                       /*private_group=*/true));
  posts.push_back(Post(400, 11, "roadmap by eleven"));
  posts.push_back(Post(500, 12, "roadmap by suspended"));
  posts.push_back(
      Post(600, 98, "roadmap other org", absl::Hours(1), cpb::VISIBILITY_ORG, 0, false, kOtherOrg));
  posts.push_back(Comment(700, 200, 13, "roadmap comment on followers-only"));
  posts.push_back(Comment(701, 300, 13, "roadmap comment in private group"));
  Apply(posts);
  ev::Event suspended;
  suspended.set_org_id(kOrg);
  suspended.mutable_user_suspended()->set_user_id(12);
  Apply({suspended}, "identity");

  auto visible = [&](uint64_t viewer) {
    std::vector<std::string> ids = Posts(viewer, "roadmap", 3);
    std::set<std::string> set(ids.begin(), ids.end());
    EXPECT_EQ(set.size(), ids.size()) << "a result repeated across pages";
    uint64_t total = 0;
    Posts(viewer, "roadmap", 3, pb::SORT_ORDER_RELEVANCE, &total);
    EXPECT_EQ(total, ids.size()) << "count of viewer " << viewer;
    return set;
  };
  const std::set<std::string> pub = {"100", "101", "102", "103", "104", "105", "106", "400"};
  auto with = [&](std::set<std::string> s, std::vector<std::string> more) {
    s.insert(more.begin(), more.end());
    return s;
  };
  EXPECT_EQ(visible(1), with(pub, {"200", "c700"}));  // follower of 10
  EXPECT_EQ(visible(2), pub);
  EXPECT_EQ(visible(3), with(pub, {"300", "c701"}));   // member of the private group
  EXPECT_EQ(visible(10), with(pub, {"200", "c700"}));  // the author
  // 4 blocked 10: none of 10's posts; 5 was blocked by 11: not 11's.
  EXPECT_EQ(visible(4), std::set<std::string>({"400"}));
  std::set<std::string> five = pub;
  five.erase("400");
  EXPECT_EQ(visible(5), five);
  // Another org sees only its own.
  EXPECT_THAT(Posts(99, "roadmap", 10, pb::SORT_ORDER_RELEVANCE, nullptr, kOtherOrg),
              ElementsAre("600"));

  // Reactivation brings the suspended author back; leaving a group hides it.
  ev::Event reactivated;
  reactivated.set_org_id(kOrg);
  reactivated.mutable_user_reactivated()->set_user_id(12);
  Apply({reactivated}, "identity");
  EXPECT_EQ(visible(2), with(pub, {"500"}));
  ev::Event left;
  left.set_org_id(kOrg);
  left.mutable_group_member_left()->set_group_id(500);
  left.mutable_group_member_left()->set_user_id(3);
  Apply({left});
  EXPECT_EQ(visible(3), with(pub, {"500"}));
}

TEST_F(SearchIndexTest, DeletesEditsAndRepeatedDelivery) {
  Apply({Person(10, "ana", "SRE", "Platform", {"Kubernetes"}), Group(7, "Guild", "gardening")},
        "identity");
  Apply({Post(1, 10, "tomatoes and basil"), Comment(2, 1, 11, "basil needs sun"),
         Post(3, 10, "tomatoes again")});
  EXPECT_THAT(Posts(1, "basil"), UnorderedElementsAre("1", "c2"));
  // Delivering the same batch again changes nothing.
  const ev::EventBatch again = last_batch_;
  auto applied = index_->Apply(again);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, seq_["feed-0"]);
  EXPECT_THAT(Posts(1, "tomatoes"), UnorderedElementsAre("1", "3"));

  // Deleting a post takes its comments with it; deleting a comment only it.
  ev::Event del;
  del.set_org_id(kOrg);
  del.mutable_post_deleted()->set_post_id(1);
  Apply({del});
  EXPECT_THAT(Posts(1, "basil"), ElementsAre());
  EXPECT_THAT(Posts(1, "tomatoes"), ElementsAre("3"));
  // A redelivered create after the delete is skipped (sequence already applied).
  ASSERT_TRUE(index_->Apply(again).ok());
  EXPECT_THAT(Posts(1, "basil"), ElementsAre());

  // Profile and group edits replace what was indexed.
  pb::SearchPeopleRequest people;
  people.set_query("kubernetes");
  EXPECT_EQ(index_->SearchPeople(Viewer{1, kOrg}, people)->hits_size(), 1);
  Apply({Person(10, "ana", "SRE", "Platform", {"Terraform"})}, "identity");
  EXPECT_EQ(index_->SearchPeople(Viewer{1, kOrg}, people)->hits_size(), 0);
  people.set_query("terraform");
  EXPECT_EQ(index_->SearchPeople(Viewer{1, kOrg}, people)->hits_size(), 1);
  ev::Event renamed;
  renamed.set_org_id(kOrg);
  *renamed.mutable_group_updated()->mutable_group() =
      Group(7, "Growers", "").group_created().group();
  renamed.mutable_group_updated()->set_description("vegetables");
  Apply({renamed});
  pb::SearchGroupsRequest groups;
  groups.set_query("gardening");
  EXPECT_EQ(index_->SearchGroups(Viewer{1, kOrg}, groups)->hits_size(), 0);
  groups.set_query("growers vegetables");
  ASSERT_EQ(index_->SearchGroups(Viewer{1, kOrg}, groups)->hits_size(), 1);
}

TEST_F(SearchIndexTest, PeopleByExpertiseAndWriting) {
  Apply({Person(10, "ana", "Site Reliability Engineer", "Platform", {"Kubernetes", "Go"}),
         Person(11, "bo", "Kubernetes Consultant", "Sales", {}, kOrg, "Paris"),
         Person(12, "cy", "Designer", "Design", {"Figma"}),
         Person(13, "di", "Accountant", "Finance", {}),
         Person(14, "ed", "Engineer", "Platform", {"Kubernetes"}, kOtherOrg)},
        "identity");
  // cy wrote about kubernetes; di did not.
  Apply({Post(1, 12, "my notes on kubernetes operators and kubernetes upgrades"),
         Post(2, 13, "invoices are due friday")});
  pb::SearchPeopleRequest req;
  req.set_query("kubernetes");
  auto resp = index_->SearchPeople(Viewer{13, kOrg}, req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  std::vector<uint64_t> ids;
  for (const auto& h : resp->hits()) ids.push_back(h.user().id());
  // Declared skill first, then title, then the writer; never another org.
  EXPECT_THAT(ids, ElementsAre(10, 11, 12));
  EXPECT_THAT(resp->hits(0).matched_skills(), ElementsAre("Kubernetes"));
  EXPECT_EQ(resp->total_size(), 3u);
  // Filters: department and location, with or without a query.
  req.set_department("platform");
  resp = index_->SearchPeople(Viewer{13, kOrg}, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->hits_size(), 1);
  EXPECT_EQ(resp->hits(0).user().id(), 10u);
  req.clear_department();
  req.set_query("");
  req.set_location("paris");
  resp = index_->SearchPeople(Viewer{13, kOrg}, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->hits_size(), 1);
  EXPECT_EQ(resp->hits(0).user().id(), 11u);
}

TEST_F(SearchIndexTest, GroupsAndSuggestRespectMembership) {
  Apply({Person(10, "kate", "Engineer", "Platform", {}), Person(11, "kevin", "Sales", "Sales", {})},
        "identity");
  Apply({Group(1, "Kubernetes Guild", "clusters and operators"),
         Group(2, "Kitchen Secrets", "a private group about clusters", true), Joined(2, 10),
         Post(5, 10, "hello #kubernetes #kitchen", absl::Hours(1), cpb::VISIBILITY_ORG),
         Post(6, 10, "secret #kimchi", absl::Hours(1), cpb::VISIBILITY_GROUP, 2, true)});
  pb::SearchGroupsRequest groups;
  groups.set_query("clusters");
  auto member = index_->SearchGroups(Viewer{10, kOrg}, groups);
  auto outsider = index_->SearchGroups(Viewer{11, kOrg}, groups);
  ASSERT_TRUE(member.ok() && outsider.ok());
  EXPECT_EQ(member->total_size(), 2u);
  EXPECT_EQ(outsider->total_size(), 1u);
  ASSERT_EQ(outsider->hits_size(), 1);
  EXPECT_EQ(outsider->hits(0).group().id(), 1u);

  auto suggest = [&](uint64_t viewer, const std::string& prefix) {
    pb::SuggestRequest req;
    req.set_prefix(prefix);
    auto resp = index_->Suggest(Viewer{viewer, kOrg}, req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    std::set<std::string> out;
    for (const auto& s : resp->suggestions()) {
      if (s.has_person()) out.insert("@" + s.person().handle());
      if (s.has_group()) out.insert(s.group().name());
      if (!s.hashtag().empty()) out.insert("#" + s.hashtag());
    }
    EXPECT_LE(resp->suggestions_size(), kMaxSuggestions);
    return out;
  };
  // A private group and a hashtag used only inside it are the members' alone.
  EXPECT_EQ(suggest(10, "k"),
            std::set<std::string>({"@kate", "@kevin", "Kubernetes Guild", "Kitchen Secrets",
                                   "#kubernetes", "#kitchen", "#kimchi"}));
  EXPECT_EQ(suggest(11, "k"), std::set<std::string>({"@kate", "@kevin", "Kubernetes Guild",
                                                     "#kubernetes", "#kitchen"}));
  EXPECT_EQ(suggest(11, "@ke"), std::set<std::string>({"@kevin"}));
  EXPECT_EQ(suggest(11, "#ku"), std::set<std::string>({"#kubernetes"}));
}

TEST_F(SearchIndexTest, BadQueriesAndLimits) {
  Apply({Post(1, 10, "hello world")});
  auto expect_invalid = [&](const std::string& q, const std::string& says) {
    absl::Status s = PostsStatus(q);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << q;
    EXPECT_THAT(std::string(s.message()), HasSubstr(says)) << q;
  };
  expect_invalid("\"hello world", "unbalanced quote");
  expect_invalid("in:\"hello", "unbalanced quote");
  expect_invalid("(hello OR world", "unbalanced parenthesis");
  expect_invalid("hello)", "unbalanced parenthesis");
  expect_invalid(std::string(kMaxQueryChars + 1, 'a'), "1001 characters");
  std::string many;
  for (size_t i = 0; i <= kMaxQueryTerms; ++i) absl::StrAppend(&many, "w", i, " ");
  expect_invalid(many, "33");
  expect_invalid("", "query");
  expect_invalid("from:", "handle");
  expect_invalid("\xC0\xAF", "UTF-8");
  EXPECT_TRUE(PostsStatus(std::string(kMaxQueryChars, 'a')).ok());
  // Odd but valid syntax still answers.
  for (const char* q : {"AND", "OR OR", "NOT", "hello AND", "*", "-", "\"\"", "a* b* c*"}) {
    absl::Status s = PostsStatus(q);
    EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kInvalidArgument) << q << ": " << s;
  }
  // Page sizes and tokens.
  pb::SearchPostsRequest req;
  req.set_query("hello");
  req.set_page_size(kMaxPageSize + 1);
  EXPECT_EQ(index_->SearchPosts(Viewer{1, kOrg}, req).status().code(),
            absl::StatusCode::kInvalidArgument);
  req.set_page_size(10);
  req.set_page_token("!!");
  EXPECT_EQ(index_->SearchPosts(Viewer{1, kOrg}, req).status().code(),
            absl::StatusCode::kInvalidArgument);
  // People search takes no post filters; suggest limits.
  pb::SearchPeopleRequest people;
  people.set_query("from:ana");
  EXPECT_EQ(index_->SearchPeople(Viewer{1, kOrg}, people).status().code(),
            absl::StatusCode::kInvalidArgument);
  pb::SuggestRequest suggest;
  suggest.set_prefix(std::string(kMaxPrefixChars + 1, 'a'));
  EXPECT_EQ(index_->Suggest(Viewer{1, kOrg}, suggest).status().code(),
            absl::StatusCode::kInvalidArgument);
  suggest.set_prefix("a");
  suggest.set_max_results(kMaxSuggestions + 1);
  EXPECT_EQ(index_->Suggest(Viewer{1, kOrg}, suggest).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A batch that breaks the event contract is refused whole.
  ev::EventBatch bad;
  bad.set_producer("feed-0");
  bad.add_events()->set_producer("feed-1");
  EXPECT_EQ(index_->Apply(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

// Snapshot sources replaying what was applied give the same results, and
// events applied while the rebuild runs are not lost.
TEST_F(SearchIndexTest, RebuildMatchesIncrementalIndex) {
  std::vector<ev::Event> all = {Follow(1, 10), Group(5, "Ops", "on call", true), Joined(5, 1)};
  for (uint64_t i = 0; i < 40; ++i) {
    all.push_back(Post(100 + i, 10 + i % 3, absl::StrCat("incident review number ", i),
                       absl::Hours(i + 1),
                       i % 4 == 0 ? cpb::VISIBILITY_FOLLOWERS : cpb::VISIBILITY_ORG,
                       i % 5 == 0 ? 5 : 0, i % 5 == 0));
  }
  Apply(all);
  ev::Event del;
  del.set_org_id(kOrg);
  del.mutable_post_deleted()->set_post_id(101);
  Apply({del});
  const auto before1 = Posts(1, "incident review", 7);
  const auto before2 = Posts(2, "incident review", 7);
  // 1 follows 10 and is in the group: more than 2 sees, less than all 39.
  ASSERT_GT(before1.size(), before2.size());
  ASSERT_LT(before1.size(), 39u);

  // The snapshot: current state as sequence-0 upserts, in pages of 10.
  std::vector<ev::Event> snapshot;
  for (const auto& e : all) {
    if (e.has_post_created() && e.post_created().post_id() == 101) continue;
    ev::Event s = e;
    s.set_producer("feed-0");
    s.set_sequence(0);
    snapshot.push_back(s);
  }
  const uint64_t snapshot_seq = seq_["feed-0"];
  bool applied_during = false;
  SnapshotSource source = [&](const std::string& token) -> absl::StatusOr<SnapshotPage> {
    size_t from = token.empty() ? 0 : std::stoul(token);
    if (from == 10 && !applied_during) {
      // A live post while the rebuild runs.
      applied_during = true;
      Apply({Post(999, 10, "incident review during rebuild")});
    }
    SnapshotPage page;
    page.snapshot_sequence = snapshot_seq;
    for (size_t i = from; i < std::min(snapshot.size(), from + 10); ++i) {
      page.events.push_back(snapshot[i]);
    }
    if (from + 10 < snapshot.size()) page.next_page_token = std::to_string(from + 10);
    return page;
  };
  auto counts = index_->Rebuild({source});
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->posts, 40u);
  auto after1 = Posts(1, "incident review", 7);
  // The live post is there, and the rest ranks exactly as before.
  auto live = std::find(after1.begin(), after1.end(), "999");
  ASSERT_NE(live, after1.end());
  after1.erase(live);
  EXPECT_EQ(after1, before1);
  auto after2 = Posts(2, "incident review", 7);
  live = std::find(after2.begin(), after2.end(), "999");
  ASSERT_NE(live, after2.end());
  after2.erase(live);
  EXPECT_EQ(after2, before2);
  // Markers carried over: the next live batch applies, old ones are skipped.
  Apply({Post(1000, 10, "incident review after rebuild")});
  EXPECT_EQ(Posts(2, "incident review", 100).size(), before2.size() + 2);
  // The rebuilt index is the one reopened.
  Open();
  EXPECT_EQ(Posts(2, "incident review", 100).size(), before2.size() + 2);
}

// Edge cases a review found: replies go with their comment, comments under a
// blocked or suspended author's post go with it, a term Xapian would refuse
// does not stall the producer, snippets are plain text.
TEST_F(SearchIndexTest, RepliesBlocksLongTermsAndSnippets) {
  Apply({Post(1, 10, "quarterly numbers & plans"), Comment(2, 1, 11, "numbers look good"),
         Comment(3, 1, 12, "numbers reply", /*parent=*/2, /*post_author=*/10), Block(10, 5)});
  EXPECT_THAT(Posts(1, "numbers"), UnorderedElementsAre("1", "c2", "c3"));
  // 10 blocked 5: neither 10's post nor the comments under it reach 5.
  EXPECT_THAT(Posts(5, "numbers"), ElementsAre());
  ev::Event del;
  del.set_org_id(kOrg);
  del.mutable_comment_deleted()->set_comment_id(2);
  Apply({del});
  EXPECT_THAT(Posts(1, "numbers"), ElementsAre("1"));

  // A 300-letter hashtag (feed does not check comments' tags) and a group
  // name of 100 four-byte characters: indexed, and later events still apply.
  std::string emoji_name;
  for (int i = 0; i < 100; ++i) emoji_name += "\xF0\x9F\x98\x80";
  Apply({Comment(4, 1, 11, "long tag #" + std::string(300, 'a')), Group(9, emoji_name, "smiles"),
         Post(5, 10, "after the long terms")});
  EXPECT_THAT(Posts(1, "after"), ElementsAre("5"));
  EXPECT_THAT(Posts(1, "#" + std::string(300, 'a')), ElementsAre("c4"));
  EXPECT_THAT(Posts(1, "in:\"" + emoji_name + "\" smiles"), ElementsAre());  // no posts in it
  pb::SearchGroupsRequest groups;
  groups.set_query("smiles");
  auto found = index_->SearchGroups(Viewer{1, kOrg}, groups);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->hits_size(), 1);

  // Snippets are plain text, not HTML.
  pb::SearchPostsRequest req;
  req.set_query("quarterly");
  auto resp = index_->SearchPosts(Viewer{1, kOrg}, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->hits_size(), 1);
  EXPECT_THAT(resp->hits(0).snippet(), HasSubstr("numbers & plans"));

  // Suspending the post's author hides the comments under it.
  ev::Event suspended;
  suspended.set_org_id(kOrg);
  suspended.mutable_user_suspended()->set_user_id(10);
  Apply({suspended}, "identity");
  EXPECT_THAT(Posts(1, "long"), ElementsAre());
}

// Queries on several threads while events are applied and committed (Xapian
// objects are not thread-safe: readers and stemmers are per thread).
TEST_F(SearchIndexTest, ConcurrentQueriesWhileApplying) {
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, queries{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      while (!stop) {
        pb::SearchPostsRequest req;
        req.set_query(t % 2 == 0 ? "running builds" : "build*");
        auto resp = index_->SearchPosts(Viewer{1, kOrg}, req);
        if (!resp.ok()) ++failures;
        for (const auto& h : resp->hits()) {
          if (h.snippet().empty()) ++failures;
        }
        ++queries;
      }
    });
  }
  for (uint64_t i = 0; i < 30; ++i) {
    Apply({Post(1000 + i, 10, absl::StrCat("running builds and building runners ", i))});
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(queries.load(), 0);
  EXPECT_EQ(Posts(1, "builds").size(), 30u);
}

}  // namespace
}  // namespace parley::search
