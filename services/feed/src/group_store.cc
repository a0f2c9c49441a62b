#include "feed/src/group_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/status/status.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

GroupStore::GroupStore(FeedStore* store, HomeStore* homes)
    : FeedPart(store),
      homes_(homes),
      groups_(db_->Cf("groups")),
      my_groups_(db_->Cf("my_groups")),
      counters_(db_->Cf("counters")),
      meta_(db_->Cf("meta")) {}

// ---------------------------------------------------------------------------
// Records
absl::StatusOr<std::optional<pb::Group>> GroupStore::ReadGroup(uint64_t group_id) {
  auto v = db_->Get(groups_, Key1('g', group_id));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<pb::Group>();
  pb::Group g;
  if (!g.ParseFromString(**v)) return absl::DataLossError(absl::StrCat("group ", group_id));
  return std::optional<pb::Group>(std::move(g));
}

absl::StatusOr<pb::Group> GroupStore::RequireGroup(const Caller& caller, uint64_t group_id) {
  if (group_id == 0) return status::Required("group_id");
  if (store_->ShardOfId(group_id) != options_.shards.self()) return NotFoundGroup(group_id);
  auto g = ReadGroup(group_id);
  if (!g.ok()) return g.status();
  if (!g->has_value() || (*g)->org_id() != caller.org_id()) return NotFoundGroup(group_id);
  return **std::move(g);
}

Membership GroupStore::GroupMembership(uint64_t group, uint64_t user) {
  Membership m;
  auto v = db_->Get(groups_, Key2('m', group, user));
  if (v.ok() && v->has_value() && (*v)->size() == 9) {
    m.state = (**v)[0];
    m.order = DecodeU64(absl::string_view(**v).substr(1));
  }
  return m;
}

bool GroupStore::CanReadGroup(const pb::Group& group, const Membership& m) const {
  return group.privacy() == common::v1::GROUP_PRIVACY_PUBLIC || IsMember(m.state);
}

uint64_t GroupStore::MemberCount(uint64_t group) {
  auto v = db_->Get(counters_, CounterKey(kMemberCount, group));
  return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
}

uint64_t GroupStore::UserGroupCount(uint64_t user) {
  auto v = db_->Get(counters_, CounterKey(kUserGroupCount, user));
  return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
}

absl::StatusOr<uint64_t> GroupStore::RemoteUserGroupCount(uint64_t user, absl::Time deadline) {
  if (options_.peers == nullptr) return absl::InternalError("no peers for a remote person");
  pb::CountUserGroupsRequest req;
  req.set_user_id(user);
  auto resp =
      options_.peers->CountUserGroups({{options_.shards.ShardOf(user), std::move(req)}}, deadline);
  if (!resp.ok()) return resp.status();
  return (*resp)[0].group_count();
}

pb::Group GroupStore::GroupView(pb::Group group, uint64_t viewer_id) {
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

absl::Status GroupStore::CheckGroupLimit(uint64_t user) {
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

void GroupStore::SetMembership(const pb::Group& group, uint64_t user, const Membership& before,
                               char state, rocksdb::WriteBatch* batch) {
  const uint64_t g = group.id();
  if (before.state == state) return;
  // A promotion keeps its place in the member list; anything else moves to the top.
  const bool same_class =
      before.state != 0 && state != 0 && ClassOf(before.state) == ClassOf(state);
  const uint64_t order = same_class ? before.order : store_->ids().Next();
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

void GroupStore::ApplyMemberHalf(uint64_t user, uint64_t group, bool add,
                                 rocksdb::WriteBatch* batch) {
  auto v = db_->Get(my_groups_, Key2('m', user, group));
  const bool present = v.ok() && v->has_value() && (*v)->size() == 8;
  if (add == present) return;
  if (add) {
    const uint64_t order = store_->ids().Next();
    batch->Put(my_groups_, Key2('m', user, group), U64Value(order));
    batch->Put(my_groups_, MyGroupIdx(user, order, group), "");
    // The group's recent posts join the member's home timeline (catch-up thread).
    batch->Put(meta_, U64Key2('B', user, group), U64Value(order));
  } else {
    batch->Delete(my_groups_, Key2('m', user, group));
    batch->Delete(my_groups_, MyGroupIdx(user, DecodeU64(**v), group));
    batch->Delete(meta_, U64Key2('B', user, group));
    homes_->RemoveGroupFromHome(user, group, batch);
  }
  batch->Merge(counters_, CounterKey(kUserGroupCount, user), EncodeCounter(add ? 1 : -1));
}

bool GroupStore::IsGroupMemberHere(uint64_t user, uint64_t group) {
  auto v = db_->Get(my_groups_, Key2('m', user, group));
  return v.ok() && v->has_value();
}

std::vector<std::pair<uint64_t, uint64_t>> GroupStore::GroupPostIds(uint64_t group, uint64_t before,
                                                                    size_t limit) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  const std::string prefix = Key1('p', group);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, groups_));
  it->Seek(before == 0 ? prefix : DescKey2('p', group, before - 1));
  for (; it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Next()) {
    out.emplace_back(DecodeDescU64(absl::string_view(it->key().data() + 9, 8)),
                     DecodeU64(it->value().ToString()));
  }
  return out;
}

absl::Status GroupStore::ForEachMember(
    uint64_t group, const std::function<absl::Status(std::vector<uint64_t>&)>& chunk) {
  std::string prefix = Key1('x', group);
  prefix.push_back('m');
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, groups_));
  std::vector<uint64_t> batch;
  batch.reserve(std::min<size_t>(options_.fanout_batch, 1024));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    batch.push_back(DecodeU64(absl::string_view(it->key().data() + prefix.size() + 8, 8)));
    if (batch.size() == options_.fanout_batch) {
      absl::Status s = chunk(batch);
      if (!s.ok()) return s;
      batch.clear();
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "group members");
  if (!batch.empty()) return chunk(batch);
  return absl::OkStatus();
}

absl::Status GroupStore::RequireGroupAdmin(const Caller& caller, const pb::Group& group) {
  const Membership m = GroupMembership(group.id(), caller.user_id());
  if (m.state == kAdmin) return absl::OkStatus();
  if (!CanReadGroup(group, m)) return NotFoundGroup(group.id());
  return absl::PermissionDeniedError("only the group's admins can do this");
}

absl::Status GroupStore::LoadMyGroups(uint64_t user, absl::flat_hash_set<uint64_t>* groups,
                                      absl::flat_hash_set<uint64_t>* muted) {
  // One iterator for both prefixes (creating one costs more than a seek).
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, my_groups_));
  auto scan = [&](char kind, absl::flat_hash_set<uint64_t>* out) -> absl::Status {
    const std::string prefix = Key1(kind, user);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != 17) return absl::DataLossError("my_groups: a key of the wrong size");
      out->insert(DecodeU64(absl::string_view(it->key().data() + 9, 8)));
    }
    return FromRocks(it->status(), "my_groups");
  };
  absl::Status s = scan('m', groups);
  if (s.ok() && muted != nullptr) s = scan('u', muted);
  return s;
}

}  // namespace parley::feed
