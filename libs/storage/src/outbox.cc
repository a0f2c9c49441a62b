#include "parley/storage/outbox.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "parley/log/log.h"
#include "parley/storage/keys.h"

namespace parley::storage {
namespace {

// Key spaces inside the outbox column family.
constexpr char kEntryTag = 'e';     // 'e' <seq u64>           -> payload
constexpr char kCursorTag = 'c';    // 'c' <subscriber>        -> u64 acknowledged through
constexpr char kProducerTag = 'p';  // 'p'                     -> producer id

std::string EntryKey(uint64_t sequence) {
  std::string key(1, kEntryTag);
  AppendU64(&key, sequence);
  return key;
}

std::string CursorKey(const std::string& subscriber) {
  return std::string(1, kCursorTag) + subscriber;
}

rocksdb::Slice AsSlice(const std::string& s) { return rocksdb::Slice(s.data(), s.size()); }

}  // namespace

absl::StatusOr<std::unique_ptr<Outbox>> Outbox::Open(Db* db, std::string cf_name,
                                                     std::string producer_name) {
  std::unique_ptr<Outbox> outbox(new Outbox(db, db->Cf(cf_name)));

  auto producer = db->Get(outbox->cf_, std::string(1, kProducerTag));
  if (!producer.ok()) return producer.status();
  if (producer->has_value()) {
    outbox->producer_id_ = **producer;
  } else {
    std::random_device rd;
    uint64_t incarnation = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    outbox->producer_id_ =
        absl::StrFormat("%s/%016x", producer_name.empty() ? cf_name : producer_name, incarnation);
    rocksdb::WriteBatch batch;
    batch.Put(outbox->cf_, std::string(1, kProducerTag), outbox->producer_id_);
    if (auto s = db->Write(&batch); !s.ok()) return s;
  }

  // The next sequence follows the newest entry, or the furthest cursor when
  // every entry has been trimmed.
  uint64_t last = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db->raw()->NewIterator(rocksdb::ReadOptions(), outbox->cf_));
  std::string entry_end = PrefixSuccessor(std::string(1, kEntryTag));
  it->SeekForPrev(AsSlice(entry_end));
  if (it->Valid() && it->key().size() == 9 && it->key()[0] == kEntryTag) {
    last = DecodeU64(absl::string_view(it->key().data() + 1, 8));
  }
  for (it->Seek(std::string(1, kCursorTag)); it->Valid() && it->key()[0] == kCursorTag;
       it->Next()) {
    if (it->value().size() == 8)
      last = std::max(last, DecodeU64(absl::string_view(it->value().data(), 8)));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "outbox scan");
  outbox->next_sequence_ = last + 1;
  return outbox;
}

absl::StatusOr<uint64_t> Outbox::Commit(rocksdb::WriteBatch* batch,
                                        const std::vector<std::string>& payloads) {
  uint64_t first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = next_sequence_;
    next_sequence_ += payloads.size();
    if (!payloads.empty()) in_flight_.insert(first);
  }
  for (size_t i = 0; i < payloads.size(); ++i) {
    rocksdb::Status s = batch->Put(cf_, AsSlice(EntryKey(first + i)), AsSlice(payloads[i]));
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_.erase(in_flight_.find(first));
      return FromRocks(s, "outbox append");
    }
  }
  absl::Status written = db_->Write(batch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A failed write leaves a gap of sequences that never exist; readers skip it.
    if (!payloads.empty()) in_flight_.erase(in_flight_.find(first));
  }
  committed_cv_.notify_all();
  if (!written.ok()) return written;
  return first;
}

uint64_t Outbox::CommittedThrough() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_.empty() ? next_sequence_ - 1 : *in_flight_.begin() - 1;
}

absl::StatusOr<std::vector<OutboxEntry>> Outbox::ReadAfter(uint64_t after, size_t limit,
                                                           uint64_t* read_through) const {
  const uint64_t through = CommittedThrough();
  if (read_through != nullptr) *read_through = std::max(after, through);
  std::vector<OutboxEntry> entries;
  if (through <= after) return entries;
  rocksdb::ReadOptions read;
  std::string upper = EntryKey(through + 1);
  rocksdb::Slice upper_slice = AsSlice(upper);
  read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator(read, cf_));
  for (it->Seek(AsSlice(EntryKey(after + 1))); it->Valid() && entries.size() < limit; it->Next()) {
    if (it->key().size() != 9) continue;
    entries.push_back(
        OutboxEntry{DecodeU64(absl::string_view(it->key().data() + 1, 8)), it->value().ToString()});
  }
  if (!it->status().ok()) return FromRocks(it->status(), "outbox read");
  return entries;
}

void Outbox::WaitForEntriesAfter(uint64_t after, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t generation = wake_generation_;
  committed_cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] {
    uint64_t through = in_flight_.empty() ? next_sequence_ - 1 : *in_flight_.begin() - 1;
    return through > after || wake_generation_ != generation;
  });
}

void Outbox::Wake() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wake_generation_;
  }
  committed_cv_.notify_all();
}

void Outbox::RegisterSubscriber(const std::string& subscriber) {
  auto cursor = Cursor(subscriber);
  std::lock_guard<std::mutex> lock(mu_);
  cursors_[subscriber] = cursor.ok() ? *cursor : 0;
}

absl::StatusOr<uint64_t> Outbox::Cursor(const std::string& subscriber) const {
  auto value = db_->Get(cf_, CursorKey(subscriber));
  if (!value.ok()) return value.status();
  if (!value->has_value() || (*value)->size() != 8) return uint64_t{0};
  return DecodeU64(**value);
}

absl::Status Outbox::Acknowledge(const std::string& subscriber, uint64_t through_sequence) {
  rocksdb::WriteBatch batch;
  batch.Put(cf_, AsSlice(CursorKey(subscriber)), AsSlice(U64Key(through_sequence)));
  if (auto s = db_->Write(&batch); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  cursors_[subscriber] = std::max(cursors_[subscriber], through_sequence);
  return TrimLocked();
}

uint64_t Outbox::Pending(const std::string& subscriber) const {
  uint64_t through = CommittedThrough();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cursors_.find(subscriber);
  uint64_t cursor = it == cursors_.end() ? 0 : it->second;
  return through > cursor ? through - cursor : 0;
}

absl::Status Outbox::TrimLocked() {
  if (cursors_.empty()) return absl::OkStatus();
  uint64_t min_cursor = UINT64_MAX;
  for (const auto& [name, cursor] : cursors_) min_cursor = std::min(min_cursor, cursor);
  // Trim in steps: each DeleteRange leaves a range tombstone, so not one per ack.
  constexpr uint64_t kTrimStep = 256;
  if (min_cursor < trimmed_through_ + kTrimStep) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  batch.DeleteRange(cf_, AsSlice(EntryKey(0)), AsSlice(EntryKey(min_cursor + 1)));
  absl::Status s = db_->Write(&batch);
  if (s.ok()) trimmed_through_ = min_cursor;
  return s;
}

Dispatcher::Dispatcher(Outbox* outbox, DispatcherOptions options, DeliverFn deliver)
    : outbox_(outbox), options_(std::move(options)), deliver_(std::move(deliver)) {
  outbox_->RegisterSubscriber(options_.subscriber);
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void Dispatcher::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    thread = std::move(thread_);  // only one caller gets to join
  }
  stop_cv_.notify_all();
  outbox_->Wake();
  if (thread.joinable()) thread.join();
}

uint64_t Dispatcher::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

void Dispatcher::Run() {
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  };
  // Sleeps for `d` unless Stop() is called; returns false when stopping.
  auto pause = [this](absl::Duration d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stopping_; });
  };

  absl::Duration backoff = options_.initial_backoff;
  auto cursor = outbox_->Cursor(options_.subscriber);
  while (!cursor.ok()) {
    log::Error("outbox cursor unreadable",
               {{"subscriber", options_.subscriber}, {"error", cursor.status().ToString()}});
    if (!pause(backoff)) return;
    cursor = outbox_->Cursor(options_.subscriber);
  }
  uint64_t delivered = *cursor;

  while (!stopping()) {
    uint64_t read_through = delivered;
    auto entries = outbox_->ReadAfter(delivered, options_.max_batch, &read_through);
    absl::Status status = entries.status();
    if (status.ok() && entries->empty()) {
      // Nothing up to read_through exists (gaps from failed commits, or trimmed):
      // move past it, or the wait below would return at once, forever.
      delivered = read_through;
      outbox_->WaitForEntriesAfter(delivered, options_.idle_poll);
      continue;
    }
    if (status.ok()) status = deliver_(*entries);
    if (status.ok()) {
      const uint64_t through = entries->back().sequence;
      status = outbox_->Acknowledge(options_.subscriber, through);
      // Delivered either way; an unsaved cursor only means a redelivery after restart.
      delivered = through;
    }
    if (status.ok()) {
      backoff = options_.initial_backoff;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++failures_;
    }
    log::Warn("outbox delivery failed; retrying",
              {{"subscriber", options_.subscriber},
               {"error", status.ToString()},
               {"backoff_ms", static_cast<int64_t>(absl::ToInt64Milliseconds(backoff))}});
    if (!pause(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace parley::storage
