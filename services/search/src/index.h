// The search index: posts, comments, people and groups in Xapian, built from
// other services' events (docs/architecture.md, "Search").
//
// One Xapian database holds the documents, what visibility needs to know (who
// follows whom, group memberships, blocks) and the last applied sequence of
// every producer, so that one Xapian commit makes all of them durable
// together. Events are applied in memory at once and committed in groups
// (every `commit_interval`); Apply returns only after the commit that holds
// its events, so a producer never trims events that a crash could lose.
//
// Queries run on per-thread readers reopened at each commit. What the viewer
// may see is part of every Xapian query (org, followers-only posts, private
// groups, blocks, suspensions), so pages stay full and counts do not leak.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "parley/events/v1/events.pb.h"
#include "parley/search/v1/search.pb.h"

namespace parley::search {

namespace pb = ::parley::search::v1;

// Named limits (search.proto states them; tests check each).
inline constexpr size_t kMaxQueryChars = 1000;
inline constexpr size_t kMaxQueryTerms = 32;
inline constexpr int32_t kDefaultPageSize = 20;
inline constexpr int32_t kMaxPageSize = 100;
// Deepest result a page may reach (offset + page size): deep paging through a
// ranked list costs as much as reading all of it.
inline constexpr size_t kMaxResultWindow = 1000;
// total_size is exact up to this many matches, an estimate beyond.
inline constexpr unsigned kExactCountUpTo = 1000;
inline constexpr size_t kMaxPrefixChars = 100;
inline constexpr int32_t kMaxSuggestions = 10;
inline constexpr size_t kSnippetChars = 300;
// A prefix query (word*) stands for at most this many of the most frequent
// matching words.
inline constexpr unsigned kMaxWildcardExpansion = 200;
// People search: how many visible posts on the topic are read to credit their
// authors ("what the person has written on the topic").
inline constexpr size_t kMaxTopicPosts = 500;

// Events a rebuild holds (applied to the old index while the new one is
// built, replayed on the new one before the switch); beyond, it fails with
// RESOURCE_EXHAUSTED rather than grow without bound.
inline constexpr size_t kMaxRebuildQueuedEvents = 1000000;

// Who is asking: results are limited to what this person may read.
struct Viewer {
  uint64_t user_id = 0;
  uint64_t org_id = 0;
};

struct IndexOptions {
  // Directory holding the index (generations index-<n> and CURRENT).
  std::string path;
  // How long the committer waits after the first uncommitted change for
  // other producers' batches to share the commit (an applied batch waits for
  // its commit, and is searchable after it).
  absl::Duration commit_delay = absl::Milliseconds(10);
  // fsync at each commit (the other services' --sync_writes).
  bool sync = false;
  // BM25 parameters (the same as SQLite FTS5's).
  double bm25_k1 = 1.2;
  double bm25_b = 0.75;
  // Documents shorter than this fraction of the average length count as that
  // long (Xapian's default), so a three-word post does not outrank every
  // thorough one; FTS5 has no such floor (0).
  double bm25_min_normlen = 0.5;
  // Relevance order adds up to `recency_weight` to a post's BM25 score,
  // halving every `recency_half_life` of age; 0 turns the boost off.
  double recency_weight = 1.0;
  absl::Duration recency_half_life = absl::Hours(24 * 30);
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// Counts of one rebuilt index.
struct RebuildCounts {
  uint64_t posts = 0, comments = 0, people = 0, groups = 0;
};

// One page of a source's ListSnapshotEvents.
struct SnapshotPage {
  std::vector<events::v1::Event> events;
  std::string next_page_token;
  uint64_t snapshot_sequence = 0;
};
// Reads the page after `page_token` ("" for the first) of one source.
using SnapshotSource = std::function<absl::StatusOr<SnapshotPage>(const std::string& page_token)>;

class Index {
 public:
  static absl::StatusOr<std::unique_ptr<Index>> Open(IndexOptions options);
  ~Index();  // commits what is applied and stops the committer
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // Applies a producer's batch (sequence > last applied; others are no-ops)
  // and returns, once committed, the producer's last applied sequence.
  absl::StatusOr<uint64_t> Apply(const events::v1::EventBatch& batch);
  // Commits now what is applied (tests and benchmarks).
  absl::Status Flush();

  absl::StatusOr<pb::SearchPostsResponse> SearchPosts(const Viewer& viewer,
                                                      const pb::SearchPostsRequest& req);
  absl::StatusOr<pb::SearchPeopleResponse> SearchPeople(const Viewer& viewer,
                                                        const pb::SearchPeopleRequest& req);
  absl::StatusOr<pb::SearchGroupsResponse> SearchGroups(const Viewer& viewer,
                                                        const pb::SearchGroupsRequest& req);
  absl::StatusOr<pb::SuggestResponse> Suggest(const Viewer& viewer, const pb::SuggestRequest& req);

  // Builds a new index from `sources` (every producer's ListSnapshotEvents)
  // while the current one keeps serving and applying events, then applies the
  // events that arrived meanwhile and switches to it. ABORTED while another
  // rebuild runs.
  absl::StatusOr<RebuildCounts> Rebuild(const std::vector<SnapshotSource>& sources);

  // Documents in the serving index (committed).
  RebuildCounts Counts();

 private:
  struct State;
  // Applies the events of `batch` above *last with the writer lock held.
  static void ApplyLocked(State& s, const events::v1::EventBatch& batch, uint64_t* last);
  explicit Index(IndexOptions options);
  std::unique_ptr<State> state_;
};

}  // namespace parley::search
