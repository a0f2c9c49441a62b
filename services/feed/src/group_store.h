// Group records and memberships. On a group's home shard ("groups"): the
// record, each person's state and order, listing indexes by class, admins and
// the group's post index, with member and admin counters. On each member's
// own shard ("my_groups"): their half (membership, "my groups" list, muted
// groups) and their group count. `mu()` serialises the check-then-write of
// records and memberships.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "feed/src/home_store.h"
#include "feed/src/keys.h"
#include "feed/src/store.h"
#include "parley/sync/mutex.h"

namespace parley::feed {

// A person's relation to a group homed here.
struct Membership {
  char state = 0;  // 0 none, or internal::kInvited / kRequested / kMember / kAdmin
  uint64_t order = 0;
};

class GroupStore : FeedPart {
 public:
  GroupStore(FeedStore* store, HomeStore* homes);

  sync::Mutex& mu() ABSL_LOCK_RETURNED(mu_) { return mu_; }

  absl::StatusOr<std::optional<pb::Group>> ReadGroup(uint64_t group_id);
  // The group (homed here) if the caller's org has it; NOT_FOUND otherwise.
  absl::StatusOr<pb::Group> RequireGroup(const Caller& caller, uint64_t group_id);
  Membership GroupMembership(uint64_t group, uint64_t user);
  // Whether someone with membership `m` may read the group's content.
  bool CanReadGroup(const pb::Group& group, const Membership& m) const;
  // PERMISSION_DENIED unless the caller administers `group` (NOT_FOUND if
  // they may not even read it).
  absl::Status RequireGroupAdmin(const Caller& caller, const pb::Group& group);
  uint64_t MemberCount(uint64_t group);
  uint64_t AdminCount(uint64_t group);
  uint64_t UserGroupCount(uint64_t user);
  absl::StatusOr<uint64_t> RemoteUserGroupCount(uint64_t user, absl::Time deadline);
  // The group as `viewer_id` sees it (state, count; private groups reduced).
  pb::Group GroupView(pb::Group group, uint64_t viewer_id);
  // FAILED_PRECONDITION when `user` is in kMaxGroupsPerPerson groups already.
  absl::Status CheckGroupLimit(uint64_t user);
  // Sets a person's relation to a group homed here (state 0 removes it),
  // keeping counts, the listing index and, for a member homed here, their half.
  void SetMembership(const pb::Group& group, uint64_t user, const Membership& before, char state,
                     rocksdb::WriteBatch* batch);
  // The member's half on their own shard (joining queues the backfill of the
  // group's posts; leaving removes them from the head).
  void ApplyMemberHalf(uint64_t user, uint64_t group, bool add, rocksdb::WriteBatch* batch);
  // Whether `user` (homed here) holds their half of a membership of `group`.
  bool IsGroupMemberHere(uint64_t user, uint64_t group);
  // The groups `user` (homed here) is in, and those they muted (if `muted`).
  absl::Status LoadMyGroups(uint64_t user, absl::flat_hash_set<uint64_t>* groups,
                            absl::flat_hash_set<uint64_t>* muted);
  // The group's posts (homed here) older than `before`: (post id, author).
  std::vector<std::pair<uint64_t, uint64_t>> GroupPostIds(uint64_t group, uint64_t before,
                                                          size_t limit);
  // Calls `chunk` with the group's members and admins, fanout_batch at a time.
  absl::Status ForEachMember(uint64_t group,
                             const std::function<absl::Status(std::vector<uint64_t>&)>& chunk);

 private:
  HomeStore* const homes_;
  rocksdb::ColumnFamilyHandle* const groups_;
  rocksdb::ColumnFamilyHandle* const my_groups_;
  rocksdb::ColumnFamilyHandle* const counters_;
  rocksdb::ColumnFamilyHandle* const meta_;
  sync::Mutex mu_;
};

}  // namespace parley::feed
