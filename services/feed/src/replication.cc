#include "feed/src/replication.h"

#include "feed/src/keys.h"
#include "google/protobuf/util/time_util.h"
#include "parley/events/events.h"
#include "parley/status/status.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Replication::Replication(FeedStore* store, GraphStore* graph, GroupStore* memberships,
                         CatchUpWorker* catch_up)
    : FeedPart(store),
      graph_(graph),
      memberships_(memberships),
      catch_up_(catch_up),
      applied_(std::make_unique<storage::AppliedSequences>(db_, db_->Cf("applied"))),
      posts_(db_->Cf("posts")),
      user_posts_(db_->Cf("user_posts")),
      questions_(db_->Cf("questions")),
      meta_(db_->Cf("meta")) {}

absl::StatusOr<pb::ApplyEventsResponse> Replication::ApplyEvents(
    const pb::ApplyEventsRequest& req) {
  // Other shards' halves of follows and blocks: the followee's follower edge
  // and the blocked person's block flag live on their own shard.
  bool catch_up_pending = false;
  // One event per write, all under the graph lock: each event must see what
  // the ones before it did (a follow then an unfollow in the same batch).
  sync::MutexLock graph_lock(&graph_->mu());
  const auto apply = [&](const ev::Event& e, rocksdb::WriteBatch* batch) -> absl::Status {
    switch (e.payload_case()) {
      case ev::Event::kFollowed: {
        const uint64_t follower = e.followed().follower().id();
        const uint64_t followee = e.followed().followee().id();
        if (!options_.shards.IsLocal(followee) || options_.shards.IsLocal(follower)) {
          return absl::OkStatus();
        }
        // A block that overtook the follow wins.
        if (graph_->BlockFlags(follower, followee) != 0) return absl::OkStatus();
        if (graph_->EdgeOrder(follower, followee).has_value()) return absl::OkStatus();
        graph_->EdgeHalves(follower, followee, store_->ids().Next(), true, batch);
        // Posts written between the follower's backfill and this edge
        // landing were fanned out without them: a catch-up delivers them
        // (durably queued with the edge; allowing for clock skew).
        const absl::Time since =
            google::protobuf::util::TimeUtil::TimestampToNanoseconds(e.create_time()) == 0
                ? absl::Now()
                : absl::FromUnixNanos(
                      google::protobuf::util::TimeUtil::TimestampToNanoseconds(e.create_time()));
        batch->Put(meta_, U64Key2('c', follower, followee),
                   U64Value(ids::MinIdAt(since - kCatchUpSkew)));
        catch_up_pending = true;
        return absl::OkStatus();
      }
      case ev::Event::kUnfollowed: {
        const uint64_t follower = e.unfollowed().follower().id();
        const uint64_t followee = e.unfollowed().followee().id();
        if (!options_.shards.IsLocal(followee) || options_.shards.IsLocal(follower)) {
          return absl::OkStatus();
        }
        auto order = graph_->EdgeOrder(follower, followee);
        if (order.has_value()) graph_->EdgeHalves(follower, followee, *order, false, batch);
        return absl::OkStatus();
      }
      case ev::Event::kBlocked: {
        graph_->ApplyBlock(e.blocked().blocker_id(), e.blocked().blocked_user_id(), true, batch);
        return absl::OkStatus();
      }
      case ev::Event::kUnblocked: {
        graph_->ApplyBlock(e.unblocked().blocker_id(), e.unblocked().blocked_user_id(), false,
                           batch);
        return absl::OkStatus();
      }
      case ev::Event::kFanoutModeChanged: {
        const auto& f = e.fanout_mode_changed();
        graph_->SetHeavy(f.author_id(), f.group_id(), f.pulled(), batch);
        return absl::OkStatus();
      }
      // The member's half of a membership in a group homed on another shard.
      case ev::Event::kGroupMemberJoined:
      case ev::Event::kGroupMemberLeft:
      case ev::Event::kGroupMemberRemoved: {
        const bool joined = e.has_group_member_joined();
        const uint64_t group = joined                      ? e.group_member_joined().group_id()
                               : e.has_group_member_left() ? e.group_member_left().group_id()
                                                           : e.group_member_removed().group_id();
        const uint64_t user = joined                      ? e.group_member_joined().user().id()
                              : e.has_group_member_left() ? e.group_member_left().user_id()
                                                          : e.group_member_removed().user_id();
        if (!options_.shards.IsLocal(user) || store_->ShardOfId(group) == options_.shards.self()) {
          return absl::OkStatus();
        }
        memberships_->ApplyMemberHalf(user, group, joined, batch);
        if (joined) catch_up_pending = true;  // the backfill of the group's posts
        return absl::OkStatus();
      }
      // A group post by someone homed here, written on the group's shard: it
      // belongs on their page and, for a question, in their open questions.
      case ev::Event::kPostCreated: {
        const auto& pc = e.post_created();
        if (pc.group().id() == 0 || !options_.shards.IsLocal(pc.author().id()) ||
            store_->ShardOfId(pc.post_id()) == options_.shards.self()) {
          return absl::OkStatus();
        }
        batch->Put(posts_, U64Key(pc.post_id()), PostFromEvent(e).SerializeAsString());
        batch->Put(user_posts_, DescKey(pc.author().id(), pc.post_id()), U64Value(pc.group().id()));
        if (pc.kind() == common::v1::POST_KIND_QUESTION) {
          batch->Put(questions_, DescKey2('o', pc.author().id(), pc.post_id()), "");
        }
        return absl::OkStatus();
      }
      case ev::Event::kPostDeleted: {
        const auto& pd = e.post_deleted();
        if (pd.group_id() == 0 || !options_.shards.IsLocal(pd.author_id()) ||
            store_->ShardOfId(pd.post_id()) == options_.shards.self()) {
          return absl::OkStatus();
        }
        batch->Delete(posts_, U64Key(pd.post_id()));
        batch->Delete(user_posts_, DescKey(pd.author_id(), pd.post_id()));
        batch->Delete(questions_, DescKey2('o', pd.author_id(), pd.post_id()));
        return absl::OkStatus();
      }
      default:
        return absl::OkStatus();  // not this consumer's concern
    }
  };
  if (req.batch().events_size() > static_cast<int>(events::kMaxEventsPerBatch)) {
    return status::TooMany("batch.events", req.batch().events_size(), events::kMaxEventsPerBatch);
  }
  if (req.batch().producer().empty()) return status::Required("batch.producer");
  absl::StatusOr<uint64_t> through = applied_->LastApplied(req.batch().producer());
  for (const auto& e : req.batch().events()) {
    events::pb::EventBatch one;
    one.set_producer(req.batch().producer());
    *one.add_events() = e;
    through = events::ApplyBatch(*applied_, one, apply);
    if (!through.ok()) break;
  }
  if (!through.ok()) return through.status();
  if (catch_up_pending) catch_up_->Wake();
  pb::ApplyEventsResponse resp;
  resp.set_applied_through_sequence(*through);
  return resp;
}

}  // namespace parley::feed
