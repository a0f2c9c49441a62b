// What every component of one feed shard shares: the database, the shard's
// place in the shard map, the people directory, ids and the outbox (with the
// named limits and the options). Each component keeps the handles of the
// column families it owns and its own locks; nothing else is shared.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "feed/src/feed_peers.h"
#include "parley/common/v1/auth.pb.h"
#include "parley/directory/directory.h"
#include "parley/events/v1/events.pb.h"
#include "parley/feed/v1/feed.pb.h"
#include "parley/ids/ids.h"
#include "parley/shard/shard.h"
#include "parley/storage/db.h"
#include "parley/storage/outbox.h"

namespace parley::feed {

namespace pb = ::parley::feed::v1;
using common::v1::TokenClaims;
using directory::Directory;
using directory::Person;

// Named limits (feed.proto states them; tests check each).
inline constexpr size_t kMaxBodyChars = 5000;
inline constexpr size_t kMaxMentions = 50;
inline constexpr size_t kMaxHashtags = 30;
inline constexpr size_t kMaxHashtagChars = 100;
inline constexpr int32_t kDefaultPageSize = 20;
inline constexpr int32_t kMaxPageSize = 100;
inline constexpr size_t kMaxDeliverRecipients = 10000;
inline constexpr size_t kMaxPullAuthors = 1000;
inline constexpr size_t kMaxPullPosts = 1000;
inline constexpr size_t kMaxCountPosts = 500;
inline constexpr size_t kMaxGroupNameChars = 100;
inline constexpr size_t kMaxGroupDescriptionChars = 2000;
inline constexpr uint64_t kMaxGroupsPerPerson = 500;
inline constexpr size_t kMaxGetGroups = 100;
inline constexpr int64_t kMaxInsightDays = 366;
inline constexpr int64_t kDefaultInsightDays = 30;
// Index entries a question list reads per page before returning a short page
// (answered questions are skipped at read time).
inline constexpr size_t kMaxQuestionScan = 2000;
// ListSnapshotEvents: events per page, and records a page reads at most before
// it returns short (copies of other shards' posts, invitations, requests and
// the blocked person's side of a block yield no event).
inline constexpr int32_t kDefaultSnapshotPageSize = 500;
inline constexpr int32_t kMaxSnapshotPageSize = 1000;
inline constexpr size_t kMaxSnapshotScan = 10000;

// Who calls, and until when: the adapter passes the gRPC deadline, so that
// calls to other shards on the caller's behalf give up when the caller would
// (and after kPeerTimeout at most). Built implicitly from the claims alone
// (no deadline of the caller's own) for in-process callers and tests.
struct Caller {
  Caller(const TokenClaims& claims,  // NOLINT(google-explicit-constructor)
         absl::Time deadline = absl::InfiniteFuture())
      : claims(claims), deadline(deadline) {}
  uint64_t user_id() const { return claims.user_id(); }
  uint64_t org_id() const { return claims.org_id(); }
  const std::string& org_domain() const { return claims.org_domain(); }

  const TokenClaims& claims;
  const absl::Time deadline;
};

struct FeedOptions {
  shard::ShardMap shards = shard::ShardMap::Single();
  // Materialized home timeline entries kept per person (the hot head).
  size_t home_head = 800;
  // Trimming starts when a head has grown by this many entries past home_head.
  size_t home_trim_slack = 200;
  // Recent posts copied into the follower's head on follow.
  size_t follow_backfill = 100;
  // Authors with more followers are not pushed; readers merge their posts.
  uint64_t fanout_push_threshold = 10000;
  // Followers read per step of a fan-out (and recipients per DeliverTimelineEntries).
  size_t fanout_batch = 10000;
  // Posts plus comments per person per minute (a token bucket with this burst).
  int32_t writes_per_minute = 60;
  // The other shards (null with one shard). Not owned.
  FeedPeers* peers = nullptr;
  // The clock for rate limits.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class FeedStore {
 public:
  FeedStore(storage::Db* db, Directory* directory, const FeedOptions* options,
            std::unique_ptr<ids::IdGenerator> ids, std::unique_ptr<storage::Outbox> outbox)
      : db_(db),
        directory_(directory),
        options_(*options),
        ids_(std::move(ids)),
        outbox_(std::move(outbox)) {}

  storage::Db* db() const { return db_; }
  Directory* directory() const { return directory_; }
  const FeedOptions& options() const { return options_; }
  ids::IdGenerator& ids() { return *ids_; }
  storage::Outbox* outbox() const { return outbox_.get(); }

  // A new event of this shard for `org_id`, stamped now.
  events::v1::Event NewEvent(uint64_t org_id);
  // Commits `batch` with `events` appended to the outbox, in one write.
  absl::Status Commit(rocksdb::WriteBatch* batch, const std::vector<events::v1::Event>& events);
  // The shard a post, comment or group id was created on (its home shard).
  int32_t ShardOfId(uint64_t id) const;
  bool HomedHere(uint64_t id) const { return ShardOfId(id) == options_.shards.self(); }
  // FAILED_PRECONDITION unless `user_id` is homed on this shard.
  absl::Status RequireLocal(uint64_t user_id) const;
  // Another person the caller may act on: same org, active. Others are NOT_FOUND.
  absl::StatusOr<Person> RequirePeer(const Caller& caller, uint64_t user_id);
  // The caller as identity knows them now: a suspended person's token keeps
  // verifying until it expires, but they may not write.
  absl::StatusOr<Person> RequireActiveSelf(const Caller& caller);

 private:
  storage::Db* const db_;
  Directory* const directory_;
  const FeedOptions& options_;
  const std::unique_ptr<ids::IdGenerator> ids_;
  const std::unique_ptr<storage::Outbox> outbox_;
};

// The shared context a component is built on (the names its code uses).
class FeedPart {
 protected:
  explicit FeedPart(FeedStore* store)
      : store_(store),
        db_(store->db()),
        directory_(store->directory()),
        options_(store->options()) {}

  FeedStore* const store_;
  storage::Db* const db_;
  Directory* const directory_;
  const FeedOptions& options_;
};

}  // namespace parley::feed
