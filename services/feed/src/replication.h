// Other shards' events that this shard applies (FeedInternalService.ApplyEvents,
// the feed-<i> subscribers): the halves of follows and blocks, fan-out modes,
// the member's half of memberships in groups homed elsewhere, and group posts
// by people homed here. Each event is filtered by who it concerns here,
// applied idempotently and on its own write, under the graph lock.
#pragma once

#include <memory>

#include "feed/src/catch_up.h"
#include "feed/src/graph_store.h"
#include "feed/src/group_store.h"
#include "feed/src/store.h"
#include "parley/storage/applied.h"

namespace parley::feed {

class Replication : FeedPart {
 public:
  Replication(FeedStore* store, GraphStore* graph, GroupStore* memberships,
              CatchUpWorker* catch_up);

  absl::StatusOr<pb::ApplyEventsResponse> ApplyEvents(const pb::ApplyEventsRequest& req);

 private:
  GraphStore* const graph_;
  GroupStore* const memberships_;
  CatchUpWorker* const catch_up_;
  const std::unique_ptr<storage::AppliedSequences> applied_;
  rocksdb::ColumnFamilyHandle* const posts_;
  rocksdb::ColumnFamilyHandle* const user_posts_;
  rocksdb::ColumnFamilyHandle* const questions_;
  rocksdb::ColumnFamilyHandle* const meta_;
};

}  // namespace parley::feed
