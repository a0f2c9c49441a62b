// Both ends of event delivery between services (parley.events.v1).
//
// Producer side: a service commits events to its storage::Outbox together with
// the state change (payload: a serialized Event without sequence and producer);
// one Dispatcher per subscriber sends them with DeliverTo(), which stamps the
// outbox's sequence and producer id on each event.
//
// Consumer side: ApplyBatch() validates a batch and applies each event exactly
// once (storage::AppliedSequences: the last applied sequence per producer is
// written in the same WriteBatch as the effect).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "parley/auth/auth.h"
#include "parley/events/v1/events.pb.h"
#include "parley/storage/applied.h"
#include "parley/storage/outbox.h"

namespace parley::events {

namespace pb = ::parley::events::v1;

// ≤ 1,000 events per batch (events.proto).
inline constexpr size_t kMaxEventsPerBatch = 1000;

using ApplyEventFn =
    std::function<absl::Status(const pb::Event& event, rocksdb::WriteBatch* batch)>;

// The sequences of `batch`, or INVALID_ARGUMENT for an empty producer, too
// many events, an event of another producer, or sequences that do not
// increase (for consumers that keep their markers elsewhere than RocksDB).
absl::StatusOr<std::vector<uint64_t>> ValidateBatch(const pb::EventBatch& batch);

// Applies each event of a valid batch (ValidateBatch) exactly once. Returns
// the producer's last applied sequence afterwards (what the dispatcher
// acknowledges).
absl::StatusOr<uint64_t> ApplyBatch(storage::AppliedSequences& applied, const pb::EventBatch& batch,
                                    const ApplyEventFn& apply);

// A subscriber's ApplyEvents RPC. Every service's request is
// `{EventBatch batch = 1}` and its response `{uint64 applied_through_sequence = 1}`,
// so one client serves them all through the method's full name, e.g.
// "/parley.search.v1.SearchInternalService/ApplyEvents".
class Subscriber {
 public:
  Subscriber(std::string name, std::shared_ptr<grpc::Channel> channel, std::string method,
             auth::ServiceCredential* credential, absl::Duration deadline = absl::Seconds(10));
  // The channel is asked for on each send (an in-process channel that exists
  // only once the server has started).
  Subscriber(std::string name, std::function<std::shared_ptr<grpc::Channel>()> channel,
             std::string method, auth::ServiceCredential* credential,
             absl::Duration deadline = absl::Seconds(10));
  const std::string& name() const { return name_; }
  // OK only when the subscriber applied every event of the batch.
  absl::StatusOr<uint64_t> Send(const pb::EventBatch& batch);

 private:
  const std::string name_;
  std::function<std::shared_ptr<grpc::Channel>()> channel_;
  const std::string method_;
  auth::ServiceCredential* const credential_;
  const absl::Duration deadline_;
};

// Outbox payload for `event`: its serialization without sequence and producer.
std::string EncodeForOutbox(const pb::Event& event);
// The Event of an outbox entry, stamped with its sequence and `producer`.
absl::StatusOr<pb::Event> DecodeFromOutbox(const storage::OutboxEntry& entry,
                                           const std::string& producer);

// A DeliverFn for a Dispatcher that sends entries to `subscriber`. With `keep`,
// only the events it accepts are sent (the others count as delivered).
storage::DeliverFn DeliverTo(std::shared_ptr<Subscriber> subscriber, std::string producer,
                             std::function<bool(const pb::Event&)> keep = nullptr);

}  // namespace parley::events
