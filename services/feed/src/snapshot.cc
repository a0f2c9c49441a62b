#include "feed/src/snapshot.h"

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/events/events.h"
#include "parley/status/status.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Snapshot::Snapshot(FeedStore* store, GroupStore* memberships, PostStore* post_store)
    : FeedPart(store),
      memberships_(memberships),
      post_store_(post_store),
      groups_(db_->Cf("groups")),
      posts_(db_->Cf("posts")),
      comments_(db_->Cf("comments")),
      following_(db_->Cf("following")),
      blocks_(db_->Cf("blocks")) {}

// ---------------------------------------------------------------------------
// Snapshot
struct Snapshot::SnapshotReads {
  // Node maps: SnapshotRecord holds a pointer into them while it reads more.
  absl::node_hash_map<uint64_t, std::optional<pb::Group>> groups;
  absl::node_hash_map<uint64_t, std::optional<pb::Post>> posts;
  absl::flat_hash_map<uint64_t, uint64_t> comment_authors;
};

std::vector<Snapshot::SnapshotSection> Snapshot::SnapshotSections() const {
  // Every group before the memberships, every post before the comments.
  return {{'g', groups_, "g", 9},  {'m', groups_, "m", 17},   {'p', posts_, "", 8},
          {'c', comments_, "", 8}, {'f', following_, "", 16}, {'b', blocks_, "", 16}};
}

absl::Status Snapshot::SnapshotRecord(char section, absl::string_view key, absl::string_view value,
                                      SnapshotReads* reads, std::vector<ev::Event>* out) {
  const int32_t self = options_.shards.self();
  // Read once per page: a group has many members, a post many comments.
  auto group = [&](uint64_t id) -> absl::StatusOr<const pb::Group*> {
    auto [it, inserted] = reads->groups.try_emplace(id);
    if (inserted && store_->ShardOfId(id) == self) {
      auto g = memberships_->ReadGroup(id);
      if (!g.ok()) return g.status();
      it->second = *std::move(g);
    }
    return it->second.has_value() ? &*it->second : nullptr;
  };
  auto post = [&](uint64_t id) -> absl::StatusOr<const pb::Post*> {
    auto [it, inserted] = reads->posts.try_emplace(id);
    if (inserted && store_->ShardOfId(id) == self) {
      auto p = post_store_->ReadPost(id);
      if (!p.ok()) return p.status();
      it->second = *std::move(p);
    }
    return it->second.has_value() ? &*it->second : nullptr;
  };

  switch (section) {
    case 'g': {
      const uint64_t id = DecodeU64(key.substr(1));
      if (store_->ShardOfId(id) != self) return absl::OkStatus();
      pb::Group g;
      if (!g.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat("group ", id));
      }
      // The creator is not stored; their membership follows as GroupMemberJoined.
      ev::Event created = store_->NewEvent(g.org_id());
      *created.mutable_group_created()->mutable_group() = RefOf(g);
      created.mutable_group_created()->set_description(g.description());
      out->push_back(std::move(created));
      if (g.archived()) {
        ev::Event updated = store_->NewEvent(g.org_id());
        *updated.mutable_group_updated()->mutable_group() = RefOf(g);
        updated.mutable_group_updated()->set_description(g.description());
        updated.mutable_group_updated()->set_archived(true);
        out->push_back(std::move(updated));
      }
      return absl::OkStatus();
    }
    case 'm': {
      // Invitations and requests are not memberships.
      if (value.size() != 9 || (value[0] != 'm' && value[0] != 'a')) return absl::OkStatus();
      const uint64_t group_id = DecodeU64(key.substr(1, 8));
      auto g = group(group_id);
      if (!g.ok()) return g.status();
      if (*g == nullptr) return absl::OkStatus();
      ev::Event e = store_->NewEvent((*g)->org_id());
      e.mutable_group_member_joined()->set_group_id(group_id);
      e.mutable_group_member_joined()->mutable_user()->set_id(DecodeU64(key.substr(9, 8)));
      out->push_back(std::move(e));
      return absl::OkStatus();
    }
    case 'p': {
      const uint64_t id = DecodeU64(key);
      // A copy of another shard's post: that shard's snapshot has it.
      if (store_->ShardOfId(id) != self) return absl::OkStatus();
      pb::Post p;
      if (!p.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat("post ", id));
      }
      ev::Event e = store_->NewEvent(p.org_id());
      auto* pc = e.mutable_post_created();
      *pc = PostCreatedOf(p);
      if (p.group().id() != 0) {
        // The post keeps the group's name at posting time; the snapshot
        // tells the current one (a group post lives on its group's shard).
        auto g = group(p.group().id());
        if (!g.ok()) return g.status();
        *pc->mutable_group() = *g != nullptr ? RefOf(**g) : p.group();
      }
      out->push_back(std::move(e));
      return absl::OkStatus();
    }
    case 'c': {
      const uint64_t id = DecodeU64(key);
      pb::Comment c;
      if (!c.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat("comment ", id));
      }
      reads->comment_authors[id] = c.author().id();
      // Comments live with their post; deleting the post deletes them in the same batch.
      auto p = post(c.post_id());
      if (!p.ok()) return p.status();
      if (*p == nullptr) return absl::OkStatus();
      uint64_t parent_author = 0;
      if (c.parent_comment_id() != 0) {
        auto known = reads->comment_authors.find(c.parent_comment_id());
        if (known != reads->comment_authors.end()) {
          parent_author = known->second;
        } else {
          auto v = db_->Get(comments_, U64Key(c.parent_comment_id()));
          if (!v.ok()) return v.status();
          pb::Comment parent;
          if (v->has_value() && parent.ParseFromString(**v)) parent_author = parent.author().id();
        }
      }
      ev::Event e = store_->NewEvent((*p)->org_id());
      *e.mutable_comment_created() = CommentCreatedOf(c, **p, parent_author);
      out->push_back(std::move(e));
      return absl::OkStatus();
    }
    case 'f': {
      // The follower's shard tells each edge once; the followee's half is a copy.
      const uint64_t follower = DecodeU64(key);
      if (!options_.shards.IsLocal(follower)) return absl::OkStatus();
      ev::Event e = store_->NewEvent(0);  // org: FillSnapshotPeople
      e.mutable_followed()->mutable_follower()->set_id(follower);
      e.mutable_followed()->mutable_followee()->set_id(DecodeU64(key.substr(8)));
      out->push_back(std::move(e));
      return absl::OkStatus();
    }
    case 'b': {
      // Block records are on every shard and on both sides: the blocker's
      // side, on the blocker's shard, tells each block once.
      const uint64_t blocker = DecodeU64(key);
      const uint8_t flags = value.empty() ? 0 : static_cast<uint8_t>(value[0]);
      if (!(flags & kIBlocked) || !options_.shards.IsLocal(blocker)) return absl::OkStatus();
      ev::Event e = store_->NewEvent(0);  // org: FillSnapshotPeople
      e.mutable_blocked()->set_blocker_id(blocker);
      e.mutable_blocked()->set_blocked_user_id(DecodeU64(key.substr(8)));
      out->push_back(std::move(e));
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(
          absl::StrCat("unknown snapshot section '", std::string(1, section), "'"));
  }
}

absl::Status Snapshot::FillSnapshotPeople(google::protobuf::RepeatedPtrField<ev::Event>* events) {
  std::vector<uint64_t> ids;
  for (const auto& e : *events) {
    if (e.has_followed()) {
      ids.push_back(e.followed().follower().id());
      ids.push_back(e.followed().followee().id());
    } else if (e.has_blocked()) {
      ids.push_back(e.blocked().blocker_id());
    } else if (e.has_group_member_joined()) {
      ids.push_back(e.group_member_joined().user().id());
    }
  }
  if (ids.empty()) return absl::OkStatus();
  auto people = directory_->Get(ids);
  if (!people.ok()) return people.status();
  auto find = [&](uint64_t id) -> const Person* {
    auto it = people->find(id);
    return it == people->end() ? nullptr : &it->second;
  };
  google::protobuf::RepeatedPtrField<ev::Event> kept;
  for (auto& e : *events) {
    if (e.has_followed()) {
      const Person* follower = find(e.followed().follower().id());
      const Person* followee = find(e.followed().followee().id());
      // Identity forgets only declined registrations, who never follow: an
      // edge to someone it does not know is dropped rather than half told.
      if (follower == nullptr || followee == nullptr) continue;
      *e.mutable_followed()->mutable_follower() = follower->ref;
      *e.mutable_followed()->mutable_followee() = followee->ref;
      e.set_org_id(follower->org_id);
    } else if (e.has_blocked()) {
      const Person* blocker = find(e.blocked().blocker_id());
      if (blocker == nullptr) continue;
      e.set_org_id(blocker->org_id);
    } else if (e.has_group_member_joined()) {
      // The group gives the org; a person identity does not know keeps their id.
      if (const Person* member = find(e.group_member_joined().user().id())) {
        *e.mutable_group_member_joined()->mutable_user() = member->ref;
      }
    }
    *kept.Add() = std::move(e);
  }
  *events = std::move(kept);
  return absl::OkStatus();
}

absl::StatusOr<pb::ListSnapshotEventsResponse> Snapshot::ListSnapshotEvents(
    const pb::ListSnapshotEventsRequest& req) {
  const int32_t page_size = req.page_size() == 0 ? kDefaultSnapshotPageSize : req.page_size();
  if (page_size < 1 || page_size > kMaxSnapshotPageSize) {
    return status::OutOfRange("page_size", req.page_size(), 1, kMaxSnapshotPageSize);
  }
  const std::vector<SnapshotSection> sections = SnapshotSections();
  size_t section = 0;
  SnapshotToken at;
  if (req.page_token().empty()) {
    // Taken before anything is read, so every event up to it is reflected in
    // the pages; later ones may be too (they are upserts, applied again).
    at.section = sections[0].tag;
    at.snapshot_sequence = store_->outbox()->CommittedThrough();
  } else {
    auto token = DecodeSnapshotToken(req.page_token());
    if (!token.ok()) return token.status();
    at = *std::move(token);
    while (section < sections.size() && sections[section].tag != at.section) ++section;
    if (section == sections.size() ||
        (!at.key.empty() && at.key.size() != sections[section].key_size)) {
      return BadSnapshotToken();
    }
  }
  pb::ListSnapshotEventsResponse resp;
  resp.set_snapshot_sequence(at.snapshot_sequence);
  SnapshotReads reads;
  std::vector<ev::Event> events;
  size_t scanned = 0;
  bool more = false;
  for (; section < sections.size() && !more; ++section) {
    const SnapshotSection& s = sections[section];
    if (s.tag != at.section) at = {s.tag, at.snapshot_sequence, 0, ""};
    rocksdb::ReadOptions read;
    // Whole families, across the prefixes their bloom filters are built on.
    read.total_order_seek = true;
    const std::string upper = PrefixSuccessor(s.prefix);
    rocksdb::Slice upper_slice(upper);
    if (!s.prefix.empty()) read.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator(read, s.cf));
    for (it->Seek(at.key.empty() ? s.prefix : at.key); it->Valid(); it->Next()) {
      if (resp.events_size() == page_size || scanned == kMaxSnapshotScan) {
        more = true;
        break;
      }
      ++scanned;
      const absl::string_view key(it->key().data(), it->key().size());
      if (key.size() != s.key_size) {
        return absl::DataLossError(absl::StrCat("snapshot: a key of ", key.size(),
                                                " bytes in section '", std::string(1, s.tag), "'"));
      }
      events.clear();
      absl::Status st = SnapshotRecord(
          s.tag, key, absl::string_view(it->value().data(), it->value().size()), &reads, &events);
      if (!st.ok()) return st;
      // The record the token names: its first `emitted` events were on the
      // previous page (a group and its archived state may straddle pages).
      const size_t first = key == at.key ? std::min<size_t>(at.emitted, events.size()) : 0;
      const size_t n =
          std::min(events.size() - first, static_cast<size_t>(page_size - resp.events_size()));
      for (size_t i = first; i < first + n; ++i) *resp.add_events() = std::move(events[i]);
      at.key = std::string(key);
      at.emitted = static_cast<uint8_t>(first + n);
      if (first + n < events.size()) {
        more = true;
        break;
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "snapshot");
  }
  absl::Status filled = FillSnapshotPeople(resp.mutable_events());
  if (!filled.ok()) return filled;
  for (auto& e : *resp.mutable_events()) e.set_producer(store_->outbox()->producer_id());
  if (more) resp.set_next_page_token(EncodeSnapshotToken(at));
  return resp;
}

}  // namespace parley::feed
