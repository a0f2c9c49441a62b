// Feed: the follow graph, posts, comments, likes, timelines and communities
// of the people homed on this shard, with durable hybrid fan-out
// (docs/architecture.md, "Feed"). This class is a facade: it builds the
// components below and forwards each call to the one that owns it.
//
//   FeedStore     db, shard map, directory, ids, outbox          store.h
//   HomeStore     home heads, horizons, trims                     home_store.h
//   GraphStore    follow edges, blocks, mutes, heavy marks        graph_store.h
//   PostStore     posts, author pages                             post_store.h
//   GroupStore    group records, memberships, member halves       group_store.h
//   Visibility    viewers, CanSee, hydration                      visibility.h
//   Timelines     home/user/group timelines, pulls, backfill      timelines.h
//   Graph Posts Groups Questions Insights                         public operations
//   FanOutWorker  the outbox's fan-out worker, catch-up pass      fanout.h
//   Replication   other shards' events (ApplyEvents)              replication.h
//   Snapshot      ListSnapshotEvents                              snapshot.h
//
// Every write commits its records and its events in one WriteBatch through
// the outbox before returning. Subscribers of the outbox: "fanout" (this
// shard's FanOutWorker), the other shards ("feed-<i>") and any configured event
// subscribers (search, notifications, federation).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "feed/src/store.h"
#include "parley/storage/db.h"
#include "parley/storage/outbox.h"

namespace parley::feed {

class HomeStore;
class GraphStore;
class PostStore;
class GroupStore;
class RateLimiter;
class CatchUpWorker;
class Visibility;
class Timelines;
class Insights;
class Graph;
class Posts;
class Groups;
class Questions;
class FanOutWorker;
class Replication;
class Snapshot;

class Feed {
 public:
  static std::vector<std::string> ColumnFamilies();
  // How feed opens its RocksDB at `path`: ColumnFamilies(), prefix blooms on
  // owner-keyed families, a hash memtable for home timelines.
  static storage::DbOptions StorageOptions(std::string path);
  // `db` must have been opened with ColumnFamilies(). Starts no thread.
  static absl::StatusOr<std::unique_ptr<Feed>> Create(storage::Db* db, Directory* directory,
                                                      FeedOptions options);

  ~Feed();
  // The catch-up worker's thread runs between Start and Stop (or destruction).
  void Start();
  void Stop();
  storage::Outbox* outbox() const { return store_->outbox(); }
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
  // The state homed here as upsert events (snapshot.h).
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
  explicit Feed(FeedOptions options);

  const FeedOptions options_;
  std::unique_ptr<FeedStore> store_;
  std::unique_ptr<HomeStore> homes_;
  std::unique_ptr<GraphStore> graph_store_;
  std::unique_ptr<PostStore> post_store_;
  std::unique_ptr<GroupStore> group_store_;
  std::unique_ptr<RateLimiter> rate_;
  std::unique_ptr<CatchUpWorker> catch_up_;
  std::unique_ptr<Visibility> visibility_;
  std::unique_ptr<Timelines> timelines_;
  std::unique_ptr<Insights> insights_;
  std::unique_ptr<Graph> graph_;
  std::unique_ptr<Posts> posts_;
  std::unique_ptr<Groups> groups_;
  std::unique_ptr<Questions> questions_;
  std::unique_ptr<FanOutWorker> fanout_;
  std::unique_ptr<Replication> replication_;
  std::unique_ptr<Snapshot> snapshot_;
};

}  // namespace parley::feed
