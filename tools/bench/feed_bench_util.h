// Shared pieces of the feed benchmarks (fanout, timeline_read, visibility,
// scaling): a synthetic org (an in-memory Directory and a power-law follow
// graph with a fixed seed), the feed database as FeedModule opens it, an
// outbox drain that does what the "fanout" Dispatcher does, and a
// redis-server started on a free loopback port for the baselines (Die, in
// bench_util.h, kills it).
#pragma once

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "bench_util.h"
#include "feed/src/feed.h"
#include "parley/storage/db.h"
#include "parley/storage/outbox.h"
#include "parley/testing/testing.h"
#include "rocksdb/db.h"

namespace parley::bench {

// ---------------------------------------------------------------------------
// The synthetic org: everyone is an active member of org 1, handle "u<id>".

inline constexpr uint64_t kOrgId = 1;
inline constexpr char kDomain[] = "bench.example";

inline feed::TokenClaims Claims(uint64_t user_id) {
  feed::TokenClaims c;
  c.set_kind(auth::TokenKind::TOKEN_KIND_USER_ACCESS);
  c.set_user_id(user_id);
  c.set_org_id(kOrgId);
  c.set_org_domain(kDomain);
  c.add_roles("member");
  return c;
}

inline feed::Person PersonFor(uint64_t id) {
  feed::Person p;
  p.ref.set_id(id);
  p.ref.set_handle("u" + std::to_string(id));
  p.ref.set_domain(kDomain);
  p.ref.set_display_name("User " + std::to_string(id));
  p.org_id = kOrgId;
  p.active = true;
  return p;
}

// Registering tens of thousands of real identity users would take minutes of
// argon2id; the fan-out and read paths only need the Directory interface.
class FakeDirectory final : public feed::Directory {
 public:
  absl::StatusOr<absl::flat_hash_map<uint64_t, feed::Person>> Get(
      const std::vector<uint64_t>& ids) override {
    absl::flat_hash_map<uint64_t, feed::Person> out;
    out.reserve(ids.size());
    for (uint64_t id : ids) {
      if (id != 0 && !out.contains(id)) out.emplace(id, PersonFor(id));
    }
    return out;
  }
  absl::StatusOr<std::vector<feed::Person>> Resolve(
      uint64_t org_id, const std::vector<std::string>& handles) override {
    std::vector<feed::Person> out;
    if (org_id != kOrgId) return out;
    for (const auto& h : handles) {
      std::string local = h.substr(0, h.find('@'));
      uint64_t id = 0;
      if (local.size() < 2 || local[0] != 'u' || !absl::SimpleAtoi(local.substr(1), &id) ||
          id == 0) {
        continue;
      }
      out.push_back(PersonFor(id));
    }
    return out;
  }
  absl::StatusOr<common::v1::Visibility> DefaultVisibility(uint64_t) override {
    return common::v1::VISIBILITY_ORG;
  }
};

// The feed database as FeedModule::Create opens it (default buffers and cache,
// the same prefix blooms), in `path`; WAL on, no fsync per write.
inline storage::DbOptions FeedDbOptions(const std::string& path) {
  storage::DbOptions o = feed::Feed::StorageOptions(path);
  o.sync_writes = false;  // as FeedModule opens it by default
  return o;
}

// Feed options for benchmarks: production defaults, but no per-person rate
// limit (one synthetic person writes many posts in a second).
inline feed::FeedOptions BenchFeedOptions() {
  feed::FeedOptions o;
  o.writes_per_minute = 1'000'000'000;
  return o;
}

// A status update of ordinary length (no mentions or hashtags).
inline std::string PostBody(uint64_t i) {
  return "Update " + std::to_string(i) +
         ": the quarterly roadmap review is done; notes are in the shared drive and questions "
         "are welcome in the thread.";
}

inline uint64_t Post(feed::Feed* f, uint64_t author, const std::string& body) {
  feed::pb::CreatePostRequest req;
  req.set_body(body);
  return Must(f->CreatePost(Claims(author), req), "CreatePost").id();
}

inline feed::pb::ListHomeTimelineResponse Home(feed::Feed* f, uint64_t owner, int page_size = 20,
                                               const std::string& page_token = "") {
  feed::pb::ListHomeTimelineRequest req;
  req.set_page_size(page_size);
  req.set_page_token(page_token);
  return Must(f->ListHomeTimeline(Claims(owner), req), "ListHomeTimeline");
}

inline bool HomeHas(feed::Feed* f, uint64_t owner, uint64_t post_id) {
  auto page = Home(f, owner);
  for (const auto& p : page.posts()) {
    if (p.id() == post_id) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Follow graphs.

// People are ids 1..users. The person ranked r (id r) has
// max(1, min(cap, cap * top / r)) followers, drawn uniformly from everyone
// else: the `top` most-followed have `cap` followers, then a Zipf (s = 1) tail.
struct Graph {
  uint64_t users = 0;
  std::vector<std::vector<uint64_t>> followers;  // followers[id]; [0] unused
  size_t edges = 0;

  // Every (follower, followee) pair, in a seeded random order.
  std::vector<std::pair<uint64_t, uint64_t>> Edges(uint64_t seed) const {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    out.reserve(edges);
    for (uint64_t a = 1; a < followers.size(); ++a) {
      for (uint64_t f : followers[a]) out.emplace_back(f, a);
    }
    std::mt19937_64 rng(seed);
    std::shuffle(out.begin(), out.end(), rng);
    return out;
  }
  size_t max_followers() const {
    size_t m = 0;
    for (const auto& f : followers) m = std::max(m, f.size());
    return m;
  }
};

inline Graph PowerLawGraph(uint64_t users, uint64_t cap, uint64_t top, uint64_t seed) {
  Graph g;
  g.users = users;
  g.followers.resize(users + 1);
  std::mt19937_64 rng(seed);
  // Partial Fisher-Yates over one persistent permutation: each prefix drawn
  // is a uniform sample of everyone, in O(sample) per author.
  std::vector<uint64_t> perm(users);
  std::iota(perm.begin(), perm.end(), uint64_t{1});
  for (uint64_t r = 1; r <= users; ++r) {
    const uint64_t want = std::min<uint64_t>(
        users - 1, std::max<uint64_t>(1, std::min<uint64_t>(cap, cap * top / r)));
    auto& out = g.followers[r];
    out.reserve(want);
    for (uint64_t i = 0; out.size() < want && i < users; ++i) {
      std::uniform_int_distribution<uint64_t> pick(i, users - 1);
      std::swap(perm[i], perm[pick(rng)]);
      if (perm[i] != r) out.push_back(perm[i]);
    }
    g.edges += out.size();
  }
  return g;
}

// Creates the edges with Feed::Follow on `threads` threads (each follow also
// commits a Followed event and backfills the follower's head).
inline void FollowAll(feed::Feed* f, const std::vector<std::pair<uint64_t, uint64_t>>& edges,
                      int threads) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([f, &edges, t, threads] {
      for (size_t i = static_cast<size_t>(t); i < edges.size(); i += static_cast<size_t>(threads)) {
        Check(f->Follow(Claims(edges[i].first), edges[i].second), "Follow");
      }
    });
  }
  for (auto& w : workers) w.join();
}

// ---------------------------------------------------------------------------
// The outbox.

// Marks everything committed so far as delivered to `subscriber` (the
// Followed events of building a graph are no work for the fan-out worker).
inline void SkipPending(storage::Outbox* outbox, const std::string& subscriber) {
  Check(outbox->Acknowledge(subscriber, outbox->CommittedThrough()), "outbox acknowledge");
}

// What the "fanout" Dispatcher does, on this thread and without waiting:
// read batches of 256 after the subscriber's cursor, Feed::FanOut them,
// acknowledge. Returns the number of entries delivered.
inline uint64_t DrainFanOut(feed::Feed* f, const std::string& subscriber = "fanout") {
  storage::Outbox* outbox = f->outbox();
  uint64_t cursor = Must(outbox->Cursor(subscriber), "outbox cursor");
  uint64_t delivered = 0;
  for (;;) {
    uint64_t read_through = cursor;
    auto entries = Must(outbox->ReadAfter(cursor, 256, &read_through), "outbox read");
    if (entries.empty()) {
      if (read_through <= cursor) break;
      cursor = read_through;  // a gap: nothing there to deliver
      Check(outbox->Acknowledge(subscriber, cursor), "outbox acknowledge");
      continue;
    }
    Check(f->FanOut(entries), "Feed::FanOut");
    cursor = entries.back().sequence;
    Check(outbox->Acknowledge(subscriber, cursor), "outbox acknowledge");
    delivered += entries.size();
  }
  return delivered;
}

// Flushes every feed column family's memtable to SST files.
inline void FlushAll(storage::Db* db) {
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  for (const auto& name : feed::Feed::ColumnFamilies()) cfs.push_back(db->Cf(name));
  rocksdb::FlushOptions options;
  options.wait = true;
  Check(storage::FromRocks(db->raw()->Flush(options, cfs), "flush"), "flush");
}

// ---------------------------------------------------------------------------
// redis-server, for the Mastodon-style baselines.

inline std::string FindOnPath(const std::string& name) {
  const char* env = std::getenv("PATH");
  const std::string path = env != nullptr && *env ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string dir = path.substr(start, end - start);
    if (!dir.empty()) {
      const std::string full = dir + "/" + name;
      if (::access(full.c_str(), X_OK) == 0) return full;
    }
    start = end + 1;
  }
  return "";
}

class RedisClient {
 public:
  explicit RedisClient(int port, size_t batch = 1000) : batch_(batch) {
    timeval tv{};
    tv.tv_sec = 5;
    c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c_ == nullptr || c_->err != 0) {
      Die("cannot connect to redis-server on port " + std::to_string(port) + ": " +
          (c_ != nullptr ? c_->errstr : "out of memory"));
    }
  }
  ~RedisClient() {
    if (c_ != nullptr) redisFree(c_);
  }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  redisContext* get() const { return c_; }

  // Counts one command queued with redisAppendCommand(get(), ...); every
  // `batch` commands the replies are read (pipelining).
  void Queued() {
    if (++pending_ >= batch_) ReadReplies();
  }
  // Reads the replies of every queued command; an error reply is fatal.
  void ReadReplies() {
    for (; pending_ > 0; --pending_) {
      void* r = nullptr;
      if (redisGetReply(c_, &r) != REDIS_OK || r == nullptr) {
        Die(std::string("redis: ") + c_->errstr);
      }
      auto* reply = static_cast<redisReply*>(r);
      if (reply->type == REDIS_REPLY_ERROR) {
        std::string error(reply->str, reply->len);
        freeReplyObject(reply);
        Die("redis: " + error);
      }
      freeReplyObject(reply);
    }
  }
  // One command without arguments, answered at once; the reply as text
  // (status, string or integer). Only with no queued commands.
  std::string Command(const char* command) {
    ReadReplies();
    auto* reply = static_cast<redisReply*>(redisCommand(c_, command));
    if (reply == nullptr) Die(std::string("redis: ") + c_->errstr);
    std::string out;
    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) {
      out.assign(reply->str, reply->len);
    } else if (reply->type == REDIS_REPLY_INTEGER) {
      out = std::to_string(reply->integer);
    } else if (reply->type == REDIS_REPLY_ERROR) {
      std::string error(reply->str, reply->len);
      freeReplyObject(reply);
      Die("redis: " + error);
    }
    freeReplyObject(reply);
    return out;
  }
  // INFO memory's used_memory, in bytes.
  int64_t UsedMemory() {
    const std::string info = Command("INFO memory");
    const std::string field = "used_memory:";  // used_memory_human etc. differ before ':'
    size_t at = info.find(field);
    if (at == std::string::npos) Die("redis: INFO memory has no used_memory");
    at += field.size();
    int64_t bytes = 0;
    if (!absl::SimpleAtoi(info.substr(at, info.find_first_of("\r\n", at) - at), &bytes)) {
      Die("redis: cannot parse used_memory");
    }
    return bytes;
  }

 private:
  redisContext* c_ = nullptr;
  const size_t batch_;
  size_t pending_ = 0;
};

// redis-server on a free 127.0.0.1 port, no persistence; killed by pid when
// this goes away.
class RedisServer {
 public:
  explicit RedisServer(const std::string& log_path) {
    const std::string bin = FindOnPath("redis-server");
    if (bin.empty()) Die("redis-server not found on PATH (the baseline needs it)");
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = testing::FreePort();
      process_.emplace(testing::Process::Start({bin, "--port", std::to_string(port_), "--bind",
                                                "127.0.0.1", "--save", "", "--appendonly", "no"},
                                               log_path));
      const bool up =
          testing::WaitFor([&] { return !process_->running() || Ping(); }, absl::Seconds(10)) &&
          process_->running();
      if (up) {
        RedisPid() = process_->pid();
        return;
      }
      Stop();  // the port was taken meanwhile, or it did not start: try another
    }
    Die("redis-server did not start (see " + log_path + ")");
  }
  ~RedisServer() { Stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }

 private:
  bool Ping() const {
    timeval tv{};
    tv.tv_usec = 200000;
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr) return false;
    bool ok = false;
    if (c->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS &&
           std::string(reply->str, reply->len) == "PONG";
      if (reply != nullptr) freeReplyObject(reply);
    }
    redisFree(c);
    return ok;
  }
  void Stop() {
    if (!process_.has_value()) return;
    RedisPid() = -1;
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(10));
    process_.reset();
  }

  int port_ = 0;
  std::optional<testing::Process> process_;
};

}  // namespace parley::bench
