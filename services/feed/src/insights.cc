#include "feed/src/insights.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/status/status.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Insights::Insights(FeedStore* store, GroupStore* memberships)
    : FeedPart(store), memberships_(memberships), counters_(db_->Cf("counters")) {}

namespace {
constexpr int64_t kSecondsPerDay = 86400;
}  // namespace

int64_t DayOf(absl::Time t) {
  const int64_t s = absl::ToUnixSeconds(t);
  return s >= 0 ? s / kSecondsPerDay : -((-s + kSecondsPerDay - 1) / kSecondsPerDay);
}

absl::Time StartOfDay(int64_t day) { return absl::FromUnixSeconds(day * kSecondsPerDay); }

namespace {

// Insight counters: 'I', scope ('o' org or 'g' group), scope id, day, kind,
// then for some kinds a u64 (person, audience, milliseconds).
std::string InsightScope(uint64_t org_id, uint64_t group_id) {
  std::string k = "I";
  k.push_back(group_id != 0 ? 'g' : 'o');
  AppendU64(&k, group_id != 0 ? group_id : org_id);
  return k;
}

// Median of a multiset given as value -> count (mean of the two middle
// values when the count is even).
double Median(const std::map<uint64_t, uint64_t>& histogram) {
  uint64_t n = 0;
  for (const auto& [v, c] : histogram) n += c;
  if (n == 0) return 0;
  const uint64_t lo = (n - 1) / 2, hi = n / 2;  // 0-based ranks of the middle
  double a = 0, b = 0;
  uint64_t seen = 0;
  bool have_a = false;
  for (const auto& [v, c] : histogram) {
    if (!have_a && lo < seen + c) {
      a = static_cast<double>(v);
      have_a = true;
    }
    if (hi < seen + c) {
      b = static_cast<double>(v);
      break;
    }
    seen += c;
  }
  return (a + b) / 2;
}

}  // namespace

// ---------------------------------------------------------------------------
// Insights
void Insights::CountInsight(uint64_t org_id, uint64_t group_id, absl::Time when, char kind,
                            std::optional<uint64_t> key, rocksdb::WriteBatch* batch) {
  const int64_t day = DayOf(when);
  // Org scope always; group scope too for group content.
  auto add = [&](uint64_t group) {
    std::string k = InsightScope(org_id, group);
    AppendU64(&k, static_cast<uint64_t>(day));
    k.push_back(kind);
    if (key.has_value()) AppendU64(&k, *key);
    batch->Merge(counters_, k, EncodeCounter(1));
  };
  add(0);
  if (group_id != 0) add(group_id);
}

absl::StatusOr<pb::GetInsightCountersResponse> Insights::GetInsightCounters(
    const pb::GetInsightCountersRequest& req) {
  if (req.org_id() == 0) return status::Required("org_id");
  if (req.last_day() < req.first_day() || req.last_day() - req.first_day() >= kMaxInsightDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("first_day..last_day: 1 to ", kMaxInsightDays, " days"));
  }
  const std::string scope = InsightScope(req.org_id(), req.group_id());
  std::string start = scope, end = scope;
  AppendU64(&start, static_cast<uint64_t>(req.first_day()));
  AppendU64(&end, static_cast<uint64_t>(req.last_day() + 1));
  pb::GetInsightCountersResponse resp;
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, counters_));
  for (it->Seek(start); it->Valid() && it->key().compare(end) < 0; it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (key.size() < scope.size() + 9) continue;
    const char kind = key[scope.size() + 8];
    const absl::string_view rest = key.substr(scope.size() + 9);
    const int64_t raw = DecodeCounter(absl::string_view(it->value().data(), it->value().size()));
    const uint64_t n = static_cast<uint64_t>(std::max<int64_t>(0, raw));
    const uint64_t sub = rest.size() == 8 ? DecodeU64(rest) : 0;
    switch (kind) {
      case 'p':
        resp.set_post_count(resp.post_count() + n);
        break;
      case 'c':
        resp.set_comment_count(resp.comment_count() + n);
        break;
      case 'q':
        resp.set_question_count(resp.question_count() + n);
        break;
      case 'a':
        resp.set_answered_count(resp.answered_count() + n);
        break;
      case 'P':
        (*resp.mutable_posts_by_user())[sub] += n;
        break;
      case 'R':
        (*resp.mutable_posts_by_reach())[sub] += n;
        break;
      case 'T':
        (*resp.mutable_answers_by_millis())[sub] += n;
        break;
      default:
        break;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "insight counters");
  return resp;
}

absl::StatusOr<pb::ParticipationInsights> Insights::GetParticipationInsights(
    const Caller& caller, const pb::GetParticipationInsightsRequest& req) {
  // The window: whole UTC days, rounded outwards.
  const absl::Time now = absl::Now();
  const bool has_start = req.has_start_time(), has_end = req.has_end_time();
  const absl::Time end = has_end ? ToTime(req.end_time()) : now;
  int64_t last_day = DayOf(end);
  if (has_end && StartOfDay(last_day) == end) --last_day;  // midnight ends the day before
  int64_t first_day =
      has_start ? DayOf(ToTime(req.start_time())) : last_day - (kDefaultInsightDays - 1);
  if (has_start && has_end && ToTime(req.end_time()) < ToTime(req.start_time())) {
    return absl::InvalidArgumentError("end_time: before start_time");
  }
  if (last_day < first_day) last_day = first_day;
  if (last_day - first_day + 1 > kMaxInsightDays) {
    return absl::InvalidArgumentError(absl::StrCat(
        "start_time..end_time: ", last_day - first_day + 1, " days; at most ", kMaxInsightDays));
  }
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  if (req.group_id() == 0) {
    if (!me->admin) {
      return absl::PermissionDeniedError(
          "org insights are for org admins; group admins may "
          "read their group's with group_id");
    }
  } else {
    auto g = memberships_->RequireGroup(caller, req.group_id());
    if (!g.ok()) return g.status();
    if (!me->admin) {
      absl::Status s = memberships_->RequireGroupAdmin(caller, *g);
      if (!s.ok()) return s;
    }
  }
  // Every shard's counters for the scope, added up.
  pb::GetInsightCountersRequest creq;
  creq.set_org_id(caller.org_id());
  creq.set_group_id(req.group_id());
  creq.set_first_day(first_day);
  creq.set_last_day(last_day);
  InsightSums sums;
  // This shard's counters, then every other shard's (asked all at once).
  std::vector<pb::GetInsightCountersResponse> parts;
  auto local = GetInsightCounters(creq);
  if (!local.ok()) return local.status();
  parts.push_back(*std::move(local));
  FeedPeers::ByShard<pb::GetInsightCountersRequest> counter_calls;
  for (int32_t shard = 0; shard < options_.shards.count(); ++shard) {
    if (shard != options_.shards.self()) counter_calls.emplace_back(shard, creq);
  }
  if (!counter_calls.empty()) {
    if (options_.peers == nullptr) return absl::InternalError("no peers for a sharded feed");
    auto remote = options_.peers->GetInsightCounters(counter_calls, PeerDeadline(caller.deadline));
    if (!remote.ok()) return remote.status();
    for (auto& part : *remote) parts.push_back(std::move(part));
  }
  for (const pb::GetInsightCountersResponse& part : parts) sums.Add(part);
  return ComputeInsights(sums, first_day, last_day);
}

void InsightSums::Add(const pb::GetInsightCountersResponse& part) {
  totals.set_post_count(totals.post_count() + part.post_count());
  totals.set_comment_count(totals.comment_count() + part.comment_count());
  totals.set_question_count(totals.question_count() + part.question_count());
  totals.set_answered_count(totals.answered_count() + part.answered_count());
  for (const auto& [k, v] : part.posts_by_user()) posts_by_user[k] += v;
  for (const auto& [k, v] : part.posts_by_reach()) posts_by_reach[k] += v;
  for (const auto& [k, v] : part.answers_by_millis()) answers_by_millis[k] += v;
}

pb::ParticipationInsights ComputeInsights(const InsightSums& sums, int64_t first_day,
                                          int64_t last_day) {
  pb::ParticipationInsights out;
  *out.mutable_start_time() = Ts(StartOfDay(first_day));
  *out.mutable_end_time() = Ts(StartOfDay(last_day + 1));
  const double days = static_cast<double>(last_day - first_day + 1);
  out.set_post_count(sums.totals.post_count());
  out.set_comment_count(sums.totals.comment_count());
  out.set_posts_per_day(static_cast<double>(sums.totals.post_count()) / days);
  out.set_comments_per_day(static_cast<double>(sums.totals.comment_count()) / days);
  std::vector<uint64_t> counts;
  for (const auto& [user, n] : sums.posts_by_user) {
    if (n > 0) counts.push_back(n);
  }
  std::sort(counts.begin(), counts.end());
  const size_t n = counts.size();
  out.set_active_posters(n);
  uint64_t total = 0;
  double weighted = 0;
  for (size_t i = 0; i < n; ++i) {
    total += counts[i];
    weighted += static_cast<double>(i + 1) * static_cast<double>(counts[i]);
  }
  if (n > 0 && total > 0) {
    const size_t top = static_cast<size_t>(std::ceil(0.15 * static_cast<double>(n)));
    uint64_t top_posts = 0;
    for (size_t i = n - top; i < n; ++i) top_posts += counts[i];
    out.set_top_posters_post_share(static_cast<double>(top_posts) / static_cast<double>(total));
    const double dn = static_cast<double>(n);
    out.set_post_gini_coefficient(2 * weighted / (dn * static_cast<double>(total)) - (dn + 1) / dn);
  }
  out.set_median_post_reach(Median(sums.posts_by_reach));
  out.set_question_count(sums.totals.question_count());
  if (sums.totals.question_count() > 0) {
    out.set_answered_question_rate(static_cast<double>(sums.totals.answered_count()) /
                                   static_cast<double>(sums.totals.question_count()));
  }
  const double median_ms = Median(sums.answers_by_millis);
  *out.mutable_median_time_to_answer() = google::protobuf::util::TimeUtil::MillisecondsToDuration(
      static_cast<int64_t>(std::llround(median_ms)));
  return out;
}

}  // namespace parley::feed
