// Feed: the follow graph, posts, comments, likes and timelines of the people
// homed on this shard, with durable hybrid fan-out (docs/architecture.md, "Feed").
//
// Every write commits its records and its events in one WriteBatch through
// the outbox before returning. Subscribers of the outbox:
//   - "fanout": this shard's fan-out worker (DeliverEvents): pushes new posts
//     into followers' home timelines, removes deleted ones;
//   - any configured event subscribers (search, notifications, federation).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "feed/src/feed_peers.h"
#include "parley/common/v1/auth.pb.h"
#include "parley/directory/directory.h"
#include "parley/events/v1/events.pb.h"
#include "parley/feed/v1/feed.pb.h"
#include "parley/ids/ids.h"
#include "parley/shard/shard.h"
#include "parley/storage/applied.h"
#include "parley/storage/db.h"
#include "parley/storage/outbox.h"

namespace parley::feed {

namespace pb = ::parley::feed::v1;
using common::v1::TokenClaims;
using directory::Directory;
using directory::IdentityDirectory;
using directory::Person;

// Named limits (feed.proto states them; tests check each).
inline constexpr size_t kMaxBodyChars = 5000;
inline constexpr size_t kMaxMentions = 50;
inline constexpr size_t kMaxHashtags = 30;
inline constexpr size_t kMaxHashtagChars = 100;
inline constexpr int32_t kDefaultPageSize = 20;
inline constexpr int32_t kMaxPageSize = 100;
inline constexpr size_t kMaxDeliverRecipients = 10000;
inline constexpr size_t kMaxPullAuthors = 1000;
inline constexpr size_t kMaxPullPosts = 1000;
inline constexpr size_t kMaxCountPosts = 500;
inline constexpr size_t kMaxGroupNameChars = 100;
inline constexpr size_t kMaxGroupDescriptionChars = 2000;
inline constexpr uint64_t kMaxGroupsPerPerson = 500;
inline constexpr size_t kMaxGetGroups = 100;
inline constexpr int64_t kMaxInsightDays = 366;
inline constexpr int64_t kDefaultInsightDays = 30;
// Index entries a question list reads per page before returning a short page
// (answered questions are skipped at read time).
inline constexpr size_t kMaxQuestionScan = 2000;
// ListSnapshotEvents: events per page, and records a page reads at most before
// it returns short (copies of other shards' posts, invitations, requests and
// the blocked person's side of a block yield no event).
inline constexpr int32_t kDefaultSnapshotPageSize = 500;
inline constexpr int32_t kMaxSnapshotPageSize = 1000;
inline constexpr size_t kMaxSnapshotScan = 10000;

// Who calls, and until when: the adapter passes the gRPC deadline, so that
// calls to other shards on the caller's behalf give up when the caller would
// (and after kPeerTimeout at most). Built implicitly from the claims alone
// (no deadline of the caller's own) for in-process callers and tests.
struct Caller {
  Caller(const TokenClaims& claims,  // NOLINT(google-explicit-constructor)
         absl::Time deadline = absl::InfiniteFuture())
      : claims(claims), deadline(deadline) {}
  uint64_t user_id() const { return claims.user_id(); }
  uint64_t org_id() const { return claims.org_id(); }
  const std::string& org_domain() const { return claims.org_domain(); }

  const TokenClaims& claims;
  const absl::Time deadline;
};

struct FeedOptions {
  shard::ShardMap shards = shard::ShardMap::Single();
  // Materialized home timeline entries kept per person (the hot head).
  size_t home_head = 800;
  // Trimming starts when a head has grown by this many entries past home_head.
  size_t home_trim_slack = 200;
  // Recent posts copied into the follower's head on follow.
  size_t follow_backfill = 100;
  // Authors with more followers are not pushed; readers merge their posts.
  uint64_t fanout_push_threshold = 10000;
  // Followers read per step of a fan-out (and recipients per DeliverTimelineEntries).
  size_t fanout_batch = 10000;
  // Posts plus comments per person per minute (a token bucket with this burst).
  int32_t writes_per_minute = 60;
  // The other shards (null with one shard). Not owned.
  FeedPeers* peers = nullptr;
  // The clock for rate limits.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class Feed {
 public:
  static std::vector<std::string> ColumnFamilies();
  // How feed opens its RocksDB at `path`: ColumnFamilies(), prefix blooms on
  // owner-keyed families, a hash memtable for home timelines.
  static storage::DbOptions StorageOptions(std::string path);
  // `db` must have been opened with ColumnFamilies().
  static absl::StatusOr<std::unique_ptr<Feed>> Create(storage::Db* db, Directory* directory,
                                                      FeedOptions options);

  ~Feed();
  storage::Outbox* outbox() const { return outbox_.get(); }
  const FeedOptions& options() const { return options_; }

  // --- Graph ---
  absl::Status Follow(const Caller& caller, uint64_t user_id);
  absl::Status Unfollow(const Caller& caller, uint64_t user_id);
  absl::StatusOr<pb::ListFollowersResponse> ListFollowers(const Caller& caller,
                                                          const pb::ListFollowersRequest& req);
  absl::StatusOr<pb::ListFollowingResponse> ListFollowing(const Caller& caller,
                                                          const pb::ListFollowingRequest& req);
  absl::Status Block(const Caller& caller, uint64_t user_id);
  absl::Status Unblock(const Caller& caller, uint64_t user_id);
  absl::Status Mute(const Caller& caller, uint64_t user_id);
  absl::Status Unmute(const Caller& caller, uint64_t user_id);

  // --- Posts, comments, likes ---
  absl::StatusOr<pb::Post> CreatePost(const Caller& caller, const pb::CreatePostRequest& req);
  absl::StatusOr<pb::Post> GetPost(const Caller& caller, uint64_t post_id);
  absl::Status DeletePost(const Caller& caller, uint64_t post_id);
  absl::StatusOr<pb::GetThreadResponse> GetThread(const Caller& caller,
                                                  const pb::GetThreadRequest& req);
  absl::StatusOr<pb::ListRepliesResponse> ListReplies(const Caller& caller,
                                                      const pb::ListRepliesRequest& req);
  absl::StatusOr<pb::Comment> CreateComment(const Caller& caller,
                                            const pb::CreateCommentRequest& req);
  absl::Status DeleteComment(const Caller& caller, uint64_t comment_id);
  absl::Status LikePost(const Caller& caller, uint64_t post_id, bool like);
  absl::Status LikeComment(const Caller& caller, uint64_t comment_id, bool like);

  // --- Timelines ---
  absl::StatusOr<pb::ListHomeTimelineResponse> ListHomeTimeline(
      const Caller& caller, const pb::ListHomeTimelineRequest& req);
  absl::StatusOr<pb::ListUserTimelineResponse> ListUserTimeline(
      const Caller& caller, const pb::ListUserTimelineRequest& req);
  absl::StatusOr<pb::ListGroupTimelineResponse> ListGroupTimeline(
      const Caller& caller, const pb::ListGroupTimelineRequest& req);

  // --- Groups (groups.cc). A group lives on the shard its id names (its
  // home): the record, the membership and the group's post index. Each
  // member's shard keeps its half (my groups), applied from the home's events.
  absl::StatusOr<pb::Group> CreateGroup(const Caller& caller, const pb::CreateGroupRequest& req);
  absl::StatusOr<pb::Group> GetGroup(const Caller& caller, uint64_t group_id);
  absl::StatusOr<pb::Group> UpdateGroup(const Caller& caller, const pb::UpdateGroupRequest& req);
  absl::StatusOr<pb::Group> ArchiveGroup(const Caller& caller, uint64_t group_id);
  absl::StatusOr<pb::Group> JoinGroup(const Caller& caller, uint64_t group_id);
  absl::Status RequestToJoinGroup(const Caller& caller, uint64_t group_id);
  absl::Status AnswerJoinRequest(const Caller& caller, uint64_t group_id, uint64_t user_id,
                                 bool approve);
  absl::Status InviteToGroup(const Caller& caller, uint64_t group_id, uint64_t user_id);
  absl::Status LeaveGroup(const Caller& caller, uint64_t group_id);
  absl::Status RemoveGroupMember(const Caller& caller, uint64_t group_id, uint64_t user_id);
  absl::Status PromoteGroupMember(const Caller& caller, uint64_t group_id, uint64_t user_id);
  absl::StatusOr<pb::ListGroupMembersResponse> ListGroupMembers(
      const Caller& caller, const pb::ListGroupMembersRequest& req);
  absl::StatusOr<pb::ListMyGroupsResponse> ListMyGroups(const Caller& caller,
                                                        const pb::ListMyGroupsRequest& req);
  absl::Status MuteGroup(const Caller& caller, uint64_t group_id, bool mute);

  // --- Questions and insights (groups.cc) ---
  absl::StatusOr<pb::Post> AcceptAnswer(const Caller& caller, const pb::AcceptAnswerRequest& req);
  absl::StatusOr<pb::ListMyOpenQuestionsResponse> ListMyOpenQuestions(
      const Caller& caller, const pb::ListMyOpenQuestionsRequest& req);
  absl::StatusOr<pb::ListGroupUnansweredQuestionsResponse> ListGroupUnansweredQuestions(
      const Caller& caller, const pb::ListGroupUnansweredQuestionsRequest& req);
  absl::StatusOr<pb::ParticipationInsights> GetParticipationInsights(
      const Caller& caller, const pb::GetParticipationInsightsRequest& req);

  // --- Internal ---
  // The fan-out worker: the outbox's "fanout" subscriber, calling FanOut.
  // Start() it once every subscriber of the outbox exists.
  std::unique_ptr<storage::Dispatcher> NewFanOutDispatcher();
  // Applies a batch of this shard's own events (the worker's DeliverFn).
  absl::Status FanOut(const std::vector<storage::OutboxEntry>& entries);
  // DeliverTimelineEntries / RemoveTimelineEntries for recipients on this shard.
  absl::Status DeliverTimelineEntries(const pb::DeliverTimelineEntriesRequest& req);
  absl::Status RemoveTimelineEntries(const pb::RemoveTimelineEntriesRequest& req);
  absl::StatusOr<pb::ApplyEventsResponse> ApplyEvents(const pb::ApplyEventsRequest& req);
  absl::StatusOr<pb::PullPostsResponse> PullPosts(const pb::PullPostsRequest& req);
  absl::StatusOr<pb::GetPostCountsResponse> GetPostCounts(const pb::GetPostCountsRequest& req);
  absl::StatusOr<pb::GetGroupsResponse> GetGroups(const pb::GetGroupsRequest& req);
  absl::StatusOr<pb::CountUserGroupsResponse> CountUserGroups(
      const pb::CountUserGroupsRequest& req);
  absl::StatusOr<pb::GetInsightCountersResponse> GetInsightCounters(
      const pb::GetInsightCountersRequest& req);
  // The current state homed on this shard as upsert events (sequence 0, this
  // shard's producer), for consumers that rebuild (search): GroupCreated for
  // each group (then GroupUpdated if archived), GroupMemberJoined for each
  // member or admin, PostCreated for each post (never the copies of other shards'
  // posts), CommentCreated for each comment, Followed for each follow (from
  // the follower's shard) and Blocked for each block (from the blocker's), in
  // that order: a membership never precedes its group nor a comment its post.
  // snapshot_sequence is the outbox's newest sequence when the first page was
  // read, carried in the page token.
  absl::StatusOr<pb::ListSnapshotEventsResponse> ListSnapshotEvents(
      const pb::ListSnapshotEventsRequest& req);

  // The shard a post or comment id was created on (its home shard).
  int32_t ShardOfId(uint64_t id) const;
  // FAILED_PRECONDITION unless `user_id` is homed on this shard.
  absl::Status RequireLocal(uint64_t user_id) const;

  // Statistics for tests and benchmarks.
  uint64_t HomeEntryCount(uint64_t owner);  // entries physically in the head
  uint64_t FollowerCount(uint64_t user_id);

 private:
  Feed(storage::Db* db, Directory* directory, FeedOptions options);

  struct Viewer {
    uint64_t id = 0;
    uint64_t org_id = 0;
    absl::flat_hash_set<uint64_t> blocked;  // either direction
    absl::flat_hash_set<uint64_t> muted;
    // Viewers homed here: their groups (their half of the membership) and the
    // groups they muted (with_mutes).
    absl::flat_hash_set<uint64_t> groups;
    absl::flat_hash_set<uint64_t> muted_groups;
    // A person's page: private-group posts only for their author.
    bool own_private_groups_only = false;
    // The caller's deadline, for calls to other shards while serving them.
    absl::Time deadline = absl::InfiniteFuture();
  };
  absl::StatusOr<Viewer> LoadViewer(const Caller& caller, bool with_mutes);
  template <typename Response, typename Request>
  absl::StatusOr<Response> ListGraph(const Caller& caller, const Request& req,
                                     rocksdb::ColumnFamilyHandle* index);
  absl::StatusOr<Person> RequirePeer(const Caller& caller, uint64_t user_id);
  absl::StatusOr<Person> RequireActiveSelf(const Caller& caller);
  absl::StatusOr<std::optional<pb::Post>> ReadPost(uint64_t post_id);
  bool Follows(uint64_t follower, uint64_t followee);
  // Writes (or removes) the halves of a follow edge that live on this shard.
  void EdgeHalves(uint64_t follower, uint64_t followee, uint64_t order, bool add,
                  rocksdb::WriteBatch* batch);
  std::optional<uint64_t> EdgeOrder(uint64_t follower, uint64_t followee);
  uint8_t BlockFlags(uint64_t a, uint64_t b);
  void ApplyBlock(uint64_t blocker, uint64_t blocked, bool block, rocksdb::WriteBatch* batch);
  // Whether `viewer` may read `post` (author activity checked separately).
  // With assume_follows, followers-only posts pass, and so do private-group
  // posts when this shard knows neither the group nor the viewer (the
  // reader's shard checks both).
  bool CanSee(const Viewer& viewer, const pb::Post& post, bool assume_follows = false);
  // Loads, filters and hydrates posts (counts, liked flags, authors), in order.
  absl::StatusOr<std::vector<pb::Post>> Hydrate(const Viewer& viewer,
                                                const std::vector<uint64_t>& post_ids);
  absl::Status FillComments(const Viewer& viewer, std::vector<pb::Comment>* comments);
  // Appends up to `size` posts readable by `viewer` from `source` (newest
  // first: ids below `before`), from `cursor`; returns the next cursor (0: done).
  absl::StatusOr<uint64_t> FillPage(
      const Viewer& viewer, uint64_t cursor, int32_t size,
      const std::function<std::vector<uint64_t>(uint64_t before, size_t n)>& source,
      google::protobuf::RepeatedPtrField<pb::Post>* posts);
  struct CommentPageResult {
    std::vector<pb::Comment> comments;
    uint64_t last = 0;  // cursor: the last comment id read
    bool more = false;
  };
  absl::StatusOr<CommentPageResult> CommentPage(const Viewer& viewer,
                                                rocksdb::ColumnFamilyHandle* index, uint64_t parent,
                                                uint64_t cursor, int32_t size);
  absl::StatusOr<pb::Comment> RequireComment(const Viewer& viewer, uint64_t comment_id,
                                             pb::Post* post);

  absl::Status CheckRate(uint64_t user_id);
  absl::Status SetLike(const Caller& caller, uint64_t post_id, uint64_t comment_id,
                       uint64_t content_author, uint64_t group_id, bool like);
  // Drops mentions of people who may not read `post` (a private group's non-members).
  void KeepReaders(const pb::Post& post,
                   google::protobuf::RepeatedPtrField<common::v1::UserRef>* mentions);
  absl::Status ParseBody(const Caller& caller, const std::string& body,
                         google::protobuf::RepeatedPtrField<common::v1::UserRef>* mentions,
                         google::protobuf::RepeatedPtrField<std::string>* hashtags);
  absl::Status Commit(rocksdb::WriteBatch* batch, const std::vector<events::v1::Event>& events);
  events::v1::Event NewEvent(uint64_t org_id);

  // Timeline building blocks. A home entry's value is its author, and for a
  // group post also the group (16 bytes).
  void RemoveAuthorFromHome(uint64_t owner, uint64_t author, rocksdb::WriteBatch* batch);
  void RemoveGroupFromHome(uint64_t owner, uint64_t group, rocksdb::WriteBatch* batch);
  absl::Status Backfill(uint64_t owner, uint64_t author);
  absl::Status BackfillGroup(uint64_t owner, uint64_t group);
  // Copies `entries` (post id, author, group) into owner's head; `complete`
  // false when older posts of the source were left out.
  // Writes nothing if the marker no longer holds `expected` (the backfill is stale).
  absl::Status BackfillEntries(uint64_t owner, const std::string& marker,
                               const std::string& expected,
                               const std::vector<std::array<uint64_t, 3>>& entries, bool complete);
  absl::Status PutHomeEntries(uint64_t post_id, uint64_t author, uint64_t group,
                              const std::vector<uint64_t>& owners);
  absl::Status TrimHomes(const std::vector<uint64_t>& owners);
  uint64_t Horizon(uint64_t owner);
  std::vector<uint64_t> Followees(uint64_t user_id);
  std::vector<uint64_t> HeavyFollowees(uint64_t user_id);
  std::vector<uint64_t> HeavyGroups(const Viewer& viewer);
  // The people of `candidates` whom `owner` (homed here) follows: one MultiGet.
  absl::flat_hash_set<uint64_t> FollowedAmong(uint64_t owner, std::vector<uint64_t> candidates);
  // Newest post ids of `author` older than `before` (exclusive; 0: newest).
  // Their group posts reach people through the group, so fan-out, backfill and
  // merges skip them; only the author's page shows them.
  std::vector<uint64_t> AuthorPostIds(uint64_t author, uint64_t before, size_t limit,
                                      bool skip_group_posts = false);
  // The same for a group homed here: (post id, author).
  std::vector<std::pair<uint64_t, uint64_t>> GroupPostIds(uint64_t group, uint64_t before,
                                                          size_t limit);
  // Collects the local home entries of a fan-out batch into large writes.
  class HomeWriter {
   public:
    explicit HomeWriter(Feed* feed) : feed_(feed) {}
    absl::Status Add(uint64_t post_id, uint64_t author, uint64_t group,
                     const std::vector<uint64_t>& owners);
    absl::Status Flush();
    // Flushes, then trims the heads that grew past their limit.
    absl::Status Finish();

   private:
    struct Entry {
      uint64_t owner, post_id, author, group;
    };
    Feed* const feed_;
    std::vector<Entry> pending_;
    absl::flat_hash_set<uint64_t> touched_;
  };
  void AddHomeSize(uint64_t owner, int64_t delta);
  absl::Status FanOutPost(const events::v1::Event& event, HomeWriter* out);
  // Posts of remote `authors` or `groups` (all on `shard`) older than
  // `before`, kept as local copies so that they hydrate like delivered ones.
  // Each request goes to its shard, all in parallel; the posts come back in
  // the requests' order.
  absl::StatusOr<std::vector<std::vector<pb::Post>>> PullRemote(
      const FeedPeers::ByShard<pb::PullPostsRequest>& requests, absl::Time deadline);
  static pb::PullPostsRequest PullRequest(uint64_t viewer, const std::vector<uint64_t>& authors,
                                          const std::vector<uint64_t>& groups, uint64_t before,
                                          size_t max);
  // A timeline candidate: the post, its author, and the group it came
  // through (0 when it came through its author).
  struct Candidate {
    uint64_t id, author, group;
    bool operator>(const Candidate& o) const { return id > o.id; }
  };
  // Newest candidates older than `before` of `authors` and `groups` (any
  // shard), at most `max`, one per post; `more` tells whether a source may
  // have had more.
  absl::StatusOr<std::vector<Candidate>> NewestOf(uint64_t viewer, absl::Time deadline,
                                                  const std::vector<uint64_t>& authors,
                                                  const std::vector<uint64_t>& groups,
                                                  uint64_t before, size_t max, bool* more);
  absl::Status FanOutDelete(const events::v1::Event& event);
  // Keeps this shard's users in `users`; returns the others by shard.
  std::map<int32_t, std::vector<uint64_t>> SplitByShard(std::vector<uint64_t>& users);
  absl::Status ForEachFollower(uint64_t author,
                               const std::function<absl::Status(std::vector<uint64_t>&)>& chunk);
  absl::Status ForEachMember(uint64_t group,
                             const std::function<absl::Status(std::vector<uint64_t>&)>& chunk);

  // --- Groups (groups.cc) ---
  // A person's relation to a group homed here: 0 none, or a state byte.
  struct Membership {
    char state = 0;  // 'i' invited, 'r' requested, 'm' member, 'a' admin
    uint64_t order = 0;
  };
  Membership GroupMembership(uint64_t group, uint64_t user);
  absl::StatusOr<std::optional<pb::Group>> ReadGroup(uint64_t group_id);
  // The group (homed here) if the caller's org has it; NOT_FOUND otherwise.
  absl::StatusOr<pb::Group> RequireGroup(const Caller& caller, uint64_t group_id);
  // Whether `viewer` may read the group's content (public, or a member).
  bool CanReadGroup(const pb::Group& group, const Membership& m) const;
  // The group as `viewer_id` sees it (state, count; private groups reduced).
  pb::Group GroupView(pb::Group group, uint64_t viewer_id);
  uint64_t MemberCount(uint64_t group);
  uint64_t UserGroupCount(uint64_t user);
  absl::StatusOr<uint64_t> RemoteUserGroupCount(uint64_t user, absl::Time deadline);
  // Sets a person's relation to a group homed here (state 0 removes it),
  // keeping counts, the listing index and, for a member homed here, their
  // half; emits the membership events.
  void SetMembership(const pb::Group& group, uint64_t user, const Membership& before, char state,
                     rocksdb::WriteBatch* batch);
  // The member's half on their own shard.
  void ApplyMemberHalf(uint64_t user, uint64_t group, bool add, rocksdb::WriteBatch* batch);
  absl::Status CheckGroupLimit(uint64_t user);
  absl::Status GrantMembership(const pb::Group& group, const common::v1::UserRef& user,
                               const Membership& before, char state,
                               std::vector<events::v1::Event> extra);
  absl::Status RequireGroupAdmin(const Caller& caller, const pb::Group& group);
  // Insight counters for content homed here, in `batch`.
  void CountInsight(uint64_t org_id, uint64_t group_id, absl::Time when, char kind,
                    std::optional<uint64_t> key, rocksdb::WriteBatch* batch);
  template <typename Response>
  absl::StatusOr<Response> QuestionPage(const Viewer& viewer, const std::string& prefix,
                                        const std::string& page_token, int32_t page_size);

  // --- Snapshot (ListSnapshotEvents) ---
  // One section of a snapshot: the keys of `cf` that start with `prefix`, all
  // `key_size` bytes long (another length is corruption: DATA_LOSS).
  struct SnapshotSection {
    char tag;
    rocksdb::ColumnFamilyHandle* cf;
    std::string prefix;
    size_t key_size;
  };
  // In reading order.
  std::vector<SnapshotSection> SnapshotSections() const;
  struct SnapshotReads;  // records one page has read, by id (feed.cc)
  // The events of one record of `section`: none for a record this shard does
  // not home. People named only by id are filled in by FillSnapshotPeople.
  absl::Status SnapshotRecord(char section, absl::string_view key, absl::string_view value,
                              SnapshotReads* reads, std::vector<events::v1::Event>* out);
  // Adds the people (UserRef) and org of follows, blocks and memberships,
  // whose records keep only ids: one directory call per page.
  absl::Status FillSnapshotPeople(google::protobuf::RepeatedPtrField<events::v1::Event>* events);

  // Delivers to followers on other shards the posts written between their
  // follow and the follow edge reaching this shard (queued in meta 'c' keys).
  void StartCatchUp();
  void WakeCatchUp();
  absl::Status CatchUpFollowers();
  // Whether `user` (homed here) holds their half of a membership of `group`.
  bool IsGroupMemberHere(uint64_t user, uint64_t group);

  storage::Db* const db_;
  Directory* const directory_;
  const FeedOptions options_;
  std::unique_ptr<ids::IdGenerator> ids_;
  std::unique_ptr<storage::Outbox> outbox_;
  std::unique_ptr<storage::AppliedSequences> applied_;
  rocksdb::ColumnFamilyHandle* posts_;
  rocksdb::ColumnFamilyHandle* user_posts_;
  rocksdb::ColumnFamilyHandle* home_;
  rocksdb::ColumnFamilyHandle* following_;
  rocksdb::ColumnFamilyHandle* following_idx_;
  rocksdb::ColumnFamilyHandle* followers_;
  rocksdb::ColumnFamilyHandle* followers_idx_;
  rocksdb::ColumnFamilyHandle* blocks_;
  rocksdb::ColumnFamilyHandle* mutes_;
  rocksdb::ColumnFamilyHandle* comments_;
  rocksdb::ColumnFamilyHandle* post_comments_;
  rocksdb::ColumnFamilyHandle* replies_;
  rocksdb::ColumnFamilyHandle* likes_;
  rocksdb::ColumnFamilyHandle* counters_;
  rocksdb::ColumnFamilyHandle* meta_;
  rocksdb::ColumnFamilyHandle* heavy_;
  rocksdb::ColumnFamilyHandle* groups_;
  rocksdb::ColumnFamilyHandle* my_groups_;
  rocksdb::ColumnFamilyHandle* questions_;

  std::mutex graph_mu_;   // follow/unfollow/block: check-then-write of edges and counts
  std::mutex like_mu_;    // like/unlike: check-then-write of like records and counts
  std::mutex home_mu_;    // trimming and horizon updates
  std::mutex groups_mu_;  // check-then-write of group records and memberships
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  std::mutex catch_up_mu_;
  std::condition_variable catch_up_cv_;
  bool catch_up_wake_ = false;  // guarded by catch_up_mu_
  bool catch_up_stop_ = false;  // guarded by catch_up_mu_
  std::thread catch_up_thread_;
  std::mutex sizes_mu_;
  absl::flat_hash_map<uint64_t, int64_t> home_sizes_;  // approximate head sizes; sizes_mu_
  std::mutex rate_mu_;
  absl::flat_hash_map<uint64_t, Bucket> buckets_;  // guarded by rate_mu_
};

}  // namespace parley::feed
