#include "feed/src/feed.h"

#include "absl/strings/str_cat.h"
#include "feed/src/catch_up.h"
#include "feed/src/fanout.h"
#include "feed/src/graph.h"
#include "feed/src/graph_store.h"
#include "feed/src/group_store.h"
#include "feed/src/groups.h"
#include "feed/src/home_store.h"
#include "feed/src/insights.h"
#include "feed/src/keys.h"
#include "feed/src/post_store.h"
#include "feed/src/posts.h"
#include "feed/src/questions.h"
#include "feed/src/rate_limiter.h"
#include "feed/src/replication.h"
#include "feed/src/snapshot.h"
#include "feed/src/timelines.h"
#include "feed/src/visibility.h"
#include "parley/status/macros.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

std::vector<std::string> Feed::ColumnFamilies() {
  return {"posts",         "user_posts", "home",     "following", "following_idx", "followers",
          "followers_idx", "blocks",     "mutes",    "comments",  "post_comments", "replies",
          "likes",         "counters",   "meta",     "heavy",     "applied",       "outbox",
          "groups",        "my_groups",  "questions"};
}

storage::DbOptions Feed::StorageOptions(std::string path) {
  storage::DbOptions o;
  o.path = std::move(path);
  o.column_families = ColumnFamilies();
  // my_groups keys start with a kind byte and the person: every read stays within those 9 bytes.
  o.prefix_bloom_lengths = {{"home", 8},   {"user_posts", 8}, {"followers", 8}, {"following", 8},
                            {"blocks", 8}, {"mutes", 8},      {"my_groups", 9}};
  // Fan-out scatters inserts over many owners; every read of "home" stays
  // within one owner's prefix (tools/bench/run fanout measures the gain).
  o.hash_memtable_families = {"home"};
  return o;
}

absl::StatusOr<std::unique_ptr<Feed>> Feed::Create(storage::Db* db, Directory* directory,
                                                   FeedOptions options) {
  if (options.home_head < 1) return absl::InvalidArgumentError("home_timeline_head must be ≥ 1");
  // Ids carry the shard in their node bits, so a post id names its home shard.
  ASSIGN_OR_RETURN(std::unique_ptr<ids::IdGenerator> ids,
                   ids::IdGenerator::Create(static_cast<uint32_t>(options.shards.self())));
  // Named after the shard, as consumers see it ("feed-0/<random>"); a data
  // directory keeps the producer id it was created with.
  ASSIGN_OR_RETURN(
      std::unique_ptr<storage::Outbox> outbox,
      storage::Outbox::Open(db, "outbox", absl::StrCat("feed-", options.shards.self())));
  // Never hand out an id at or below one already stored (clock stepped back
  // across a restart). "posts" also holds other shards' copies: advance past
  // their millisecond, but keep this shard's node bits.
  for (const char* family : {"posts", "comments"}) {
    std::unique_ptr<rocksdb::Iterator> it(db->raw()->NewIterator({}, db->Cf(family)));
    it->SeekToLast();
    if (!it->Valid()) continue;
    KeyReader key(absl::string_view(it->key().data(), it->key().size()));
    const std::optional<uint64_t> last_id = key.ReadU64();
    if (!last_id.has_value()) return absl::DataLossError(absl::StrCat(family, ": a short key"));
    const ids::IdParts last = ids::Split(*last_id);
    const uint64_t ceiling = (static_cast<uint64_t>(last.unix_millis - ids::kEpochUnixMillis)
                              << (ids::kNodeBits + ids::kSequenceBits)) |
                             (static_cast<uint64_t>(ids->node_id()) << ids::kSequenceBits) |
                             ids::kMaxSequence;
    ids->AdvancePast(ceiling);
  }
  std::unique_ptr<Feed> f(new Feed(std::move(options)));
  FeedStore* store = (f->store_ = std::make_unique<FeedStore>(db, directory, &f->options_,
                                                              std::move(ids), std::move(outbox)))
                         .get();
  f->homes_ = std::make_unique<HomeStore>(store);
  f->graph_store_ = std::make_unique<GraphStore>(store, f->homes_.get());
  f->post_store_ = std::make_unique<PostStore>(store);
  f->group_store_ = std::make_unique<GroupStore>(store, f->homes_.get());
  f->rate_ = std::make_unique<RateLimiter>(f->options_.writes_per_minute, f->options_.now);
  Feed* self = f.get();
  f->catch_up_ =
      std::make_unique<CatchUpWorker>([self] { return self->fanout_->CatchUpFollowers(); });
  f->visibility_ =
      std::make_unique<Visibility>(store, f->graph_store_.get(), f->group_store_.get());
  f->timelines_ = std::make_unique<Timelines>(store, f->homes_.get(), f->graph_store_.get(),
                                              f->group_store_.get(), f->post_store_.get(),
                                              f->visibility_.get());
  f->insights_ = std::make_unique<Insights>(store, f->group_store_.get());
  f->graph_ = std::make_unique<Graph>(store, f->graph_store_.get(), f->timelines_.get(),
                                      f->visibility_.get(), f->catch_up_.get());
  f->posts_ = std::make_unique<Posts>(store, f->homes_.get(), f->graph_store_.get(),
                                      f->group_store_.get(), f->post_store_.get(),
                                      f->visibility_.get(), f->insights_.get(), f->rate_.get());
  f->groups_ = std::make_unique<Groups>(store, f->group_store_.get(), f->catch_up_.get());
  f->questions_ = std::make_unique<Questions>(store, f->group_store_.get(), f->post_store_.get(),
                                              f->visibility_.get(), f->insights_.get());
  f->fanout_ = std::make_unique<FanOutWorker>(store, f->homes_.get(), f->graph_store_.get(),
                                              f->group_store_.get(), f->post_store_.get(),
                                              f->timelines_.get());
  f->replication_ = std::make_unique<Replication>(store, f->graph_store_.get(),
                                                  f->group_store_.get(), f->catch_up_.get());
  f->snapshot_ = std::make_unique<Snapshot>(store, f->group_store_.get(), f->post_store_.get());
  return f;
}

Feed::Feed(FeedOptions options) : options_(std::move(options)) {}

// The worker runs the fan-out component's catch-up pass: it stops before the
// components go.
Feed::~Feed() { Stop(); }

void Feed::Start() { catch_up_->Start(); }

void Feed::Stop() {
  if (catch_up_ != nullptr) catch_up_->Stop();
}

absl::Status Feed::Follow(const Caller& caller, uint64_t user_id) {
  return graph_->Follow(caller, user_id);
}

absl::Status Feed::Unfollow(const Caller& caller, uint64_t user_id) {
  return graph_->Unfollow(caller, user_id);
}

absl::StatusOr<pb::ListFollowersResponse> Feed::ListFollowers(const Caller& caller,
                                                              const pb::ListFollowersRequest& req) {
  return graph_->ListFollowers(caller, req);
}

absl::StatusOr<pb::ListFollowingResponse> Feed::ListFollowing(const Caller& caller,
                                                              const pb::ListFollowingRequest& req) {
  return graph_->ListFollowing(caller, req);
}

absl::Status Feed::Block(const Caller& caller, uint64_t user_id) {
  return graph_->Block(caller, user_id);
}

absl::Status Feed::Unblock(const Caller& caller, uint64_t user_id) {
  return graph_->Unblock(caller, user_id);
}

absl::Status Feed::Mute(const Caller& caller, uint64_t user_id) {
  return graph_->Mute(caller, user_id);
}

absl::Status Feed::Unmute(const Caller& caller, uint64_t user_id) {
  return graph_->Unmute(caller, user_id);
}

absl::StatusOr<pb::Post> Feed::CreatePost(const Caller& caller, const pb::CreatePostRequest& req) {
  return posts_->CreatePost(caller, req);
}

absl::StatusOr<pb::Post> Feed::GetPost(const Caller& caller, uint64_t post_id) {
  return posts_->GetPost(caller, post_id);
}

absl::Status Feed::DeletePost(const Caller& caller, uint64_t post_id) {
  return posts_->DeletePost(caller, post_id);
}

absl::StatusOr<pb::GetThreadResponse> Feed::GetThread(const Caller& caller,
                                                      const pb::GetThreadRequest& req) {
  return posts_->GetThread(caller, req);
}

absl::StatusOr<pb::ListRepliesResponse> Feed::ListReplies(const Caller& caller,
                                                          const pb::ListRepliesRequest& req) {
  return posts_->ListReplies(caller, req);
}

absl::StatusOr<pb::Comment> Feed::CreateComment(const Caller& caller,
                                                const pb::CreateCommentRequest& req) {
  return posts_->CreateComment(caller, req);
}

absl::Status Feed::DeleteComment(const Caller& caller, uint64_t comment_id) {
  return posts_->DeleteComment(caller, comment_id);
}

absl::Status Feed::LikePost(const Caller& caller, uint64_t post_id, bool like) {
  return posts_->LikePost(caller, post_id, like);
}

absl::Status Feed::LikeComment(const Caller& caller, uint64_t comment_id, bool like) {
  return posts_->LikeComment(caller, comment_id, like);
}

absl::StatusOr<pb::ListHomeTimelineResponse> Feed::ListHomeTimeline(
    const Caller& caller, const pb::ListHomeTimelineRequest& req) {
  return timelines_->ListHomeTimeline(caller, req);
}

absl::StatusOr<pb::ListUserTimelineResponse> Feed::ListUserTimeline(
    const Caller& caller, const pb::ListUserTimelineRequest& req) {
  return timelines_->ListUserTimeline(caller, req);
}

absl::StatusOr<pb::ListGroupTimelineResponse> Feed::ListGroupTimeline(
    const Caller& caller, const pb::ListGroupTimelineRequest& req) {
  return timelines_->ListGroupTimeline(caller, req);
}

absl::StatusOr<pb::Group> Feed::CreateGroup(const Caller& caller,
                                            const pb::CreateGroupRequest& req) {
  return groups_->CreateGroup(caller, req);
}

absl::StatusOr<pb::Group> Feed::GetGroup(const Caller& caller, uint64_t group_id) {
  return groups_->GetGroup(caller, group_id);
}

absl::StatusOr<pb::Group> Feed::UpdateGroup(const Caller& caller,
                                            const pb::UpdateGroupRequest& req) {
  return groups_->UpdateGroup(caller, req);
}

absl::StatusOr<pb::Group> Feed::ArchiveGroup(const Caller& caller, uint64_t group_id) {
  return groups_->ArchiveGroup(caller, group_id);
}

absl::StatusOr<pb::Group> Feed::JoinGroup(const Caller& caller, uint64_t group_id) {
  return groups_->JoinGroup(caller, group_id);
}

absl::Status Feed::RequestToJoinGroup(const Caller& caller, uint64_t group_id) {
  return groups_->RequestToJoinGroup(caller, group_id);
}

absl::Status Feed::AnswerJoinRequest(const Caller& caller, uint64_t group_id, uint64_t user_id,
                                     bool approve) {
  return groups_->AnswerJoinRequest(caller, group_id, user_id, approve);
}

absl::Status Feed::InviteToGroup(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  return groups_->InviteToGroup(caller, group_id, user_id);
}

absl::Status Feed::LeaveGroup(const Caller& caller, uint64_t group_id) {
  return groups_->LeaveGroup(caller, group_id);
}

absl::Status Feed::RemoveGroupMember(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  return groups_->RemoveGroupMember(caller, group_id, user_id);
}

absl::Status Feed::PromoteGroupMember(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  return groups_->PromoteGroupMember(caller, group_id, user_id);
}

absl::StatusOr<pb::ListGroupMembersResponse> Feed::ListGroupMembers(
    const Caller& caller, const pb::ListGroupMembersRequest& req) {
  return groups_->ListGroupMembers(caller, req);
}

absl::StatusOr<pb::ListMyGroupsResponse> Feed::ListMyGroups(const Caller& caller,
                                                            const pb::ListMyGroupsRequest& req) {
  return groups_->ListMyGroups(caller, req);
}

absl::Status Feed::MuteGroup(const Caller& caller, uint64_t group_id, bool mute) {
  return groups_->MuteGroup(caller, group_id, mute);
}

absl::StatusOr<pb::Post> Feed::AcceptAnswer(const Caller& caller,
                                            const pb::AcceptAnswerRequest& req) {
  return questions_->AcceptAnswer(caller, req);
}

absl::StatusOr<pb::ListMyOpenQuestionsResponse> Feed::ListMyOpenQuestions(
    const Caller& caller, const pb::ListMyOpenQuestionsRequest& req) {
  return questions_->ListMyOpenQuestions(caller, req);
}

absl::StatusOr<pb::ListGroupUnansweredQuestionsResponse> Feed::ListGroupUnansweredQuestions(
    const Caller& caller, const pb::ListGroupUnansweredQuestionsRequest& req) {
  return questions_->ListGroupUnansweredQuestions(caller, req);
}

absl::StatusOr<pb::ParticipationInsights> Feed::GetParticipationInsights(
    const Caller& caller, const pb::GetParticipationInsightsRequest& req) {
  return insights_->GetParticipationInsights(caller, req);
}

std::unique_ptr<storage::Dispatcher> Feed::NewFanOutDispatcher() {
  return fanout_->NewFanOutDispatcher();
}

absl::Status Feed::FanOut(const std::vector<storage::OutboxEntry>& entries) {
  return fanout_->Deliver(entries);
}

absl::Status Feed::DeliverTimelineEntries(const pb::DeliverTimelineEntriesRequest& req) {
  return fanout_->DeliverTimelineEntries(req);
}

absl::Status Feed::RemoveTimelineEntries(const pb::RemoveTimelineEntriesRequest& req) {
  return fanout_->RemoveTimelineEntries(req);
}

absl::StatusOr<pb::ApplyEventsResponse> Feed::ApplyEvents(const pb::ApplyEventsRequest& req) {
  return replication_->ApplyEvents(req);
}

absl::StatusOr<pb::PullPostsResponse> Feed::PullPosts(const pb::PullPostsRequest& req) {
  return timelines_->PullPosts(req);
}

absl::StatusOr<pb::GetPostCountsResponse> Feed::GetPostCounts(const pb::GetPostCountsRequest& req) {
  return posts_->GetPostCounts(req);
}

absl::StatusOr<pb::GetGroupsResponse> Feed::GetGroups(const pb::GetGroupsRequest& req) {
  return groups_->GetGroups(req);
}

absl::StatusOr<pb::CountUserGroupsResponse> Feed::CountUserGroups(
    const pb::CountUserGroupsRequest& req) {
  return groups_->CountUserGroups(req);
}

absl::StatusOr<pb::GetInsightCountersResponse> Feed::GetInsightCounters(
    const pb::GetInsightCountersRequest& req) {
  return insights_->GetInsightCounters(req);
}

absl::StatusOr<pb::ListSnapshotEventsResponse> Feed::ListSnapshotEvents(
    const pb::ListSnapshotEventsRequest& req) {
  return snapshot_->ListSnapshotEvents(req);
}

int32_t Feed::ShardOfId(uint64_t id) const { return store_->ShardOfId(id); }

absl::Status Feed::RequireLocal(uint64_t user_id) const { return store_->RequireLocal(user_id); }

uint64_t Feed::HomeEntryCount(uint64_t owner) { return homes_->HomeEntryCount(owner); }

uint64_t Feed::FollowerCount(uint64_t user_id) { return graph_store_->FollowerCount(user_id); }

}  // namespace parley::feed
