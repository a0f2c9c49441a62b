#include "feed/src/fanout.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/events/events.h"
#include "parley/status/status.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

FanOutWorker::FanOutWorker(FeedStore* store, HomeStore* homes, GraphStore* graph,
                           GroupStore* memberships, PostStore* post_store, Timelines* timelines)
    : FeedPart(store),
      homes_(homes),
      graph_(graph),
      memberships_(memberships),
      post_store_(post_store),
      timelines_(timelines),
      posts_(db_->Cf("posts")),
      meta_(db_->Cf("meta")) {}

std::map<int32_t, std::vector<uint64_t>> FanOutWorker::SplitByShard(std::vector<uint64_t>& users) {
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

absl::Status FanOutWorker::FanOutPost(const ev::Event& event, HomeStore::Writer* out) {
  const auto& pc = event.post_created();
  const uint64_t author = pc.author().id();
  const uint64_t group = pc.group().id();
  // The audience: a group post's members, any other post's followers.
  // Hybrid: above the threshold (a heavy author, a large group) nothing is
  // pushed; readers on every shard merge the posts, so every shard learns
  // that the source is now pulled.
  const uint64_t audience =
      group != 0 ? memberships_->MemberCount(group) : graph_->FollowerCount(author);
  if (audience > options_.fanout_push_threshold) {
    auto marked = group != 0 ? graph_->IsHeavyGroup(group) : graph_->IsHeavyAuthor(author);
    if (!marked.ok()) return marked.status();
    if (*marked) return absl::OkStatus();
    rocksdb::WriteBatch batch;
    graph_->SetHeavy(group != 0 ? 0 : author, group, true, &batch);
    ev::Event e = store_->NewEvent(event.org_id());
    if (group != 0) {
      e.mutable_fanout_mode_changed()->set_group_id(group);
    } else {
      e.mutable_fanout_mode_changed()->set_author_id(author);
    }
    e.mutable_fanout_mode_changed()->set_pulled(true);
    return store_->Commit(&batch, {e});
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
  return group != 0 ? memberships_->ForEachMember(group, deliver)
                    : graph_->ForEachFollower(author, deliver);
}

absl::Status FanOutWorker::FanOutDelete(const ev::Event& event) {
  const auto& pd = event.post_deleted();
  const uint64_t author = pd.author_id();
  std::set<int32_t> told;
  const auto audience = [&](const std::function<absl::Status(std::vector<uint64_t>&)>& chunk) {
    return pd.group_id() != 0 ? memberships_->ForEachMember(pd.group_id(), chunk)
                              : graph_->ForEachFollower(author, chunk);
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
    for (uint64_t f : followers) homes_->RemoveEntry(f, pd.post_id(), &batch);
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

std::unique_ptr<storage::Dispatcher> FanOutWorker::NewFanOutDispatcher() {
  return std::make_unique<storage::Dispatcher>(
      store_->outbox(),
      storage::DispatcherOptions{.subscriber = "fanout",
                                 .max_batch = 256,
                                 .initial_backoff = absl::Milliseconds(50),
                                 .max_backoff = absl::Seconds(5),
                                 .idle_poll = absl::Seconds(1)},
      [this](const std::vector<storage::OutboxEntry>& entries) { return Deliver(entries); });
}

absl::Status FanOutWorker::Deliver(const std::vector<storage::OutboxEntry>& entries) {
  // Home entries of the whole batch go out in a few large WriteBatches; a
  // crash before the dispatcher acknowledges re-delivers the batch, and the
  // entries (keyed by owner and post id) are simply written again.
  HomeStore::Writer writer(homes_);
  for (const auto& entry : entries) {
    auto event = events::DecodeFromOutbox(entry, store_->outbox()->producer_id());
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

absl::Status FanOutWorker::DeliverTimelineEntries(const pb::DeliverTimelineEntriesRequest& req) {
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
  if (store_->ShardOfId(copy.id()) != options_.shards.self()) {  // never clobber an original
    rocksdb::WriteBatch batch;
    batch.Put(posts_, U64Key(copy.id()), copy.SerializeAsString());
    s = db_->Write(&batch);
    if (!s.ok()) return s;
  }
  s = homes_->PutHomeEntries(copy.id(), copy.author().id(), copy.group().id(), owners);
  if (!s.ok()) return s;
  return homes_->TrimHomes(owners);
}

absl::Status FanOutWorker::RemoveTimelineEntries(const pb::RemoveTimelineEntriesRequest& req) {
  if (req.post_id() == 0) return status::Required("post_id");
  if (static_cast<size_t>(req.recipient_user_ids_size()) > kMaxDeliverRecipients) {
    return status::TooMany("recipient_user_ids", req.recipient_user_ids_size(),
                           kMaxDeliverRecipients);
  }
  rocksdb::WriteBatch batch;
  if (store_->ShardOfId(req.post_id()) != options_.shards.self())
    batch.Delete(posts_, U64Key(req.post_id()));
  for (uint64_t o : req.recipient_user_ids()) {
    if (!options_.shards.IsLocal(o)) {
      return absl::InvalidArgumentError(absl::StrCat("recipient ", o, " is not on this shard"));
    }
    homes_->RemoveEntry(o, req.post_id(), &batch);
  }
  return db_->Write(&batch);
}

absl::Status FanOutWorker::CatchUpFollowers() {
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
      if (kind == 'b' && graph_->Follows(owner, source)) {
        s = timelines_->Backfill(owner, source);
      } else if (kind == 'B' && memberships_->IsGroupMemberHere(owner, source)) {
        s = timelines_->BackfillGroup(owner, source);
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
    auto heavy = graph_->IsHeavyAuthor(author);
    if (!heavy.ok()) return heavy.status();
    if (!*heavy && graph_->Follows(follower, author)) {
      // Every post since the follow, newest first, a page at a time.
      std::vector<uint64_t> since_follow;
      for (uint64_t before = 0;;) {
        auto page = post_store_->AuthorPostIds(author, before, 100, /*skip_group_posts=*/true);
        for (uint64_t id : page) {
          if (id >= since) since_follow.push_back(id);
        }
        if (page.size() < 100 || page.back() < since) break;
        before = page.back();
      }
      for (uint64_t id : since_follow) {
        auto post = post_store_->ReadPost(id);
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

}  // namespace parley::feed
