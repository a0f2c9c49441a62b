#include "notify/src/notify_service.h"

#include "google/protobuf/util/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parley/server/call.h"
#include "parley/server/forward.h"
#include "parley/status/status.h"

namespace parley::notify {

using server::CallScope;
using server::Respond;
using status::ToGrpc;

// A forwarded call gets this long at most.
constexpr absl::Duration kForwardDeadline = absl::Seconds(5);

NotifyPeers::NotifyPeers(const shard::ShardMap& shards) {
  stubs_.resize(shards.count());
  for (int32_t i = 0; i < shards.count(); ++i) {
    if (i == shards.self()) continue;
    stubs_[i] = pb::NotificationService::NewStub(
        grpc::CreateChannel(shards.address(i), grpc::InsecureChannelCredentials()));
  }
}

template <typename Req, typename Resp>
std::optional<grpc::Status> NotificationGrpcService::Route(grpc::ServerContext* ctx, uint64_t user,
                                                           const Req& req, Resp* resp,
                                                           Method<Req, Resp> method) {
  if (inbox_->IsLocal(user)) return std::nullopt;
  if (peers_ == nullptr || server::WasForwarded(*ctx)) {
    return grpc::Status(grpc::FAILED_PRECONDITION,
                        "forwarded to the wrong notification shard: shard maps disagree");
  }
  auto out = server::ForwardContext(*ctx, kForwardDeadline);
  return (peers_->At(inbox_->shards().ShardOf(user))->*method)(out.get(), req, resp);
}

#define PARLEY_ROUTE(Name)                                                                 \
  if (auto routed =                                                                        \
          Route(ctx, caller->user_id(), *req, resp, &pb::NotificationService::Stub::Name); \
      routed) {                                                                            \
    return *routed;                                                                        \
  }

#define PARLEY_AUTH(ctx, Kind)                     \
  CallScope scope(ctx);                            \
  auto caller = auth_->Authenticate##Kind(*(ctx)); \
  if (!caller.ok()) return ToGrpc(caller.status())

grpc::Status NotificationGrpcService::ListNotifications(grpc::ServerContext* ctx,
                                                        const pb::ListNotificationsRequest* req,
                                                        pb::ListNotificationsResponse* resp) {
  PARLEY_AUTH(ctx, User);
  PARLEY_ROUTE(ListNotifications)
  return Respond(inbox_->List(caller->user_id(), *req),
                 [&](pb::ListNotificationsResponse r) { *resp = std::move(r); });
}

grpc::Status NotificationGrpcService::GetUnreadCount(grpc::ServerContext* ctx,
                                                     const pb::GetUnreadCountRequest* req,
                                                     pb::GetUnreadCountResponse* resp) {
  PARLEY_AUTH(ctx, User);
  PARLEY_ROUTE(GetUnreadCount)
  resp->set_unread_count(inbox_->UnreadCount(caller->user_id()));
  return grpc::Status::OK;
}

grpc::Status NotificationGrpcService::MarkRead(grpc::ServerContext* ctx,
                                               const pb::MarkReadRequest* req,
                                               pb::MarkReadResponse* resp) {
  PARLEY_AUTH(ctx, User);
  PARLEY_ROUTE(MarkRead)
  return Respond(inbox_->MarkRead(caller->user_id(), *req),
                 [&](uint64_t unread) { resp->set_unread_count(unread); });
}

grpc::Status NotificationGrpcService::GetPreferences(grpc::ServerContext* ctx,
                                                     const pb::GetPreferencesRequest* req,
                                                     pb::GetPreferencesResponse* resp) {
  PARLEY_AUTH(ctx, User);
  PARLEY_ROUTE(GetPreferences)
  return Respond(inbox_->GetPreferences(caller->user_id()), [&](pb::NotificationPreferences p) {
    *resp->mutable_preferences() = std::move(p);
  });
}

grpc::Status NotificationGrpcService::UpdatePreferences(grpc::ServerContext* ctx,
                                                        const pb::UpdatePreferencesRequest* req,
                                                        pb::UpdatePreferencesResponse* resp) {
  PARLEY_AUTH(ctx, User);
  PARLEY_ROUTE(UpdatePreferences)
  return Respond(
      inbox_->UpdatePreferences(caller->user_id(), *req),
      [&](pb::NotificationPreferences p) { *resp->mutable_preferences() = std::move(p); });
}

grpc::Status NotificationGrpcService::Heartbeat(grpc::ServerContext* ctx,
                                                const pb::HeartbeatRequest* req,
                                                pb::HeartbeatResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(presence_->Heartbeat(*caller, *req),
                 [&](pb::HeartbeatResponse r) { *resp = std::move(r); });
}

grpc::Status NotificationGrpcService::GetPresence(grpc::ServerContext* ctx,
                                                  const pb::GetPresenceRequest* req,
                                                  pb::GetPresenceResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(presence_->Get(*caller, *req),
                 [&](pb::GetPresenceResponse r) { *resp = std::move(r); });
}

// Replays what the client missed, then follows the inbox. Each round reads
// the change counter first and the inbox second, so a change between the two
// wakes the next wait at once: nothing is missed, and ids only go up, so
// nothing is sent twice.
grpc::Status NotificationGrpcService::Subscribe(grpc::ServerContext* ctx,
                                                const pb::SubscribeRequest* req,
                                                grpc::ServerWriter<pb::SubscribeResponse>* writer) {
  PARLEY_AUTH(ctx, User);
  const uint64_t user = caller->user_id();
  auto registration = hub_->Register(user);
  if (!registration.ok()) return ToGrpc(registration.status());
  const absl::Time expires = absl::FromUnixNanos(
      google::protobuf::util::TimeUtil::TimestampToNanoseconds(caller->expire_time()));
  absl::Time next_check = now_() + kStreamAccountCheck;
  uint64_t last = req->after_notification_id();
  bool replay = true;  // the first read: the newest kMaxReplay above the client's last id
  for (;;) {
    const uint64_t generation = hub_->Generation(user);
    // Everything above `last`, a page at a time (a burst may exceed a page).
    for (;;) {
      auto entries = Since(ctx, user, last, replay);
      replay = false;
      if (!entries.ok()) return ToGrpc(entries.status());
      if (entries->empty()) break;
      auto unread_now = Unread(ctx, user);
      if (!unread_now.ok()) return ToGrpc(unread_now.status());
      const size_t count = entries->size();
      for (auto& n : *entries) {
        pb::SubscribeResponse out;
        const uint64_t id = n.id();
        *out.mutable_notification() = std::move(n);
        out.set_unread_count(*unread_now);
        if (!writer->Write(out)) return grpc::Status(grpc::CANCELLED, "the client went away");
        last = id;
      }
      if (count < kMaxReplay) break;
    }
    if (ctx->IsCancelled()) return grpc::Status(grpc::CANCELLED, "the client went away");
    if (hub_->stopped()) {
      return grpc::Status(grpc::UNAVAILABLE, "the server is shutting down: reconnect");
    }
    const absl::Time now = now_();
    if (now >= expires) {
      return grpc::Status(grpc::UNAUTHENTICATED,
                          "access token expired: reconnect with a fresh token and the last id");
    }
    if (now >= next_check) {
      auto me = directory_->GetOne(user);
      if (me.ok() && !me->active) {
        return grpc::Status(grpc::PERMISSION_DENIED, "your account is not active");
      }
      next_check = now + kStreamAccountCheck;
    }
    // Wake on a change; at least once a second to notice a client gone, or
    // to poll the owner of an inbox on another shard while nothing publishes.
    const absl::Duration idle =
        inbox_->IsLocal(user) || !pubsub_up_() ? absl::Seconds(1) : absl::Seconds(5);
    hub_->Wait(user, generation, std::min({expires, next_check, now + idle}));
  }
}

absl::StatusOr<std::vector<pb::Notification>> NotificationGrpcService::Since(
    grpc::ServerContext* ctx, uint64_t user, uint64_t after, bool newest) {
  if (inbox_->IsLocal(user)) return inbox_->Since(user, after, newest);
  if (peers_ == nullptr) return absl::FailedPreconditionError("no notification shard peers");
  // The owner's inbox, newest first, down to `after`: at most kMaxReplay
  // when replaying, else all of it (then the oldest kMaxReplay are returned).
  const size_t cap = newest ? kMaxReplay : 10 * kMaxReplay;
  std::vector<pb::Notification> out;
  pb::ListNotificationsRequest req;
  req.set_page_size(kMaxPageSize);
  for (;;) {
    pb::ListNotificationsResponse resp;
    auto call = server::ForwardContext(*ctx, kForwardDeadline);
    grpc::Status st =
        peers_->At(inbox_->shards().ShardOf(user))->ListNotifications(call.get(), req, &resp);
    if (!st.ok()) return status::FromGrpc(st);
    bool done = resp.next_page_token().empty();
    for (auto& n : *resp.mutable_notifications()) {
      if (n.id() <= after || out.size() == cap) {
        done = true;
        break;
      }
      out.push_back(std::move(n));
    }
    if (done) break;
    req.set_page_token(resp.next_page_token());
  }
  std::reverse(out.begin(), out.end());
  if (out.size() > kMaxReplay) out.resize(kMaxReplay);  // the oldest page first
  return out;
}

absl::StatusOr<uint64_t> NotificationGrpcService::Unread(grpc::ServerContext* ctx, uint64_t user) {
  if (inbox_->IsLocal(user)) return inbox_->UnreadCount(user);
  pb::GetUnreadCountRequest req;
  pb::GetUnreadCountResponse resp;
  auto call = server::ForwardContext(*ctx, kForwardDeadline);
  grpc::Status st =
      peers_->At(inbox_->shards().ShardOf(user))->GetUnreadCount(call.get(), req, &resp);
  if (!st.ok()) return status::FromGrpc(st);
  return resp.unread_count();
}

grpc::Status NotificationInternalGrpcService::ApplyEvents(grpc::ServerContext* ctx,
                                                          const pb::ApplyEventsRequest* req,
                                                          pb::ApplyEventsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(inbox_->ApplyEvents(req->batch()),
                 [&](uint64_t through) { resp->set_applied_through_sequence(through); });
}

}  // namespace parley::notify
