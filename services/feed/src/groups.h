// Communities: creating, editing and archiving groups, joining, requests,
// invitations, leaving, removal and promotion, member lists, "my groups", and
// what other shards ask of a group's home.
//
// A group is homed on the shard its id names. That shard keeps the record, the
// membership (with a listing index) and the group's post index, and runs the
// group's fan-out. Each member's own shard keeps its half ("my groups"),
// written in the same batch when both are one shard and otherwise applied from
// the home's GroupMember* events, as follow edges are.
#pragma once

#include <vector>

#include "feed/src/catch_up.h"
#include "feed/src/group_store.h"
#include "feed/src/store.h"

namespace parley::feed {

class Groups : FeedPart {
 public:
  Groups(FeedStore* store, GroupStore* memberships, CatchUpWorker* catch_up);

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
  absl::StatusOr<pb::GetGroupsResponse> GetGroups(const pb::GetGroupsRequest& req);
  absl::StatusOr<pb::CountUserGroupsResponse> CountUserGroups(
      const pb::CountUserGroupsRequest& req);

 private:
  // Makes `user` a member (or admin) of a group homed here. Caller holds mu().
  absl::Status GrantMembership(const pb::Group& group, const common::v1::UserRef& user,
                               const Membership& before, char state,
                               std::vector<events::v1::Event> extra);

  GroupStore* const memberships_;
  CatchUpWorker* const catch_up_;
  rocksdb::ColumnFamilyHandle* const groups_;
  rocksdb::ColumnFamilyHandle* const my_groups_;
  rocksdb::ColumnFamilyHandle* const counters_;
};

}  // namespace parley::feed
