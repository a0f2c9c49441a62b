#include "feed/src/visibility.h"

#include <algorithm>
#include <map>

#include "feed/src/keys.h"
#include "parley/status/macros.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Visibility::Visibility(FeedStore* store, GraphStore* graph, GroupStore* memberships)
    : FeedPart(store),
      graph_(graph),
      memberships_(memberships),
      posts_(db_->Cf("posts")),
      counters_(db_->Cf("counters")),
      likes_(db_->Cf("likes")) {}

absl::StatusOr<Viewer> Visibility::LoadViewer(const Caller& caller, bool with_mutes) {
  Viewer v;
  v.id = caller.user_id();
  v.org_id = caller.org_id();
  v.deadline = caller.deadline;
  RETURN_IF_ERROR(graph_->LoadBlocksAndMutes(v.id, &v.blocked, with_mutes ? &v.muted : nullptr));
  if (options_.shards.IsLocal(v.id)) {
    RETURN_IF_ERROR(
        memberships_->LoadMyGroups(v.id, &v.groups, with_mutes ? &v.muted_groups : nullptr));
  }
  return v;
}

bool Visibility::CanSee(const Viewer& viewer, const pb::Post& post, bool assume_follows) {
  if (post.org_id() != viewer.org_id) return false;
  const uint64_t author = post.author().id();
  if (author == viewer.id) return true;
  if (viewer.blocked.contains(author)) return false;
  switch (post.visibility()) {
    case common::v1::VISIBILITY_ORG:
      return true;
    case common::v1::VISIBILITY_FOLLOWERS:
      return assume_follows || graph_->Follows(viewer.id, author);
    case common::v1::VISIBILITY_GROUP: {
      if (post.group().privacy() == common::v1::GROUP_PRIVACY_PUBLIC) return true;
      if (viewer.own_private_groups_only) return false;
      // Private: members only. The group's shard knows for sure; the viewer's
      // shard knows its half; elsewhere the reader's shard decides.
      const uint64_t group = post.group().id();
      if (store_->ShardOfId(group) == options_.shards.self()) {
        const char state = memberships_->GroupMembership(group, viewer.id).state;
        return state == 'm' || state == 'a';
      }
      if (options_.shards.IsLocal(viewer.id)) return viewer.groups.contains(group);
      return assume_follows;
    }
    default:
      return false;
  }
}

absl::StatusOr<std::vector<pb::Post>> Visibility::Hydrate(const Viewer& viewer,
                                                          const std::vector<uint64_t>& post_ids) {
  std::vector<pb::Post> out;
  if (post_ids.empty()) return out;
  std::vector<std::string> keys;
  keys.reserve(post_ids.size());
  for (uint64_t id : post_ids) keys.push_back(U64Key(id));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), posts_);
  auto statuses = db_->raw()->MultiGet({}, cfs, slices, &values);
  std::vector<uint64_t> authors;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;  // deleted since it was delivered
    if (!statuses[i].ok()) return FromRocks(statuses[i], "posts");
    pb::Post p;
    if (!p.ParseFromString(values[i])) return absl::DataLossError("post record");
    if (!CanSee(viewer, p)) continue;
    authors.push_back(p.author().id());
    out.push_back(std::move(p));
  }
  auto people = directory_->Get(authors);
  if (!people.ok()) return people.status();
  std::vector<pb::Post> visible;
  visible.reserve(out.size());
  for (auto& p : out) {
    auto it = people->find(p.author().id());
    if (it == people->end() || !it->second.active) continue;  // suspended or gone
    *p.mutable_author() = it->second.ref;
    visible.push_back(std::move(p));
  }
  // Counts and the viewer's liked flags: one MultiGet for posts homed here, one
  // GetPostCounts per other shard.
  std::vector<size_t> local;
  std::map<int32_t, std::vector<size_t>> remote;
  for (size_t i = 0; i < visible.size(); ++i) {
    int32_t shard = store_->ShardOfId(visible[i].id());
    if (shard == options_.shards.self()) {
      local.push_back(i);
    } else {
      remote[shard].push_back(i);
    }
  }
  std::vector<bool> keep(visible.size(), true);
  if (!local.empty()) {
    std::vector<std::string> ckeys;
    std::vector<rocksdb::ColumnFamilyHandle*> ccfs;
    for (size_t i : local) {
      ckeys.push_back(CounterKey(kPostLikes, visible[i].id()));
      ckeys.push_back(CounterKey(kPostComments, visible[i].id()));
      ckeys.push_back(LikeKey(kLikePost, visible[i].id(), viewer.id));
      ccfs.insert(ccfs.end(), {counters_, counters_, likes_});
    }
    std::vector<rocksdb::Slice> cslices(ckeys.begin(), ckeys.end());
    std::vector<std::string> cvalues;
    auto cstatuses = db_->raw()->MultiGet({}, ccfs, cslices, &cvalues);
    for (size_t n = 0; n < local.size(); ++n) {
      for (size_t k = 0; k < 3; ++k) {
        const auto& st = cstatuses[3 * n + k];
        if (!st.ok() && !st.IsNotFound()) return FromRocks(st, "counters");
      }
      auto count = [&](size_t k) -> uint64_t {
        if (!cstatuses[3 * n + k].ok()) return 0;
        return static_cast<uint64_t>(std::max<int64_t>(0, DecodeCounter(cvalues[3 * n + k])));
      };
      pb::Post& p = visible[local[n]];
      p.set_like_count(count(0));
      p.set_comment_count(count(1));
      p.set_viewer_has_liked(cstatuses[3 * n + 2].ok());
    }
  }
  FeedPeers::ByShard<pb::GetPostCountsRequest> count_calls;
  std::vector<const std::vector<size_t>*> count_indexes;
  for (auto& [shard, indexes] : remote) {
    if (options_.peers == nullptr || shard >= options_.shards.count()) {
      for (size_t i : indexes) keep[i] = false;
      continue;
    }
    pb::GetPostCountsRequest creq;
    creq.set_viewer_user_id(viewer.id);
    for (size_t i : indexes) creq.add_post_ids(visible[i].id());
    count_calls.emplace_back(shard, std::move(creq));
    count_indexes.push_back(&indexes);
  }
  if (!count_calls.empty()) {
    auto counts = options_.peers->GetPostCounts(count_calls, PeerDeadline(viewer.deadline));
    if (!counts.ok()) return counts.status();
    for (size_t call = 0; call < counts->size(); ++call) {
      absl::flat_hash_map<uint64_t, const pb::PostCounts*> by_id;
      for (const auto& c : (*counts)[call].counts()) by_id[c.post_id()] = &c;
      for (size_t i : *count_indexes[call]) {
        auto it = by_id.find(visible[i].id());
        if (it == by_id.end()) {
          keep[i] = false;  // deleted on its home shard
          continue;
        }
        visible[i].set_like_count(it->second->like_count());
        visible[i].set_comment_count(it->second->comment_count());
        visible[i].set_viewer_has_liked(it->second->viewer_has_liked());
        visible[i].set_accepted_comment_id(it->second->accepted_comment_id());
      }
    }
  }
  std::vector<pb::Post> result;
  result.reserve(visible.size());
  for (size_t i = 0; i < visible.size(); ++i) {
    if (keep[i]) result.push_back(std::move(visible[i]));
  }
  return result;
}

// ---------------------------------------------------------------------------
// Comments and likes
absl::Status Visibility::FillComments(const Viewer& viewer, std::vector<pb::Comment>* comments) {
  std::vector<uint64_t> authors;
  for (const auto& c : *comments) authors.push_back(c.author().id());
  auto people = directory_->Get(authors);
  if (!people.ok()) return people.status();
  std::vector<pb::Comment> kept;
  for (auto& c : *comments) {
    auto it = people->find(c.author().id());
    if (it == people->end() || !it->second.active || viewer.blocked.contains(c.author().id())) {
      continue;
    }
    *c.mutable_author() = it->second.ref;
    auto count = [&](char kind) -> uint64_t {
      auto v = db_->Get(counters_, CounterKey(kind, c.id()));
      return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
    };
    c.set_like_count(count(kCommentLikes));
    if (c.parent_comment_id() == 0) c.set_reply_count(count(kCommentReplies));
    auto liked = db_->Get(likes_, LikeKey(kLikeComment, c.id(), viewer.id));
    c.set_viewer_has_liked(liked.ok() && liked->has_value());
    kept.push_back(std::move(c));
  }
  *comments = std::move(kept);
  return absl::OkStatus();
}

}  // namespace parley::feed
