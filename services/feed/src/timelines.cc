#include "feed/src/timelines.h"

#include <algorithm>
#include <map>
#include <queue>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/status/status.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Timelines::Timelines(FeedStore* store, HomeStore* homes, GraphStore* graph, GroupStore* memberships,
                     PostStore* post_store, Visibility* visibility)
    : FeedPart(store),
      homes_(homes),
      graph_(graph),
      memberships_(memberships),
      post_store_(post_store),
      visibility_(visibility),
      posts_(db_->Cf("posts")),
      meta_(db_->Cf("meta")) {}

pb::PullPostsRequest Timelines::PullRequest(uint64_t viewer, const std::vector<uint64_t>& authors,
                                            const std::vector<uint64_t>& groups, uint64_t before,
                                            size_t max) {
  pb::PullPostsRequest req;
  req.set_viewer_user_id(viewer);
  for (uint64_t a : authors) req.add_author_ids(a);
  for (uint64_t g : groups) req.add_group_ids(g);
  req.set_before_post_id(before);
  req.set_max_posts(static_cast<int32_t>(std::min<size_t>(max, kMaxPullPosts)));
  return req;
}

absl::StatusOr<std::vector<std::vector<pb::Post>>> Timelines::PullRemote(
    const FeedPeers::ByShard<pb::PullPostsRequest>& requests, absl::Time deadline) {
  std::vector<std::vector<pb::Post>> out(requests.size());
  if (requests.empty()) return out;
  if (options_.peers == nullptr) return absl::InternalError("no peers for a remote author");
  auto responses = options_.peers->PullPosts(requests, PeerDeadline(deadline));
  if (!responses.ok()) return responses.status();
  rocksdb::WriteBatch batch;
  for (size_t r = 0; r < responses->size(); ++r) {
    for (const auto& p : (*responses)[r].posts()) {
      if (store_->ShardOfId(p.id()) == options_.shards.self()) {
        // Homed here: the original is authoritative (a copy from another shard
        // lacks the accepted answer, and may outlive a delete).
        auto original = db_->Get(posts_, U64Key(p.id()));
        if (!original.ok()) return original.status();
        if (original->has_value()) out[r].push_back(p);
        continue;
      }
      batch.Put(posts_, U64Key(p.id()), p.SerializeAsString());
      out[r].push_back(p);
    }
  }
  absl::Status s = db_->Write(&batch);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<Candidate>> Timelines::NewestOf(uint64_t viewer, absl::Time deadline,
                                                           const std::vector<uint64_t>& authors,
                                                           const std::vector<uint64_t>& groups,
                                                           uint64_t before, size_t max,
                                                           bool* more) {
  std::vector<Candidate> out;  // newest first
  *more = false;
  // Sources homed here: a k-way merge, one seek per source and one per post
  // taken. A heap entry: (post id, author, group, whether the source is a group).
  using Head = std::tuple<uint64_t, uint64_t, uint64_t, bool>;
  std::priority_queue<Head> heap;
  std::map<int32_t, std::pair<std::vector<uint64_t>, std::vector<uint64_t>>> remote;
  auto next_of = [&](uint64_t source, bool is_group, uint64_t cursor) {
    if (is_group) {
      auto ids = memberships_->GroupPostIds(source, cursor, 1);
      if (!ids.empty()) heap.emplace(ids[0].first, ids[0].second, source, true);
    } else {
      auto ids = post_store_->AuthorPostIds(source, cursor, 1, /*skip_group_posts=*/true);
      if (!ids.empty()) heap.emplace(ids[0], source, 0, false);
    }
  };
  for (uint64_t a : authors) {
    if (!options_.shards.IsLocal(a)) {
      remote[options_.shards.ShardOf(a)].first.push_back(a);
      continue;
    }
    next_of(a, false, before);
  }
  for (uint64_t g : groups) {
    if (store_->ShardOfId(g) != options_.shards.self()) {
      remote[store_->ShardOfId(g)].second.push_back(g);
      continue;
    }
    next_of(g, true, before);
  }
  while (out.size() < max && !heap.empty()) {
    auto [id, author, group, is_group] = heap.top();
    heap.pop();
    out.push_back({id, author, group});
    next_of(is_group ? group : author, is_group, id);
  }
  if (!heap.empty()) *more = true;
  // Sources on other shards: one PullPosts per shard (per 1,000 sources), all
  // at once.
  FeedPeers::ByShard<pb::PullPostsRequest> pulls;
  std::vector<bool> pull_is_group;
  for (auto& [shard, lists] : remote) {
    for (bool is_group : {false, true}) {
      const std::vector<uint64_t>& list = is_group ? lists.second : lists.first;
      for (size_t start = 0; start < list.size(); start += kMaxPullAuthors) {
        std::vector<uint64_t> chunk(list.begin() + start,
                                    list.begin() + std::min(list.size(), start + kMaxPullAuthors));
        pulls.emplace_back(shard, is_group ? PullRequest(viewer, {}, chunk, before, max)
                                           : PullRequest(viewer, chunk, {}, before, max));
        pull_is_group.push_back(is_group);
      }
    }
  }
  auto pulled = PullRemote(pulls, deadline);
  if (!pulled.ok()) return pulled.status();
  for (size_t r = 0; r < pulled->size(); ++r) {
    const std::vector<pb::Post>& posts = (*pulled)[r];
    if (posts.size() >= max) *more = true;
    for (const auto& p : posts) {
      out.push_back({p.id(), p.author().id(), pull_is_group[r] ? p.group().id() : 0});
    }
  }
  // Newest first, one candidate per post (a group post may come through its
  // author too): the group's wins, since membership is what admits it.
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.id != b.id ? a.id > b.id : a.group > b.group;
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Candidate& a, const Candidate& b) { return a.id == b.id; }),
            out.end());
  if (out.size() > max) {
    out.resize(max);
    *more = true;
  }
  return out;
}

std::vector<uint64_t> Timelines::HeavyGroups(const Viewer& viewer) {
  std::vector<uint64_t> out;
  for (uint64_t g : viewer.groups) {
    if (viewer.muted_groups.contains(g)) continue;
    auto heavy = graph_->IsHeavyGroup(g);
    if (heavy.ok() && *heavy) out.push_back(g);
  }
  return out;
}

absl::Status Timelines::Backfill(uint64_t owner, uint64_t author) {
  const std::string marker = U64Key2('b', owner, author);
  auto pending = db_->Get(meta_, marker);
  if (!pending.ok()) return pending.status();
  if (!pending->has_value()) return absl::OkStatus();  // done already
  const std::string expected = **pending;
  auto heavy = graph_->IsHeavyAuthor(author);
  if (!heavy.ok()) return heavy.status();
  if (*heavy) return homes_->BackfillEntries(owner, marker, expected, {}, true);
  std::vector<std::array<uint64_t, 3>> entries;
  if (options_.shards.IsLocal(author)) {
    for (uint64_t id : post_store_->AuthorPostIds(author, 0, options_.follow_backfill, true)) {
      entries.push_back({id, author, 0});
    }
  } else {
    auto posts = PullRemote({{options_.shards.ShardOf(author),
                              PullRequest(owner, {author}, {}, 0, options_.follow_backfill)}},
                            absl::InfiniteFuture());
    if (!posts.ok()) return posts.status();
    for (const auto& p : (*posts)[0]) entries.push_back({p.id(), author, 0});
  }
  const bool complete = entries.size() < options_.follow_backfill;
  return homes_->BackfillEntries(owner, marker, expected, entries, complete);
}

absl::Status Timelines::BackfillGroup(uint64_t owner, uint64_t group) {
  const std::string marker = U64Key2('B', owner, group);
  auto pending = db_->Get(meta_, marker);
  if (!pending.ok()) return pending.status();
  if (!pending->has_value()) return absl::OkStatus();  // done already
  const std::string expected = **pending;
  auto heavy = graph_->IsHeavyGroup(group);
  if (!heavy.ok()) return heavy.status();
  if (*heavy) return homes_->BackfillEntries(owner, marker, expected, {}, true);
  std::vector<std::array<uint64_t, 3>> entries;
  if (store_->ShardOfId(group) == options_.shards.self()) {
    for (auto [id, author] : memberships_->GroupPostIds(group, 0, options_.follow_backfill)) {
      entries.push_back({id, author, group});
    }
  } else {
    auto posts = PullRemote(
        {{store_->ShardOfId(group), PullRequest(owner, {}, {group}, 0, options_.follow_backfill)}},
        absl::InfiniteFuture());
    if (!posts.ok()) return posts.status();
    for (const auto& p : (*posts)[0]) entries.push_back({p.id(), p.author().id(), group});
  }
  const bool complete = entries.size() < options_.follow_backfill;
  return homes_->BackfillEntries(owner, marker, expected, entries, complete);
}

// ---------------------------------------------------------------------------
// Timelines
absl::StatusOr<pb::ListUserTimelineResponse> Timelines::ListUserTimeline(
    const Caller& caller, const pb::ListUserTimelineRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "u");
  if (!token.ok()) return token.status();
  const uint64_t user = req.user_id() == 0 ? caller.user_id() : req.user_id();
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  viewer->own_private_groups_only = true;
  if (user != caller.user_id()) {
    auto peer = store_->RequirePeer(caller, user);
    if (!peer.ok()) return peer.status();
    if (viewer->blocked.contains(user)) {
      return absl::NotFoundError(absl::StrCat("user ", user, " not found"));
    }
  }
  pb::ListUserTimelineResponse resp;
  auto next = FillPage(
      *viewer, token->cursor, *size,
      [&](uint64_t before, size_t n) { return post_store_->AuthorPostIds(user, before, n); },
      resp.mutable_posts());
  if (!next.ok()) return next.status();
  if (*next != 0) resp.set_next_page_token(EncodeToken('u', *next));
  return resp;
}

// Posts the viewer may not see do not fill the page: read on until it is full
// or the source ends.
absl::StatusOr<uint64_t> Timelines::FillPage(
    const Viewer& viewer, uint64_t cursor, int32_t size,
    const std::function<std::vector<uint64_t>(uint64_t before, size_t n)>& source,
    google::protobuf::RepeatedPtrField<pb::Post>* posts) {
  while (posts->size() < size) {
    const size_t want = static_cast<size_t>(size - posts->size());
    std::vector<uint64_t> ids = source(cursor, want + 1);
    const bool more = ids.size() > want;
    if (more) ids.pop_back();
    if (ids.empty()) return 0;
    cursor = ids.back();
    auto page = visibility_->Hydrate(viewer, ids);
    if (!page.ok()) return page.status();
    for (auto& p : *page) *posts->Add() = std::move(p);
    if (!more) return 0;
  }
  return cursor;
}

absl::StatusOr<pb::ListHomeTimelineResponse> Timelines::ListHomeTimeline(
    const Caller& caller, const pb::ListHomeTimelineRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "hp");
  if (!token.ok()) return token.status();
  absl::Status local = store_->RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  auto viewer = visibility_->LoadViewer(caller, true);
  if (!viewer.ok()) return viewer.status();
  const uint64_t owner = caller.user_id();
  // The head's iterator first, then the horizon: a trim in between can only
  // raise the horizon, which is safe; the other order could skip the posts
  // the trim moved below it.
  std::unique_ptr<rocksdb::Iterator> it = homes_->NewIterator();
  const uint64_t horizon = homes_->Horizon(owner);
  const size_t want = static_cast<size_t>(*size);
  pb::ListHomeTimelineResponse resp;
  char mode = token->mode;
  uint64_t cursor = token->cursor;  // exclusive; 0: newest
  auto accept = [&](uint64_t author) {
    return !viewer->muted.contains(author) && !viewer->blocked.contains(author);
  };
  // Group posts show in the home timelines of the group's members who have
  // not muted it (whichever way they came: the group, or an author followed).
  auto take = [&](std::vector<uint64_t>& ids) -> absl::Status {
    auto posts = visibility_->Hydrate(*viewer, ids);
    if (!posts.ok()) return posts.status();
    for (auto& p : *posts) {
      const uint64_t g = p.group().id();
      if (g != 0 && (viewer->muted_groups.contains(g) ||
                     (!viewer->groups.contains(g) && p.author().id() != owner))) {
        continue;
      }
      *resp.add_posts() = std::move(p);
    }
    return absl::OkStatus();
  };

  if (mode == 'h') {
    // The materialized head (ids above the horizon), merged with the heavy
    // authors the reader follows and the large groups they belong to, whose
    // posts were not pushed.
    const std::vector<uint64_t> heavy = graph_->HeavyFollowees(owner);
    const std::vector<uint64_t> heavy_groups = HeavyGroups(*viewer);
    std::string prefix = U64Key(owner);
    while (resp.posts_size() < *size) {
      const size_t need = want - resp.posts_size();
      std::vector<Candidate> candidates;
      it->Seek(cursor == 0 ? prefix : DescKey(owner, cursor - 1));
      bool head_exhausted = true;
      for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
        const uint64_t id = DecodeDescU64(absl::string_view(it->key().data() + 8, 8));
        if (id <= horizon) break;
        if (candidates.size() == need) {
          head_exhausted = false;
          break;
        }
        auto [author, group] =
            ParseHomeValue(absl::string_view(it->value().data(), it->value().size()));
        candidates.push_back({id, author, group});
      }
      if (!it->status().ok()) return FromRocks(it->status(), "home");
      std::vector<uint64_t> heavy_accepted;
      for (uint64_t h : heavy) {
        if (accept(h)) heavy_accepted.push_back(h);
      }
      if (!heavy_accepted.empty() || !heavy_groups.empty()) {
        bool heavy_more = false;
        auto pulled = NewestOf(owner, viewer->deadline, heavy_accepted, heavy_groups, cursor, need,
                               &heavy_more);
        if (!pulled.ok()) return pulled.status();
        for (const Candidate& c : *pulled) {
          if (c.id > horizon) candidates.push_back(c);
        }
      }
      std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        return a.id != b.id ? a.id > b.id : a.group > b.group;
      });
      candidates.erase(
          std::unique(candidates.begin(), candidates.end(),
                      [](const Candidate& a, const Candidate& b) { return a.id == b.id; }),
          candidates.end());
      // A full set of candidates may have more behind it (a heavy author's
      // next post, or the head's): stay in head mode.
      if (candidates.size() >= need) head_exhausted = false;
      if (candidates.size() > need) candidates.resize(need);
      if (candidates.empty()) {
        mode = 'p';
        break;
      }
      // An entry written by a fan-out or backfill that raced an unfollow (or
      // leaving a group) must not bring the person (or group) back: keep
      // followed authors and the reader's groups only.
      std::vector<uint64_t> authors;
      for (const auto& c : candidates) authors.push_back(c.author);
      const absl::flat_hash_set<uint64_t> followed =
          graph_->FollowedAmong(owner, std::move(authors));
      std::vector<uint64_t> ids;
      for (const Candidate& c : candidates) {
        const bool source = c.group != 0 ? viewer->groups.contains(c.group) || c.author == owner
                                         : c.author == owner || followed.contains(c.author);
        if (accept(c.author) && source) ids.push_back(c.id);
      }
      cursor = candidates.back().id;
      absl::Status s = take(ids);
      if (!s.ok()) return s;
      if (head_exhausted && resp.posts_size() < *size) {
        mode = 'p';
        break;
      }
    }
    if (mode == 'p' && (cursor == 0 || cursor > horizon + 1)) cursor = horizon + 1;
  }

  bool more = resp.posts_size() == *size;
  if (mode == 'p' && resp.posts_size() < *size) {
    // Past the head: merge the followees' user timelines (and the reader's
    // own) with the timelines of the reader's groups.
    std::vector<uint64_t> authors;
    for (uint64_t a : graph_->Followees(owner)) {
      if (accept(a)) authors.push_back(a);
    }
    authors.push_back(owner);
    std::vector<uint64_t> groups;
    for (uint64_t g : viewer->groups) {
      if (!viewer->muted_groups.contains(g)) groups.push_back(g);
    }
    more = false;
    while (resp.posts_size() < *size) {
      bool source_more = false;
      auto candidates = NewestOf(owner, viewer->deadline, authors, groups, cursor,
                                 want - resp.posts_size(), &source_more);
      if (!candidates.ok()) return candidates.status();
      if (candidates->empty()) break;
      std::vector<uint64_t> ids;
      for (const Candidate& c : *candidates) {
        if (accept(c.author)) ids.push_back(c.id);
      }
      cursor = candidates->back().id;
      absl::Status s = take(ids);
      if (!s.ok()) return s;
      more = source_more;
      if (!source_more) break;
    }
  }
  if (more && cursor != 0) resp.set_next_page_token(EncodeToken(mode, cursor));
  return resp;
}

absl::StatusOr<pb::ListGroupTimelineResponse> Timelines::ListGroupTimeline(
    const Caller& caller, const pb::ListGroupTimelineRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "g");
  if (!token.ok()) return token.status();
  auto g = memberships_->RequireGroup(caller, req.group_id());
  if (!g.ok()) return g.status();
  if (!memberships_->CanReadGroup(*g, memberships_->GroupMembership(g->id(), caller.user_id())))
    return NotFoundGroup(g->id());
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  pb::ListGroupTimelineResponse resp;
  auto next = FillPage(
      *viewer, token->cursor, *size,
      [&](uint64_t before, size_t n) {
        std::vector<uint64_t> ids;
        for (const auto& [id, author] : memberships_->GroupPostIds(g->id(), before, n))
          ids.push_back(id);
        return ids;
      },
      resp.mutable_posts());
  if (!next.ok()) return next.status();
  if (*next != 0) resp.set_next_page_token(EncodeToken('g', *next));
  return resp;
}

absl::StatusOr<pb::PullPostsResponse> Timelines::PullPosts(const pb::PullPostsRequest& req) {
  if (req.viewer_user_id() == 0) return status::Required("viewer_user_id");
  if (static_cast<size_t>(req.author_ids_size()) > kMaxPullAuthors) {
    return status::TooMany("author_ids", req.author_ids_size(), kMaxPullAuthors);
  }
  if (static_cast<size_t>(req.group_ids_size()) > kMaxPullAuthors) {
    return status::TooMany("group_ids", req.group_ids_size(), kMaxPullAuthors);
  }
  std::vector<uint64_t> groups;
  for (uint64_t g : req.group_ids()) {
    if (store_->ShardOfId(g) != options_.shards.self()) {
      return absl::InvalidArgumentError(absl::StrCat("group ", g, " is not homed on this shard"));
    }
    groups.push_back(g);
  }
  if (req.max_posts() < 1 || req.max_posts() > static_cast<int32_t>(kMaxPullPosts)) {
    return status::OutOfRange("max_posts", req.max_posts(), 1, kMaxPullPosts);
  }
  std::vector<uint64_t> authors;
  for (uint64_t a : req.author_ids()) {
    if (!options_.shards.IsLocal(a)) {
      return absl::InvalidArgumentError(absl::StrCat("author ", a, " is not on this shard"));
    }
    authors.push_back(a);
  }
  auto person = directory_->GetOne(req.viewer_user_id());
  if (!person.ok()) return person.status();
  TokenClaims as_viewer;
  as_viewer.set_user_id(req.viewer_user_id());
  as_viewer.set_org_id(person->org_id);
  auto viewer = visibility_->LoadViewer(as_viewer, false);
  if (!viewer.ok()) return viewer.status();
  pb::PullPostsResponse resp;
  uint64_t cursor = req.before_post_id();
  const size_t max = static_cast<size_t>(req.max_posts());
  // Posts the viewer may not read do not count towards max_posts.
  while (static_cast<size_t>(resp.posts_size()) < max) {
    bool more = false;
    auto ids = NewestOf(req.viewer_user_id(), absl::InfiniteFuture(), authors, groups, cursor,
                        max - resp.posts_size(), &more);
    if (!ids.ok()) return ids.status();
    if (ids->empty()) break;
    cursor = ids->back().id;
    for (const Candidate& c : *ids) {
      auto post = post_store_->ReadPost(c.id);
      if (!post.ok()) return post.status();
      // Followers-only posts are left to the reader's shard, which knows
      // whom the viewer follows first (this shard learns it asynchronously).
      if (post->has_value() && visibility_->CanSee(*viewer, **post, /*assume_follows=*/true)) {
        *resp.add_posts() = std::move(**post);
      }
    }
    if (!more) break;
  }
  return resp;
}

}  // namespace parley::feed
