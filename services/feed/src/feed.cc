#include "feed/src/feed.h"

#include <algorithm>
#include <map>
#include <queue>
#include <set>

#include "absl/container/node_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "google/protobuf/util/time_util.h"
#include "parley/events/events.h"
#include "parley/log/log.h"
#include "parley/status/status.h"
#include "parley/storage/keys.h"
#include "parley/text/text.h"

namespace parley::feed {
using namespace internal;  // NOLINT: this file's own helpers

std::vector<std::string> Feed::ColumnFamilies() {
  return {"posts",         "user_posts", "home",     "following", "following_idx", "followers",
          "followers_idx", "blocks",     "mutes",    "comments",  "post_comments", "replies",
          "likes",         "counters",   "meta",     "heavy",     "applied",       "outbox",
          "groups",        "my_groups",  "questions"};
}

storage::DbOptions Feed::StorageOptions(std::string path) {
  storage::DbOptions o;
  o.path = std::move(path);
  o.column_families = ColumnFamilies();
  // my_groups keys start with a kind byte and the person: every read stays within those 9 bytes.
  o.prefix_bloom_lengths = {{"home", 8},   {"user_posts", 8}, {"followers", 8}, {"following", 8},
                            {"blocks", 8}, {"mutes", 8},      {"my_groups", 9}};
  // Fan-out scatters inserts over many owners; every read of "home" stays
  // within one owner's prefix (tools/bench/run fanout measures the gain).
  o.hash_memtable_families = {"home"};
  return o;
}

Feed::Feed(storage::Db* db, Directory* directory, FeedOptions options)
    : db_(db), directory_(directory), options_(std::move(options)) {
  posts_ = db->Cf("posts");
  user_posts_ = db->Cf("user_posts");
  home_ = db->Cf("home");
  following_ = db->Cf("following");
  following_idx_ = db->Cf("following_idx");
  followers_ = db->Cf("followers");
  followers_idx_ = db->Cf("followers_idx");
  blocks_ = db->Cf("blocks");
  mutes_ = db->Cf("mutes");
  comments_ = db->Cf("comments");
  post_comments_ = db->Cf("post_comments");
  replies_ = db->Cf("replies");
  likes_ = db->Cf("likes");
  counters_ = db->Cf("counters");
  meta_ = db->Cf("meta");
  heavy_ = db->Cf("heavy");
  groups_ = db->Cf("groups");
  my_groups_ = db->Cf("my_groups");
  questions_ = db->Cf("questions");
}

absl::StatusOr<std::unique_ptr<Feed>> Feed::Create(storage::Db* db, Directory* directory,
                                                   FeedOptions options) {
  if (options.home_head < 1) return absl::InvalidArgumentError("home_timeline_head must be ≥ 1");
  // Ids carry the shard in their node bits, so a post id names its home shard.
  auto generator = ids::IdGenerator::Create(static_cast<uint32_t>(options.shards.self()));
  if (!generator.ok()) return generator.status();
  std::unique_ptr<Feed> feed(new Feed(db, directory, std::move(options)));
  feed->ids_ = *std::move(generator);
  // Named after the shard, as consumers see it ("feed-0/<random>"); a data
  // directory keeps the producer id it was created with.
  auto outbox =
      storage::Outbox::Open(db, "outbox", absl::StrCat("feed-", feed->options_.shards.self()));
  if (!outbox.ok()) return outbox.status();
  feed->outbox_ = *std::move(outbox);
  feed->applied_ = std::make_unique<storage::AppliedSequences>(db, db->Cf("applied"));
  feed->StartCatchUp();
  // Never hand out an id at or below one already stored (clock stepped back
  // across a restart). "posts" also holds other shards' copies: advance past
  // their millisecond, but keep this shard's node bits.
  for (rocksdb::ColumnFamilyHandle* cf : {feed->posts_, feed->comments_}) {
    std::unique_ptr<rocksdb::Iterator> it(db->raw()->NewIterator({}, cf));
    it->SeekToLast();
    if (!it->Valid()) continue;
    const ids::IdParts last = ids::Split(DecodeU64(absl::string_view(it->key().data(), 8)));
    const uint64_t ceiling = (static_cast<uint64_t>(last.unix_millis - ids::kEpochUnixMillis)
                              << (ids::kNodeBits + ids::kSequenceBits)) |
                             (static_cast<uint64_t>(feed->ids_->node_id()) << ids::kSequenceBits) |
                             ids::kMaxSequence;
    feed->ids_->AdvancePast(ceiling);
  }
  return feed;
}

// ---------------------------------------------------------------------------
// Helpers

ev::Event Feed::NewEvent(uint64_t org_id) {
  ev::Event e;
  *e.mutable_create_time() = Ts(absl::Now());
  e.set_org_id(org_id);
  return e;
}

absl::Status Feed::Commit(rocksdb::WriteBatch* batch, const std::vector<ev::Event>& events) {
  std::vector<std::string> payloads;
  payloads.reserve(events.size());
  for (const auto& e : events) payloads.push_back(events::EncodeForOutbox(e));
  auto first = outbox_->Commit(batch, payloads);
  return first.ok() ? absl::OkStatus() : first.status();
}

absl::Status Feed::CheckRate(uint64_t user_id) {
  const absl::Time now = options_.now();
  const double capacity = options_.writes_per_minute;
  std::lock_guard<std::mutex> lock(rate_mu_);
  auto [it, inserted] = buckets_.try_emplace(user_id, Bucket{capacity, now});
  Bucket& b = it->second;
  if (!inserted) {
    b.tokens = std::min(capacity, b.tokens + absl::ToDoubleMinutes(now - b.updated) * capacity);
    b.updated = now;
  }
  if (b.tokens < 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rate limit: at most ", options_.writes_per_minute,
                     " posts and comments per person per minute; try again shortly"));
  }
  b.tokens -= 1;
  return absl::OkStatus();
}

absl::StatusOr<Feed::Viewer> Feed::LoadViewer(const Caller& caller, bool with_mutes) {
  Viewer v;
  v.id = caller.user_id();
  v.org_id = caller.org_id();
  v.deadline = caller.deadline;
  std::string prefix = U64Key(v.id);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, blocks_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    v.blocked.insert(DecodeU64(absl::string_view(it->key().data() + 8, 8)));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "blocks");
  if (with_mutes) {
    std::unique_ptr<rocksdb::Iterator> m(db_->raw()->NewIterator({}, mutes_));
    for (m->Seek(prefix); m->Valid() && m->key().starts_with(prefix); m->Next()) {
      v.muted.insert(DecodeU64(absl::string_view(m->key().data() + 8, 8)));
    }
    if (!m->status().ok()) return FromRocks(m->status(), "mutes");
  }
  if (options_.shards.IsLocal(v.id)) {
    // One iterator for both prefixes (creating one costs more than a seek).
    std::unique_ptr<rocksdb::Iterator> g(db_->raw()->NewIterator({}, my_groups_));
    auto scan = [&](char kind, absl::flat_hash_set<uint64_t>* out) -> absl::Status {
      const std::string p = Key1(kind, v.id);
      for (g->Seek(p); g->Valid() && g->key().starts_with(p); g->Next()) {
        out->insert(DecodeU64(absl::string_view(g->key().data() + 9, 8)));
      }
      return FromRocks(g->status(), "my_groups");
    };
    absl::Status s = scan('m', &v.groups);
    if (s.ok() && with_mutes) s = scan('u', &v.muted_groups);
    if (!s.ok()) return s;
  }
  return v;
}

// Another person the caller may act on: same org, active. Others are NOT_FOUND.
absl::StatusOr<Person> Feed::RequirePeer(const Caller& caller, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  auto person = directory_->GetOne(user_id);
  if (!person.ok()) return person.status();
  if (person->org_id != caller.org_id() || !person->active) {
    return absl::NotFoundError(absl::StrCat("user ", user_id, " not found"));
  }
  return person;
}

// The caller as identity knows them now: a suspended person's token keeps
// verifying until it expires, but they may not write.
absl::StatusOr<Person> Feed::RequireActiveSelf(const Caller& caller) {
  auto me = directory_->GetOne(caller.user_id());
  if (!me.ok()) return me.status();
  if (!me->active) return absl::PermissionDeniedError("your account is not active");
  return me;
}

bool Feed::Follows(uint64_t follower, uint64_t followee) {
  // The follower's shard has the following edge, the followee's the follower edge.
  auto v = options_.shards.IsLocal(follower) ? db_->Get(following_, U64Key(follower, followee))
                                             : db_->Get(followers_, U64Key(followee, follower));
  return v.ok() && v->has_value();
}

void Feed::EdgeHalves(uint64_t follower, uint64_t followee, uint64_t order, bool add,
                      rocksdb::WriteBatch* batch) {
  const int64_t delta = add ? 1 : -1;
  if (options_.shards.IsLocal(follower)) {
    if (add) {
      batch->Put(following_, U64Key(follower, followee), U64Value(order));
      batch->Put(following_idx_, IdxKey(follower, order, followee), "");
    } else {
      batch->Delete(following_, U64Key(follower, followee));
      batch->Delete(following_idx_, IdxKey(follower, order, followee));
      RemoveAuthorFromHome(follower, followee, batch);
    }
    batch->Merge(counters_, CounterKey(kFollowingCount, follower), EncodeCounter(delta));
  }
  if (options_.shards.IsLocal(followee)) {
    if (add) {
      batch->Put(followers_, U64Key(followee, follower), U64Value(order));
      batch->Put(followers_idx_, IdxKey(followee, order, follower), "");
    } else {
      batch->Delete(followers_, U64Key(followee, follower));
      batch->Delete(followers_idx_, IdxKey(followee, order, follower));
    }
    batch->Merge(counters_, CounterKey(kFollowerCount, followee), EncodeCounter(delta));
  }
}

// The follow order of an existing edge, read from whichever half is local.
std::optional<uint64_t> Feed::EdgeOrder(uint64_t follower, uint64_t followee) {
  auto v = options_.shards.IsLocal(follower) ? db_->Get(following_, U64Key(follower, followee))
                                             : db_->Get(followers_, U64Key(followee, follower));
  if (!v.ok() || !v->has_value() || (*v)->size() != 8) return std::nullopt;
  return DecodeU64(**v);
}

uint8_t Feed::BlockFlags(uint64_t a, uint64_t b) {
  auto v = db_->Get(blocks_, U64Key(a, b));
  return v.ok() && v->has_value() && !(*v)->empty() ? static_cast<uint8_t>((**v)[0]) : 0;
}

// Block records are kept on every shard (they are few, and any shard serving a
// post must know them); follow edges and home entries only where they live.
void Feed::ApplyBlock(uint64_t blocker, uint64_t blocked, bool block, rocksdb::WriteBatch* batch) {
  auto set = [&](uint64_t a, uint64_t b, uint8_t f) {
    if (f == 0) {
      batch->Delete(blocks_, U64Key(a, b));
    } else {
      batch->Put(blocks_, U64Key(a, b), std::string(1, static_cast<char>(f)));
    }
  };
  if (block) {
    set(blocker, blocked, BlockFlags(blocker, blocked) | kIBlocked);
    set(blocked, blocker, BlockFlags(blocked, blocker) | kBlockedMe);
    for (auto [follower, followee] : {std::pair{blocker, blocked}, std::pair{blocked, blocker}}) {
      auto order = EdgeOrder(follower, followee);
      // Removing the edge also drops the followee's posts from the follower's home.
      if (order.has_value()) EdgeHalves(follower, followee, *order, false, batch);
    }
  } else {
    set(blocker, blocked, BlockFlags(blocker, blocked) & ~kIBlocked);
    set(blocked, blocker, BlockFlags(blocked, blocker) & ~kBlockedMe);
  }
}

absl::StatusOr<std::optional<pb::Post>> Feed::ReadPost(uint64_t post_id) {
  auto v = db_->Get(posts_, U64Key(post_id));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<pb::Post>();
  pb::Post p;
  if (!p.ParseFromString(**v)) return absl::DataLossError(absl::StrCat("post ", post_id));
  return std::optional<pb::Post>(std::move(p));
}

bool Feed::CanSee(const Viewer& viewer, const pb::Post& post, bool assume_follows) {
  if (post.org_id() != viewer.org_id) return false;
  const uint64_t author = post.author().id();
  if (author == viewer.id) return true;
  if (viewer.blocked.contains(author)) return false;
  switch (post.visibility()) {
    case common::v1::VISIBILITY_ORG:
      return true;
    case common::v1::VISIBILITY_FOLLOWERS:
      return assume_follows || Follows(viewer.id, author);
    case common::v1::VISIBILITY_GROUP: {
      if (post.group().privacy() == common::v1::GROUP_PRIVACY_PUBLIC) return true;
      if (viewer.own_private_groups_only) return false;
      // Private: members only. The group's shard knows for sure; the viewer's
      // shard knows its half; elsewhere the reader's shard decides.
      const uint64_t group = post.group().id();
      if (ShardOfId(group) == options_.shards.self()) {
        const char state = GroupMembership(group, viewer.id).state;
        return state == 'm' || state == 'a';
      }
      if (options_.shards.IsLocal(viewer.id)) return viewer.groups.contains(group);
      return assume_follows;
    }
    default:
      return false;
  }
}

absl::StatusOr<std::vector<pb::Post>> Feed::Hydrate(const Viewer& viewer,
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
    int32_t shard = ShardOfId(visible[i].id());
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

absl::Status Feed::RequireLocal(uint64_t user_id) const {
  if (options_.shards.IsLocal(user_id)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("user ", user_id, " belongs to feed shard ",
                                                    options_.shards.ShardOf(user_id), ", not ",
                                                    options_.shards.self()));
}

int32_t Feed::ShardOfId(uint64_t id) const { return static_cast<int32_t>(ids::Split(id).node_id); }

pb::PullPostsRequest Feed::PullRequest(uint64_t viewer, const std::vector<uint64_t>& authors,
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

absl::StatusOr<std::vector<std::vector<pb::Post>>> Feed::PullRemote(
    const FeedPeers::ByShard<pb::PullPostsRequest>& requests, absl::Time deadline) {
  std::vector<std::vector<pb::Post>> out(requests.size());
  if (requests.empty()) return out;
  if (options_.peers == nullptr) return absl::InternalError("no peers for a remote author");
  auto responses = options_.peers->PullPosts(requests, PeerDeadline(deadline));
  if (!responses.ok()) return responses.status();
  rocksdb::WriteBatch batch;
  for (size_t r = 0; r < responses->size(); ++r) {
    for (const auto& p : (*responses)[r].posts()) {
      if (ShardOfId(p.id()) == options_.shards.self()) {
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

absl::StatusOr<std::vector<Feed::Candidate>> Feed::NewestOf(uint64_t viewer, absl::Time deadline,
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
      auto ids = GroupPostIds(source, cursor, 1);
      if (!ids.empty()) heap.emplace(ids[0].first, ids[0].second, source, true);
    } else {
      auto ids = AuthorPostIds(source, cursor, 1, /*skip_group_posts=*/true);
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
    if (ShardOfId(g) != options_.shards.self()) {
      remote[ShardOfId(g)].second.push_back(g);
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

absl::Status Feed::ParseBody(const Caller& caller, const std::string& body,
                             google::protobuf::RepeatedPtrField<common::v1::UserRef>* mentions,
                             google::protobuf::RepeatedPtrField<std::string>* hashtags) {
  auto length = text::Utf8Length(body);
  if (!length.has_value()) return absl::InvalidArgumentError("body: not valid UTF-8");
  if (*length == 0) return status::Required("body");
  if (*length > kMaxBodyChars) return status::TooLong("body", *length, kMaxBodyChars);
  std::vector<std::string> handles = text::ExtractMentions(body);
  if (handles.size() > kMaxMentions)
    return status::TooMany("mentions", handles.size(), kMaxMentions);
  if (hashtags != nullptr) {
    std::vector<std::string> tags = text::ExtractHashtags(body);
    if (tags.size() > kMaxHashtags) return status::TooMany("hashtags", tags.size(), kMaxHashtags);
    for (auto& t : tags) {
      if (t.size() > kMaxHashtagChars)
        return status::TooLong("hashtag", t.size(), kMaxHashtagChars);
      hashtags->Add(std::move(t));
    }
  }
  // Handles of another domain stay text (partners' people arrive with federation).
  std::vector<std::string> local;
  for (auto& h : handles) {
    auto at = h.find('@');
    if (at == std::string::npos || h.substr(at + 1) == caller.org_domain()) local.push_back(h);
  }
  auto resolved = directory_->Resolve(caller.org_id(), local);
  if (!resolved.ok()) return resolved.status();
  for (const auto& p : *resolved) *mentions->Add() = p.ref;
  return absl::OkStatus();
}

// A private group's content mentions (and so notifies) its members only: a
// mention must not tell anyone else that the post exists. Runs on the group's
// shard, which knows the membership.
void Feed::KeepReaders(const pb::Post& post,
                       google::protobuf::RepeatedPtrField<common::v1::UserRef>* mentions) {
  if (post.group().id() == 0 || post.group().privacy() == common::v1::GROUP_PRIVACY_PUBLIC) {
    return;
  }
  google::protobuf::RepeatedPtrField<common::v1::UserRef> kept;
  for (auto& m : *mentions) {
    const char state = GroupMembership(post.group().id(), m.id()).state;
    if (state == 'm' || state == 'a') *kept.Add() = std::move(m);
  }
  *mentions = std::move(kept);
}

std::vector<uint64_t> Feed::Followees(uint64_t user_id) {
  std::vector<uint64_t> out;
  std::string prefix = U64Key(user_id);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, following_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.push_back(DecodeU64(absl::string_view(it->key().data() + 8, 8)));
  }
  return out;
}

absl::flat_hash_set<uint64_t> Feed::FollowedAmong(uint64_t owner,
                                                  std::vector<uint64_t> candidates) {
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  std::vector<std::string> keys;
  for (uint64_t c : candidates) keys.push_back(U64Key(owner, c));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), following_);
  std::vector<std::string> values;
  auto st = db_->raw()->MultiGet({}, cfs, slices, &values);
  absl::flat_hash_set<uint64_t> out;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (st[i].ok()) out.insert(candidates[i]);
  }
  return out;
}

std::vector<uint64_t> Feed::HeavyFollowees(uint64_t user_id) {
  std::vector<uint64_t> heavy;
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, heavy_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() == 8) heavy.push_back(DecodeU64(it->key().ToString()));  // not groups
  }
  if (heavy.empty()) return heavy;
  const absl::flat_hash_set<uint64_t> followed = FollowedAmong(user_id, heavy);
  std::vector<uint64_t> out;
  for (uint64_t h : heavy) {
    if (followed.contains(h)) out.push_back(h);
  }
  return out;
}

std::vector<uint64_t> Feed::AuthorPostIds(uint64_t author, uint64_t before, size_t limit,
                                          bool skip_group_posts) {
  std::vector<uint64_t> out;
  std::string prefix = U64Key(author);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, user_posts_));
  it->Seek(before == 0 ? prefix : DescKey(author, before - 1));
  for (; it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Next()) {
    if (skip_group_posts && !it->value().empty()) continue;  // the value names the group
    out.push_back(DecodeDescU64(absl::string_view(it->key().data() + 8, 8)));
  }
  return out;
}

std::vector<uint64_t> Feed::HeavyGroups(const Viewer& viewer) {
  std::vector<uint64_t> out;
  for (uint64_t g : viewer.groups) {
    if (viewer.muted_groups.contains(g)) continue;
    auto v = db_->Get(heavy_, Key1('g', g));
    if (v.ok() && v->has_value()) out.push_back(g);
  }
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> Feed::GroupPostIds(uint64_t group, uint64_t before,
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

uint64_t Feed::Horizon(uint64_t owner) {
  auto v = db_->Get(meta_, CounterKey('h', owner));
  return v.ok() && v->has_value() && (*v)->size() == 8 ? DecodeU64(**v) : 0;
}

uint64_t Feed::HomeEntryCount(uint64_t owner) {
  uint64_t n = 0;
  std::string prefix = U64Key(owner);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
  return n;
}

uint64_t Feed::FollowerCount(uint64_t user_id) {
  auto v = db_->Get(counters_, CounterKey(kFollowerCount, user_id));
  return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
}

// ---------------------------------------------------------------------------
// Graph

void Feed::RemoveAuthorFromHome(uint64_t owner, uint64_t author, rocksdb::WriteBatch* batch) {
  std::string prefix = U64Key(owner);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
  int64_t removed = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() == 8 && DecodeU64(it->value().ToString()) == author) {
      batch->Delete(home_, it->key());
      ++removed;
    }
  }
  if (removed > 0) AddHomeSize(owner, -removed);
}

void Feed::RemoveGroupFromHome(uint64_t owner, uint64_t group, rocksdb::WriteBatch* batch) {
  std::string prefix = U64Key(owner);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
  int64_t removed = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (ParseHomeValue(absl::string_view(it->value().data(), it->value().size())).second == group) {
      batch->Delete(home_, it->key());
      ++removed;
    }
  }
  if (removed > 0) AddHomeSize(owner, -removed);
}

void Feed::AddHomeSize(uint64_t owner, int64_t delta) {
  std::lock_guard<std::mutex> lock(sizes_mu_);
  int64_t& size = home_sizes_[owner];
  size = std::max<int64_t>(0, size + delta);
}

absl::Status Feed::PutHomeEntries(uint64_t post_id, uint64_t author, uint64_t group,
                                  const std::vector<uint64_t>& owners) {
  rocksdb::WriteBatch batch;
  const std::string value = HomeValue(author, group);
  for (uint64_t owner : owners) batch.Put(home_, DescKey(owner, post_id), value);
  absl::Status s = db_->Write(&batch);
  if (!s.ok()) return s;
  for (uint64_t owner : owners) AddHomeSize(owner, 1);
  return absl::OkStatus();
}

// Head sizes are counted in memory (a counter in RocksDB would cost a merge
// per delivery and a merge-chain read per check). After a restart they start
// from zero, so a head may grow past its limit by one more slack before the
// next trim; trimming counts the real entries.
absl::Status Feed::TrimHomes(const std::vector<uint64_t>& owners) {
  const int64_t limit = static_cast<int64_t>(options_.home_head + options_.home_trim_slack);
  std::vector<uint64_t> due;
  {
    std::lock_guard<std::mutex> lock(sizes_mu_);
    for (uint64_t o : owners) {
      auto it = home_sizes_.find(o);
      if (it != home_sizes_.end() && it->second > limit) due.push_back(o);
    }
  }
  if (due.empty()) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(home_mu_);
  for (const uint64_t owner : due) {
    std::string prefix = U64Key(owner);
    std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
    int64_t seen = 0;
    uint64_t last_kept = 0;
    std::string first_removed;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (seen < static_cast<int64_t>(options_.home_head)) {
        last_kept = DecodeDescU64(absl::string_view(it->key().data() + 8, 8));
      } else if (first_removed.empty()) {
        first_removed = it->key().ToString();
      }
      ++seen;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "home");
    const int64_t kept = std::min<int64_t>(seen, options_.home_head);
    if (seen > kept) {
      rocksdb::WriteBatch batch;
      batch.DeleteRange(home_, first_removed, PrefixSuccessor(prefix));
      // Everything newer than the oldest kept entry is complete in the head.
      uint64_t horizon = std::max(Horizon(owner), last_kept - 1);
      batch.Put(meta_, CounterKey('h', owner), U64Value(horizon));
      absl::Status s = db_->Write(&batch);
      if (!s.ok()) return s;
    }
    std::lock_guard<std::mutex> sizes(sizes_mu_);
    home_sizes_[owner] = kept;
  }
  return absl::OkStatus();
}

absl::Status Feed::Backfill(uint64_t owner, uint64_t author) {
  const std::string marker = U64Key2('b', owner, author);
  auto pending = db_->Get(meta_, marker);
  if (!pending.ok()) return pending.status();
  if (!pending->has_value()) return absl::OkStatus();  // done already
  const std::string expected = **pending;
  auto heavy = db_->Get(heavy_, U64Key(author));
  if (!heavy.ok()) return heavy.status();
  if (heavy->has_value()) return BackfillEntries(owner, marker, expected, {}, true);
  std::vector<std::array<uint64_t, 3>> entries;
  if (options_.shards.IsLocal(author)) {
    for (uint64_t id : AuthorPostIds(author, 0, options_.follow_backfill, true)) {
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
  return BackfillEntries(owner, marker, expected, entries, complete);
}

absl::Status Feed::BackfillGroup(uint64_t owner, uint64_t group) {
  const std::string marker = U64Key2('B', owner, group);
  auto pending = db_->Get(meta_, marker);
  if (!pending.ok()) return pending.status();
  if (!pending->has_value()) return absl::OkStatus();  // done already
  const std::string expected = **pending;
  auto heavy = db_->Get(heavy_, Key1('g', group));
  if (!heavy.ok()) return heavy.status();
  if (heavy->has_value()) return BackfillEntries(owner, marker, expected, {}, true);
  std::vector<std::array<uint64_t, 3>> entries;
  if (ShardOfId(group) == options_.shards.self()) {
    for (auto [id, author] : GroupPostIds(group, 0, options_.follow_backfill)) {
      entries.push_back({id, author, group});
    }
  } else {
    auto posts = PullRemote(
        {{ShardOfId(group), PullRequest(owner, {}, {group}, 0, options_.follow_backfill)}},
        absl::InfiniteFuture());
    if (!posts.ok()) return posts.status();
    for (const auto& p : (*posts)[0]) entries.push_back({p.id(), p.author().id(), group});
  }
  const bool complete = entries.size() < options_.follow_backfill;
  return BackfillEntries(owner, marker, expected, entries, complete);
}

absl::Status Feed::BackfillEntries(uint64_t owner, const std::string& marker,
                                   const std::string& expected,
                                   const std::vector<std::array<uint64_t, 3>>& entries,
                                   bool complete) {
  // An unfollow or leave while the posts were read deletes the marker, and a
  // new follow or join replaces it (a join's marker holds its order): then
  // this backfill is stale and writes nothing.
  auto now_marker = db_->Get(meta_, marker);
  if (!now_marker.ok()) return now_marker.status();
  if (!now_marker->has_value() || **now_marker != expected) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  batch.Delete(meta_, marker);  // the backfill is done
  for (const auto& [id, author, group] : entries) {
    batch.Put(home_, DescKey(owner, id), HomeValue(author, group));
  }
  AddHomeSize(owner, static_cast<int64_t>(entries.size()));
  if (!complete && !entries.empty()) {
    // The source has older posts that are not in the head: the head is
    // complete only above the oldest one copied.
    std::lock_guard<std::mutex> lock(home_mu_);
    uint64_t horizon = std::max(Horizon(owner), entries.back()[0] - 1);
    batch.Put(meta_, CounterKey('h', owner), U64Value(horizon));
    absl::Status s = db_->Write(&batch);
    if (!s.ok()) return s;
  } else {
    absl::Status s = db_->Write(&batch);
    if (!s.ok()) return s;
  }
  return TrimHomes({owner});
}

absl::Status Feed::Follow(const Caller& caller, uint64_t user_id) {
  absl::Status local = RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  if (user_id == caller.user_id()) {
    return absl::InvalidArgumentError("user_id: you cannot follow yourself");
  }
  auto target = RequirePeer(caller, user_id);
  if (!target.ok()) return target.status();
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  {
    std::lock_guard<std::mutex> lock(graph_mu_);
    if (BlockFlags(caller.user_id(), user_id) != 0) {
      return absl::FailedPreconditionError("one of you has blocked the other");
    }
    // Following already: run the backfill again (idempotent), in case the
    // first one failed after the follow was committed.
    if (Follows(caller.user_id(), user_id)) return Backfill(caller.user_id(), user_id);
    rocksdb::WriteBatch batch;
    EdgeHalves(caller.user_id(), user_id, ids_->Next(), true, &batch);
    // Cleared by the backfill; after a crash in between, the catch-up worker
    // finds it and backfills.
    batch.Put(meta_, U64Key2('b', caller.user_id(), user_id), "");
    ev::Event e = NewEvent(caller.org_id());
    *e.mutable_followed()->mutable_follower() = me->ref;
    *e.mutable_followed()->mutable_followee() = target->ref;
    absl::Status s = Commit(&batch, {e});
    if (!s.ok()) return s;
  }
  absl::Status s = Backfill(caller.user_id(), user_id);
  if (!s.ok()) WakeCatchUp();
  return s;
}

absl::Status Feed::Unfollow(const Caller& caller, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  std::lock_guard<std::mutex> lock(graph_mu_);
  auto order = EdgeOrder(caller.user_id(), user_id);
  if (!order.has_value()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  EdgeHalves(caller.user_id(), user_id, *order, false, &batch);
  ev::Event e = NewEvent(caller.org_id());
  e.mutable_unfollowed()->mutable_follower()->set_id(caller.user_id());
  e.mutable_unfollowed()->mutable_followee()->set_id(user_id);
  return Commit(&batch, {e});
}

absl::Status Feed::Block(const Caller& caller, uint64_t user_id) {
  if (user_id == caller.user_id()) {
    return absl::InvalidArgumentError("user_id: you cannot block yourself");
  }
  auto target = RequirePeer(caller, user_id);
  if (!target.ok()) return target.status();
  std::lock_guard<std::mutex> lock(graph_mu_);
  if (BlockFlags(caller.user_id(), user_id) & kIBlocked) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  ApplyBlock(caller.user_id(), user_id, true, &batch);
  ev::Event e = NewEvent(caller.org_id());
  e.mutable_blocked()->set_blocker_id(caller.user_id());
  e.mutable_blocked()->set_blocked_user_id(user_id);
  return Commit(&batch, {e});
}

absl::Status Feed::Unblock(const Caller& caller, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  std::lock_guard<std::mutex> lock(graph_mu_);
  if (!(BlockFlags(caller.user_id(), user_id) & kIBlocked)) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  ApplyBlock(caller.user_id(), user_id, false, &batch);
  ev::Event e = NewEvent(caller.org_id());
  e.mutable_unblocked()->set_blocker_id(caller.user_id());
  e.mutable_unblocked()->set_blocked_user_id(user_id);
  return Commit(&batch, {e});
}

absl::Status Feed::Mute(const Caller& caller, uint64_t user_id) {
  if (user_id == caller.user_id()) return absl::InvalidArgumentError("user_id: yourself");
  auto target = RequirePeer(caller, user_id);
  if (!target.ok()) return target.status();
  rocksdb::WriteBatch batch;
  batch.Put(mutes_, U64Key(caller.user_id(), user_id), "");
  return db_->Write(&batch);
}

absl::Status Feed::Unmute(const Caller& caller, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  rocksdb::WriteBatch batch;
  batch.Delete(mutes_, U64Key(caller.user_id(), user_id));
  return db_->Write(&batch);
}

template <typename Response>
static absl::StatusOr<Response> ListEdges(storage::Db* db, rocksdb::ColumnFamilyHandle* idx,
                                          Directory* directory, uint64_t user_id, int32_t page_size,
                                          const std::string& token,
                                          const absl::flat_hash_set<uint64_t>& hidden) {
  auto t = DecodeToken(token, "e");
  if (!t.ok()) return t.status();
  std::string prefix = U64Key(user_id);
  std::unique_ptr<rocksdb::Iterator> it(db->raw()->NewIterator({}, idx));
  // The cursor is the position (follow order) of the last edge returned.
  it->Seek(t->cursor == 0 ? prefix : DescKey(user_id, t->cursor - 1));
  std::vector<uint64_t> ids;
  uint64_t last_order = 0;
  bool more = false;
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (static_cast<int32_t>(ids.size()) == page_size) {
      more = true;
      break;
    }
    KeyReader r(absl::string_view(it->key().data(), it->key().size()));
    r.ReadU64();
    last_order = *r.ReadDescU64();
    ids.push_back(*r.ReadU64());
  }
  auto people = directory->Get(ids);
  if (!people.ok()) return people.status();
  Response resp;
  for (uint64_t id : ids) {
    auto p = people->find(id);
    if (p != people->end() && p->second.active && !hidden.contains(id)) {
      *resp.add_users() = p->second.ref;
    }
  }
  if (more) resp.set_next_page_token(EncodeToken('e', last_order));
  return resp;
}

// Followers or following of a person (the caller by default). Blocks hide
// people both ways: a blocked person's lists, and them in any list.
template <typename Response, typename Request>
absl::StatusOr<Response> Feed::ListGraph(const Caller& caller, const Request& req,
                                         rocksdb::ColumnFamilyHandle* index) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  const uint64_t user = req.user_id() == 0 ? caller.user_id() : req.user_id();
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  if (user != caller.user_id()) {
    auto peer = RequirePeer(caller, user);
    if (!peer.ok()) return peer.status();
    if (viewer->blocked.contains(user)) {
      return absl::NotFoundError(absl::StrCat("user ", user, " not found"));
    }
  }
  return ListEdges<Response>(db_, index, directory_, user, *size, req.page_token(),
                             viewer->blocked);
}

absl::StatusOr<pb::ListFollowersResponse> Feed::ListFollowers(const Caller& caller,
                                                              const pb::ListFollowersRequest& req) {
  return ListGraph<pb::ListFollowersResponse>(caller, req, followers_idx_);
}

absl::StatusOr<pb::ListFollowingResponse> Feed::ListFollowing(const Caller& caller,
                                                              const pb::ListFollowingRequest& req) {
  return ListGraph<pb::ListFollowingResponse>(caller, req, following_idx_);
}

// ---------------------------------------------------------------------------
// Posts

absl::StatusOr<pb::Post> Feed::CreatePost(const Caller& caller, const pb::CreatePostRequest& req) {
  pb::Post post;
  switch (req.kind()) {
    case common::v1::POST_KIND_UNSPECIFIED:
    case common::v1::POST_KIND_STATUS:
      post.set_kind(common::v1::POST_KIND_STATUS);
      break;
    case common::v1::POST_KIND_QUESTION:
      post.set_kind(common::v1::POST_KIND_QUESTION);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("kind: unknown value ", req.kind()));
  }
  Visibility visibility = req.visibility();
  if (req.group_id() != 0 && visibility != common::v1::VISIBILITY_GROUP) {
    return absl::InvalidArgumentError("group_id: set only with visibility VISIBILITY_GROUP");
  }
  // A group post lives on the group's shard (which knows the membership);
  // any other post on its author's.
  std::optional<pb::Group> group;
  if (visibility == common::v1::VISIBILITY_GROUP) {
    if (req.group_id() == 0) return status::Required("group_id");
    auto g = RequireGroup(caller, req.group_id());
    if (!g.ok()) return g.status();
    const Membership m = GroupMembership(g->id(), caller.user_id());
    if (m.state != 'm' && m.state != 'a') {
      if (!CanReadGroup(*g, m))
        return absl::NotFoundError(absl::StrCat("group ", g->id(), " not found"));
      return absl::PermissionDeniedError("only members post in a group: join it first");
    }
    if (g->archived()) {
      return absl::FailedPreconditionError("the group is archived: nothing new is posted");
    }
    group = *std::move(g);
  } else {
    absl::Status local = RequireLocal(caller.user_id());
    if (!local.ok()) return local;
  }
  if (visibility != common::v1::VISIBILITY_GROUP &&
      visibility != common::v1::VISIBILITY_UNSPECIFIED &&
      visibility != common::v1::VISIBILITY_ORG && visibility != common::v1::VISIBILITY_FOLLOWERS) {
    return absl::InvalidArgumentError(absl::StrCat("visibility: unknown value ", visibility));
  }
  if (visibility == common::v1::VISIBILITY_UNSPECIFIED) {
    auto v = directory_->DefaultVisibility(caller.org_id());
    if (!v.ok()) return v.status();
    visibility = *v == common::v1::VISIBILITY_FOLLOWERS ? *v : common::v1::VISIBILITY_ORG;
  }
  post.set_visibility(visibility);
  if (group.has_value()) {
    post.mutable_group()->set_id(group->id());
    post.mutable_group()->set_name(group->name());
    post.mutable_group()->set_privacy(group->privacy());
  }
  absl::Status s = ParseBody(caller, req.body(), post.mutable_mentions(), post.mutable_hashtags());
  if (!s.ok()) return s;
  KeepReaders(post, post.mutable_mentions());
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  s = CheckRate(caller.user_id());
  if (!s.ok()) return s;
  // A group post commits under the groups lock, having checked again that the
  // author is still a member of a group that is not archived.
  std::unique_lock<std::mutex> group_lock(groups_mu_, std::defer_lock);
  if (group.has_value()) {
    group_lock.lock();
    const char state = GroupMembership(group->id(), caller.user_id()).state;
    auto current = ReadGroup(group->id());
    if (!current.ok()) return current.status();
    if (state != 'm' && state != 'a') {
      return absl::PermissionDeniedError("only members post in a group: you left it");
    }
    if (!current->has_value() || (*current)->archived()) {
      return absl::FailedPreconditionError("the group is archived: nothing new is posted");
    }
  }

  const uint64_t id = ids_->Next();
  post.set_id(id);
  post.set_org_id(caller.org_id());
  *post.mutable_author() = me->ref;
  post.set_body(req.body());
  *post.mutable_create_time() = Ts(ids::TimeOf(id));

  const uint64_t group_id = group.has_value() ? group->id() : 0;
  rocksdb::WriteBatch batch;
  batch.Put(posts_, U64Key(id), post.SerializeAsString());
  if (options_.shards.IsLocal(caller.user_id())) {
    // (A group post by someone homed elsewhere reaches their page and their
    // open questions through PostCreated, and their home through fan-out.)
    batch.Put(user_posts_, DescKey(caller.user_id(), id),
              group_id != 0 ? U64Value(group_id) : std::string());
    // Read-your-write: the author's own home timeline has it at once.
    AddHomeSize(caller.user_id(), 1);
    batch.Put(home_, DescKey(caller.user_id(), id), HomeValue(caller.user_id(), group_id));
    if (post.kind() == common::v1::POST_KIND_QUESTION) {
      batch.Put(questions_, DescKey2('o', caller.user_id(), id), "");
    }
  }
  if (group_id != 0) {
    batch.Put(groups_, DescKey2('p', group_id, id), U64Value(caller.user_id()));
    if (post.kind() == common::v1::POST_KIND_QUESTION) {
      batch.Put(questions_, DescKey2('g', group_id, id), "");
    }
  }
  // Insights: the post, its author and its audience at publication.
  const absl::Time now = ids::TimeOf(id);
  const uint64_t reach = group_id != 0 ? std::max<uint64_t>(MemberCount(group_id), 1) - 1
                                       : FollowerCount(caller.user_id());
  CountInsight(caller.org_id(), group_id, now, 'p', std::nullopt, &batch);
  CountInsight(caller.org_id(), group_id, now, 'P', caller.user_id(), &batch);
  CountInsight(caller.org_id(), group_id, now, 'R', reach, &batch);
  if (post.kind() == common::v1::POST_KIND_QUESTION) {
    CountInsight(caller.org_id(), group_id, now, 'q', std::nullopt, &batch);
  }
  std::vector<ev::Event> events;
  ev::Event e = NewEvent(caller.org_id());
  *e.mutable_post_created() = PostCreatedOf(post);
  events.push_back(std::move(e));
  if (post.mentions_size() > 0) {
    ev::Event m = NewEvent(caller.org_id());
    *m.mutable_mentioned()->mutable_author() = me->ref;
    *m.mutable_mentioned()->mutable_mentioned_users() = post.mentions();
    m.mutable_mentioned()->set_post_id(id);
    m.mutable_mentioned()->set_group_id(group_id);
    events.push_back(std::move(m));
  }
  s = Commit(&batch, events);
  if (!s.ok()) return s;
  return post;
}

absl::StatusOr<pb::Post> Feed::GetPost(const Caller& caller, uint64_t post_id) {
  if (post_id == 0) return status::Required("post_id");
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  auto posts = Hydrate(*viewer, {post_id});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(post_id);
  return std::move((*posts)[0]);
}

absl::Status Feed::DeletePost(const Caller& caller, uint64_t post_id) {
  if (post_id == 0) return status::Required("post_id");
  auto post = ReadPost(post_id);
  if (!post.ok()) return post.status();
  if (!post->has_value() || (*post)->org_id() != caller.org_id()) return NotFoundPost(post_id);
  const pb::Post& p = **post;
  if (p.author().id() != caller.user_id()) {
    auto viewer = LoadViewer(caller, false);
    if (!viewer.ok()) return viewer.status();
    if (!CanSee(*viewer, p)) return NotFoundPost(post_id);
    auto me = RequireActiveSelf(caller);
    if (!me.ok()) return me.status();
    if (!me->admin) {
      return absl::PermissionDeniedError("only the author or an org admin can delete a post");
    }
  }
  std::lock_guard<std::mutex> lock(like_mu_);  // no like or comment delete in between
  rocksdb::WriteBatch batch;
  batch.Delete(posts_, U64Key(post_id));
  batch.Delete(user_posts_, DescKey(p.author().id(), post_id));
  batch.Delete(home_, DescKey(p.author().id(), post_id));
  batch.Delete(questions_, DescKey2('o', p.author().id(), post_id));
  batch.Delete(meta_, Key1('a', post_id));
  if (p.group().id() != 0) {
    batch.Delete(groups_, DescKey2('p', p.group().id(), post_id));
    batch.Delete(questions_, DescKey2('g', p.group().id(), post_id));
  }
  batch.Delete(counters_, CounterKey(kPostLikes, post_id));
  batch.Delete(counters_, CounterKey(kPostComments, post_id));
  batch.DeleteRange(likes_, CounterKey(kLikePost, post_id),
                    PrefixSuccessor(CounterKey(kLikePost, post_id)));
  // Its comments and replies, with their likes and counts, go with it.
  auto drop_comment = [&](uint64_t id) {
    batch.Delete(comments_, U64Key(id));
    batch.Delete(counters_, CounterKey(kCommentLikes, id));
    batch.Delete(counters_, CounterKey(kCommentReplies, id));
    batch.DeleteRange(likes_, CounterKey(kLikeComment, id),
                      PrefixSuccessor(CounterKey(kLikeComment, id)));
  };
  const std::string post_prefix = U64Key(post_id);
  std::unique_ptr<rocksdb::Iterator> top(db_->raw()->NewIterator({}, post_comments_));
  std::unique_ptr<rocksdb::Iterator> rep(db_->raw()->NewIterator({}, replies_));
  for (top->Seek(post_prefix); top->Valid() && top->key().starts_with(post_prefix); top->Next()) {
    const uint64_t cid = DecodeU64(absl::string_view(top->key().data() + 8, 8));
    drop_comment(cid);
    const std::string reply_prefix = U64Key(cid);
    for (rep->Seek(reply_prefix); rep->Valid() && rep->key().starts_with(reply_prefix);
         rep->Next()) {
      drop_comment(DecodeU64(absl::string_view(rep->key().data() + 8, 8)));
    }
    batch.DeleteRange(replies_, reply_prefix, PrefixSuccessor(reply_prefix));
  }
  batch.DeleteRange(post_comments_, post_prefix, PrefixSuccessor(post_prefix));
  ev::Event e = NewEvent(caller.org_id());
  e.mutable_post_deleted()->set_post_id(post_id);
  e.mutable_post_deleted()->set_author_id(p.author().id());
  e.mutable_post_deleted()->set_group_id(p.group().id());
  return Commit(&batch, {e});
}

// ---------------------------------------------------------------------------
// Comments and likes

absl::Status Feed::FillComments(const Viewer& viewer, std::vector<pb::Comment>* comments) {
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

absl::StatusOr<pb::Comment> Feed::RequireComment(const Viewer& viewer, uint64_t comment_id,
                                                 pb::Post* post) {
  if (comment_id == 0) return status::Required("comment_id");
  auto v = db_->Get(comments_, U64Key(comment_id));
  if (!v.ok()) return v.status();
  pb::Comment c;
  if (!v->has_value() || !c.ParseFromString(**v)) {
    return absl::NotFoundError(absl::StrCat("comment ", comment_id, " not found"));
  }
  auto posts = Hydrate(viewer, {c.post_id()});
  if (!posts.ok()) return posts.status();
  if (posts->empty() || viewer.blocked.contains(c.author().id())) {
    return absl::NotFoundError(absl::StrCat("comment ", comment_id, " not found"));
  }
  auto author = directory_->GetOne(c.author().id());
  if (!author.ok() || !author->active) {  // a suspended or removed author's comment is hidden
    return absl::NotFoundError(absl::StrCat("comment ", comment_id, " not found"));
  }
  if (post != nullptr) *post = (*posts)[0];
  return c;
}

absl::StatusOr<pb::Comment> Feed::CreateComment(const Caller& caller,
                                                const pb::CreateCommentRequest& req) {
  if (req.post_id() == 0) return status::Required("post_id");
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  auto posts = Hydrate(*viewer, {req.post_id()});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(req.post_id());
  const pb::Post& post = (*posts)[0];
  if (post.group().id() != 0) {
    // Only members comment in a group, and nothing is added to an archived one.
    auto g = ReadGroup(post.group().id());
    if (!g.ok()) return g.status();
    if (!g->has_value()) return NotFoundPost(req.post_id());
    const char state = GroupMembership(post.group().id(), caller.user_id()).state;
    if (state != 'm' && state != 'a') {
      return absl::PermissionDeniedError("only members comment in a group: join it first");
    }
    if ((*g)->archived()) {
      return absl::FailedPreconditionError("the group is archived: nothing new is added");
    }
  }
  pb::Comment comment;
  uint64_t parent_author = 0;
  if (req.parent_comment_id() != 0) {
    auto parent = RequireComment(*viewer, req.parent_comment_id(), nullptr);
    if (!parent.ok()) return parent.status();
    if (parent->post_id() != req.post_id()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parent_comment_id: comment ", req.parent_comment_id(), " is on another post"));
    }
    // Threads are two levels deep: a reply to a reply joins its top-level comment.
    comment.set_parent_comment_id(parent->parent_comment_id() != 0 ? parent->parent_comment_id()
                                                                   : parent->id());
    parent_author = parent->author().id();
  }
  absl::Status s = ParseBody(caller, req.body(), comment.mutable_mentions(), nullptr);
  if (!s.ok()) return s;
  KeepReaders(post, comment.mutable_mentions());
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  s = CheckRate(caller.user_id());
  if (!s.ok()) return s;
  const uint64_t id = ids_->Next();
  comment.set_id(id);
  comment.set_post_id(req.post_id());
  *comment.mutable_author() = me->ref;
  comment.set_body(req.body());
  *comment.mutable_create_time() = Ts(ids::TimeOf(id));
  rocksdb::WriteBatch batch;
  batch.Put(comments_, U64Key(id), comment.SerializeAsString());
  if (comment.parent_comment_id() == 0) {
    batch.Put(post_comments_, U64Key(req.post_id(), id), "");
  } else {
    batch.Put(replies_, U64Key(comment.parent_comment_id(), id), "");
    batch.Merge(counters_, CounterKey(kCommentReplies, comment.parent_comment_id()),
                EncodeCounter(1));
  }
  batch.Merge(counters_, CounterKey(kPostComments, req.post_id()), EncodeCounter(1));
  CountInsight(caller.org_id(), post.group().id(), ids::TimeOf(id), 'c', std::nullopt, &batch);
  std::vector<ev::Event> events;
  ev::Event e = NewEvent(caller.org_id());
  *e.mutable_comment_created() = CommentCreatedOf(comment, post, parent_author);
  events.push_back(std::move(e));
  if (comment.mentions_size() > 0) {
    ev::Event m = NewEvent(caller.org_id());
    *m.mutable_mentioned()->mutable_author() = me->ref;
    *m.mutable_mentioned()->mutable_mentioned_users() = comment.mentions();
    m.mutable_mentioned()->set_post_id(req.post_id());
    m.mutable_mentioned()->set_comment_id(id);
    m.mutable_mentioned()->set_group_id(post.group().id());
    events.push_back(std::move(m));
  }
  s = Commit(&batch, events);
  if (!s.ok()) return s;
  return comment;
}

absl::Status Feed::DeleteComment(const Caller& caller, uint64_t comment_id) {
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  pb::Post post;
  auto c = RequireComment(*viewer, comment_id, &post);
  if (!c.ok()) return c.status();
  if (c->author().id() != caller.user_id() && post.author().id() != caller.user_id()) {
    auto me = RequireActiveSelf(caller);
    if (!me.ok()) return me.status();
    if (!me->admin) {
      return absl::PermissionDeniedError(
          "only the comment's author, the post's author or an org admin can delete a comment");
    }
  }
  std::lock_guard<std::mutex> lock(like_mu_);
  // Re-check under the lock: a concurrent delete must not count twice.
  auto still = db_->Get(comments_, U64Key(comment_id));
  if (!still.ok()) return still.status();
  if (!still->has_value()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  int64_t removed = 1;
  batch.Delete(comments_, U64Key(comment_id));
  std::vector<uint64_t> gone = {comment_id};
  if (c->parent_comment_id() == 0) {
    batch.Delete(post_comments_, U64Key(c->post_id(), comment_id));
    // Its replies go with it.
    std::string prefix = U64Key(comment_id);
    std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, replies_));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      batch.Delete(comments_, it->key().ToString().substr(8));
      batch.Delete(replies_, it->key());
      gone.push_back(DecodeU64(absl::string_view(it->key().data() + 8, 8)));
      ++removed;
    }
    batch.Delete(counters_, CounterKey(kCommentReplies, comment_id));
  } else {
    batch.Delete(replies_, U64Key(c->parent_comment_id(), comment_id));
    batch.Merge(counters_, CounterKey(kCommentReplies, c->parent_comment_id()), EncodeCounter(-1));
  }
  batch.Merge(counters_, CounterKey(kPostComments, c->post_id()), EncodeCounter(-removed));
  // Deleting the accepted answer makes the question open again.
  auto record = ReadPost(c->post_id());
  if (!record.ok()) return record.status();
  if (record->has_value() && (*record)->accepted_comment_id() != 0 &&
      std::find(gone.begin(), gone.end(), (*record)->accepted_comment_id()) != gone.end()) {
    (*record)->clear_accepted_comment_id();
    batch.Put(posts_, U64Key(c->post_id()), (*record)->SerializeAsString());
  }
  ev::Event e = NewEvent(caller.org_id());
  e.mutable_comment_deleted()->set_comment_id(comment_id);
  e.mutable_comment_deleted()->set_post_id(c->post_id());
  e.mutable_comment_deleted()->set_author_id(c->author().id());
  return Commit(&batch, {e});
}

absl::StatusOr<pb::GetThreadResponse> Feed::GetThread(const Caller& caller,
                                                      const pb::GetThreadRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "t");
  if (!token.ok()) return token.status();
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  if (req.post_id() == 0) return status::Required("post_id");
  auto posts = Hydrate(*viewer, {req.post_id()});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(req.post_id());
  pb::GetThreadResponse resp;
  *resp.mutable_post() = std::move((*posts)[0]);
  if (resp.post().accepted_comment_id() != 0) {
    auto accepted = RequireComment(*viewer, resp.post().accepted_comment_id(), nullptr);
    if (accepted.ok()) {
      std::vector<pb::Comment> one = {*std::move(accepted)};
      absl::Status s = FillComments(*viewer, &one);
      if (!s.ok()) return s;
      if (!one.empty()) *resp.mutable_accepted_answer() = std::move(one[0]);
    }
  }
  auto page = CommentPage(*viewer, post_comments_, req.post_id(), token->cursor, *size);
  if (!page.ok()) return page.status();
  for (auto& c : page->comments) *resp.add_comments() = std::move(c);
  if (page->more) resp.set_next_page_token(EncodeToken('t', page->last));
  return resp;
}

// One page of comments indexed under `parent` in `index` (a post's top-level
// comments, or a comment's replies), oldest first after the cursor (the last
// comment id returned). Comments hidden from the viewer (blocked or suspended
// authors) leave a page short.
absl::StatusOr<Feed::CommentPageResult> Feed::CommentPage(const Viewer& viewer,
                                                          rocksdb::ColumnFamilyHandle* index,
                                                          uint64_t parent, uint64_t cursor,
                                                          int32_t size) {
  CommentPageResult out;
  std::string prefix = U64Key(parent);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, index));
  it->Seek(cursor == 0 ? prefix : U64Key(parent, cursor + 1));
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (static_cast<int32_t>(out.comments.size()) == size) {
      out.more = true;
      break;
    }
    out.last = DecodeU64(absl::string_view(it->key().data() + 8, 8));
    auto v = db_->Get(comments_, U64Key(out.last));
    pb::Comment c;
    if (v.ok() && v->has_value() && c.ParseFromString(**v)) out.comments.push_back(std::move(c));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "comments");
  absl::Status s = FillComments(viewer, &out.comments);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<pb::ListRepliesResponse> Feed::ListReplies(const Caller& caller,
                                                          const pb::ListRepliesRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "r");
  if (!token.ok()) return token.status();
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  auto parent = RequireComment(*viewer, req.comment_id(), nullptr);
  if (!parent.ok()) return parent.status();
  auto page = CommentPage(*viewer, replies_, req.comment_id(), token->cursor, *size);
  if (!page.ok()) return page.status();
  pb::ListRepliesResponse resp;
  for (auto& c : page->comments) *resp.add_comments() = std::move(c);
  if (page->more) resp.set_next_page_token(EncodeToken('r', page->last));
  return resp;
}

absl::Status Feed::LikePost(const Caller& caller, uint64_t post_id, bool like) {
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  if (post_id == 0) return status::Required("post_id");
  auto posts = Hydrate(*viewer, {post_id});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(post_id);
  return SetLike(caller, post_id, 0, (*posts)[0].author().id(), (*posts)[0].group().id(), like);
}

absl::Status Feed::LikeComment(const Caller& caller, uint64_t comment_id, bool like) {
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  pb::Post post;
  auto c = RequireComment(*viewer, comment_id, &post);
  if (!c.ok()) return c.status();
  return SetLike(caller, c->post_id(), comment_id, c->author().id(), post.group().id(), like);
}

// Likes (or unlikes) a readable post, or one of its comments when comment_id
// is set. Idempotent: only a change of state writes, counts and emits.
absl::Status Feed::SetLike(const Caller& caller, uint64_t post_id, uint64_t comment_id,
                           uint64_t content_author, uint64_t group_id, bool like) {
  auto me = RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  const std::string key = comment_id == 0 ? LikeKey(kLikePost, post_id, caller.user_id())
                                          : LikeKey(kLikeComment, comment_id, caller.user_id());
  std::lock_guard<std::mutex> lock(like_mu_);
  auto existing = db_->Get(likes_, key);
  if (!existing.ok()) return existing.status();
  if (existing->has_value() == like) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  ev::Event e = NewEvent(caller.org_id());
  if (like) {
    batch.Put(likes_, key, "");
    *e.mutable_liked()->mutable_user() = me->ref;
    e.mutable_liked()->set_post_id(post_id);
    e.mutable_liked()->set_comment_id(comment_id);
    e.mutable_liked()->set_content_author_id(content_author);
    e.mutable_liked()->set_group_id(group_id);
  } else {
    batch.Delete(likes_, key);
    e.mutable_unliked()->set_user_id(caller.user_id());
    e.mutable_unliked()->set_post_id(post_id);
    e.mutable_unliked()->set_comment_id(comment_id);
  }
  batch.Merge(
      counters_,
      comment_id == 0 ? CounterKey(kPostLikes, post_id) : CounterKey(kCommentLikes, comment_id),
      EncodeCounter(like ? 1 : -1));
  return Commit(&batch, {e});
}

// ---------------------------------------------------------------------------
// Timelines

absl::StatusOr<pb::ListUserTimelineResponse> Feed::ListUserTimeline(
    const Caller& caller, const pb::ListUserTimelineRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "u");
  if (!token.ok()) return token.status();
  const uint64_t user = req.user_id() == 0 ? caller.user_id() : req.user_id();
  auto viewer = LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  viewer->own_private_groups_only = true;
  if (user != caller.user_id()) {
    auto peer = RequirePeer(caller, user);
    if (!peer.ok()) return peer.status();
    if (viewer->blocked.contains(user)) {
      return absl::NotFoundError(absl::StrCat("user ", user, " not found"));
    }
  }
  pb::ListUserTimelineResponse resp;
  auto next = FillPage(
      *viewer, token->cursor, *size,
      [&](uint64_t before, size_t n) { return AuthorPostIds(user, before, n); },
      resp.mutable_posts());
  if (!next.ok()) return next.status();
  if (*next != 0) resp.set_next_page_token(EncodeToken('u', *next));
  return resp;
}

// Posts the viewer may not see do not fill the page: read on until it is full
// or the source ends.
absl::StatusOr<uint64_t> Feed::FillPage(
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
    auto page = Hydrate(viewer, ids);
    if (!page.ok()) return page.status();
    for (auto& p : *page) *posts->Add() = std::move(p);
    if (!more) return 0;
  }
  return cursor;
}

absl::StatusOr<pb::ListHomeTimelineResponse> Feed::ListHomeTimeline(
    const Caller& caller, const pb::ListHomeTimelineRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "hp");
  if (!token.ok()) return token.status();
  absl::Status local = RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  auto viewer = LoadViewer(caller, true);
  if (!viewer.ok()) return viewer.status();
  const uint64_t owner = caller.user_id();
  // The head's iterator first, then the horizon: a trim in between can only
  // raise the horizon, which is safe; the other order could skip the posts
  // the trim moved below it.
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, home_));
  const uint64_t horizon = Horizon(owner);
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
    auto posts = Hydrate(*viewer, ids);
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
    const std::vector<uint64_t> heavy = HeavyFollowees(owner);
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
      const absl::flat_hash_set<uint64_t> followed = FollowedAmong(owner, std::move(authors));
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
    for (uint64_t a : Followees(owner)) {
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

// ---------------------------------------------------------------------------
// Fan-out

absl::Status Feed::ForEachFollower(
    uint64_t author, const std::function<absl::Status(std::vector<uint64_t>&)>& chunk) {
  std::string prefix = U64Key(author);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, followers_));
  std::vector<uint64_t> batch;
  batch.reserve(options_.fanout_batch);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    batch.push_back(DecodeU64(absl::string_view(it->key().data() + 8, 8)));
    if (batch.size() == options_.fanout_batch) {
      absl::Status s = chunk(batch);
      if (!s.ok()) return s;
      batch.clear();
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "followers");
  if (!batch.empty()) return chunk(batch);
  return absl::OkStatus();
}

absl::Status Feed::ForEachMember(uint64_t group,
                                 const std::function<absl::Status(std::vector<uint64_t>&)>& chunk) {
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

std::map<int32_t, std::vector<uint64_t>> Feed::SplitByShard(std::vector<uint64_t>& users) {
  std::map<int32_t, std::vector<uint64_t>> remote;
  if (options_.shards.count() == 1) return remote;
  std::vector<uint64_t> local;
  for (uint64_t u : users) {
    int32_t shard = options_.shards.ShardOf(u);
    if (shard == options_.shards.self()) {
      local.push_back(u);
    } else {
      remote[shard].push_back(u);
    }
  }
  users = std::move(local);
  return remote;
}

absl::Status Feed::FanOutPost(const ev::Event& event, HomeWriter* out) {
  const auto& pc = event.post_created();
  const uint64_t author = pc.author().id();
  const uint64_t group = pc.group().id();
  // The audience: a group post's members, any other post's followers.
  // Hybrid: above the threshold (a heavy author, a large group) nothing is
  // pushed; readers on every shard merge the posts, so every shard learns
  // that the source is now pulled.
  const uint64_t audience = group != 0 ? MemberCount(group) : FollowerCount(author);
  if (audience > options_.fanout_push_threshold) {
    const std::string key = group != 0 ? Key1('g', group) : U64Key(author);
    auto marked = db_->Get(heavy_, key);
    if (!marked.ok()) return marked.status();
    if (marked->has_value()) return absl::OkStatus();
    rocksdb::WriteBatch batch;
    batch.Put(heavy_, key, "");
    ev::Event e = NewEvent(event.org_id());
    if (group != 0) {
      e.mutable_fanout_mode_changed()->set_group_id(group);
    } else {
      e.mutable_fanout_mode_changed()->set_author_id(author);
    }
    e.mutable_fanout_mode_changed()->set_pulled(true);
    return Commit(&batch, {e});
  }
  const pb::Post copy = PostFromEvent(event);
  const auto deliver = [&](std::vector<uint64_t>& people) -> absl::Status {
    auto remote = SplitByShard(people);
    FeedPeers::ByShard<pb::DeliverTimelineEntriesRequest> deliveries;
    for (auto& [shard, recipients] : remote) {
      pb::DeliverTimelineEntriesRequest req;
      *req.mutable_post() = copy;
      for (uint64_t r : recipients) req.add_recipient_user_ids(r);
      deliveries.emplace_back(shard, std::move(req));
    }
    if (!deliveries.empty()) {
      absl::Status s = options_.peers->DeliverTimelineEntries(deliveries, PeerDeadline());
      if (!s.ok()) return s;
    }
    return out->Add(pc.post_id(), author, group, people);
  };
  return group != 0 ? ForEachMember(group, deliver) : ForEachFollower(author, deliver);
}

absl::Status Feed::HomeWriter::Add(uint64_t post_id, uint64_t author, uint64_t group,
                                   const std::vector<uint64_t>& owners) {
  for (uint64_t owner : owners) pending_.push_back({owner, post_id, author, group});
  return pending_.size() >= kHomeWriteBatch ? Flush() : absl::OkStatus();
}

absl::Status Feed::HomeWriter::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  // In key order: the memtable's skip list inserts sorted keys much faster.
  std::sort(pending_.begin(), pending_.end(), [](const Entry& a, const Entry& b) {
    return a.owner != b.owner ? a.owner < b.owner : a.post_id > b.post_id;
  });
  // Reserved up front: each entry is about 40 bytes of batch (tag, family,
  // lengths, 16-byte key, 8-byte value); growing a multi-MB string is costly.
  rocksdb::WriteBatch batch(pending_.size() * 40 + 64);
  std::string key;
  for (const Entry& e : pending_) {
    key.clear();
    AppendU64(&key, e.owner);
    AppendDescU64(&key, e.post_id);
    batch.Put(feed_->home_, key, HomeValue(e.author, e.group));
  }
  absl::Status s = feed_->db_->Write(&batch);
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(feed_->sizes_mu_);
    for (const Entry& e : pending_) ++feed_->home_sizes_[e.owner];
  }
  for (const Entry& e : pending_) touched_.insert(e.owner);
  pending_.clear();
  return absl::OkStatus();
}

absl::Status Feed::HomeWriter::Finish() {
  absl::Status s = Flush();
  if (!s.ok()) return s;
  std::vector<uint64_t> owners(touched_.begin(), touched_.end());
  touched_.clear();
  return feed_->TrimHomes(owners);
}

absl::Status Feed::FanOutDelete(const ev::Event& event) {
  const auto& pd = event.post_deleted();
  const uint64_t author = pd.author_id();
  std::set<int32_t> told;
  const auto audience = [&](const std::function<absl::Status(std::vector<uint64_t>&)>& chunk) {
    return pd.group_id() != 0 ? ForEachMember(pd.group_id(), chunk)
                              : ForEachFollower(author, chunk);
  };
  absl::Status s = audience([&](std::vector<uint64_t>& followers) -> absl::Status {
    auto remote = SplitByShard(followers);
    FeedPeers::ByShard<pb::RemoveTimelineEntriesRequest> removals;
    for (auto& [shard, recipients] : remote) {
      pb::RemoveTimelineEntriesRequest req;
      req.set_post_id(pd.post_id());
      for (uint64_t r : recipients) req.add_recipient_user_ids(r);
      removals.emplace_back(shard, std::move(req));
      told.insert(shard);
    }
    if (!removals.empty()) {
      absl::Status s = options_.peers->RemoveTimelineEntries(removals, PeerDeadline());
      if (!s.ok()) return s;
    }
    rocksdb::WriteBatch batch;
    for (uint64_t f : followers) batch.Delete(home_, DescKey(f, pd.post_id()));
    return db_->Write(&batch);
  });
  if (!s.ok()) return s;
  // Shards without followers may hold a copy pulled by a reader: drop it there too.
  FeedPeers::ByShard<pb::RemoveTimelineEntriesRequest> copies;
  for (int32_t shard = 0; shard < options_.shards.count(); ++shard) {
    if (shard == options_.shards.self() || told.contains(shard)) continue;
    pb::RemoveTimelineEntriesRequest req;
    req.set_post_id(pd.post_id());
    copies.emplace_back(shard, std::move(req));
  }
  if (copies.empty()) return absl::OkStatus();
  return options_.peers->RemoveTimelineEntries(copies, PeerDeadline());
}

std::unique_ptr<storage::Dispatcher> Feed::NewFanOutDispatcher() {
  return std::make_unique<storage::Dispatcher>(
      outbox_.get(),
      storage::DispatcherOptions{.subscriber = "fanout",
                                 .max_batch = 256,
                                 .initial_backoff = absl::Milliseconds(50),
                                 .max_backoff = absl::Seconds(5),
                                 .idle_poll = absl::Seconds(1)},
      [this](const std::vector<storage::OutboxEntry>& entries) { return FanOut(entries); });
}

absl::Status Feed::FanOut(const std::vector<storage::OutboxEntry>& entries) {
  // Home entries of the whole batch go out in a few large WriteBatches; a
  // crash before the dispatcher acknowledges re-delivers the batch, and the
  // entries (keyed by owner and post id) are simply written again.
  HomeWriter writer(this);
  for (const auto& entry : entries) {
    auto event = events::DecodeFromOutbox(entry, outbox_->producer_id());
    if (!event.ok()) return event.status();
    absl::Status s;
    switch (event->payload_case()) {
      case ev::Event::kPostCreated:
        s = FanOutPost(*event, &writer);
        break;
      case ev::Event::kPostDeleted:
        s = writer.Flush();  // a delete must not be overtaken by its own create
        if (s.ok()) s = FanOutDelete(*event);
        break;
      default:
        break;
    }
    if (!s.ok()) return s;
  }
  return writer.Finish();
}

absl::Status Feed::DeliverTimelineEntries(const pb::DeliverTimelineEntriesRequest& req) {
  if (req.post().id() == 0) return status::Required("post.id");
  if (static_cast<size_t>(req.recipient_user_ids_size()) > kMaxDeliverRecipients) {
    return status::TooMany("recipient_user_ids", req.recipient_user_ids_size(),
                           kMaxDeliverRecipients);
  }
  std::vector<uint64_t> owners(req.recipient_user_ids().begin(), req.recipient_user_ids().end());
  for (uint64_t o : owners) {
    if (!options_.shards.IsLocal(o)) {
      return absl::InvalidArgumentError(absl::StrCat("recipient ", o, " is not on this shard"));
    }
  }
  // The compact copy first, so an entry never points at a missing post.
  pb::Post copy = req.post();
  copy.clear_like_count();
  copy.clear_comment_count();
  copy.clear_viewer_has_liked();
  copy.clear_accepted_comment_id();
  absl::Status s;
  if (ShardOfId(copy.id()) != options_.shards.self()) {  // never clobber an original
    rocksdb::WriteBatch batch;
    batch.Put(posts_, U64Key(copy.id()), copy.SerializeAsString());
    s = db_->Write(&batch);
    if (!s.ok()) return s;
  }
  s = PutHomeEntries(copy.id(), copy.author().id(), copy.group().id(), owners);
  if (!s.ok()) return s;
  return TrimHomes(owners);
}

absl::Status Feed::RemoveTimelineEntries(const pb::RemoveTimelineEntriesRequest& req) {
  if (req.post_id() == 0) return status::Required("post_id");
  if (static_cast<size_t>(req.recipient_user_ids_size()) > kMaxDeliverRecipients) {
    return status::TooMany("recipient_user_ids", req.recipient_user_ids_size(),
                           kMaxDeliverRecipients);
  }
  rocksdb::WriteBatch batch;
  if (ShardOfId(req.post_id()) != options_.shards.self())
    batch.Delete(posts_, U64Key(req.post_id()));
  for (uint64_t o : req.recipient_user_ids()) {
    if (!options_.shards.IsLocal(o)) {
      return absl::InvalidArgumentError(absl::StrCat("recipient ", o, " is not on this shard"));
    }
    batch.Delete(home_, DescKey(o, req.post_id()));
  }
  return db_->Write(&batch);
}

absl::StatusOr<pb::ApplyEventsResponse> Feed::ApplyEvents(const pb::ApplyEventsRequest& req) {
  // Other shards' halves of follows and blocks: the followee's follower edge
  // and the blocked person's block flag live on their own shard.
  bool catch_up_pending = false;
  // One event per write, all under the graph lock: each event must see what
  // the ones before it did (a follow then an unfollow in the same batch).
  std::lock_guard<std::mutex> graph_lock(graph_mu_);
  const auto apply = [&](const ev::Event& e, rocksdb::WriteBatch* batch) -> absl::Status {
    switch (e.payload_case()) {
      case ev::Event::kFollowed: {
        const uint64_t follower = e.followed().follower().id();
        const uint64_t followee = e.followed().followee().id();
        if (!options_.shards.IsLocal(followee) || options_.shards.IsLocal(follower)) {
          return absl::OkStatus();
        }
        // A block that overtook the follow wins.
        if (BlockFlags(follower, followee) != 0) return absl::OkStatus();
        if (EdgeOrder(follower, followee).has_value()) return absl::OkStatus();
        EdgeHalves(follower, followee, ids_->Next(), true, batch);
        // Posts written between the follower's backfill and this edge
        // landing were fanned out without them: a catch-up delivers them
        // (durably queued with the edge; allowing for clock skew).
        const absl::Time since =
            google::protobuf::util::TimeUtil::TimestampToNanoseconds(e.create_time()) == 0
                ? absl::Now()
                : absl::FromUnixNanos(
                      google::protobuf::util::TimeUtil::TimestampToNanoseconds(e.create_time()));
        batch->Put(meta_, U64Key2('c', follower, followee),
                   U64Value(ids::MinIdAt(since - kCatchUpSkew)));
        catch_up_pending = true;
        return absl::OkStatus();
      }
      case ev::Event::kUnfollowed: {
        const uint64_t follower = e.unfollowed().follower().id();
        const uint64_t followee = e.unfollowed().followee().id();
        if (!options_.shards.IsLocal(followee) || options_.shards.IsLocal(follower)) {
          return absl::OkStatus();
        }
        auto order = EdgeOrder(follower, followee);
        if (order.has_value()) EdgeHalves(follower, followee, *order, false, batch);
        return absl::OkStatus();
      }
      case ev::Event::kBlocked: {
        ApplyBlock(e.blocked().blocker_id(), e.blocked().blocked_user_id(), true, batch);
        return absl::OkStatus();
      }
      case ev::Event::kUnblocked: {
        ApplyBlock(e.unblocked().blocker_id(), e.unblocked().blocked_user_id(), false, batch);
        return absl::OkStatus();
      }
      case ev::Event::kFanoutModeChanged: {
        const auto& f = e.fanout_mode_changed();
        const std::string key = f.group_id() != 0 ? Key1('g', f.group_id()) : U64Key(f.author_id());
        if (f.pulled()) {
          batch->Put(heavy_, key, "");
        } else {
          batch->Delete(heavy_, key);
        }
        return absl::OkStatus();
      }
      // The member's half of a membership in a group homed on another shard.
      case ev::Event::kGroupMemberJoined:
      case ev::Event::kGroupMemberLeft:
      case ev::Event::kGroupMemberRemoved: {
        const bool joined = e.has_group_member_joined();
        const uint64_t group = joined                      ? e.group_member_joined().group_id()
                               : e.has_group_member_left() ? e.group_member_left().group_id()
                                                           : e.group_member_removed().group_id();
        const uint64_t user = joined                      ? e.group_member_joined().user().id()
                              : e.has_group_member_left() ? e.group_member_left().user_id()
                                                          : e.group_member_removed().user_id();
        if (!options_.shards.IsLocal(user) || ShardOfId(group) == options_.shards.self()) {
          return absl::OkStatus();
        }
        ApplyMemberHalf(user, group, joined, batch);
        if (joined) catch_up_pending = true;  // the backfill of the group's posts
        return absl::OkStatus();
      }
      // A group post by someone homed here, written on the group's shard: it
      // belongs on their page and, for a question, in their open questions.
      case ev::Event::kPostCreated: {
        const auto& pc = e.post_created();
        if (pc.group().id() == 0 || !options_.shards.IsLocal(pc.author().id()) ||
            ShardOfId(pc.post_id()) == options_.shards.self()) {
          return absl::OkStatus();
        }
        batch->Put(posts_, U64Key(pc.post_id()), PostFromEvent(e).SerializeAsString());
        batch->Put(user_posts_, DescKey(pc.author().id(), pc.post_id()), U64Value(pc.group().id()));
        if (pc.kind() == common::v1::POST_KIND_QUESTION) {
          batch->Put(questions_, DescKey2('o', pc.author().id(), pc.post_id()), "");
        }
        return absl::OkStatus();
      }
      case ev::Event::kPostDeleted: {
        const auto& pd = e.post_deleted();
        if (pd.group_id() == 0 || !options_.shards.IsLocal(pd.author_id()) ||
            ShardOfId(pd.post_id()) == options_.shards.self()) {
          return absl::OkStatus();
        }
        batch->Delete(posts_, U64Key(pd.post_id()));
        batch->Delete(user_posts_, DescKey(pd.author_id(), pd.post_id()));
        batch->Delete(questions_, DescKey2('o', pd.author_id(), pd.post_id()));
        return absl::OkStatus();
      }
      default:
        return absl::OkStatus();  // not this consumer's concern
    }
  };
  if (req.batch().events_size() > static_cast<int>(events::kMaxEventsPerBatch)) {
    return status::TooMany("batch.events", req.batch().events_size(), events::kMaxEventsPerBatch);
  }
  if (req.batch().producer().empty()) return status::Required("batch.producer");
  absl::StatusOr<uint64_t> through = applied_->LastApplied(req.batch().producer());
  for (const auto& e : req.batch().events()) {
    events::pb::EventBatch one;
    one.set_producer(req.batch().producer());
    *one.add_events() = e;
    through = events::ApplyBatch(*applied_, one, apply);
    if (!through.ok()) break;
  }
  if (!through.ok()) return through.status();
  if (catch_up_pending) WakeCatchUp();
  pb::ApplyEventsResponse resp;
  resp.set_applied_through_sequence(*through);
  return resp;
}

void Feed::WakeCatchUp() {
  std::lock_guard<std::mutex> lock(catch_up_mu_);
  catch_up_wake_ = true;
  catch_up_cv_.notify_all();
}

void Feed::StartCatchUp() {
  catch_up_thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(catch_up_mu_);
    while (!catch_up_stop_) {
      catch_up_cv_.wait_for(lock, std::chrono::seconds(1),
                            [&] { return catch_up_stop_ || catch_up_wake_; });
      if (catch_up_stop_) break;
      catch_up_wake_ = false;
      lock.unlock();
      absl::Status s = CatchUpFollowers();
      if (!s.ok()) log::Warn("follower catch-up failed; retrying", {{"error", s.ToString()}});
      lock.lock();
    }
  });
}

Feed::~Feed() {
  {
    std::lock_guard<std::mutex> lock(catch_up_mu_);
    catch_up_stop_ = true;
    catch_up_cv_.notify_all();
  }
  if (catch_up_thread_.joinable()) catch_up_thread_.join();
}

bool Feed::IsGroupMemberHere(uint64_t user, uint64_t group) {
  auto v = db_->Get(my_groups_, Key2('m', user, group));
  return v.ok() && v->has_value();
}

absl::Status Feed::CatchUpFollowers() {
  // Follows and group joins whose backfill did not finish (an error, or a
  // crash in between), and joins of groups homed elsewhere ('B').
  for (const char kind : {'b', 'B'}) {
    const std::string prefix(1, kind);
    std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, meta_));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      KeyReader r(absl::string_view(it->key().data() + 1, it->key().size() - 1));
      const uint64_t owner = *r.ReadU64();
      const uint64_t source = *r.ReadU64();
      absl::Status s;
      if (kind == 'b' && Follows(owner, source)) {
        s = Backfill(owner, source);
      } else if (kind == 'B' && IsGroupMemberHere(owner, source)) {
        s = BackfillGroup(owner, source);
      } else {
        rocksdb::WriteBatch batch;
        batch.Delete(meta_, it->key());
        s = db_->Write(&batch);
      }
      if (!s.ok()) return s;
    }
  }
  if (options_.peers == nullptr) return absl::OkStatus();
  const std::string prefix(1, 'c');
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, meta_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    KeyReader r(absl::string_view(it->key().data() + 1, it->key().size() - 1));
    const uint64_t follower = *r.ReadU64();
    const uint64_t author = *r.ReadU64();
    const uint64_t since = DecodeU64(it->value().ToString());
    auto heavy = db_->Get(heavy_, U64Key(author));
    if (!heavy.ok()) return heavy.status();
    if (!heavy->has_value() && Follows(follower, author)) {
      // Every post since the follow, newest first, a page at a time.
      std::vector<uint64_t> since_follow;
      for (uint64_t before = 0;;) {
        auto page = AuthorPostIds(author, before, 100, /*skip_group_posts=*/true);
        for (uint64_t id : page) {
          if (id >= since) since_follow.push_back(id);
        }
        if (page.size() < 100 || page.back() < since) break;
        before = page.back();
      }
      for (uint64_t id : since_follow) {
        auto post = ReadPost(id);
        if (!post.ok()) return post.status();
        if (!post->has_value()) continue;
        pb::DeliverTimelineEntriesRequest req;
        *req.mutable_post() = **post;
        req.add_recipient_user_ids(follower);
        absl::Status s = options_.peers->DeliverTimelineEntries(
            {{options_.shards.ShardOf(follower), std::move(req)}}, PeerDeadline());
        if (!s.ok()) return s;
      }
    }
    rocksdb::WriteBatch batch;
    batch.Delete(meta_, it->key());
    absl::Status s = db_->Write(&batch);
    if (!s.ok()) return s;
  }
  return FromRocks(it->status(), "catch-up queue");
}

absl::StatusOr<pb::PullPostsResponse> Feed::PullPosts(const pb::PullPostsRequest& req) {
  if (req.viewer_user_id() == 0) return status::Required("viewer_user_id");
  if (static_cast<size_t>(req.author_ids_size()) > kMaxPullAuthors) {
    return status::TooMany("author_ids", req.author_ids_size(), kMaxPullAuthors);
  }
  if (static_cast<size_t>(req.group_ids_size()) > kMaxPullAuthors) {
    return status::TooMany("group_ids", req.group_ids_size(), kMaxPullAuthors);
  }
  std::vector<uint64_t> groups;
  for (uint64_t g : req.group_ids()) {
    if (ShardOfId(g) != options_.shards.self()) {
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
  auto viewer = LoadViewer(as_viewer, false);
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
      auto post = ReadPost(c.id);
      if (!post.ok()) return post.status();
      // Followers-only posts are left to the reader's shard, which knows
      // whom the viewer follows first (this shard learns it asynchronously).
      if (post->has_value() && CanSee(*viewer, **post, /*assume_follows=*/true)) {
        *resp.add_posts() = std::move(**post);
      }
    }
    if (!more) break;
  }
  return resp;
}

absl::StatusOr<pb::GetPostCountsResponse> Feed::GetPostCounts(const pb::GetPostCountsRequest& req) {
  if (static_cast<size_t>(req.post_ids_size()) > kMaxCountPosts) {
    return status::TooMany("post_ids", req.post_ids_size(), kMaxCountPosts);
  }
  pb::GetPostCountsResponse resp;
  for (uint64_t id : req.post_ids()) {
    if (ShardOfId(id) != options_.shards.self()) {
      return absl::InvalidArgumentError(absl::StrCat("post ", id, " is not homed on this shard"));
    }
    auto post = ReadPost(id);
    if (!post.ok()) return post.status();
    if (!post->has_value()) continue;
    // A private group's posts count only for its members (and the author):
    // a reader whose shard has not yet heard of their removal gets nothing.
    const pb::Post& p = **post;
    if (p.group().id() != 0 && p.group().privacy() != common::v1::GROUP_PRIVACY_PUBLIC &&
        p.author().id() != req.viewer_user_id()) {
      const char state = GroupMembership(p.group().id(), req.viewer_user_id()).state;
      if (state != 'm' && state != 'a') continue;
    }
    auto count = [&](char kind) -> uint64_t {
      auto v = db_->Get(counters_, CounterKey(kind, id));
      return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
    };
    pb::PostCounts* c = resp.add_counts();
    c->set_post_id(id);
    c->set_like_count(count(kPostLikes));
    c->set_comment_count(count(kPostComments));
    auto liked = db_->Get(likes_, LikeKey(kLikePost, id, req.viewer_user_id()));
    c->set_viewer_has_liked(liked.ok() && liked->has_value());
    c->set_accepted_comment_id((*post)->accepted_comment_id());
  }
  return resp;
}

// ---------------------------------------------------------------------------
// Snapshot

struct Feed::SnapshotReads {
  // Node maps: SnapshotRecord holds a pointer into them while it reads more.
  absl::node_hash_map<uint64_t, std::optional<pb::Group>> groups;
  absl::node_hash_map<uint64_t, std::optional<pb::Post>> posts;
  absl::flat_hash_map<uint64_t, uint64_t> comment_authors;
};

std::vector<Feed::SnapshotSection> Feed::SnapshotSections() const {
  // Every group before the memberships, every post before the comments.
  return {{'g', groups_, "g", 9},  {'m', groups_, "m", 17},   {'p', posts_, "", 8},
          {'c', comments_, "", 8}, {'f', following_, "", 16}, {'b', blocks_, "", 16}};
}

absl::Status Feed::SnapshotRecord(char section, absl::string_view key, absl::string_view value,
                                  SnapshotReads* reads, std::vector<ev::Event>* out) {
  const int32_t self = options_.shards.self();
  // Read once per page: a group has many members, a post many comments.
  auto group = [&](uint64_t id) -> absl::StatusOr<const pb::Group*> {
    auto [it, inserted] = reads->groups.try_emplace(id);
    if (inserted && ShardOfId(id) == self) {
      auto g = ReadGroup(id);
      if (!g.ok()) return g.status();
      it->second = *std::move(g);
    }
    return it->second.has_value() ? &*it->second : nullptr;
  };
  auto post = [&](uint64_t id) -> absl::StatusOr<const pb::Post*> {
    auto [it, inserted] = reads->posts.try_emplace(id);
    if (inserted && ShardOfId(id) == self) {
      auto p = ReadPost(id);
      if (!p.ok()) return p.status();
      it->second = *std::move(p);
    }
    return it->second.has_value() ? &*it->second : nullptr;
  };

  switch (section) {
    case 'g': {
      const uint64_t id = DecodeU64(key.substr(1));
      if (ShardOfId(id) != self) return absl::OkStatus();
      pb::Group g;
      if (!g.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat("group ", id));
      }
      // The creator is not stored; their membership follows as GroupMemberJoined.
      ev::Event created = NewEvent(g.org_id());
      *created.mutable_group_created()->mutable_group() = RefOf(g);
      created.mutable_group_created()->set_description(g.description());
      out->push_back(std::move(created));
      if (g.archived()) {
        ev::Event updated = NewEvent(g.org_id());
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
      ev::Event e = NewEvent((*g)->org_id());
      e.mutable_group_member_joined()->set_group_id(group_id);
      e.mutable_group_member_joined()->mutable_user()->set_id(DecodeU64(key.substr(9, 8)));
      out->push_back(std::move(e));
      return absl::OkStatus();
    }
    case 'p': {
      const uint64_t id = DecodeU64(key);
      // A copy of another shard's post: that shard's snapshot has it.
      if (ShardOfId(id) != self) return absl::OkStatus();
      pb::Post p;
      if (!p.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat("post ", id));
      }
      ev::Event e = NewEvent(p.org_id());
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
      ev::Event e = NewEvent((*p)->org_id());
      *e.mutable_comment_created() = CommentCreatedOf(c, **p, parent_author);
      out->push_back(std::move(e));
      return absl::OkStatus();
    }
    case 'f': {
      // The follower's shard tells each edge once; the followee's half is a copy.
      const uint64_t follower = DecodeU64(key);
      if (!options_.shards.IsLocal(follower)) return absl::OkStatus();
      ev::Event e = NewEvent(0);  // org: FillSnapshotPeople
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
      ev::Event e = NewEvent(0);  // org: FillSnapshotPeople
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

absl::Status Feed::FillSnapshotPeople(google::protobuf::RepeatedPtrField<ev::Event>* events) {
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

absl::StatusOr<pb::ListSnapshotEventsResponse> Feed::ListSnapshotEvents(
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
    at.snapshot_sequence = outbox_->CommittedThrough();
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
  for (auto& e : *resp.mutable_events()) e.set_producer(outbox_->producer_id());
  if (more) resp.set_next_page_token(EncodeSnapshotToken(at));
  return resp;
}

}  // namespace parley::feed
