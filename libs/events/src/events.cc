#include "parley/events/events.h"

#include <condition_variable>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"
#include "parley/feed/v1/feed.pb.h"
#include "parley/status/status.h"

namespace parley::events {

absl::StatusOr<std::vector<uint64_t>> ValidateBatch(const pb::EventBatch& batch) {
  if (batch.producer().empty()) return status::Required("batch.producer");
  if (static_cast<size_t>(batch.events_size()) > kMaxEventsPerBatch) {
    return status::TooMany("batch.events", batch.events_size(), kMaxEventsPerBatch);
  }
  std::vector<uint64_t> sequences;
  sequences.reserve(batch.events_size());
  for (const auto& e : batch.events()) {
    if (e.producer() != batch.producer()) {
      return absl::InvalidArgumentError(absl::StrCat("event ", e.sequence(), " has producer \"",
                                                     e.producer(), "\", batch has \"",
                                                     batch.producer(), "\""));
    }
    if (e.sequence() == 0 || (!sequences.empty() && e.sequence() <= sequences.back())) {
      return absl::InvalidArgumentError(
          absl::StrCat("event sequences must increase from 1; got ", e.sequence()));
    }
    sequences.push_back(e.sequence());
  }
  return sequences;
}

absl::StatusOr<uint64_t> ApplyBatch(storage::AppliedSequences& applied, const pb::EventBatch& batch,
                                    const ApplyEventFn& apply) {
  auto sequences = ValidateBatch(batch);
  if (!sequences.ok()) return sequences.status();
  return applied.Apply(batch.producer(), *sequences, [&](size_t i, rocksdb::WriteBatch* b) {
    return apply(batch.events(static_cast<int>(i)), b);
  });
}

Subscriber::Subscriber(std::string name, std::shared_ptr<grpc::Channel> channel, std::string method,
                       auth::ServiceCredential* credential, absl::Duration deadline)
    : name_(std::move(name)),
      channel_([channel = std::move(channel)] { return channel; }),
      method_(std::move(method)),
      credential_(credential),
      deadline_(deadline) {}

Subscriber::Subscriber(std::string name, std::function<std::shared_ptr<grpc::Channel>()> channel,
                       std::string method, auth::ServiceCredential* credential,
                       absl::Duration deadline)
    : name_(std::move(name)),
      channel_(std::move(channel)),
      method_(std::move(method)),
      credential_(credential),
      deadline_(deadline) {}

absl::StatusOr<uint64_t> Subscriber::Send(const pb::EventBatch& batch) {
  feed::v1::ApplyEventsRequest request;
  *request.mutable_batch() = batch;
  grpc::ByteBuffer send;
  bool own = false;
  grpc::Status s =
      grpc::SerializationTraits<feed::v1::ApplyEventsRequest>::Serialize(request, &send, &own);
  if (!s.ok()) return status::FromGrpc(s);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline_));
  if (credential_ != nullptr) credential_->Attach(&ctx);
  grpc::GenericStub stub(channel_());
  grpc::ByteBuffer received;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status call_status;
  stub.UnaryCall(&ctx, method_, grpc::StubOptions(), &send, &received, [&](grpc::Status st) {
    std::lock_guard<std::mutex> lock(mu);
    call_status = std::move(st);
    done = true;
    cv.notify_one();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  if (!call_status.ok()) {
    return absl::Status(status::FromGrpc(call_status).code(),
                        absl::StrCat(name_, ": ", call_status.error_message()));
  }
  feed::v1::ApplyEventsResponse response;
  s = grpc::SerializationTraits<feed::v1::ApplyEventsResponse>::Deserialize(&received, &response);
  if (!s.ok()) return status::FromGrpc(s);
  uint64_t last = batch.events().empty() ? 0 : batch.events().rbegin()->sequence();
  if (response.applied_through_sequence() < last) {
    return absl::InternalError(absl::StrCat(
        name_, " applied through ", response.applied_through_sequence(), ", sent up to ", last));
  }
  return response.applied_through_sequence();
}

std::string EncodeForOutbox(const pb::Event& event) {
  pb::Event copy = event;
  copy.clear_sequence();
  copy.clear_producer();
  return copy.SerializeAsString();
}

absl::StatusOr<pb::Event> DecodeFromOutbox(const storage::OutboxEntry& entry,
                                           const std::string& producer) {
  pb::Event event;
  if (!event.ParseFromString(entry.payload)) {
    return absl::DataLossError(absl::StrCat("outbox entry ", entry.sequence, " is not an Event"));
  }
  event.set_sequence(entry.sequence);
  event.set_producer(producer);
  return event;
}

storage::DeliverFn DeliverTo(std::shared_ptr<Subscriber> subscriber, std::string producer,
                             std::function<bool(const pb::Event&)> keep) {
  return [subscriber, producer,
          keep](const std::vector<storage::OutboxEntry>& entries) -> absl::Status {
    pb::EventBatch batch;
    batch.set_producer(producer);
    for (const auto& entry : entries) {
      auto event = DecodeFromOutbox(entry, producer);
      if (!event.ok()) return event.status();
      if (keep && !keep(*event)) continue;
      *batch.add_events() = *std::move(event);
    }
    if (batch.events().empty()) return absl::OkStatus();
    auto applied = subscriber->Send(batch);
    return applied.ok() ? absl::OkStatus() : applied.status();
  };
}

}  // namespace parley::events
