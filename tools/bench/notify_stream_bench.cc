// Benchmark `notify_stream`: how soon a notification reaches an open
// Subscribe stream after the event that makes it is sent to
// NotificationInternalService.ApplyEvents, and how many events per second
// ApplyEvents applies.
//
// The notify service is built in-process as NotifyModule builds it (Inbox on
// RocksDB in a temp dir, StreamHub woken by Inbox::SetOnChange, the public and
// internal gRPC services) behind a real server::Server on 127.0.0.1:0, over
// the synthetic org of feed_bench_util.h (FakeDirectory); user tokens are
// minted by bench_auth.h's BenchAuth and verified by the production
// Authenticator, ApplyEvents carries the service credential's token.
//
// 1,000 people (--quick: 200) each hold one Subscribe stream, read by an async
// client (one CompletionQueue, two threads; 50 streams per connection). Events
// are `Liked` events as feed's dispatcher sends them (one producer, "feed-0",
// sequences 1, 2, ...): event i is a like by actor 1,000,000 + i (a distinct
// actor each, so the entry is bumped every time) of the post of person
// i % N + 1 (one post per person, round-robin). A delivered entry names its
// newest actor first (actors(0)), which identifies the event; its latency is
// from the moment its ApplyEvents call was sent to the moment the entry was
// read from the person's stream. An event whose entry was bumped again before
// the stream read it is delivered inside the later entry ("coalesced") and
// has no latency of its own.
//
// Phases: a warm-up (one event per stream); paced, 2,000 events/s open loop
// for 5 s (--quick: 2 s), each batch carrying the events due by then (at most
// 50; latency is also shown from each event's scheduled time); unpaced, 20,000
// events (--quick: 5,000) back to back in batches of 50 (events/s = events /
// time from the first send to the last ApplyEvents reply). After each phase
// the benchmark waits until every stream has read its person's last entry.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/support/async_stream.h"
#include "notify_bench_util.h"
#include "parley/events/v1/events.pb.h"

namespace {

namespace npb = ::parley::notify::v1;
namespace ev = ::parley::events::v1;
using parley::bench::Clock;

constexpr char kProducer[] = "feed-0";
constexpr uint64_t kActorBase = 1'000'000;      // event i is a like by kActorBase + i
constexpr uint64_t kPostBase = 5'000'000'000;   // person r's liked post is kPostBase + r
constexpr uint64_t kMaxBatch = 50;              // events per ApplyEvents call
constexpr uint64_t kStreamsPerConnection = 50;  // client streams per HTTP/2 connection
constexpr int kReaderThreads = 2;
constexpr double kRate = 2000;       // events/s in the paced phase
constexpr double kTargetP99Ms = 10;  // at kRate

int64_t Ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
int64_t NowNs() { return Ns(Clock::now()); }

// What the stream readers saw, by event index.
struct Deliveries {
  explicit Deliveries(std::vector<uint64_t> recipients)
      : recipient(std::move(recipients)), received_ns(recipient.size()) {}

  // The entry `n` was read from `user`'s stream at `now_ns`.
  void Record(uint64_t user, const npb::Notification& n, int64_t now_ns) {
    messages.fetch_add(1, std::memory_order_relaxed);
    if (n.kind() != npb::NOTIFICATION_KIND_POST_LIKED || n.actors_size() == 0) {
      unexpected.fetch_add(1);
      return;
    }
    const uint64_t actor = n.actors(0).id();
    if (actor < kActorBase || actor - kActorBase >= recipient.size()) {
      unexpected.fetch_add(1);
      return;
    }
    const uint64_t i = actor - kActorBase;
    if (recipient[i] != user) {
      wrong_stream.fetch_add(1);
      return;
    }
    int64_t none = 0;
    if (received_ns[i].compare_exchange_strong(none, now_ns)) received.fetch_add(1);
  }

  const std::vector<uint64_t> recipient;          // event -> the person it notifies
  std::vector<std::atomic<int64_t>> received_ns;  // 0: not read as the newest actor (yet)
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> messages{0};      // every SubscribeResponse read
  std::atomic<uint64_t> wrong_stream{0};  // an entry read from someone else's stream
  std::atomic<uint64_t> unexpected{0};    // not a POST_LIKED entry of an event sent here
};

// Subscribe streams read through one CompletionQueue by a few threads; every
// SubscribeResponse goes to Deliveries::Record with the time it was dequeued.
class Readers {
 public:
  explicit Readers(Deliveries* deliveries) : deliveries_(deliveries) {}
  ~Readers() { Shutdown(); }
  Readers(const Readers&) = delete;
  Readers& operator=(const Readers&) = delete;

  void Start(int threads) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this] { Loop(); });
  }
  // Opens `user`'s stream (after_notification_id 0: the inbox is empty).
  void Open(npb::NotificationService::Stub* stub, uint64_t user, const std::string& token) {
    auto s = std::make_unique<Stream>();
    s->user = user;
    s->ctx.AddMetadata("authorization", "Bearer " + token);
    s->reader = stub->PrepareAsyncSubscribe(&s->ctx, s->request, &cq_);
    s->reader->StartCall(&s->start);
    streams_.push_back(std::move(s));
  }
  // From now on a stream that ends is not counted as a failure.
  void Stopping() { stopping_ = true; }
  void CancelAll() {
    for (auto& s : streams_) s->ctx.TryCancel();
  }
  uint64_t finished() const { return finished_.load(); }
  uint64_t failures() const { return failures_.load(); }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }
  // Only once every stream has finished (or none was opened).
  void Shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    cq_.Shutdown();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  struct Stream;
  struct Tag {
    enum Op { kStart, kRead, kFinish };
    Stream* stream;
    Op op;
  };
  struct Stream {
    uint64_t user = 0;
    npb::SubscribeRequest request;
    grpc::ClientContext ctx;
    npb::SubscribeResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncReader<npb::SubscribeResponse>> reader;
    Tag start{this, Tag::kStart};
    Tag read{this, Tag::kRead};
    Tag finish{this, Tag::kFinish};
  };

  void Loop() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
      const int64_t now_ns = NowNs();
      const Tag* t = static_cast<const Tag*>(tag);
      Stream* s = t->stream;
      switch (t->op) {
        case Tag::kStart:
          if (ok) {
            s->reader->Read(&s->response, &s->read);
          } else {
            s->reader->Finish(&s->status, &s->finish);
          }
          break;
        case Tag::kRead:
          if (ok) {
            deliveries_->Record(s->user, s->response.notification(), now_ns);
            s->response.Clear();
            s->reader->Read(&s->response, &s->read);
          } else {
            s->reader->Finish(&s->status, &s->finish);
          }
          break;
        case Tag::kFinish:
          if (!stopping_.load()) {
            failures_.fetch_add(1);
            std::lock_guard<std::mutex> lock(mu_);
            if (first_error_.empty()) {
              first_error_ = absl::StrCat("person ", s->user, "'s stream ended: code ",
                                          static_cast<int>(s->status.error_code()), " ",
                                          s->status.error_message());
            }
          }
          finished_.fetch_add(1);
          break;
      }
    }
  }

  Deliveries* const deliveries_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Stream>> streams_;  // main thread only
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> finished_{0};
  std::atomic<uint64_t> failures_{0};
  bool shut_down_ = false;
  std::mutex mu_;
  std::string first_error_;  // guarded by mu_
};

// What feed's dispatcher does: ApplyEvents calls with the service token, one
// at a time, as producer kProducer with sequence = event index + 1.
class Sender {
 public:
  Sender(const std::shared_ptr<grpc::Channel>& channel, parley::auth::ServiceCredential* credential,
         const std::vector<uint64_t>* recipient)
      : stub_(npb::NotificationInternalService::NewStub(channel)),
        credential_(credential),
        recipient_(recipient),
        sent_ns_(recipient->size(), 0) {}

  // Sends events [first, first + count) in one call; returns when it is answered.
  void Send(uint64_t first, uint64_t count) {
    using google::protobuf::util::TimeUtil;
    npb::ApplyEventsRequest req;
    ev::EventBatch* batch = req.mutable_batch();
    batch->set_producer(kProducer);
    const auto created = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
    for (uint64_t i = first; i < first + count; ++i) {
      const uint64_t to = (*recipient_)[i];
      ev::Event* e = batch->add_events();
      e->set_sequence(i + 1);
      e->set_producer(kProducer);
      *e->mutable_create_time() = created;
      e->set_org_id(parley::bench::kOrgId);
      ev::Liked* like = e->mutable_liked();
      like->mutable_user()->set_id(kActorBase + i);
      like->set_post_id(kPostBase + to);
      like->set_content_author_id(to);
    }
    grpc::ClientContext ctx;
    parley::bench::Prepare(&ctx, credential_->Token());
    npb::ApplyEventsResponse resp;
    const auto sent = Clock::now();
    const int64_t sent_ns = Ns(sent);
    for (uint64_t i = first; i < first + count; ++i) sent_ns_[i] = sent_ns;
    const grpc::Status status = stub_->ApplyEvents(&ctx, req, &resp);
    rpc_ms_.push_back(parley::bench::Millis(Clock::now() - sent));
    parley::bench::CheckRpc(status, "ApplyEvents");
    if (resp.applied_through_sequence() != first + count) {
      parley::bench::Die(absl::StrCat("ApplyEvents: applied through ",
                                      resp.applied_through_sequence(), ", expected ",
                                      first + count));
    }
  }
  int64_t sent_ns(uint64_t event) const { return sent_ns_[event]; }
  const std::vector<double>& rpc_ms() const { return rpc_ms_; }

 private:
  std::unique_ptr<npb::NotificationInternalService::Stub> stub_;
  parley::auth::ServiceCredential* const credential_;
  const std::vector<uint64_t>* const recipient_;
  std::vector<int64_t> sent_ns_;  // by event
  std::vector<double> rpc_ms_;    // by call
};

struct Phase {
  std::string name;
  uint64_t events = 0;
  uint64_t batches = 0;
  double seconds = 0;                // first send to the last reply
  std::vector<double> from_send_ms;  // per event read as the newest actor
  std::vector<double> from_due_ms;   // paced only: from the scheduled time
  std::vector<double> rpc_ms;        // ApplyEvents round trips
  uint64_t coalesced = 0;
  double catch_up_ms = 0;  // last reply to the last entry read
  double events_per_s() const { return static_cast<double>(events) / seconds; }
};

// Sends events [first, first + count): at `rate` per second (each call carries
// the events due by then, at most kMaxBatch), or with rate 0 back to back in
// calls of kMaxBatch. Then waits until every stream has read its person's
// last entry of the phase (nothing after it was sent, so it is read as the
// newest) and collects the latencies.
Phase RunPhase(std::string name, Sender& sender, const Deliveries& d, uint64_t streams,
               uint64_t first, uint64_t count, double rate) {
  using parley::bench::Die;
  Phase r;
  r.name = std::move(name);
  r.events = count;
  const size_t calls_before = sender.rpc_ms().size();
  std::vector<int64_t> due_ns(count, 0);
  const auto start = Clock::now() + std::chrono::milliseconds(rate > 0 ? 10 : 0);
  auto due = [&](uint64_t k) {
    return start + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>(static_cast<double>(k) / rate));
  };
  uint64_t k = 0;
  while (k < count) {
    uint64_t n = std::min(kMaxBatch, count - k);
    if (rate > 0) {
      std::this_thread::sleep_until(due(k));
      const double elapsed = std::max(0.0, parley::bench::Seconds(Clock::now() - start));
      const uint64_t due_now = static_cast<uint64_t>(elapsed * rate) + 1;  // events 0..due_now-1
      n = std::min(n, std::max(due_now, k + 1) - k);
      for (uint64_t j = k; j < k + n; ++j) due_ns[j] = Ns(due(j));
    }
    sender.Send(first + k, n);
    k += n;
  }
  const auto replied = Clock::now();
  r.seconds = parley::bench::Seconds(replied - start);

  const uint64_t tail = std::min(count, streams);  // each person's last event of the phase
  auto caught_up = [&] {
    for (uint64_t i = first + count - tail; i < first + count; ++i) {
      if (d.received_ns[i].load() == 0) return false;
    }
    return true;
  };
  if (!parley::testing::WaitFor(caught_up, absl::Seconds(60))) {
    uint64_t missing = 0;
    for (uint64_t i = first + count - tail; i < first + count; ++i) {
      if (d.received_ns[i].load() == 0) ++missing;
    }
    Die(absl::StrCat(r.name, ": ", missing, " of ", tail,
                     " people had not read their last entry 60 s after it was applied"));
  }

  int64_t last_read = 0;
  for (uint64_t j = 0; j < count; ++j) {
    const int64_t got = d.received_ns[first + j].load();
    if (got == 0) {
      ++r.coalesced;
      continue;
    }
    last_read = std::max(last_read, got);
    r.from_send_ms.push_back(static_cast<double>(got - sender.sent_ns(first + j)) / 1e6);
    if (rate > 0) r.from_due_ms.push_back(static_cast<double>(got - due_ns[j]) / 1e6);
  }
  r.catch_up_ms = std::max(0.0, static_cast<double>(last_read - Ns(replied)) / 1e6);
  r.rpc_ms.assign(sender.rpc_ms().begin() + static_cast<std::ptrdiff_t>(calls_before),
                  sender.rpc_ms().end());
  r.batches = r.rpc_ms.size();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  using bench::Percentile;
  const bool quick = bench::Quick(argc, argv);
  const uint64_t streams = quick ? 200 : 1000;
  const double paced_seconds = quick ? 2 : 5;
  const uint64_t paced_events = static_cast<uint64_t>(kRate * paced_seconds);
  const uint64_t unpaced_events = quick ? 5000 : 20000;
  const uint64_t total = streams + paced_events + unpaced_events;

  testing::TempDir dir;
  const server::CommonConfig config = bench::BenchConfig(dir.path());
  auto credential =
      bench::Must(server::LoadServiceCredential(config, "bench"), "service credential");
  bench::FakeDirectory directory;
  bench::BenchAuth auth(credential.get(), bench::kOrgId, bench::kDomain);
  bench::NotifyStack stack(config, &directory, auth.authenticator());  // no Redis

  std::vector<uint64_t> recipients(total);
  for (uint64_t i = 0; i < total; ++i) recipients[i] = i % streams + 1;
  Deliveries deliveries(std::move(recipients));

  // The streams: person u = 1..N, one each, 50 per connection.
  const auto setup_start = Clock::now();
  const uint64_t connections = (streams + kStreamsPerConnection - 1) / kStreamsPerConnection;
  std::vector<std::unique_ptr<npb::NotificationService::Stub>> stubs;
  for (uint64_t c = 0; c < connections; ++c) {
    stubs.push_back(npb::NotificationService::NewStub(bench::OwnChannel(stack.port())));
  }
  Readers readers(&deliveries);
  readers.Start(kReaderThreads);
  for (uint64_t u = 1; u <= streams; ++u) {
    readers.Open(stubs[(u - 1) % connections].get(), u, auth.UserToken(u));
  }
  const bool all_open = testing::WaitFor(
      [&] { return stack.hub()->open_streams() == streams || readers.finished() > 0; },
      absl::Seconds(60));
  if (readers.finished() > 0) bench::Die("Subscribe: " + readers.first_error());
  if (!all_open) {
    bench::Die(absl::StrCat("only ", stack.hub()->open_streams(), " of ", streams,
                            " streams were open after 60 s"));
  }
  const double setup_s = bench::Seconds(Clock::now() - setup_start);

  Sender sender(bench::OwnChannel(stack.port()), credential.get(), &deliveries.recipient);
  const Phase warm =
      RunPhase("warm-up, one per stream", sender, deliveries, streams, 0, streams, 0);
  const Phase paced = RunPhase(absl::StrCat("paced at ", kRate, "/s"), sender, deliveries, streams,
                               streams, paced_events, kRate);
  const Phase unpaced = RunPhase(absl::StrCat("unpaced, batches of ", kMaxBatch), sender,
                                 deliveries, streams, streams + paced_events, unpaced_events, 0);

  // Every stream is still open: none may have ended by itself.
  const uint64_t stream_failures = readers.failures();
  const std::string stream_error = readers.first_error();
  readers.Stopping();
  stack.hub()->Stop();  // as NotifyModule::StopStreams: the server ends every stream
  if (!testing::WaitFor([&] { return readers.finished() == streams; }, absl::Seconds(10))) {
    readers.CancelAll();
    if (!testing::WaitFor([&] { return readers.finished() == streams; }, absl::Seconds(10))) {
      bench::Die("streams did not end after cancellation");
    }
  }
  readers.Shutdown();
  stack.Stop();

  const double p50 = Percentile(paced.from_send_ms, 0.5);
  const double p99 = Percentile(paced.from_send_ms, 0.99);
  std::printf(
      "notify_stream benchmark (%s): %llu Subscribe streams, one per person, over %llu "
      "connections (async reader, %d threads); Liked events through "
      "NotificationInternalService.ApplyEvents (one producer, <= %llu per call); setup %.1f s\n",
      quick ? "quick" : "full", static_cast<unsigned long long>(streams),
      static_cast<unsigned long long>(connections), kReaderThreads,
      static_cast<unsigned long long>(kMaxBatch), setup_s);
  std::printf("%-26s %8s %7s %10s %8s %8s %8s %9s %10s\n", "phase", "events", "calls", "events/s",
              "p50 ms", "p99 ms", "max ms", "coalesced", "caught up");
  for (const Phase* ph : {&warm, &paced, &unpaced}) {
    std::printf("%-26s %8llu %7llu %10.0f %8.3f %8.3f %8.3f %9llu %7.1f ms\n", ph->name.c_str(),
                static_cast<unsigned long long>(ph->events),
                static_cast<unsigned long long>(ph->batches), ph->events_per_s(),
                Percentile(ph->from_send_ms, 0.5), Percentile(ph->from_send_ms, 0.99),
                Percentile(ph->from_send_ms, 1.0), static_cast<unsigned long long>(ph->coalesced),
                ph->catch_up_ms);
  }
  std::printf(
      "latency: from sending the event's ApplyEvents call to reading its entry from the person's "
      "stream; coalesced: bumped again before the stream read it (delivered in the later entry)\n");
  std::printf(
      "paced: from each event's scheduled time p50 %.3f ms, p99 %.3f ms; ApplyEvents round trip "
      "p50 %.3f ms, p99 %.3f ms (%.1f events per call)\n",
      Percentile(paced.from_due_ms, 0.5), Percentile(paced.from_due_ms, 0.99),
      Percentile(paced.rpc_ms, 0.5), Percentile(paced.rpc_ms, 0.99),
      paced.batches == 0 ? 0.0
                         : static_cast<double>(paced.events) / static_cast<double>(paced.batches));
  std::printf("target: p99 <= %.0f ms at %.0f events/s: %s (p99 %.3f ms)\n", kTargetP99Ms, kRate,
              p99 <= kTargetP99Ms ? "met" : "NOT met", p99);
  std::printf(
      "stream messages read %llu; wrong stream %llu; unexpected %llu; streams ended early "
      "%llu%s%s\n",
      static_cast<unsigned long long>(deliveries.messages.load()),
      static_cast<unsigned long long>(deliveries.wrong_stream.load()),
      static_cast<unsigned long long>(deliveries.unexpected.load()),
      static_cast<unsigned long long>(stream_failures), stream_error.empty() ? "" : ": ",
      stream_error.c_str());
  std::printf("BENCH notify_stream events_per_s=%.0f p50_ms=%.3f p99_ms=%.3f streams=%llu\n",
              unpaced.events_per_s(), p50, p99, static_cast<unsigned long long>(streams));
  const bool correct = stream_failures == 0 && deliveries.wrong_stream.load() == 0 &&
                       deliveries.unexpected.load() == 0;
  return correct ? 0 : 1;
}
