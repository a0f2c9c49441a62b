// Benchmark `search`: post search (services/search: Index over Xapian, and
// SearchPosts over gRPC) against SQLite FTS5 on the same corpus and the same
// queries, in one run.
//
// Corpus. 200,000 posts (--quick: 20,000) from a fixed seed: status updates of
// 5-60 words drawn with Zipf (s = 1) frequencies from a 30,000-word
// vocabulary (60 common English words at the top, then generated pronounceable
// words), a quarter of them with one or two hashtags; 3,000 authors of org 1,
// every post visible to the whole org. Every generated word ends in a, o or u
// and one of b d g k m n p, which no English suffix does, so Xapian's stemmer
// (Snowball english) and FTS5's (porter) leave them alone: both engines index
// the same terms, and their rankings can be compared.
//
// Indexing, timed the same way on both sides. Parley: the posts as PostCreated
// events of producer "bench" (sequences 1..N, batches of 1,000, as a feed
// shard's dispatcher sends them), one Index::Apply per batch (each returns once
// its batch is committed), then Index::Flush. FTS5: the same bodies inserted
// into fts5(body, tokenize='porter unicode61') with rowid = post id, one
// transaction per 1,000 rows (WAL, synchronous=OFF: the index does not fsync
// either). docs/s = posts / elapsed.
//
// Queries. 2,000 (--quick: 1,000) in a fixed mix, the same text for both
// engines: 40% single words (log-uniform over frequency ranks 80..3,060),
// 30% two-word AND and 15% two-word phrases (words of a random post, the
// phrase two adjacent ones: what people search for exists), 15% prefixes
// ("abc*": 3-4 letters of a word of rank 80..2,060). Parley: Index::SearchPosts
// in process as member 1 of the org, 10 per page, relevance order with the
// recency boost off (pure BM25, like FTS5's rank); FTS5: a prepared
// `SELECT rowid ... WHERE posts MATCH ? ORDER BY rank LIMIT 10`. One thread,
// closed loop, the whole mix once each after an untimed pass that warms both.
//
// Overlap (from the untimed pass): |top 10 of Parley ∩ top 10 of FTS5| /
// max(1, min(10, FTS5 matches)), averaged over single-word, AND and phrase
// queries. Short posts tie on BM25 (same length, one occurrence), and each
// engine cuts a tie at the 10th place its own way, so Parley's hits that tie
// with FTS5's 10th score count as shared, up to the places the tie fills
// (the strict figure is shown too). Prefixes are reported apart, outside the
// target: Parley expands a prefix to its 200 most frequent words, FTS5 matches
// every word.
//
// gRPC: SearchGrpcService behind a real server::Server on 127.0.0.1:0, user
// tokens minted by bench_auth.h's BenchAuth and checked by the production
// Authenticator; 2 client threads (one connection each) run the mix closed
// loop (twice; --quick: once), each answer checked against the in-process one.
//
// Visible: a writer thread hands a post with a word of its own to Index::Apply
// while this thread polls SearchPosts for that word every millisecond;
// visible_ms is the time from the hand-over to the first answer holding the
// post (p50 of 20, gaps of 20-150 ms so the samples fall at different points
// of the commit interval).
#include <sqlite3.h>
#include <xapian.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench_auth.h"
#include "bench_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpc_bench_util.h"
#include "parley/common/v1/common.pb.h"
#include "parley/events/v1/events.pb.h"
#include "parley/search/v1/search.grpc.pb.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"
#include "parley/testing/testing.h"
#include "prometheus/registry.h"
#include "search/src/index.h"
#include "search/src/search_service.h"

namespace {

namespace cpb = ::parley::common::v1;
namespace ev = ::parley::events::v1;
namespace spb = ::parley::search::v1;
using parley::bench::Clock;
using parley::bench::Die;
using parley::bench::Millis;

constexpr uint64_t kSeed = 20240611;
constexpr uint64_t kOrgId = 1;
constexpr char kDomain[] = "acme.example";
constexpr char kProducer[] = "bench";
constexpr size_t kBatch = 1000;  // events per EventBatch (the limit) = FTS5 rows per transaction
constexpr size_t kVocabulary = 30000;
constexpr uint64_t kAuthors = 3000;
constexpr uint64_t kViewer = 1;  // every query is member 1's
constexpr int kPageSize = 10;
constexpr int kGrpcThreads = 2;
constexpr int kVisibleSamples = 20;
constexpr double kTargetRatio = 1.0;
constexpr double kTargetOverlap = 0.8;
constexpr double kTargetP99Ms = 20;
constexpr double kTargetVisibleMs = 1000;  // "searchable within a second"

// ---------------------------------------------------------------------------
// The corpus.

// The most frequent words of English status updates, in rank order: the head
// of a real Zipf distribution is function words.
constexpr const char* kCommonWords[] = {
    "the",  "to",     "and",    "a",    "of",    "in",    "for",   "is",   "on",   "we",
    "our",  "this",   "that",   "with", "it",    "be",    "at",    "are",  "will", "from",
    "team", "you",    "all",    "by",   "new",   "i",     "as",    "have", "an",   "next",
    "week", "today",  "thanks", "up",   "out",   "about", "more",  "can",  "so",   "just",
    "now",  "please", "if",     "your", "us",    "has",   "was",   "not",  "get",  "one",
    "what", "when",   "how",    "some", "there", "they",  "their", "been", "also", "after"};
constexpr size_t kCommon = std::size(kCommonWords);

size_t Pick(std::mt19937_64& rng, size_t n) {
  return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
}

// A pronounceable word of 1-3 syllables that ends in a, o or u and one of
// b d g k m n p. No English suffix (-s, -ed, -ing, -er, -ly, -ion, -ent, -al,
// -ic, -ize, -ate, -ous, -ive, -ful, -ness, ...) ends that way, so both
// stemmers keep the word whole.
std::string MakeWord(std::mt19937_64& rng) {
  static constexpr const char* kOnsets[] = {
      "b",  "c",  "d",  "f",  "g",  "h",  "j",  "k",  "l",  "m",  "n",  "p",  "r",
      "s",  "t",  "v",  "w",  "z",  "br", "cr", "dr", "fr", "gr", "pr", "tr", "bl",
      "cl", "fl", "gl", "pl", "sl", "st", "sp", "sk", "sh", "ch", "th"};
  static constexpr const char* kVowels[] = {"a", "e", "i", "o", "u"};
  static constexpr const char* kLastVowels[] = {"a", "o", "u"};
  static constexpr char kCodas[] = {'b', 'd', 'g', 'k', 'm', 'n', 'p'};
  const size_t roll = Pick(rng, 20);
  const size_t syllables = roll < 2 ? 1 : roll < 13 ? 2 : 3;
  std::string word;
  for (size_t s = 0; s + 1 < syllables; ++s) {
    word += kOnsets[Pick(rng, std::size(kOnsets))];
    word += kVowels[Pick(rng, std::size(kVowels))];
  }
  word += kOnsets[Pick(rng, std::size(kOnsets))];
  word += kLastVowels[Pick(rng, std::size(kLastVowels))];
  word += kCodas[Pick(rng, std::size(kCodas))];
  return word;
}

// Words by frequency rank (0 = the most frequent), drawn with Zipf (s = 1)
// probabilities: p(rank r) is proportional to 1 / (r + 1).
class Vocabulary {
 public:
  Vocabulary(size_t size, std::mt19937_64& rng) {
    std::unordered_set<std::string> seen;
    for (const char* w : kCommonWords) {
      words_.emplace_back(w);
      seen.insert(w);
    }
    while (words_.size() < size) {
      std::string w = MakeWord(rng);
      if (seen.insert(w).second) words_.push_back(std::move(w));
    }
    double sum = 0;
    cdf_.reserve(size);
    for (size_t r = 0; r < size; ++r) cdf_.push_back(sum += 1.0 / static_cast<double>(r + 1));
    for (double& c : cdf_) c /= sum;
  }

  size_t size() const { return words_.size(); }
  const std::string& word(size_t rank) const { return words_[rank]; }
  size_t Draw(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const auto at = std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return std::min(static_cast<size_t>(at), cdf_.size() - 1);
  }

 private:
  std::vector<std::string> words_;
  std::vector<double> cdf_;
};

struct Post {
  uint64_t id = 0;
  uint64_t author = 0;
  cpb::PostKind kind = cpb::POST_KIND_STATUS;
  std::string body;
  std::vector<uint32_t> words;  // vocabulary ranks, in body order (hashtags aside)
  std::vector<std::string> hashtags;
};

// Posts 1..count: 5-60 words (a capital, a few commas, a full stop or a
// question mark), a quarter with one or two hashtags taken from 200 frequent
// words.
std::vector<Post> MakePosts(const Vocabulary& vocabulary, uint64_t count, std::mt19937_64& rng) {
  constexpr size_t kTags = 200;
  std::vector<Post> posts(count);
  for (uint64_t i = 0; i < count; ++i) {
    Post& p = posts[i];
    p.id = i + 1;
    p.author = 1 + Pick(rng, kAuthors);
    const size_t length = 5 + Pick(rng, 56);
    p.words.reserve(length);
    for (size_t w = 0; w < length; ++w) {
      p.words.push_back(static_cast<uint32_t>(vocabulary.Draw(rng)));
      if (w > 0) p.body += Pick(rng, 16) == 0 ? ", " : " ";
      p.body += vocabulary.word(p.words.back());
    }
    p.body[0] = static_cast<char>(p.body[0] - 'a' + 'A');
    const bool question = Pick(rng, 10) == 0;
    p.body += question ? "?" : ".";
    p.kind = question ? cpb::POST_KIND_QUESTION : cpb::POST_KIND_STATUS;
    if (Pick(rng, 4) == 0) {
      const size_t tags = 1 + Pick(rng, 2);
      while (p.hashtags.size() < tags) {
        // Squaring a uniform draw favours the first tags, as real tags are skewed.
        const double u = std::uniform_real_distribution<double>(0, 1)(rng);
        const std::string& tag = vocabulary.word(kCommon + static_cast<size_t>(u * u * kTags));
        if (std::find(p.hashtags.begin(), p.hashtags.end(), tag) == p.hashtags.end()) {
          p.hashtags.push_back(tag);
          p.body += " #" + tag;
        }
      }
    }
  }
  return posts;
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

cpb::UserRef Author(uint64_t id) {
  cpb::UserRef ref;
  ref.set_id(id);
  ref.set_handle(absl::StrCat("u", id));
  ref.set_domain(kDomain);
  ref.set_display_name(absl::StrCat("User ", id));
  return ref;
}

// The event feed's outbox would carry for `post`, created at `create_time`.
ev::Event PostCreatedEvent(const Post& post, uint64_t sequence, absl::Time create_time) {
  ev::Event event;
  event.set_sequence(sequence);
  event.set_producer(kProducer);
  *event.mutable_create_time() = ToProto(create_time);
  event.set_org_id(kOrgId);
  ev::PostCreated* created = event.mutable_post_created();
  created->set_post_id(post.id);
  *created->mutable_author() = Author(post.author);
  created->set_kind(post.kind);
  created->set_body(post.body);
  for (const std::string& tag : post.hashtags) created->add_hashtags(tag);
  created->set_visibility(cpb::VISIBILITY_ORG);
  *created->mutable_create_time() = event.create_time();
  return event;
}

// Post i's event has sequence i; the posts span the last 90 days, oldest first.
std::vector<ev::EventBatch> MakeBatches(const std::vector<Post>& posts, absl::Time now) {
  const absl::Duration span = absl::Hours(24 * 90);
  std::vector<ev::EventBatch> batches;
  for (size_t i = 0; i < posts.size(); ++i) {
    if (i % kBatch == 0) {
      batches.emplace_back();
      batches.back().set_producer(kProducer);
    }
    const absl::Time created =
        now - span + span * (static_cast<double>(i) / static_cast<double>(posts.size()));
    *batches.back().add_events() = PostCreatedEvent(posts[i], posts[i].id, created);
  }
  return batches;
}

// ---------------------------------------------------------------------------
// The queries.

enum Kind { kWord, kAnd, kPhrase, kPrefix, kKinds };
constexpr const char* kKindNames[kKinds] = {"single word", "two-word AND", "phrase", "prefix"};

struct Query {
  Kind kind;
  std::string text;  // the same for Xapian's parser and FTS5's MATCH
};

// A rank in [lo, hi) with log-uniform probability: as many queries for each
// order of magnitude of word frequency.
size_t LogUniform(std::mt19937_64& rng, size_t lo, size_t hi) {
  std::uniform_real_distribution<double> u(std::log(static_cast<double>(lo)),
                                           std::log(static_cast<double>(hi)));
  return std::clamp(static_cast<size_t>(std::exp(u(rng))), lo, hi - 1);
}

// A query of `kind` whose words are not among the common ones (a stopper may
// drop those on one side and not the other).
std::string MakeQuery(Kind kind, const Vocabulary& vocabulary, const std::vector<Post>& posts,
                      std::mt19937_64& rng) {
  switch (kind) {
    case kWord:
      return vocabulary.word(kCommon + LogUniform(rng, 20, 3000));
    case kAnd:
      for (;;) {
        const Post& p = posts[Pick(rng, posts.size())];
        std::vector<uint32_t> content;
        for (uint32_t w : p.words) {
          if (w >= kCommon && std::find(content.begin(), content.end(), w) == content.end()) {
            content.push_back(w);
          }
        }
        if (content.size() < 2) continue;
        const size_t a = Pick(rng, content.size());
        const size_t b = (a + 1 + Pick(rng, content.size() - 1)) % content.size();
        return vocabulary.word(content[a]) + " AND " + vocabulary.word(content[b]);
      }
    case kPhrase:
      for (;;) {
        const Post& p = posts[Pick(rng, posts.size())];
        std::vector<size_t> starts;
        for (size_t i = 0; i + 1 < p.words.size(); ++i) {
          if (p.words[i] >= kCommon && p.words[i + 1] >= kCommon && p.words[i] != p.words[i + 1]) {
            starts.push_back(i);
          }
        }
        if (starts.empty()) continue;
        const size_t i = starts[Pick(rng, starts.size())];
        return "\"" + vocabulary.word(p.words[i]) + " " + vocabulary.word(p.words[i + 1]) + "\"";
      }
    case kPrefix:
      for (;;) {
        const std::string& word = vocabulary.word(kCommon + LogUniform(rng, 20, 2000));
        const size_t length = std::min<size_t>(3 + Pick(rng, 2), word.size() - 1);
        if (length >= 3) return word.substr(0, length) + "*";
      }
    case kKinds:
      break;
  }
  Die("unknown query kind");
}

// 40% single words, 30% AND, 15% phrases, 15% prefixes, in a seeded order.
std::vector<Query> MakeQueries(size_t count, const Vocabulary& vocabulary,
                               const std::vector<Post>& posts, std::mt19937_64& rng) {
  std::vector<Kind> kinds;
  const size_t words = count * 40 / 100, ands = count * 30 / 100, phrases = count * 15 / 100;
  kinds.insert(kinds.end(), words, kWord);
  kinds.insert(kinds.end(), ands, kAnd);
  kinds.insert(kinds.end(), phrases, kPhrase);
  kinds.insert(kinds.end(), count - words - ands - phrases, kPrefix);
  std::shuffle(kinds.begin(), kinds.end(), rng);
  std::vector<Query> queries;
  queries.reserve(count);
  for (Kind kind : kinds) queries.push_back({kind, MakeQuery(kind, vocabulary, posts, rng)});
  return queries;
}

spb::SearchPostsRequest Request(const std::string& query) {
  spb::SearchPostsRequest req;
  req.set_query(query);
  req.set_page_size(kPageSize);
  req.set_sort_order(spb::SORT_ORDER_RELEVANCE);
  return req;
}

std::vector<uint64_t> HitIds(const spb::SearchPostsResponse& resp) {
  std::vector<uint64_t> ids;
  for (const spb::PostHit& hit : resp.hits()) ids.push_back(hit.post_id());
  return ids;
}

// ---------------------------------------------------------------------------
// The baseline: SQLite FTS5, through the C API.

struct SqliteClose {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct SqliteFinalize {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, SqliteFinalize>;

// One FTS5 result: row id (= post id) and bm25 (lower is better).
struct Scored {
  int64_t rowid;
  double score;
};

class Fts5Index {
 public:
  explicit Fts5Index(const std::string& path) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open(path.c_str(), &db);
    db_.reset(db);  // a handle that failed to open is closed too
    if (rc != SQLITE_OK) Die("sqlite3_open " + path + ": " + sqlite3_errmsg(db));
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=OFF");
    Exec("CREATE VIRTUAL TABLE posts USING fts5(body, tokenize='porter unicode61')");
    insert_ = Prepare("INSERT INTO posts(rowid, body) VALUES (?1, ?2)");
    search_ = Prepare("SELECT rowid FROM posts WHERE posts MATCH ?1 ORDER BY rank LIMIT 10");
    top_ =
        Prepare("SELECT rowid, bm25(posts) FROM posts WHERE posts MATCH ?1 ORDER BY rank LIMIT 10");
    score_ = Prepare("SELECT bm25(posts) FROM posts WHERE posts MATCH ?1 AND rowid = ?2");
  }

  // One transaction per kBatch rows, as Index::Apply gets kBatch events.
  void InsertAll(const std::vector<Post>& posts) {
    for (size_t i = 0; i < posts.size(); ++i) {
      if (i % kBatch == 0) Exec("BEGIN");
      sqlite3_bind_int64(insert_.get(), 1, static_cast<sqlite3_int64>(posts[i].id));
      sqlite3_bind_text(insert_.get(), 2, posts[i].body.data(),
                        static_cast<int>(posts[i].body.size()), SQLITE_STATIC);
      if (sqlite3_step(insert_.get()) != SQLITE_DONE) Die(Error("FTS5 insert"));
      sqlite3_reset(insert_.get());
      if (i % kBatch == kBatch - 1 || i + 1 == posts.size()) Exec("COMMIT");
    }
  }

  // The timed query: the ids of the top 10 by rank (bm25); false if FTS5
  // rejects the query.
  bool Search(const std::string& query, std::array<int64_t, kPageSize>* rowids) {
    Bind(search_.get(), query);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(search_.get())) == SQLITE_ROW) {
      if (n < rowids->size()) (*rowids)[n++] = sqlite3_column_int64(search_.get(), 0);
    }
    sqlite3_reset(search_.get());
    return rc == SQLITE_DONE;
  }

  // The top 10 with their scores, best first; nullopt if FTS5 rejects the query.
  std::optional<std::vector<Scored>> Top(const std::string& query) {
    Bind(top_.get(), query);
    std::vector<Scored> out;
    int rc;
    while ((rc = sqlite3_step(top_.get())) == SQLITE_ROW) {
      out.push_back({sqlite3_column_int64(top_.get(), 0), sqlite3_column_double(top_.get(), 1)});
    }
    sqlite3_reset(top_.get());
    if (rc != SQLITE_DONE) return std::nullopt;
    return out;
  }

  // FTS5's score of one row for `query`; nullopt if the row does not match.
  std::optional<double> Score(const std::string& query, int64_t rowid) {
    Bind(score_.get(), query);
    sqlite3_bind_int64(score_.get(), 2, rowid);
    std::optional<double> score;
    if (sqlite3_step(score_.get()) == SQLITE_ROW) score = sqlite3_column_double(score_.get(), 0);
    sqlite3_reset(score_.get());
    return score;
  }

  std::string Error(const std::string& what) const {
    return what + ": " + sqlite3_errmsg(db_.get());
  }

 private:
  void Exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string what = std::string(sql) + ": " + (error != nullptr ? error : "failed");
      sqlite3_free(error);
      Die(what);
    }
  }
  Statement Prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &stmt, nullptr) != SQLITE_OK) {
      Die(Error(std::string("prepare ") + sql));
    }
    return Statement(stmt);
  }
  // The query strings outlive every step, so SQLite need not copy them.
  static void Bind(sqlite3_stmt* stmt, const std::string& query) {
    sqlite3_bind_text(stmt, 1, query.data(), static_cast<int>(query.size()), SQLITE_STATIC);
  }

  std::unique_ptr<sqlite3, SqliteClose> db_;
  Statement insert_, search_, top_, score_;
};

// ---------------------------------------------------------------------------
// Agreement of the two rankings.

struct Overlap {
  double strict = 0;     // the formula as stated
  double tie_aware = 0;  // ties at FTS5's 10th score count as shared
};

// `ours`: Parley's top 10 ids; `fts`: FTS5's, best first, with scores.
Overlap CompareTop10(const std::vector<uint64_t>& ours, const std::vector<Scored>& fts,
                     const std::string& query, Fts5Index* fts5) {
  auto in_fts = [&](uint64_t id) -> const Scored* {
    for (const Scored& s : fts) {
      if (static_cast<uint64_t>(s.rowid) == id) return &s;
    }
    return nullptr;
  };
  size_t shared = 0;
  for (uint64_t id : ours) shared += in_fts(id) != nullptr ? 1 : 0;
  Overlap o;
  o.strict = static_cast<double>(shared) /
             static_cast<double>(std::max<size_t>(1, std::min<size_t>(kPageSize, fts.size())));
  if (fts.size() < static_cast<size_t>(kPageSize)) {
    o.tie_aware = o.strict;  // every match is in the top 10: no cut, no tie
    return o;
  }
  // FTS5's top 10 is any 10 of its best: those strictly better than the 10th
  // score, then `slots` of the rows tied with it.
  const double cut = fts.back().score;
  const double epsilon = 1e-9 * std::max(1.0, std::fabs(cut));
  size_t better = 0;
  for (const Scored& s : fts) better += s.score < cut - epsilon ? 1 : 0;
  const size_t slots = kPageSize - better;
  size_t shared_better = 0, tied = 0;
  for (uint64_t id : ours) {
    const Scored* s = in_fts(id);
    const std::optional<double> score = s != nullptr ? std::optional<double>(s->score)
                                                     : fts5->Score(query, static_cast<int64_t>(id));
    if (!score.has_value()) continue;  // FTS5 does not match it at all
    if (*score < cut - epsilon) {
      ++shared_better;
    } else if (std::fabs(*score - cut) <= epsilon) {
      ++tied;
    }
  }
  o.tie_aware = static_cast<double>(shared_better + std::min(slots, tied)) / kPageSize;
  return o;
}

struct KindStats {
  size_t queries = 0;
  double strict = 0, tie_aware = 0;  // sums over the kind's queries
  size_t parley_empty = 0, fts_empty = 0, parley_errors = 0, fts_errors = 0;
};

// ---------------------------------------------------------------------------
// Time to searchable.

// A word of probe `i` alone: "zz" starts no generated word.
std::string ProbeWord(int i) {
  return absl::StrCat("zzq", std::string(1, static_cast<char>('a' + i / 26 % 26)),
                      std::string(1, static_cast<char>('a' + i % 26)), "ok");
}

struct Visible {
  std::vector<double> visible_ms;  // hand-over to Apply -> first answer with the post
  std::vector<double> apply_ms;    // how long Apply blocked
};

// Probe i is post `first_post + i` with sequence `first_sequence + i`.
Visible MeasureVisible(parley::search::Index* index, uint64_t first_post, uint64_t first_sequence) {
  const parley::search::Viewer viewer{.user_id = kViewer, .org_id = kOrgId};
  Visible out;
  out.visible_ms.resize(kVisibleSamples);
  out.apply_ms.resize(kVisibleSamples);
  std::vector<Clock::time_point> handed_at(kVisibleSamples);
  std::atomic<int> handed{-1};  // the last probe whose Apply started
  std::atomic<int> found{-1};   // the last probe this thread found
  std::thread writer([&] {
    std::mt19937_64 rng(kSeed + 1);
    for (int i = 0; i < kVisibleSamples; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + Pick(rng, 131)));
      Post probe;
      probe.id = first_post + static_cast<uint64_t>(i);
      probe.author = 2;
      probe.body = "Probe " + ProbeWord(i) + " is live, is it searchable yet?";
      ev::EventBatch batch;
      batch.set_producer(kProducer);
      *batch.add_events() =
          PostCreatedEvent(probe, first_sequence + static_cast<uint64_t>(i), absl::Now());
      handed_at[i] = Clock::now();
      handed.store(i, std::memory_order_release);
      parley::bench::Must(index->Apply(batch), "Index::Apply (probe)");
      out.apply_ms[i] = Millis(Clock::now() - handed_at[i]);
      while (found.load(std::memory_order_acquire) < i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  });
  for (int i = 0; i < kVisibleSamples; ++i) {
    while (handed.load(std::memory_order_acquire) < i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const spb::SearchPostsRequest req = Request(ProbeWord(i));
    const uint64_t post_id = first_post + static_cast<uint64_t>(i);
    for (;;) {
      const spb::SearchPostsResponse resp =
          parley::bench::Must(index->SearchPosts(viewer, req), "SearchPosts (probe)");
      if (resp.hits_size() > 0 && resp.hits(0).post_id() == post_id) break;
      if (Clock::now() - handed_at[i] > std::chrono::seconds(10)) {
        Die(absl::StrCat("probe post ", post_id, " was not searchable 10 s after Apply"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    out.visible_ms[i] = Millis(Clock::now() - handed_at[i]);
    found.store(i, std::memory_order_release);
  }
  writer.join();
  return out;
}

const char* Met(bool met) { return met ? "met" : "NOT met"; }

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  using bench::Percentile;
  using bench::Seconds;
  const bool quick = bench::Quick(argc, argv);
  const uint64_t post_count = quick ? 20000 : 200000;
  const size_t query_count = quick ? 1000 : 2000;
  const int grpc_passes = quick ? 1 : 2;

  testing::TempDir dir;
  std::mt19937_64 rng(kSeed);

  // The corpus and the queries, before any clock starts.
  const auto generate_start = Clock::now();
  const Vocabulary vocabulary(kVocabulary, rng);
  const std::vector<Post> posts = MakePosts(vocabulary, post_count, rng);
  const std::vector<Query> queries = MakeQueries(query_count, vocabulary, posts, rng);
  const std::vector<ev::EventBatch> batches = MakeBatches(posts, absl::Now());
  std::vector<spb::SearchPostsRequest> requests;
  for (const Query& q : queries) requests.push_back(Request(q.text));
  size_t total_words = 0;
  for (const Post& p : posts) total_words += p.words.size();
  std::array<size_t, kKinds> per_kind{};
  for (const Query& q : queries) ++per_kind[q.kind];
  const double generate_s = Seconds(Clock::now() - generate_start);

  // Indexing: FTS5, then Parley, each from nothing to committed.
  Fts5Index fts5(dir.Sub("fts5.db"));
  auto start = Clock::now();
  fts5.InsertAll(posts);
  const double fts5_index_s = Seconds(Clock::now() - start);

  // The library's own ceiling on this machine: Xapian's TermGenerator and
  // add_document over the same bodies, committed every 1,000 as Parley does,
  // without events, visibility terms, stored data or the unique-id lookup.
  double raw_index_s = 0;
  {
    Xapian::WritableDatabase raw(dir.Sub("raw"),
                                 Xapian::DB_CREATE_OR_OVERWRITE | Xapian::DB_NO_SYNC);
    Xapian::TermGenerator gen;
    gen.set_stemmer(Xapian::Stem("english"));
    gen.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
    start = Clock::now();
    for (size_t i = 0; i < posts.size(); ++i) {
      Xapian::Document doc;
      gen.set_document(doc);
      gen.index_text(posts[i].body);
      raw.add_document(doc);
      if (i % kBatch == kBatch - 1) raw.commit();
    }
    raw.commit();
    raw_index_s = Seconds(Clock::now() - start);
  }

  std::filesystem::create_directories(dir.Sub("index"));
  // BM25 as FTS5 computes it: the same k1 and b, and no floor on short
  // documents' length (Parley's default floors it at half the average).
  std::unique_ptr<search::Index> index =
      bench::Must(search::Index::Open(search::IndexOptions{
                      .path = dir.Sub("index"), .bm25_min_normlen = 0, .recency_weight = 0}),
                  "Index::Open");
  std::vector<double> apply_ms;
  start = Clock::now();
  for (const ev::EventBatch& batch : batches) {
    const auto apply_start = Clock::now();
    const uint64_t through = bench::Must(index->Apply(batch), "Index::Apply");
    apply_ms.push_back(Millis(Clock::now() - apply_start));
    const uint64_t last = batch.events(batch.events_size() - 1).sequence();
    if (through != last) {
      Die(absl::StrCat("Index::Apply of events up to ", last, " says ", through, " applied"));
    }
  }
  bench::Check(index->Flush(), "Index::Flush");
  const double index_s = Seconds(Clock::now() - start);
  if (const uint64_t indexed = index->Counts().posts; indexed != post_count) {
    Die(absl::StrCat("the index holds ", indexed, " posts after indexing ", post_count));
  }
  const double index_per_s = static_cast<double>(post_count) / index_s;
  const double fts5_index_per_s = static_cast<double>(post_count) / fts5_index_s;
  const double raw_index_per_s = static_cast<double>(post_count) / raw_index_s;

  // The untimed pass: warms both engines, and gives the rankings to compare.
  const search::Viewer viewer{.user_id = kViewer, .org_id = kOrgId};
  std::vector<std::vector<uint64_t>> parley_top(queries.size());
  std::array<KindStats, kKinds> stats{};
  for (size_t i = 0; i < queries.size(); ++i) {
    KindStats& k = stats[queries[i].kind];
    ++k.queries;
    auto resp = index->SearchPosts(viewer, requests[i]);
    const std::optional<std::vector<Scored>> fts = fts5.Top(queries[i].text);
    if (!resp.ok()) {
      ++k.parley_errors;
      if (k.parley_errors == 1) {
        std::fprintf(stderr, "SearchPosts(%s): %s\n", queries[i].text.c_str(),
                     resp.status().ToString().c_str());
      }
    } else {
      parley_top[i] = HitIds(*resp);
      k.parley_empty += parley_top[i].empty() ? 1 : 0;
    }
    if (!fts.has_value()) {
      ++k.fts_errors;
      if (k.fts_errors == 1) {
        std::fprintf(stderr, "%s\n", fts5.Error("FTS5 MATCH " + queries[i].text).c_str());
      }
      continue;
    }
    k.fts_empty += fts->empty() ? 1 : 0;
    const Overlap o = CompareTop10(parley_top[i], *fts, queries[i].text, &fts5);
    k.strict += o.strict;
    k.tie_aware += o.tie_aware;
  }
  KindStats ranked;  // the kinds the target is about: all but prefixes
  for (Kind kind : {kWord, kAnd, kPhrase}) {
    ranked.queries += stats[kind].queries;
    ranked.strict += stats[kind].strict;
    ranked.tie_aware += stats[kind].tie_aware;
  }
  const double overlap =
      ranked.tie_aware / static_cast<double>(std::max<size_t>(1, ranked.queries));
  const double overlap_strict =
      ranked.strict / static_cast<double>(std::max<size_t>(1, ranked.queries));
  uint64_t errors = 0;
  for (const KindStats& k : stats) errors += k.parley_errors + k.fts_errors;

  // Timed: the mix once through each engine, one thread, in process.
  std::vector<double> parley_ms, fts5_ms;
  parley_ms.reserve(queries.size());
  fts5_ms.reserve(queries.size());
  start = Clock::now();
  for (const spb::SearchPostsRequest& req : requests) {
    const auto t0 = Clock::now();
    if (!index->SearchPosts(viewer, req).ok()) ++errors;
    parley_ms.push_back(Millis(Clock::now() - t0));
  }
  const double queries_per_s = static_cast<double>(queries.size()) / Seconds(Clock::now() - start);
  std::array<int64_t, kPageSize> rowids{};
  start = Clock::now();
  for (const Query& q : queries) {
    const auto t0 = Clock::now();
    if (!fts5.Search(q.text, &rowids)) ++errors;
    fts5_ms.push_back(Millis(Clock::now() - t0));
  }
  const double fts5_queries_per_s =
      static_cast<double>(queries.size()) / Seconds(Clock::now() - start);

  // Over gRPC: the same mix from kGrpcThreads clients, each call checked
  // against the in-process answer.
  const server::CommonConfig config = bench::BenchConfig(dir.path());
  auto credential =
      bench::Must(server::LoadServiceCredential(config, "bench"), "service credential");
  bench::BenchAuth auth(credential.get(), kOrgId, kDomain);
  search::SearchGrpcService service(index.get(), auth.authenticator());
  std::vector<server::HostedService> hosted = {{&service, spb::SearchService::service_full_name()}};
  std::unique_ptr<server::Server> grpc_server = bench::Must(
      server::Server::Start(config.server, hosted, std::make_shared<prometheus::Registry>()),
      "server");
  std::vector<std::unique_ptr<spb::SearchService::Stub>> stubs;
  std::vector<std::string> tokens;
  for (int t = 0; t < kGrpcThreads; ++t) {
    stubs.push_back(spb::SearchService::NewStub(bench::OwnChannel(grpc_server->grpc_port())));
    tokens.push_back(auth.UserToken(kViewer));
  }
  // Query i as client t; false on a failed call or an answer that differs.
  auto search_over_grpc = [&](int t, size_t i) {
    grpc::ClientContext ctx;
    bench::Prepare(&ctx, tokens[t]);
    spb::SearchPostsResponse resp;
    return stubs[t]->SearchPosts(&ctx, requests[i], &resp).ok() && HitIds(resp) == parley_top[i];
  };
  for (int t = 0; t < kGrpcThreads; ++t) {  // connect, and warm the server's threads
    for (size_t i = 0; i < 50; ++i) search_over_grpc(t, i);
  }
  std::vector<std::vector<double>> grpc_ms(kGrpcThreads);
  std::vector<uint64_t> grpc_errors(kGrpcThreads);
  start = Clock::now();
  {
    std::vector<std::thread> clients;
    for (int t = 0; t < kGrpcThreads; ++t) {
      clients.emplace_back([&, t] {
        for (int pass = 0; pass < grpc_passes; ++pass) {
          for (size_t i = static_cast<size_t>(t); i < queries.size(); i += kGrpcThreads) {
            const auto t0 = Clock::now();
            if (!search_over_grpc(t, i)) ++grpc_errors[t];
            grpc_ms[t].push_back(Millis(Clock::now() - t0));
          }
        }
      });
    }
    for (auto& c : clients) c.join();
  }
  const double grpc_s = Seconds(Clock::now() - start);
  std::vector<double> all_grpc_ms;
  uint64_t grpc_failed = 0;
  for (int t = 0; t < kGrpcThreads; ++t) {
    all_grpc_ms.insert(all_grpc_ms.end(), grpc_ms[t].begin(), grpc_ms[t].end());
    grpc_failed += grpc_errors[t];
  }
  const double grpc_per_s = static_cast<double>(all_grpc_ms.size()) / grpc_s;
  const double p50_ms = Percentile(all_grpc_ms, 0.5);
  const double p99_ms = Percentile(all_grpc_ms, 0.99);
  grpc_server->Drain();
  grpc_server.reset();

  // Last, as it adds posts: how soon a new post is searchable.
  const Visible visible = MeasureVisible(index.get(), post_count + 1, post_count + 1);
  const double visible_ms = Percentile(visible.visible_ms, 0.5);

  const double index_ratio = index_per_s / fts5_index_per_s;
  const double query_ratio = queries_per_s / fts5_queries_per_s;
  std::printf(
      "search benchmark (%s): %llu posts (%zu-word vocabulary, Zipf s = 1, 5-60 words, mean "
      "%.1f), %llu authors of one org; %zu queries (%zu words, %zu AND, %zu phrases, %zu "
      "prefixes); generated in %.1f s\n",
      quick ? "quick" : "full", static_cast<unsigned long long>(post_count), vocabulary.size(),
      static_cast<double>(total_words) / static_cast<double>(post_count),
      static_cast<unsigned long long>(kAuthors), queries.size(), per_kind[kWord], per_kind[kAnd],
      per_kind[kPhrase], per_kind[kPrefix], generate_s);
  std::printf("%-46s %12s %10s %8s %8s\n", "engine", "index doc/s", "queries/s", "p50 ms",
              "p99 ms");
  std::printf("%-46s %12.0f %10.0f %8.2f %8.2f\n", "Parley Index (Xapian), in process", index_per_s,
              queries_per_s, Percentile(parley_ms, 0.5), Percentile(parley_ms, 0.99));
  std::printf("%-46s %12.0f %10s %8s %8s\n", "Xapian alone (TermGenerator + add_document)",
              raw_index_per_s, "-", "-", "-");
  std::printf("%-46s %12.0f %10.0f %8.2f %8.2f\n", "SQLite FTS5 (porter unicode61, bm25)",
              fts5_index_per_s, fts5_queries_per_s, Percentile(fts5_ms, 0.5),
              Percentile(fts5_ms, 0.99));
  std::printf("%-46s %12s %10.0f %8.2f %8.2f\n",
              absl::StrCat("Parley SearchPosts over gRPC (", kGrpcThreads, " clients)").c_str(),
              "-", grpc_per_s, p50_ms, p99_ms);
  std::printf(
      "Parley indexing: %zu Apply calls of %zu events, p50 %.1f ms, max %.1f ms each (Apply "
      "returns once its batch is committed)\n",
      apply_ms.size(), kBatch, Percentile(apply_ms, 0.5), Percentile(apply_ms, 1.0));
  std::printf("ratios (Parley / FTS5): indexing %.3f, queries %.3f; target >= %.0f: %s, %s\n",
              index_ratio, query_ratio, kTargetRatio, Met(index_ratio >= kTargetRatio),
              Met(query_ratio >= kTargetRatio));
  std::printf(
      "indexing: Xapian alone reaches %.3f of FTS5 on this corpus; Parley reaches %.3f of Xapian "
      "alone\n",
      raw_index_per_s / fts5_index_per_s, index_per_s / raw_index_per_s);
  std::printf("%-16s %8s %8s %8s %14s %12s %8s\n", "top-10 overlap", "queries", "overlap", "strict",
              "no hits P/F", "errors P/F", "");
  for (int kind = 0; kind < kKinds; ++kind) {
    const KindStats& k = stats[kind];
    const double n = static_cast<double>(std::max<size_t>(1, k.queries));
    std::printf("%-16s %8zu %8.3f %8.3f %7zu/%-6zu %6zu/%-5zu %s\n", kKindNames[kind], k.queries,
                k.tie_aware / n, k.strict / n, k.parley_empty, k.fts_empty, k.parley_errors,
                k.fts_errors, kind == kPrefix ? "(not in the target)" : "");
  }
  std::printf(
      "overlap of words, AND and phrases %.3f (strict %.3f); target >= %.1f: %s. Ties at FTS5's "
      "10th score count as shared; prefixes are left out: Parley expands a prefix to its %u "
      "most frequent words, FTS5 matches every one.\n",
      overlap, overlap_strict, kTargetOverlap, Met(overlap >= kTargetOverlap),
      search::kMaxWildcardExpansion);
  std::printf(
      "gRPC: %zu calls, %llu failed or differing from in process; p99 %.2f ms; target <= "
      "%.0f ms: %s\n",
      all_grpc_ms.size(), static_cast<unsigned long long>(grpc_failed), p99_ms, kTargetP99Ms,
      Met(p99_ms <= kTargetP99Ms));
  std::printf(
      "visible: new post searchable after p50 %.0f ms, max %.0f ms (%d posts; Apply blocked p50 "
      "%.0f ms); target <= %.0f ms: %s\n",
      visible_ms, Percentile(visible.visible_ms, 1.0), kVisibleSamples,
      Percentile(visible.apply_ms, 0.5), kTargetVisibleMs, Met(visible_ms <= kTargetVisibleMs));
  std::printf(
      "BENCH search index_per_s=%.0f fts5_index_per_s=%.0f index_ratio=%.3f queries_per_s=%.0f "
      "fts5_queries_per_s=%.0f query_ratio=%.3f overlap=%.3f p99_ms=%.2f visible_ms=%.0f "
      "docs=%llu xapian_alone_index_per_s=%.0f vs_xapian_alone_ratio=%.3f\n",
      index_per_s, fts5_index_per_s, index_ratio, queries_per_s, fts5_queries_per_s, query_ratio,
      overlap, p99_ms, visible_ms, static_cast<unsigned long long>(post_count), raw_index_per_s,
      index_per_s / raw_index_per_s);

  index.reset();  // commits and stops the committer before the directory goes
  return errors == 0 && grpc_failed == 0 ? 0 : 1;
}
