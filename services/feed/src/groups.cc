// Communities (groups), questions with accepted answers, and participation
// insights: the parts of Feed that docs/architecture.md calls "Groups".
//
// A group is homed on the shard its id names. That shard keeps the record, the
// membership (with a listing index) and the group's post index, and runs the
// group's fan-out. Each member's own shard keeps its half ("my groups"),
// written in the same batch when both are one shard and otherwise applied from
// the home's GroupMember* events, as follow edges are.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "feed/src/feed.h"
#include "feed/src/keys.h"
#include "parley/status/status.h"
#include "parley/text/text.h"

namespace parley::feed {
using namespace internal;  // NOLINT: this component's own helpers

namespace {

constexpr char kInvited = 'i';
constexpr char kRequested = 'r';
constexpr char kMember = 'm';
constexpr char kAdmin = 'a';

bool IsMember(char state) { return state == kMember || state == kAdmin; }

// The listing class of a state: members and admins share one, most recently
// joined first.
char ClassOf(char state) { return IsMember(state) ? kMember : state; }

pb::GroupMemberState StateOf(char state) {
  switch (state) {
    case kInvited:
      return pb::GROUP_MEMBER_STATE_INVITED;
    case kRequested:
      return pb::GROUP_MEMBER_STATE_REQUESTED;
    case kMember:
      return pb::GROUP_MEMBER_STATE_MEMBER;
    case kAdmin:
      return pb::GROUP_MEMBER_STATE_ADMIN;
    default:
      return pb::GROUP_MEMBER_STATE_NONE;
  }
}

absl::Status NotFoundGroup(uint64_t id) {
  return absl::NotFoundError(absl::StrCat("group ", id, " not found"));
}

constexpr int64_t kSecondsPerDay = 86400;

int64_t DayOf(absl::Time t) {
  const int64_t s = absl::ToUnixSeconds(t);
  return s >= 0 ? s / kSecondsPerDay : -((-s + kSecondsPerDay - 1) / kSecondsPerDay);
}

absl::Time StartOfDay(int64_t day) { return absl::FromUnixSeconds(day * kSecondsPerDay); }

// Insight counters: 'I', scope ('o' org or 'g' group), scope id, day, kind,
// then for some kinds a u64 (person, audience, milliseconds).
std::string InsightScope(uint64_t org_id, uint64_t group_id) {
  std::string k = "I";
  k.push_back(group_id != 0 ? 'g' : 'o');
  AppendU64(&k, group_id != 0 ? group_id : org_id);
  return k;
}

std::string MyGroupIdx(uint64_t user, uint64_t order, uint64_t group) {
  std::string k = DescKey2('x', user, order);
  AppendU64(&k, group);
  return k;
}

// Median of a multiset given as value -> count (mean of the two middle
// values when the count is even).
double Median(const std::map<uint64_t, uint64_t>& histogram) {
  uint64_t n = 0;
  for (const auto& [v, c] : histogram) n += c;
  if (n == 0) return 0;
  const uint64_t lo = (n - 1) / 2, hi = n / 2;  // 0-based ranks of the middle
  double a = 0, b = 0;
  uint64_t seen = 0;
  bool have_a = false;
  for (const auto& [v, c] : histogram) {
    if (!have_a && lo < seen + c) {
      a = static_cast<double>(v);
      have_a = true;
    }
    if (hi < seen + c) {
      b = static_cast<double>(v);
      break;
    }
    seen += c;
  }
  return (a + b) / 2;
}

}  // namespace

// ---------------------------------------------------------------------------
// Records

absl::StatusOr<std::optional<pb::Group>> Feed::ReadGroup(uint64_t group_id) {
  auto v = db_->Get(groups_, Key1('g', group_id));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<pb::Group>();
  pb::Group g;
  if (!g.ParseFromString(**v)) return absl::DataLossError(absl::StrCat("group ", group_id));
  return std::optional<pb::Group>(std::move(g));
}

absl::StatusOr<pb::Group> Feed::RequireGroup(const Caller& caller, uint64_t group_id) {
  if (group_id == 0) return status::Required("group_id");
  if (ShardOfId(group_id) != options_.shards.self()) return NotFoundGroup(group_id);
  auto g = ReadGroup(group_id);
  if (!g.ok()) return g.status();
  if (!g->has_value() || (*g)->org_id() != caller.org_id()) return NotFoundGroup(group_id);
  return **std::move(g);
}

Feed::Membership Feed::GroupMembership(uint64_t group, uint64_t user) {
  Membership m;
  auto v = db_->Get(groups_, Key2('m', group, user));
  if (v.ok() && v->has_value() && (*v)->size() == 9) {
    m.state = (**v)[0];
    m.order = DecodeU64(absl::string_view(**v).substr(1));
  }
  return m;
}

bool Feed::CanReadGroup(const pb::Group& group, const Membership& m) const {
  return group.privacy() == common::v1::GROUP_PRIVACY_PUBLIC || IsMember(m.state);
}

uint64_t Feed::MemberCount(uint64_t group) {
  auto v = db_->Get(counters_, CounterKey(kMemberCount, group));
  return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
}

uint64_t Feed::UserGroupCount(uint64_t user) {
  auto v = db_->Get(counters_, CounterKey(kUserGroupCount, user));
  return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
}

absl::StatusOr<uint64_t> Feed::RemoteUserGroupCount(uint64_t user, absl::Time deadline) {
  if (options_.peers == nullptr) return absl::InternalError("no peers for a remote person");
  pb::CountUserGroupsRequest req;
  req.set_user_id(user);
  auto resp =
      options_.peers->CountUserGroups({{options_.shards.ShardOf(user), std::move(req)}}, deadline);
  if (!resp.ok()) return resp.status();
  return (*resp)[0].group_count();
}

pb::Group Feed::GroupView(pb::Group group, uint64_t viewer_id) {
  const Membership m = GroupMembership(group.id(), viewer_id);
  group.set_viewer_state(StateOf(m.state));
  if (CanReadGroup(group, m)) {
    group.set_member_count(MemberCount(group.id()));
  } else {
    // A private group's non-members see what they need to ask to join.
    group.clear_archived();
    group.clear_create_time();
    group.clear_member_count();
  }
  return group;
}

absl::Status Feed::CheckGroupLimit(uint64_t user) {
  absl::StatusOr<uint64_t> count = options_.shards.IsLocal(user)
                                       ? UserGroupCount(user)
                                       : RemoteUserGroupCount(user, PeerDeadline());
  if (!count.ok()) return count.status();
  if (*count >= kMaxGroupsPerPerson) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a person belongs to at most ", kMaxGroupsPerPerson, " groups; leave one first"));
  }
  return absl::OkStatus();
}

void Feed::SetMembership(const pb::Group& group, uint64_t user, const Membership& before,
                         char state, rocksdb::WriteBatch* batch) {
  const uint64_t g = group.id();
  if (before.state == state) return;
  // A promotion keeps its place in the member list; anything else moves to the top.
  const bool same_class =
      before.state != 0 && state != 0 && ClassOf(before.state) == ClassOf(state);
  const uint64_t order = same_class ? before.order : ids_->Next();
  if (before.state != 0 && !same_class) {
    batch->Delete(groups_, MemberIdx(g, ClassOf(before.state), before.order, user));
  }
  if (state == 0) {
    batch->Delete(groups_, Key2('m', g, user));
  } else {
    std::string value(1, state);
    AppendU64(&value, order);
    batch->Put(groups_, Key2('m', g, user), value);
    if (!same_class) batch->Put(groups_, MemberIdx(g, ClassOf(state), order, user), "");
  }
  const int64_t member_delta = int64_t{IsMember(state)} - int64_t{IsMember(before.state)};
  if (member_delta != 0) {
    batch->Merge(counters_, CounterKey(kMemberCount, g), EncodeCounter(member_delta));
    if (options_.shards.IsLocal(user)) ApplyMemberHalf(user, g, member_delta > 0, batch);
  }
  const int64_t admin_delta = int64_t{state == kAdmin} - int64_t{before.state == kAdmin};
  if (admin_delta != 0) {
    batch->Merge(counters_, CounterKey(kAdminCount, g), EncodeCounter(admin_delta));
    if (admin_delta > 0) {
      batch->Put(groups_, Key2('A', g, user), "");
    } else {
      batch->Delete(groups_, Key2('A', g, user));
    }
  }
}

void Feed::ApplyMemberHalf(uint64_t user, uint64_t group, bool add, rocksdb::WriteBatch* batch) {
  auto v = db_->Get(my_groups_, Key2('m', user, group));
  const bool present = v.ok() && v->has_value() && (*v)->size() == 8;
  if (add == present) return;
  if (add) {
    const uint64_t order = ids_->Next();
    batch->Put(my_groups_, Key2('m', user, group), U64Value(order));
    batch->Put(my_groups_, MyGroupIdx(user, order, group), "");
    // The group's recent posts join the member's home timeline (catch-up thread).
    batch->Put(meta_, U64Key2('B', user, group), U64Value(order));
  } else {
    batch->Delete(my_groups_, Key2('m', user, group));
    batch->Delete(my_groups_, MyGroupIdx(user, DecodeU64(**v), group));
    batch->Delete(meta_, U64Key2('B', user, group));
    RemoveGroupFromHome(user, group, batch);
  }
  batch->Merge(counters_, CounterKey(kUserGroupCount, user), EncodeCounter(add ? 1 : -1));
}

absl::Status Feed::RequireGroupAdmin(const Caller& caller, const pb::Group& group) {
  const Membership m = GroupMembership(group.id(), caller.user_id());
  if (m.state == kAdmin) return absl::OkStatus();
  if (!CanReadGroup(group, m)) return NotFoundGroup(group.id());
  return absl::PermissionDeniedError("only the group's admins can do this");
}

// Makes `user` a member (or admin) of a group homed here. Caller holds groups_mu_.
absl::Status Feed::GrantMembership(const pb::Group& group, const common::v1::UserRef& user,
                                   const Membership& before, char state,
                                   std::vector<ev::Event> extra) {
  if (!IsMember(before.state)) {
    absl::Status s = CheckGroupLimit(user.id());
    if (!s.ok()) return s;
  }
  rocksdb::WriteBatch batch;
  SetMembership(group, user.id(), before, state, &batch);
  std::vector<ev::Event> events;
  if (!IsMember(before.state)) {
    ev::Event e = NewEvent(group.org_id());
    e.mutable_group_member_joined()->set_group_id(group.id());
    *e.mutable_group_member_joined()->mutable_user() = user;
    events.push_back(std::move(e));
  }
  for (auto& e : extra) events.push_back(std::move(e));
  absl::Status s = Commit(&batch, events);
  if (s.ok() && options_.shards.IsLocal(user.id())) WakeCatchUp();
  return s;
}

namespace {
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
}  // namespace

// ---------------------------------------------------------------------------
// Groups

absl::StatusOr<pb::Group> Feed::CreateGroup(const Caller& caller,
                                            const pb::CreateGroupRequest& req) {
  absl::Status s = CheckName(req.name());
  if (s.ok()) s = CheckDescription(req.description());
  if (!s.ok()) return s;
  if (req.privacy() != common::v1::GROUP_PRIVACY_PUBLIC &&
      req.privacy() != common::v1::GROUP_PRIVACY_PRIVATE) {
    return absl::InvalidArgumentError(
        "privacy: required, GROUP_PRIVACY_PUBLIC or GROUP_PRIVACY_PRIVATE");
  }
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  if (me->guest) return absl::PermissionDeniedError("guests cannot create groups");
  pb::Group group;
  group.set_id(ids_->Next());
  group.set_org_id(caller.org_id());
  group.set_name(req.name());
  group.set_description(req.description());
  group.set_privacy(req.privacy());
  *group.mutable_create_time() = Ts(ids::TimeOf(group.id()));
  std::lock_guard<std::mutex> lock(groups_mu_);
  {
    rocksdb::WriteBatch batch;
    batch.Put(groups_, Key1('g', group.id()), group.SerializeAsString());
    // The record and the creator's admin membership land together.
    s = CheckGroupLimit(caller.user_id());
    if (!s.ok()) return s;
    SetMembership(group, caller.user_id(), {}, kAdmin, &batch);
    ev::Event created = NewEvent(caller.org_id());
    *created.mutable_group_created()->mutable_group() = RefOf(group);
    created.mutable_group_created()->set_description(group.description());
    *created.mutable_group_created()->mutable_creator() = me->ref;
    ev::Event joined = NewEvent(caller.org_id());
    joined.mutable_group_member_joined()->set_group_id(group.id());
    *joined.mutable_group_member_joined()->mutable_user() = me->ref;
    s = Commit(&batch, {created, joined});
    if (!s.ok()) return s;
  }
  return GroupView(group, caller.user_id());
}

absl::StatusOr<pb::Group> Feed::GetGroup(const Caller& caller, uint64_t group_id) {
  auto g = RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  return GroupView(*std::move(g), caller.user_id());
}

absl::StatusOr<pb::Group> Feed::UpdateGroup(const Caller& caller,
                                            const pb::UpdateGroupRequest& req) {
  if (req.update_mask().paths_size() == 0) return status::Required("update_mask");
  for (const auto& path : req.update_mask().paths()) {
    if (path != "name" && path != "description") {
      return absl::InvalidArgumentError(
          absl::StrCat("update_mask: unknown path \"", path, "\" (name, description)"));
    }
  }
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  std::lock_guard<std::mutex> lock(groups_mu_);
  auto g = RequireGroup(caller, req.group().id());
  if (!g.ok()) return g.status();
  absl::Status s = RequireGroupAdmin(caller, *g);
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
  ev::Event e = NewEvent(caller.org_id());
  *e.mutable_group_updated()->mutable_group() = RefOf(*g);
  e.mutable_group_updated()->set_description(g->description());
  e.mutable_group_updated()->set_archived(g->archived());
  s = Commit(&batch, {e});
  if (!s.ok()) return s;
  return GroupView(*std::move(g), caller.user_id());
}

absl::StatusOr<pb::Group> Feed::ArchiveGroup(const Caller& caller, uint64_t group_id) {
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  std::lock_guard<std::mutex> lock(groups_mu_);
  auto g = RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  if (!me->admin) {
    absl::Status s = RequireGroupAdmin(caller, *g);
    if (!s.ok()) return s;
  }
  if (!g->archived()) {
    g->set_archived(true);
    rocksdb::WriteBatch batch;
    batch.Put(groups_, Key1('g', g->id()), g->SerializeAsString());
    ev::Event e = NewEvent(caller.org_id());
    *e.mutable_group_updated()->mutable_group() = RefOf(*g);
    e.mutable_group_updated()->set_description(g->description());
    e.mutable_group_updated()->set_archived(true);
    absl::Status s = Commit(&batch, {e});
    if (!s.ok()) return s;
  }
  return GroupView(*std::move(g), caller.user_id());
}

absl::StatusOr<pb::Group> Feed::JoinGroup(const Caller& caller, uint64_t group_id) {
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  {
    std::lock_guard<std::mutex> lock(groups_mu_);
    auto g = RequireGroup(caller, group_id);
    if (!g.ok()) return g.status();
    const Membership m = GroupMembership(group_id, caller.user_id());
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

absl::Status Feed::RequestToJoinGroup(const Caller& caller, uint64_t group_id) {
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  std::lock_guard<std::mutex> lock(groups_mu_);
  auto g = RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  const Membership m = GroupMembership(group_id, caller.user_id());
  if (IsMember(m.state) || m.state == kRequested) return absl::OkStatus();
  if (g->privacy() == common::v1::GROUP_PRIVACY_PUBLIC) {
    return absl::FailedPreconditionError("a public group needs no approval: use JoinGroup");
  }
  if (g->archived()) return absl::FailedPreconditionError("the group is archived: nobody joins it");
  if (m.state == kInvited) return GrantMembership(*g, me->ref, m, kMember, {});
  rocksdb::WriteBatch batch;
  SetMembership(*g, caller.user_id(), m, kRequested, &batch);
  ev::Event e = NewEvent(caller.org_id());
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
  return Commit(&batch, {e});
}

absl::Status Feed::AnswerJoinRequest(const Caller& caller, uint64_t group_id, uint64_t user_id,
                                     bool approve) {
  if (user_id == 0) return status::Required("user_id");
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  std::lock_guard<std::mutex> lock(groups_mu_);
  auto g = RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  absl::Status s = RequireGroupAdmin(caller, *g);
  if (!s.ok()) return s;
  const Membership m = GroupMembership(group_id, user_id);
  if (m.state != kRequested) {
    return absl::NotFoundError(absl::StrCat("no pending request from user ", user_id));
  }
  if (!approve) {
    rocksdb::WriteBatch batch;
    SetMembership(*g, user_id, m, 0, &batch);
    return db_->Write(&batch);
  }
  if (g->archived()) return absl::FailedPreconditionError("the group is archived: nobody joins it");
  auto person = RequirePeer(caller, user_id);
  if (!person.ok()) return person.status();
  ev::Event e = NewEvent(caller.org_id());
  *e.mutable_group_join_approved()->mutable_group() = RefOf(*g);
  e.mutable_group_join_approved()->set_user_id(user_id);
  *e.mutable_group_join_approved()->mutable_approver() = me->ref;
  return GrantMembership(*g, person->ref, m, kMember, {e});
}

absl::Status Feed::InviteToGroup(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  if (user_id == caller.user_id()) {
    return absl::InvalidArgumentError("user_id: you cannot invite yourself");
  }
  auto target = RequirePeer(caller, user_id);
  if (!target.ok()) return target.status();
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  std::lock_guard<std::mutex> lock(groups_mu_);
  auto g = RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  const Membership mine = GroupMembership(group_id, caller.user_id());
  if (g->privacy() == common::v1::GROUP_PRIVACY_PRIVATE) {
    absl::Status s = RequireGroupAdmin(caller, *g);
    if (!s.ok()) return s;
  } else if (!IsMember(mine.state)) {
    return absl::PermissionDeniedError("only members invite to a group: join it first");
  }
  if (g->archived()) return absl::FailedPreconditionError("the group is archived: nobody joins it");
  const Membership theirs = GroupMembership(group_id, user_id);
  if (IsMember(theirs.state) || theirs.state == kInvited) return absl::OkStatus();
  if (theirs.state == kRequested) {
    // They asked already: inviting them lets them in, like an approval.
    return GrantMembership(*g, target->ref, theirs, kMember, {});
  }
  rocksdb::WriteBatch batch;
  SetMembership(*g, user_id, theirs, kInvited, &batch);
  ev::Event e = NewEvent(caller.org_id());
  *e.mutable_group_invited()->mutable_group() = RefOf(*g);
  *e.mutable_group_invited()->mutable_inviter() = me->ref;
  e.mutable_group_invited()->set_invitee_id(user_id);
  return Commit(&batch, {e});
}

absl::Status Feed::LeaveGroup(const Caller& caller, uint64_t group_id) {
  std::lock_guard<std::mutex> lock(groups_mu_);
  auto g = RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  const Membership m = GroupMembership(group_id, caller.user_id());
  if (m.state == 0) return absl::OkStatus();
  if (m.state == kAdmin) {
    auto admins = db_->Get(counters_, CounterKey(kAdminCount, group_id));
    if (!admins.ok()) return admins.status();
    const int64_t admin_count = admins->has_value() ? DecodeCounter(**admins) : 0;
    if (admin_count <= 1 && MemberCount(group_id) > 1) {
      return absl::FailedPreconditionError(
          "you are the group's only admin: promote another member before leaving");
    }
  }
  rocksdb::WriteBatch batch;
  SetMembership(*g, caller.user_id(), m, 0, &batch);
  std::vector<ev::Event> events;
  if (IsMember(m.state)) {
    ev::Event e = NewEvent(caller.org_id());
    e.mutable_group_member_left()->set_group_id(group_id);
    e.mutable_group_member_left()->set_user_id(caller.user_id());
    events.push_back(std::move(e));
  }
  return Commit(&batch, events);
}

absl::Status Feed::RemoveGroupMember(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  if (user_id == caller.user_id()) {
    return absl::InvalidArgumentError("user_id: to remove yourself, leave the group");
  }
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  std::lock_guard<std::mutex> lock(groups_mu_);
  auto g = RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  absl::Status s = RequireGroupAdmin(caller, *g);
  if (!s.ok()) return s;
  const Membership m = GroupMembership(group_id, user_id);
  if (m.state == 0) {
    return absl::NotFoundError(absl::StrCat("user ", user_id, " is not in group ", group_id));
  }
  rocksdb::WriteBatch batch;
  SetMembership(*g, user_id, m, 0, &batch);
  std::vector<ev::Event> events;
  if (IsMember(m.state)) {
    ev::Event e = NewEvent(caller.org_id());
    e.mutable_group_member_removed()->set_group_id(group_id);
    e.mutable_group_member_removed()->set_user_id(user_id);
    e.mutable_group_member_removed()->set_removed_by_user_id(caller.user_id());
    events.push_back(std::move(e));
  }
  return Commit(&batch, events);
}

absl::Status Feed::PromoteGroupMember(const Caller& caller, uint64_t group_id, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  std::lock_guard<std::mutex> lock(groups_mu_);
  auto g = RequireGroup(caller, group_id);
  if (!g.ok()) return g.status();
  absl::Status s = RequireGroupAdmin(caller, *g);
  if (!s.ok()) return s;
  const Membership m = GroupMembership(group_id, user_id);
  if (m.state == kAdmin) return absl::OkStatus();
  if (m.state != kMember) {
    return absl::NotFoundError(
        absl::StrCat("user ", user_id, " is not a member of group ", group_id));
  }
  rocksdb::WriteBatch batch;
  SetMembership(*g, user_id, m, kAdmin, &batch);
  return db_->Write(&batch);
}

absl::StatusOr<pb::ListGroupMembersResponse> Feed::ListGroupMembers(
    const Caller& caller, const pb::ListGroupMembersRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "m");
  if (!token.ok()) return token.status();
  auto g = RequireGroup(caller, req.group_id());
  if (!g.ok()) return g.status();
  char cls = kMember;
  switch (req.state()) {
    case pb::GROUP_MEMBER_STATE_UNSPECIFIED:
      if (!CanReadGroup(*g, GroupMembership(g->id(), caller.user_id()))) {
        return NotFoundGroup(g->id());
      }
      break;
    case pb::GROUP_MEMBER_STATE_INVITED:
    case pb::GROUP_MEMBER_STATE_REQUESTED: {
      absl::Status s = RequireGroupAdmin(caller, *g);
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
    m->set_state(StateOf(GroupMembership(g->id(), user).state));
    *m->mutable_update_time() = Ts(ids::TimeOf(order));
  }
  if (more && !rows.empty()) resp.set_next_page_token(EncodeToken('m', rows.back().first));
  return resp;
}

absl::StatusOr<pb::ListMyGroupsResponse> Feed::ListMyGroups(const Caller& caller,
                                                            const pb::ListMyGroupsRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "y");
  if (!token.ok()) return token.status();
  absl::Status local = RequireLocal(caller.user_id());
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
    if (ShardOfId(group) != options_.shards.self()) {
      remote[ShardOfId(group)].push_back(group);
      continue;
    }
    auto g = ReadGroup(group);
    if (!g.ok()) return g.status();
    if (g->has_value()) found[group] = GroupView(**g, caller.user_id());
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

absl::Status Feed::MuteGroup(const Caller& caller, uint64_t group_id, bool mute) {
  if (group_id == 0) return status::Required("group_id");
  absl::Status local = RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  rocksdb::WriteBatch batch;
  if (mute) {
    batch.Put(my_groups_, Key2('u', caller.user_id(), group_id), "");
  } else {
    batch.Delete(my_groups_, Key2('u', caller.user_id(), group_id));
  }
  return db_->Write(&batch);
}

absl::StatusOr<pb::ListGroupTimelineResponse> Feed::ListGroupTimeline(
    const Caller& caller, const pb::ListGroupTimelineRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "g");
  if (!token.ok()) return token.status();
  auto g = RequireGroup(caller, req.group_id());
  if (!g.ok()) return g.status();
  if (!CanReadGroup(*g, GroupMembership(g->id(), caller.user_id()))) return NotFoundGroup(g->id());
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  pb::ListGroupTimelineResponse resp;
  auto next = FillPage(
      *viewer, token->cursor, *size,
      [&](uint64_t before, size_t n) {
        std::vector<uint64_t> ids;
        for (const auto& [id, author] : GroupPostIds(g->id(), before, n)) ids.push_back(id);
        return ids;
      },
      resp.mutable_posts());
  if (!next.ok()) return next.status();
  if (*next != 0) resp.set_next_page_token(EncodeToken('g', *next));
  return resp;
}

absl::StatusOr<pb::GetGroupsResponse> Feed::GetGroups(const pb::GetGroupsRequest& req) {
  if (static_cast<size_t>(req.group_ids_size()) > kMaxGetGroups) {
    return status::TooMany("group_ids", req.group_ids_size(), kMaxGetGroups);
  }
  pb::GetGroupsResponse resp;
  for (uint64_t id : req.group_ids()) {
    if (ShardOfId(id) != options_.shards.self()) {
      return absl::InvalidArgumentError(absl::StrCat("group ", id, " is not homed on this shard"));
    }
    auto g = ReadGroup(id);
    if (!g.ok()) return g.status();
    if (g->has_value()) *resp.add_groups() = GroupView(**g, req.viewer_user_id());
  }
  return resp;
}

absl::StatusOr<pb::CountUserGroupsResponse> Feed::CountUserGroups(
    const pb::CountUserGroupsRequest& req) {
  absl::Status local = RequireLocal(req.user_id());
  if (!local.ok()) return local;
  pb::CountUserGroupsResponse resp;
  resp.set_group_count(UserGroupCount(req.user_id()));
  return resp;
}

// ---------------------------------------------------------------------------
// Questions

absl::StatusOr<pb::Post> Feed::AcceptAnswer(const Caller& caller,
                                            const pb::AcceptAnswerRequest& req) {
  if (req.post_id() == 0) return status::Required("post_id");
  if (req.comment_id() == 0) return status::Required("comment_id");
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  auto readable = Hydrate(*viewer, {req.post_id()});
  if (!readable.ok()) return readable.status();
  if (readable->empty()) return NotFoundPost(req.post_id());
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  {
    std::lock_guard<std::mutex> lock(like_mu_);  // no comment delete in between
    auto record = ReadPost(req.post_id());
    if (!record.ok()) return record.status();
    if (!record->has_value()) return NotFoundPost(req.post_id());
    pb::Post post = **std::move(record);
    if (post.kind() != common::v1::POST_KIND_QUESTION) {
      return absl::FailedPreconditionError(
          absl::StrCat("post ", post.id(), " is not a question: only questions have answers"));
    }
    const uint64_t group = post.group().id();
    if (post.author().id() != caller.user_id() &&
        !(group != 0 && GroupMembership(group, caller.user_id()).state == kAdmin)) {
      return absl::PermissionDeniedError(
          "only the question's author (or a group admin, in a group) accepts an answer");
    }
    auto v = db_->Get(comments_, U64Key(req.comment_id()));
    if (!v.ok()) return v.status();
    pb::Comment comment;
    if (!v->has_value() || !comment.ParseFromString(**v) || comment.post_id() != post.id()) {
      return absl::NotFoundError(
          absl::StrCat("comment ", req.comment_id(), " is not on post ", post.id()));
    }
    const uint64_t previous = post.accepted_comment_id();
    if (previous != comment.id()) {
      post.set_accepted_comment_id(comment.id());
      rocksdb::WriteBatch batch;
      batch.Put(posts_, U64Key(post.id()), post.SerializeAsString());
      // Insights count a question answered once, at its first acceptance.
      auto first = db_->Get(meta_, Key1('a', post.id()));
      if (!first.ok()) return first.status();
      if (!first->has_value()) {
        const absl::Time asked = ToTime(post.create_time());
        const absl::Duration waited = std::max(absl::ZeroDuration(), absl::Now() - asked);
        batch.Put(meta_, Key1('a', post.id()), "");
        CountInsight(post.org_id(), group, asked, 'a', std::nullopt, &batch);
        CountInsight(post.org_id(), group, asked, 'T',
                     static_cast<uint64_t>(absl::ToInt64Milliseconds(waited)), &batch);
      }
      ev::Event e = NewEvent(post.org_id());
      auto* a = e.mutable_answer_accepted();
      a->set_post_id(post.id());
      a->set_comment_id(comment.id());
      a->set_previous_comment_id(previous);
      a->set_question_author_id(post.author().id());
      a->set_answer_author_id(comment.author().id());
      *a->mutable_accepted_by() = me->ref;
      a->set_group_id(group);
      *a->mutable_question_create_time() = post.create_time();
      absl::Status s = Commit(&batch, {e});
      if (!s.ok()) return s;
    }
  }
  auto posts = Hydrate(*viewer, {req.post_id()});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(req.post_id());
  return std::move((*posts)[0]);
}

// A page of a question index (`prefix`: 'o' author or 'g' group), newest
// first, without the answered ones. Reads at most kMaxQuestionScan entries.
template <typename Response>
absl::StatusOr<Response> Feed::QuestionPage(const Viewer& viewer, const std::string& prefix,
                                            const std::string& page_token, int32_t page_size) {
  auto size = PageSize(page_size);
  if (!size.ok()) return size.status();
  auto token = DecodeToken(page_token, "q");
  if (!token.ok()) return token.status();
  Response resp;
  std::string start = prefix;
  if (token->cursor != 0) AppendDescU64(&start, token->cursor - 1);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, questions_));
  it->Seek(start);
  uint64_t cursor = 0;
  size_t scanned = 0;
  bool more = false;
  while (resp.posts_size() < *size) {
    std::vector<uint64_t> ids;
    const size_t want = static_cast<size_t>(*size - resp.posts_size());
    for (; it->Valid() && it->key().starts_with(prefix) && ids.size() < want; it->Next()) {
      ids.push_back(DecodeDescU64(absl::string_view(it->key().data() + prefix.size(), 8)));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "questions");
    if (ids.empty()) break;
    scanned += ids.size();
    cursor = ids.back();
    auto posts = Hydrate(viewer, ids);
    if (!posts.ok()) return posts.status();
    for (auto& p : *posts) {
      if (p.kind() == common::v1::POST_KIND_QUESTION && p.accepted_comment_id() == 0) {
        *resp.add_posts() = std::move(p);
      }
    }
    more = it->Valid() && it->key().starts_with(prefix);
    if (!more || scanned >= kMaxQuestionScan) break;
  }
  if (more && cursor != 0) resp.set_next_page_token(EncodeToken('q', cursor));
  return resp;
}

absl::StatusOr<pb::ListMyOpenQuestionsResponse> Feed::ListMyOpenQuestions(
    const Caller& caller, const pb::ListMyOpenQuestionsRequest& req) {
  absl::Status local = RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  return QuestionPage<pb::ListMyOpenQuestionsResponse>(*viewer, Key1('o', caller.user_id()),
                                                       req.page_token(), req.page_size());
}

absl::StatusOr<pb::ListGroupUnansweredQuestionsResponse> Feed::ListGroupUnansweredQuestions(
    const Caller& caller, const pb::ListGroupUnansweredQuestionsRequest& req) {
  auto g = RequireGroup(caller, req.group_id());
  if (!g.ok()) return g.status();
  if (!CanReadGroup(*g, GroupMembership(g->id(), caller.user_id()))) return NotFoundGroup(g->id());
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  return QuestionPage<pb::ListGroupUnansweredQuestionsResponse>(*viewer, Key1('g', g->id()),
                                                                req.page_token(), req.page_size());
}

// ---------------------------------------------------------------------------
// Insights

void Feed::CountInsight(uint64_t org_id, uint64_t group_id, absl::Time when, char kind,
                        std::optional<uint64_t> key, rocksdb::WriteBatch* batch) {
  const int64_t day = DayOf(when);
  // Org scope always; group scope too for group content.
  auto add = [&](uint64_t group) {
    std::string k = InsightScope(org_id, group);
    AppendU64(&k, static_cast<uint64_t>(day));
    k.push_back(kind);
    if (key.has_value()) AppendU64(&k, *key);
    batch->Merge(counters_, k, EncodeCounter(1));
  };
  add(0);
  if (group_id != 0) add(group_id);
}

absl::StatusOr<pb::GetInsightCountersResponse> Feed::GetInsightCounters(
    const pb::GetInsightCountersRequest& req) {
  if (req.org_id() == 0) return status::Required("org_id");
  if (req.last_day() < req.first_day() || req.last_day() - req.first_day() >= kMaxInsightDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("first_day..last_day: 1 to ", kMaxInsightDays, " days"));
  }
  const std::string scope = InsightScope(req.org_id(), req.group_id());
  std::string start = scope, end = scope;
  AppendU64(&start, static_cast<uint64_t>(req.first_day()));
  AppendU64(&end, static_cast<uint64_t>(req.last_day() + 1));
  pb::GetInsightCountersResponse resp;
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, counters_));
  for (it->Seek(start); it->Valid() && it->key().compare(end) < 0; it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (key.size() < scope.size() + 9) continue;
    const char kind = key[scope.size() + 8];
    const absl::string_view rest = key.substr(scope.size() + 9);
    const int64_t raw = DecodeCounter(absl::string_view(it->value().data(), it->value().size()));
    const uint64_t n = static_cast<uint64_t>(std::max<int64_t>(0, raw));
    const uint64_t sub = rest.size() == 8 ? DecodeU64(rest) : 0;
    switch (kind) {
      case 'p':
        resp.set_post_count(resp.post_count() + n);
        break;
      case 'c':
        resp.set_comment_count(resp.comment_count() + n);
        break;
      case 'q':
        resp.set_question_count(resp.question_count() + n);
        break;
      case 'a':
        resp.set_answered_count(resp.answered_count() + n);
        break;
      case 'P':
        (*resp.mutable_posts_by_user())[sub] += n;
        break;
      case 'R':
        (*resp.mutable_posts_by_reach())[sub] += n;
        break;
      case 'T':
        (*resp.mutable_answers_by_millis())[sub] += n;
        break;
      default:
        break;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "insight counters");
  return resp;
}

absl::StatusOr<pb::ParticipationInsights> Feed::GetParticipationInsights(
    const Caller& caller, const pb::GetParticipationInsightsRequest& req) {
  // The window: whole UTC days, rounded outwards.
  const absl::Time now = absl::Now();
  const bool has_start = req.has_start_time(), has_end = req.has_end_time();
  const absl::Time end = has_end ? ToTime(req.end_time()) : now;
  int64_t last_day = DayOf(end);
  if (has_end && StartOfDay(last_day) == end) --last_day;  // midnight ends the day before
  int64_t first_day =
      has_start ? DayOf(ToTime(req.start_time())) : last_day - (kDefaultInsightDays - 1);
  if (has_start && has_end && ToTime(req.end_time()) < ToTime(req.start_time())) {
    return absl::InvalidArgumentError("end_time: before start_time");
  }
  if (last_day < first_day) last_day = first_day;
  if (last_day - first_day + 1 > kMaxInsightDays) {
    return absl::InvalidArgumentError(absl::StrCat(
        "start_time..end_time: ", last_day - first_day + 1, " days; at most ", kMaxInsightDays));
  }
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  if (req.group_id() == 0) {
    if (!me->admin) {
      return absl::PermissionDeniedError(
          "org insights are for org admins; group admins may "
          "read their group's with group_id");
    }
  } else {
    auto g = RequireGroup(caller, req.group_id());
    if (!g.ok()) return g.status();
    if (!me->admin) {
      absl::Status s = RequireGroupAdmin(caller, *g);
      if (!s.ok()) return s;
    }
  }
  // Every shard's counters for the scope, added up.
  pb::GetInsightCountersRequest creq;
  creq.set_org_id(caller.org_id());
  creq.set_group_id(req.group_id());
  creq.set_first_day(first_day);
  creq.set_last_day(last_day);
  pb::GetInsightCountersResponse sum;
  std::map<uint64_t, uint64_t> by_user, by_reach, by_millis;
  // This shard's counters, then every other shard's (asked all at once).
  std::vector<pb::GetInsightCountersResponse> parts;
  auto local = GetInsightCounters(creq);
  if (!local.ok()) return local.status();
  parts.push_back(*std::move(local));
  FeedPeers::ByShard<pb::GetInsightCountersRequest> counter_calls;
  for (int32_t shard = 0; shard < options_.shards.count(); ++shard) {
    if (shard != options_.shards.self()) counter_calls.emplace_back(shard, creq);
  }
  if (!counter_calls.empty()) {
    if (options_.peers == nullptr) return absl::InternalError("no peers for a sharded feed");
    auto remote = options_.peers->GetInsightCounters(counter_calls, PeerDeadline(caller.deadline));
    if (!remote.ok()) return remote.status();
    for (auto& part : *remote) parts.push_back(std::move(part));
  }
  for (const pb::GetInsightCountersResponse& part : parts) {
    sum.set_post_count(sum.post_count() + part.post_count());
    sum.set_comment_count(sum.comment_count() + part.comment_count());
    sum.set_question_count(sum.question_count() + part.question_count());
    sum.set_answered_count(sum.answered_count() + part.answered_count());
    for (const auto& [k, v] : part.posts_by_user()) by_user[k] += v;
    for (const auto& [k, v] : part.posts_by_reach()) by_reach[k] += v;
    for (const auto& [k, v] : part.answers_by_millis()) by_millis[k] += v;
  }

  pb::ParticipationInsights out;
  *out.mutable_start_time() = Ts(StartOfDay(first_day));
  *out.mutable_end_time() = Ts(StartOfDay(last_day + 1));
  const double days = static_cast<double>(last_day - first_day + 1);
  out.set_post_count(sum.post_count());
  out.set_comment_count(sum.comment_count());
  out.set_posts_per_day(static_cast<double>(sum.post_count()) / days);
  out.set_comments_per_day(static_cast<double>(sum.comment_count()) / days);
  std::vector<uint64_t> counts;
  for (const auto& [user, n] : by_user) {
    if (n > 0) counts.push_back(n);
  }
  std::sort(counts.begin(), counts.end());
  const size_t n = counts.size();
  out.set_active_posters(n);
  uint64_t total = 0;
  double weighted = 0;
  for (size_t i = 0; i < n; ++i) {
    total += counts[i];
    weighted += static_cast<double>(i + 1) * static_cast<double>(counts[i]);
  }
  if (n > 0 && total > 0) {
    const size_t top = static_cast<size_t>(std::ceil(0.15 * static_cast<double>(n)));
    uint64_t top_posts = 0;
    for (size_t i = n - top; i < n; ++i) top_posts += counts[i];
    out.set_top_posters_post_share(static_cast<double>(top_posts) / static_cast<double>(total));
    const double dn = static_cast<double>(n);
    out.set_post_gini_coefficient(2 * weighted / (dn * static_cast<double>(total)) - (dn + 1) / dn);
  }
  out.set_median_post_reach(Median(by_reach));
  out.set_question_count(sum.question_count());
  if (sum.question_count() > 0) {
    out.set_answered_question_rate(static_cast<double>(sum.answered_count()) /
                                   static_cast<double>(sum.question_count()));
  }
  const double median_ms = Median(by_millis);
  *out.mutable_median_time_to_answer() = google::protobuf::util::TimeUtil::MillisecondsToDuration(
      static_cast<int64_t>(std::llround(median_ms)));
  return out;
}

}  // namespace parley::feed
