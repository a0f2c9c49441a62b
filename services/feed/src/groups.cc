#include "feed/src/groups.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/status/status.h"
#include "parley/text/text.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Groups::Groups(FeedStore* store, GroupStore* memberships, CatchUpWorker* catch_up)
    : FeedPart(store),
      memberships_(memberships),
      catch_up_(catch_up),
      groups_(db_->Cf("groups")),
      my_groups_(db_->Cf("my_groups")),
      counters_(db_->Cf("counters")) {}

// Makes `user` a member (or admin) of a group homed here. Caller holds groups_mu_.
absl::Status Groups::GrantMembership(const pb::Group& group, const common::v1::UserRef& user,
                                     const Membership& before, char state,
                                     std::vector<ev::Event> extra) {
  if (!IsMember(before.state)) {
    absl::Status s = memberships_->CheckGroupLimit(user.id());
    if (!s.ok()) return s;
  }
  rocksdb::WriteBatch batch;
  memberships_->SetMembership(group, user.id(), before, state, &batch);
  std::vector<ev::Event> events;
  if (!IsMember(before.state)) {
    ev::Event e = store_->NewEvent(group.org_id());
    e.mutable_group_member_joined()->set_group_id(group.id());
    *e.mutable_group_member_joined()->mutable_user() = user;
    events.push_back(std::move(e));
  }
  for (auto& e : extra) events.push_back(std::move(e));
  absl::Status s = store_->Commit(&batch, events);
  if (s.ok() && options_.shards.IsLocal(user.id())) catch_up_->Wake();
  return s;
}

absl::Status CheckName(const std::string& name) {
  auto length = text::Utf8Length(name);
  if (!length.has_value()) return absl::InvalidArgumentError("name: not valid UTF-8");
  if (*length == 0) return status::Required("name");
  if (*length > kMaxGroupNameChars) return status::TooLong("name", *length, kMaxGroupNameChars);
  return absl::OkStatus();
}

absl::Status CheckDescription(const std::string& description) {
  auto length = text::Utf8Length(description);
  if (!length.has_value()) return absl::InvalidArgumentError("description: not valid UTF-8");
  if (*length > kMaxGroupDescriptionChars) {
    return status::TooLong("description", *length, kMaxGroupDescriptionChars);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Groups
absl::StatusOr<pb::Group> Groups::CreateGroup(const Caller& caller,
                                              const pb::CreateGroupRequest& req) {
  absl::Status s = CheckName(req.name());
  if (s.ok()) s = CheckDescription(req.description());
  if (!s.ok()) return s;
  if (req.privacy() != common::v1::GROUP_PRIVACY_PUBLIC &&
      req.privacy() != common::v1::GROUP_PRIVACY_PRIVATE) {
    return absl::InvalidArgumentError(
        "privacy: required, GROUP_PRIVACY_PUBLIC or GROUP_PRIVACY_PRIVATE");
  }
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  if (me->guest) return absl::PermissionDeniedError("guests cannot create groups");
  pb::Group group;
  group.set_id(store_->ids().Next());
  group.set_org_id(caller.org_id());
  group.set_name(req.name());
  group.set_description(req.description());
  group.set_privacy(req.privacy());
  *group.mutable_create_time() = Ts(ids::TimeOf(group.id()));
  sync::MutexLock lock(&memberships_->mu());
  {
    rocksdb::WriteBatch batch;
    batch.Put(groups_, Key1('g', group.id()), group.SerializeAsString());
    // The record and the creator's admin membership land together.
    s = memberships_->CheckGroupLimit(caller.user_id());
    if (!s.ok()) return s;
    memberships_->SetMembership(group, caller.user_id(), {}, kAdmin, &batch);
    ev::Event created = store_->NewEvent(caller.org_id());
    *created.mutable_group_created()->mutable_group() = RefOf(group);
    created.mutable_group_created()->set_description(group.description());
    *created.mutable_group_created()->mutable_creator() = me->ref;
    ev::Event joined = store_->NewEvent(caller.org_id());
    joined.mutable_group_member_joined()->set_group_id(group.id());
    *joined.mutable_group_member_joined()->mutable_user() = me->ref;
    s = store_->Commit(&batch, {created, joined});
    if (!s.ok()) return s;
  }
  return memberships_->GroupView(group, caller.user_id());
}

absl::StatusOr<pb::Group> Groups::GetGroup(const Caller& caller, uint64_t group_id) {
  auto g = memberships_->RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  return memberships_->GroupView(*std::move(g), caller.user_id());
}

absl::StatusOr<pb::Group> Groups::UpdateGroup(const Caller& caller,
                                              const pb::UpdateGroupRequest& req) {
  if (req.update_mask().paths_size() == 0) return status::Required("update_mask");
  for (const auto& path : req.update_mask().paths()) {
    if (path != "name" && path != "description") {
      return absl::InvalidArgumentError(
          absl::StrCat("update_mask: unknown path \"", path, "\" (name, description)"));
    }
  }
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  sync::MutexLock lock(&memberships_->mu());
  auto g = memberships_->RequireGroup(caller, req.group().id());
  if (!g.ok()) return g.status();
  absl::Status s = memberships_->RequireGroupAdmin(caller, *g);
  if (!s.ok()) return s;
  for (const auto& path : req.update_mask().paths()) {
    if (path == "name") {
      s = CheckName(req.group().name());
      g->set_name(req.group().name());
    } else {
      s = CheckDescription(req.group().description());
      g->set_description(req.group().description());
    }
    if (!s.ok()) return s;
  }
  rocksdb::WriteBatch batch;
  batch.Put(groups_, Key1('g', g->id()), g->SerializeAsString());
  ev::Event e = store_->NewEvent(caller.org_id());
  *e.mutable_group_updated()->mutable_group() = RefOf(*g);
  e.mutable_group_updated()->set_description(g->description());
  e.mutable_group_updated()->set_archived(g->archived());
  s = store_->Commit(&batch, {e});
  if (!s.ok()) return s;
  return memberships_->GroupView(*std::move(g), caller.user_id());
}

absl::StatusOr<pb::Group> Groups::ArchiveGroup(const Caller& caller, uint64_t group_id) {
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  sync::MutexLock lock(&memberships_->mu());
  auto g = memberships_->RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  if (!me->admin) {
    absl::Status s = memberships_->RequireGroupAdmin(caller, *g);
    if (!s.ok()) return s;
  }
  if (!g->archived()) {
    g->set_archived(true);
    rocksdb::WriteBatch batch;
    batch.Put(groups_, Key1('g', g->id()), g->SerializeAsString());
    ev::Event e = store_->NewEvent(caller.org_id());
    *e.mutable_group_updated()->mutable_group() = RefOf(*g);
    e.mutable_group_updated()->set_description(g->description());
    e.mutable_group_updated()->set_archived(true);
    absl::Status s = store_->Commit(&batch, {e});
    if (!s.ok()) return s;
  }
  return memberships_->GroupView(*std::move(g), caller.user_id());
}

absl::StatusOr<pb::Group> Groups::JoinGroup(const Caller& caller, uint64_t group_id) {
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  {
    sync::MutexLock lock(&memberships_->mu());
    auto g = memberships_->RequireGroup(caller, group_id);
    if (!g.ok()) return g.status();
    const Membership m = memberships_->GroupMembership(group_id, caller.user_id());
    if (!IsMember(m.state)) {
      if (g->archived()) {
        return absl::FailedPreconditionError("the group is archived: nobody joins it");
      }
      if (g->privacy() == common::v1::GROUP_PRIVACY_PRIVATE && m.state != kInvited) {
        return absl::FailedPreconditionError(
            "a private group needs an invitation: ask to join with RequestToJoinGroup");
      }
      absl::Status s = GrantMembership(*g, me->ref, m, kMember, {});
      if (!s.ok()) return s;
    }
  }
  return GetGroup(caller, group_id);
}

absl::Status Groups::RequestToJoinGroup(const Caller& caller, uint64_t group_id) {
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  sync::MutexLock lock(&memberships_->mu());
  auto g = memberships_->RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  const Membership m = memberships_->GroupMembership(group_id, caller.user_id());
  if (IsMember(m.state) || m.state == kRequested) return absl::OkStatus();
  if (g->privacy() == common::v1::GROUP_PRIVACY_PUBLIC) {
    return absl::FailedPreconditionError("a public group needs no approval: use JoinGroup");
  }
  if (g->archived()) return absl::FailedPreconditionError("the group is archived: nobody joins it");
  if (m.state == kInvited) return GrantMembership(*g, me->ref, m, kMember, {});
  rocksdb::WriteBatch batch;
  memberships_->SetMembership(*g, caller.user_id(), m, kRequested, &batch);
  ev::Event e = store_->NewEvent(caller.org_id());
  auto* r = e.mutable_group_join_requested();
  *r->mutable_group() = RefOf(*g);
  *r->mutable_requester() = me->ref;
  const std::string prefix = Key1('A', group_id);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, groups_));
  for (it->Seek(prefix);
       it->Valid() && it->key().starts_with(prefix) && r->admin_user_ids_size() < 100; it->Next()) {
    r->add_admin_user_ids(DecodeU64(absl::string_view(it->key().data() + 9, 8)));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "group admins");
  return store_->Commit(&batch, {e});
}

absl::Status Groups::AnswerJoinRequest(const Caller& caller, uint64_t group_id, uint64_t user_id,
                                       bool approve) {
  if (user_id == 0) return status::Required("user_id");
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  sync::MutexLock lock(&memberships_->mu());
  auto g = memberships_->RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  absl::Status s = memberships_->RequireGroupAdmin(caller, *g);
  if (!s.ok()) return s;
  const Membership m = memberships_->GroupMembership(group_id, user_id);
  if (m.state != kRequested) {
    return absl::NotFoundError(absl::StrCat("no pending request from user ", user_id));
  }
  if (!approve) {
    rocksdb::WriteBatch batch;
    memberships_->SetMembership(*g, user_id, m, 0, &batch);
    return db_->Write(&batch);
  }
  if (g->archived()) return absl::FailedPreconditionError("the group is archived: nobody joins it");
  auto person = store_->RequirePeer(caller, user_id);
  if (!person.ok()) return person.status();
  ev::Event e = store_->NewEvent(caller.org_id());
  *e.mutable_group_join_approved()->mutable_group() = RefOf(*g);
  e.mutable_group_join_approved()->set_user_id(user_id);
  *e.mutable_group_join_approved()->mutable_approver() = me->ref;
  return GrantMembership(*g, person->ref, m, kMember, {e});
}

absl::Status Groups::InviteToGroup(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  if (user_id == caller.user_id()) {
    return absl::InvalidArgumentError("user_id: you cannot invite yourself");
  }
  auto target = store_->RequirePeer(caller, user_id);
  if (!target.ok()) return target.status();
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  sync::MutexLock lock(&memberships_->mu());
  auto g = memberships_->RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  const Membership mine = memberships_->GroupMembership(group_id, caller.user_id());
  if (g->privacy() == common::v1::GROUP_PRIVACY_PRIVATE) {
    absl::Status s = memberships_->RequireGroupAdmin(caller, *g);
    if (!s.ok()) return s;
  } else if (!IsMember(mine.state)) {
    return absl::PermissionDeniedError("only members invite to a group: join it first");
  }
  if (g->archived()) return absl::FailedPreconditionError("the group is archived: nobody joins it");
  const Membership theirs = memberships_->GroupMembership(group_id, user_id);
  if (IsMember(theirs.state) || theirs.state == kInvited) return absl::OkStatus();
  if (theirs.state == kRequested) {
    // They asked already: inviting them lets them in, like an approval.
    return GrantMembership(*g, target->ref, theirs, kMember, {});
  }
  rocksdb::WriteBatch batch;
  memberships_->SetMembership(*g, user_id, theirs, kInvited, &batch);
  ev::Event e = store_->NewEvent(caller.org_id());
  *e.mutable_group_invited()->mutable_group() = RefOf(*g);
  *e.mutable_group_invited()->mutable_inviter() = me->ref;
  e.mutable_group_invited()->set_invitee_id(user_id);
  return store_->Commit(&batch, {e});
}

absl::Status Groups::LeaveGroup(const Caller& caller, uint64_t group_id) {
  sync::MutexLock lock(&memberships_->mu());
  auto g = memberships_->RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  const Membership m = memberships_->GroupMembership(group_id, caller.user_id());
  if (m.state == 0) return absl::OkStatus();
  if (m.state == kAdmin) {
    auto admins = db_->Get(counters_, CounterKey(kAdminCount, group_id));
    if (!admins.ok()) return admins.status();
    const int64_t admin_count = admins->has_value() ? DecodeCounter(**admins) : 0;
    if (admin_count <= 1 && memberships_->MemberCount(group_id) > 1) {
      return absl::FailedPreconditionError(
          "you are the group's only admin: promote another member before leaving");
    }
  }
  rocksdb::WriteBatch batch;
  memberships_->SetMembership(*g, caller.user_id(), m, 0, &batch);
  std::vector<ev::Event> events;
  if (IsMember(m.state)) {
    ev::Event e = store_->NewEvent(caller.org_id());
    e.mutable_group_member_left()->set_group_id(group_id);
    e.mutable_group_member_left()->set_user_id(caller.user_id());
    events.push_back(std::move(e));
  }
  return store_->Commit(&batch, events);
}

absl::Status Groups::RemoveGroupMember(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  if (user_id == caller.user_id()) {
    return absl::InvalidArgumentError("user_id: to remove yourself, leave the group");
  }
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  sync::MutexLock lock(&memberships_->mu());
  auto g = memberships_->RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  absl::Status s = memberships_->RequireGroupAdmin(caller, *g);
  if (!s.ok()) return s;
  const Membership m = memberships_->GroupMembership(group_id, user_id);
  if (m.state == 0) {
    return absl::NotFoundError(absl::StrCat("user ", user_id, " is not in group ", group_id));
  }
  rocksdb::WriteBatch batch;
  memberships_->SetMembership(*g, user_id, m, 0, &batch);
  std::vector<ev::Event> events;
  if (IsMember(m.state)) {
    ev::Event e = store_->NewEvent(caller.org_id());
    e.mutable_group_member_removed()->set_group_id(group_id);
    e.mutable_group_member_removed()->set_user_id(user_id);
    e.mutable_group_member_removed()->set_removed_by_user_id(caller.user_id());
    events.push_back(std::move(e));
  }
  return store_->Commit(&batch, events);
}

absl::Status Groups::PromoteGroupMember(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  sync::MutexLock lock(&memberships_->mu());
  auto g = memberships_->RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  absl::Status s = memberships_->RequireGroupAdmin(caller, *g);
  if (!s.ok()) return s;
  const Membership m = memberships_->GroupMembership(group_id, user_id);
  if (m.state == kAdmin) return absl::OkStatus();
  if (m.state != kMember) {
    return absl::NotFoundError(
        absl::StrCat("user ", user_id, " is not a member of group ", group_id));
  }
  rocksdb::WriteBatch batch;
  memberships_->SetMembership(*g, user_id, m, kAdmin, &batch);
  return db_->Write(&batch);
}

absl::StatusOr<pb::ListGroupMembersResponse> Groups::ListGroupMembers(
    const Caller& caller, const pb::ListGroupMembersRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "m");
  if (!token.ok()) return token.status();
  auto g = memberships_->RequireGroup(caller, req.group_id());
  if (!g.ok()) return g.status();
  char cls = kMember;
  switch (req.state()) {
    case pb::GROUP_MEMBER_STATE_UNSPECIFIED:
      if (!memberships_->CanReadGroup(*g,
                                      memberships_->GroupMembership(g->id(), caller.user_id()))) {
        return NotFoundGroup(g->id());
      }
      break;
    case pb::GROUP_MEMBER_STATE_INVITED:
    case pb::GROUP_MEMBER_STATE_REQUESTED: {
      absl::Status s = memberships_->RequireGroupAdmin(caller, *g);
      if (!s.ok()) return s;
      cls = req.state() == pb::GROUP_MEMBER_STATE_INVITED ? kInvited : kRequested;
      break;
    }
    default:
      return absl::InvalidArgumentError(
          "state: UNSPECIFIED (members and admins), GROUP_MEMBER_STATE_INVITED or "
          "GROUP_MEMBER_STATE_REQUESTED");
  }
  std::string prefix = Key1('x', g->id());
  prefix.push_back(cls);
  std::string start = prefix;
  if (token->cursor != 0) AppendDescU64(&start, token->cursor - 1);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, groups_));
  std::vector<std::pair<uint64_t, uint64_t>> rows;  // (order, user)
  bool more = false;
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (static_cast<int32_t>(rows.size()) == *size) {
      more = true;
      break;
    }
    rows.emplace_back(DecodeDescU64(absl::string_view(it->key().data() + prefix.size(), 8)),
                      DecodeU64(absl::string_view(it->key().data() + prefix.size() + 8, 8)));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "group members");
  std::vector<uint64_t> users;
  for (const auto& r : rows) users.push_back(r.second);
  auto people = directory_->Get(users);
  if (!people.ok()) return people.status();
  pb::ListGroupMembersResponse resp;
  for (const auto& [order, user] : rows) {
    auto p = people->find(user);
    if (p == people->end() || !p->second.active) continue;  // suspended people are not listed
    pb::GroupMember* m = resp.add_members();
    *m->mutable_user() = p->second.ref;
    m->set_state(StateOf(memberships_->GroupMembership(g->id(), user).state));
    *m->mutable_update_time() = Ts(ids::TimeOf(order));
  }
  if (more && !rows.empty()) resp.set_next_page_token(EncodeToken('m', rows.back().first));
  return resp;
}

absl::StatusOr<pb::ListMyGroupsResponse> Groups::ListMyGroups(const Caller& caller,
                                                              const pb::ListMyGroupsRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "y");
  if (!token.ok()) return token.status();
  absl::Status local = store_->RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  const std::string prefix = Key1('x', caller.user_id());
  std::string start = prefix;
  if (token->cursor != 0) AppendDescU64(&start, token->cursor - 1);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, my_groups_));
  std::vector<std::pair<uint64_t, uint64_t>> rows;  // (order, group)
  bool more = false;
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (static_cast<int32_t>(rows.size()) == *size) {
      more = true;
      break;
    }
    rows.emplace_back(DecodeDescU64(absl::string_view(it->key().data() + 9, 8)),
                      DecodeU64(absl::string_view(it->key().data() + 17, 8)));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "my groups");
  // Groups homed here are read directly; the others with one GetGroups per shard.
  absl::flat_hash_map<uint64_t, pb::Group> found;
  std::map<int32_t, std::vector<uint64_t>> remote;
  for (const auto& [order, group] : rows) {
    if (store_->ShardOfId(group) != options_.shards.self()) {
      remote[store_->ShardOfId(group)].push_back(group);
      continue;
    }
    auto g = memberships_->ReadGroup(group);
    if (!g.ok()) return g.status();
    if (g->has_value()) found[group] = memberships_->GroupView(**g, caller.user_id());
  }
  FeedPeers::ByShard<pb::GetGroupsRequest> group_calls;
  for (const auto& [shard, groups] : remote) {
    if (options_.peers == nullptr || shard >= options_.shards.count()) continue;
    pb::GetGroupsRequest greq;
    greq.set_viewer_user_id(caller.user_id());
    for (uint64_t g : groups) greq.add_group_ids(g);
    group_calls.emplace_back(shard, std::move(greq));
  }
  if (!group_calls.empty()) {
    auto responses = options_.peers->GetGroups(group_calls, PeerDeadline(caller.deadline));
    if (!responses.ok()) return responses.status();
    for (auto& gresp : *responses) {
      for (auto& g : *gresp.mutable_groups()) found[g.id()] = std::move(g);
    }
  }
  pb::ListMyGroupsResponse resp;
  for (const auto& [order, group] : rows) {
    auto f = found.find(group);
    if (f != found.end()) *resp.add_groups() = std::move(f->second);
  }
  if (more && !rows.empty()) resp.set_next_page_token(EncodeToken('y', rows.back().first));
  return resp;
}

absl::Status Groups::MuteGroup(const Caller& caller, uint64_t group_id, bool mute) {
  if (group_id == 0) return status::Required("group_id");
  absl::Status local = store_->RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  rocksdb::WriteBatch batch;
  if (mute) {
    batch.Put(my_groups_, Key2('u', caller.user_id(), group_id), "");
  } else {
    batch.Delete(my_groups_, Key2('u', caller.user_id(), group_id));
  }
  return db_->Write(&batch);
}

absl::StatusOr<pb::GetGroupsResponse> Groups::GetGroups(const pb::GetGroupsRequest& req) {
  if (static_cast<size_t>(req.group_ids_size()) > kMaxGetGroups) {
    return status::TooMany("group_ids", req.group_ids_size(), kMaxGetGroups);
  }
  pb::GetGroupsResponse resp;
  for (uint64_t id : req.group_ids()) {
    if (store_->ShardOfId(id) != options_.shards.self()) {
      return absl::InvalidArgumentError(absl::StrCat("group ", id, " is not homed on this shard"));
    }
    auto g = memberships_->ReadGroup(id);
    if (!g.ok()) return g.status();
    if (g->has_value()) *resp.add_groups() = memberships_->GroupView(**g, req.viewer_user_id());
  }
  return resp;
}

absl::StatusOr<pb::CountUserGroupsResponse> Groups::CountUserGroups(
    const pb::CountUserGroupsRequest& req) {
  absl::Status local = store_->RequireLocal(req.user_id());
  if (!local.ok()) return local;
  pb::CountUserGroupsResponse resp;
  resp.set_group_count(memberships_->UserGroupCount(req.user_id()));
  return resp;
}

}  // namespace parley::feed
