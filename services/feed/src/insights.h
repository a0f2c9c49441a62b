// Participation insights: counters per org (and group) and day, written with
// the content they count (counters 'I'), summed across shards and turned into
// figures by a pure function.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "feed/src/group_store.h"
#include "feed/src/store.h"

namespace parley::feed {

// Every shard's counters for one scope and day range, added up.
struct InsightSums {
  pb::GetInsightCountersResponse totals;  // post, comment, question, answered counts
  std::map<uint64_t, uint64_t> posts_by_user;
  std::map<uint64_t, uint64_t> posts_by_reach;
  std::map<uint64_t, uint64_t> answers_by_millis;
  void Add(const pb::GetInsightCountersResponse& part);
};

// The figures for `sums` over days [first_day, last_day] (days since the
// Unix epoch): rates per day, active posters, the top 15%'s share and the Gini
// coefficient of posts per person, median reach, answered rate and median
// time to an accepted answer.
pb::ParticipationInsights ComputeInsights(const InsightSums& sums, int64_t first_day,
                                          int64_t last_day);

int64_t DayOf(absl::Time t);
absl::Time StartOfDay(int64_t day);

class Insights : FeedPart {
 public:
  Insights(FeedStore* store, GroupStore* memberships);

  // Org admins see their org's figures, group admins their group's.
  absl::StatusOr<pb::ParticipationInsights> GetParticipationInsights(
      const Caller& caller, const pb::GetParticipationInsightsRequest& req);

  // In `batch`: counts one `kind` of content (with an optional key) on `when`'s day.
  void CountInsight(uint64_t org_id, uint64_t group_id, absl::Time when, char kind,
                    std::optional<uint64_t> key, rocksdb::WriteBatch* batch);
  absl::StatusOr<pb::GetInsightCountersResponse> GetInsightCounters(
      const pb::GetInsightCountersRequest& req);

 private:
  GroupStore* const memberships_;
  rocksdb::ColumnFamilyHandle* const counters_;
};

}  // namespace parley::feed
