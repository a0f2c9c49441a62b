#include "feed/src/graph.h"

#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/status/status.h"
#include "parley/storage/keys.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Graph::Graph(FeedStore* store, GraphStore* graph, Timelines* timelines, Visibility* visibility,
             CatchUpWorker* catch_up)
    : FeedPart(store),
      graph_(graph),
      timelines_(timelines),
      visibility_(visibility),
      catch_up_(catch_up),
      meta_(db_->Cf("meta")) {}

absl::Status Graph::Follow(const Caller& caller, uint64_t user_id) {
  absl::Status local = store_->RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  if (user_id == caller.user_id()) {
    return absl::InvalidArgumentError("user_id: you cannot follow yourself");
  }
  auto target = store_->RequirePeer(caller, user_id);
  if (!target.ok()) return target.status();
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  {
    sync::MutexLock lock(&graph_->mu());
    if (graph_->BlockFlags(caller.user_id(), user_id) != 0) {
      return absl::FailedPreconditionError("one of you has blocked the other");
    }
    // Following already: run the backfill again (idempotent), in case the
    // first one failed after the follow was committed.
    if (graph_->Follows(caller.user_id(), user_id))
      return timelines_->Backfill(caller.user_id(), user_id);
    rocksdb::WriteBatch batch;
    graph_->EdgeHalves(caller.user_id(), user_id, store_->ids().Next(), true, &batch);
    // Cleared by the backfill; after a crash in between, the catch-up worker
    // finds it and backfills.
    batch.Put(meta_, U64Key2('b', caller.user_id(), user_id), "");
    ev::Event e = store_->NewEvent(caller.org_id());
    *e.mutable_followed()->mutable_follower() = me->ref;
    *e.mutable_followed()->mutable_followee() = target->ref;
    absl::Status s = store_->Commit(&batch, {e});
    if (!s.ok()) return s;
  }
  absl::Status s = timelines_->Backfill(caller.user_id(), user_id);
  if (!s.ok()) catch_up_->Wake();
  return s;
}

absl::Status Graph::Unfollow(const Caller& caller, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  sync::MutexLock lock(&graph_->mu());
  auto order = graph_->EdgeOrder(caller.user_id(), user_id);
  if (!order.has_value()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  graph_->EdgeHalves(caller.user_id(), user_id, *order, false, &batch);
  ev::Event e = store_->NewEvent(caller.org_id());
  e.mutable_unfollowed()->mutable_follower()->set_id(caller.user_id());
  e.mutable_unfollowed()->mutable_followee()->set_id(user_id);
  return store_->Commit(&batch, {e});
}

absl::Status Graph::Block(const Caller& caller, uint64_t user_id) {
  if (user_id == caller.user_id()) {
    return absl::InvalidArgumentError("user_id: you cannot block yourself");
  }
  auto target = store_->RequirePeer(caller, user_id);
  if (!target.ok()) return target.status();
  sync::MutexLock lock(&graph_->mu());
  if (graph_->BlockFlags(caller.user_id(), user_id) & kIBlocked) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  graph_->ApplyBlock(caller.user_id(), user_id, true, &batch);
  ev::Event e = store_->NewEvent(caller.org_id());
  e.mutable_blocked()->set_blocker_id(caller.user_id());
  e.mutable_blocked()->set_blocked_user_id(user_id);
  return store_->Commit(&batch, {e});
}

absl::Status Graph::Unblock(const Caller& caller, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  sync::MutexLock lock(&graph_->mu());
  if (!(graph_->BlockFlags(caller.user_id(), user_id) & kIBlocked)) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  graph_->ApplyBlock(caller.user_id(), user_id, false, &batch);
  ev::Event e = store_->NewEvent(caller.org_id());
  e.mutable_unblocked()->set_blocker_id(caller.user_id());
  e.mutable_unblocked()->set_blocked_user_id(user_id);
  return store_->Commit(&batch, {e});
}

absl::Status Graph::Mute(const Caller& caller, uint64_t user_id) {
  if (user_id == caller.user_id()) return absl::InvalidArgumentError("user_id: yourself");
  auto target = store_->RequirePeer(caller, user_id);
  if (!target.ok()) return target.status();
  rocksdb::WriteBatch batch;
  graph_->SetMute(caller.user_id(), user_id, true, &batch);
  return db_->Write(&batch);
}

absl::Status Graph::Unmute(const Caller& caller, uint64_t user_id) {
  if (user_id == 0) return status::Required("user_id");
  rocksdb::WriteBatch batch;
  graph_->SetMute(caller.user_id(), user_id, false, &batch);
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
absl::StatusOr<Response> Graph::ListGraph(const Caller& caller, const Request& req,
                                          rocksdb::ColumnFamilyHandle* index) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  const uint64_t user = req.user_id() == 0 ? caller.user_id() : req.user_id();
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  if (user != caller.user_id()) {
    auto peer = store_->RequirePeer(caller, user);
    if (!peer.ok()) return peer.status();
    if (viewer->blocked.contains(user)) {
      return absl::NotFoundError(absl::StrCat("user ", user, " not found"));
    }
  }
  return ListEdges<Response>(db_, index, directory_, user, *size, req.page_token(),
                             viewer->blocked);
}

absl::StatusOr<pb::ListFollowersResponse> Graph::ListFollowers(
    const Caller& caller, const pb::ListFollowersRequest& req) {
  return ListGraph<pb::ListFollowersResponse>(caller, req, graph_->followers_index());
}

absl::StatusOr<pb::ListFollowingResponse> Graph::ListFollowing(
    const Caller& caller, const pb::ListFollowingRequest& req) {
  return ListGraph<pb::ListFollowingResponse>(caller, req, graph_->following_index());
}

}  // namespace parley::feed
