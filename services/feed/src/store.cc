#include "feed/src/store.h"

#include "feed/src/keys.h"
#include "parley/events/events.h"
#include "parley/status/status.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

// ---------------------------------------------------------------------------
// Helpers
ev::Event FeedStore::NewEvent(uint64_t org_id) {
  ev::Event e;
  *e.mutable_create_time() = Ts(absl::Now());
  e.set_org_id(org_id);
  return e;
}

absl::Status FeedStore::Commit(rocksdb::WriteBatch* batch, const std::vector<ev::Event>& events) {
  std::vector<std::string> payloads;
  payloads.reserve(events.size());
  for (const auto& e : events) payloads.push_back(events::EncodeForOutbox(e));
  auto first = outbox_->Commit(batch, payloads);
  return first.ok() ? absl::OkStatus() : first.status();
}

absl::Status FeedStore::RequireLocal(uint64_t user_id) const {
  if (options_.shards.IsLocal(user_id)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("user ", user_id, " belongs to feed shard ",
                                                    options_.shards.ShardOf(user_id), ", not ",
                                                    options_.shards.self()));
}

int32_t FeedStore::ShardOfId(uint64_t id) const {
  return static_cast<int32_t>(ids::Split(id).node_id);
}

// Another person the caller may act on: same org, active. Others are NOT_FOUND.
absl::StatusOr<Person> FeedStore::RequirePeer(const Caller& caller, uint64_t user_id) {
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
absl::StatusOr<Person> FeedStore::RequireActiveSelf(const Caller& caller) {
  auto me = directory_->GetOne(caller.user_id());
  if (!me.ok()) return me.status();
  if (!me->active) return absl::PermissionDeniedError("your account is not active");
  return me;
}

}  // namespace parley::feed
