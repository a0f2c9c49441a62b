// Fan-out: the outbox's "fanout" subscriber. A new post goes into the home
// timelines of its author's followers (or its group's members): local ones in
// large sorted writes, each other shard in one DeliverTimelineEntries per
// chunk; above fanout_push_threshold the source is marked heavy (pulled) on
// every shard instead. A delete is the reverse. Also the catch-up of followers
// whose edge reached this shard after posts were fanned out without them, and
// of backfills left over after an error or a crash.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "feed/src/graph_store.h"
#include "feed/src/group_store.h"
#include "feed/src/home_store.h"
#include "feed/src/post_store.h"
#include "feed/src/store.h"
#include "feed/src/timelines.h"

namespace parley::feed {

class FanOutWorker : FeedPart {
 public:
  FanOutWorker(FeedStore* store, HomeStore* homes, GraphStore* graph, GroupStore* memberships,
               PostStore* post_store, Timelines* timelines);

  // The worker: a dispatcher of the outbox's "fanout" subscriber calling
  // Deliver. Start() it once every subscriber of the outbox exists.
  std::unique_ptr<storage::Dispatcher> NewFanOutDispatcher();
  // Applies a batch of this shard's own events.
  absl::Status Deliver(const std::vector<storage::OutboxEntry>& entries);
  // DeliverTimelineEntries / RemoveTimelineEntries for recipients on this shard.
  absl::Status DeliverTimelineEntries(const pb::DeliverTimelineEntriesRequest& req);
  absl::Status RemoveTimelineEntries(const pb::RemoveTimelineEntriesRequest& req);
  // One pass of the catch-up worker (CatchUpWorker runs it).
  absl::Status CatchUpFollowers();

 private:
  // Keeps this shard's users in `users`; returns the others by shard.
  std::map<int32_t, std::vector<uint64_t>> SplitByShard(std::vector<uint64_t>& users);
  absl::Status FanOutPost(const events::v1::Event& event, HomeStore::Writer* out);
  absl::Status FanOutDelete(const events::v1::Event& event);

  HomeStore* const homes_;
  GraphStore* const graph_;
  GroupStore* const memberships_;
  PostStore* const post_store_;
  Timelines* const timelines_;
  rocksdb::ColumnFamilyHandle* const posts_;
  rocksdb::ColumnFamilyHandle* const meta_;
};

}  // namespace parley::feed
