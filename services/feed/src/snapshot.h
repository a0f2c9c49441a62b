// ListSnapshotEvents: the current state homed on this shard as upsert events
// (sequence 0, this shard's producer), for consumers that rebuild (search):
// GroupCreated for each group (then GroupUpdated if archived),
// GroupMemberJoined for each member or admin, PostCreated for each post (never
// the copies of other shards' posts), CommentCreated for each comment, Followed
// for each follow (from the follower's shard) and Blocked for each block (from
// the blocker's), in that order: a membership never precedes its group nor a
// comment its post. snapshot_sequence is the outbox's newest sequence when the
// first page was read, carried in the page token.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "feed/src/group_store.h"
#include "feed/src/post_store.h"
#include "feed/src/store.h"

namespace parley::feed {

class Snapshot : FeedPart {
 public:
  Snapshot(FeedStore* store, GroupStore* memberships, PostStore* post_store);

  absl::StatusOr<pb::ListSnapshotEventsResponse> ListSnapshotEvents(
      const pb::ListSnapshotEventsRequest& req);

 private:
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
  struct SnapshotReads;  // records one page has read, by id
  // The events of one record of `section`: none for a record this shard does
  // not home. People named only by id are filled in by FillSnapshotPeople.
  absl::Status SnapshotRecord(char section, absl::string_view key, absl::string_view value,
                              SnapshotReads* reads, std::vector<events::v1::Event>* out);
  // Adds the people (UserRef) and org of follows, blocks and memberships,
  // whose records keep only ids: one directory call per page.
  absl::Status FillSnapshotPeople(google::protobuf::RepeatedPtrField<events::v1::Event>* events);

  GroupStore* const memberships_;
  PostStore* const post_store_;
  rocksdb::ColumnFamilyHandle* const groups_;
  rocksdb::ColumnFamilyHandle* const posts_;
  rocksdb::ColumnFamilyHandle* const comments_;
  rocksdb::ColumnFamilyHandle* const following_;
  rocksdb::ColumnFamilyHandle* const blocks_;
};

}  // namespace parley::feed
