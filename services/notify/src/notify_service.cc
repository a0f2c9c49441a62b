#include "notify/src/notify_service.h"

#include "google/protobuf/util/time_util.h"
#include "parley/server/call.h"
#include "parley/status/status.h"

namespace parley::notify {

using server::CallScope;
using server::Respond;
using status::ToGrpc;

#define PARLEY_AUTH(ctx, Kind)                     \
  CallScope scope(ctx);                            \
  auto caller = auth_->Authenticate##Kind(*(ctx)); \
  if (!caller.ok()) return ToGrpc(caller.status())

grpc::Status NotificationGrpcService::ListNotifications(grpc::ServerContext* ctx,
                                                        const pb::ListNotificationsRequest* req,
                                                        pb::ListNotificationsResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(inbox_->List(caller->user_id(), *req),
                 [&](pb::ListNotificationsResponse r) { *resp = std::move(r); });
}

grpc::Status NotificationGrpcService::GetUnreadCount(grpc::ServerContext* ctx,
                                                     const pb::GetUnreadCountRequest*,
                                                     pb::GetUnreadCountResponse* resp) {
  PARLEY_AUTH(ctx, User);
  resp->set_unread_count(inbox_->UnreadCount(caller->user_id()));
  return grpc::Status::OK;
}

grpc::Status NotificationGrpcService::MarkRead(grpc::ServerContext* ctx,
                                               const pb::MarkReadRequest* req,
                                               pb::MarkReadResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(inbox_->MarkRead(caller->user_id(), *req),
                 [&](uint64_t unread) { resp->set_unread_count(unread); });
}

grpc::Status NotificationGrpcService::GetPreferences(grpc::ServerContext* ctx,
                                                     const pb::GetPreferencesRequest*,
                                                     pb::GetPreferencesResponse* resp) {
  PARLEY_AUTH(ctx, User);
  return Respond(inbox_->GetPreferences(caller->user_id()), [&](pb::NotificationPreferences p) {
    *resp->mutable_preferences() = std::move(p);
  });
}

grpc::Status NotificationGrpcService::UpdatePreferences(grpc::ServerContext* ctx,
                                                        const pb::UpdatePreferencesRequest* req,
                                                        pb::UpdatePreferencesResponse* resp) {
  PARLEY_AUTH(ctx, User);
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
  for (;;) {
    const uint64_t generation = hub_->Generation(user);
    auto entries = inbox_->Since(user, last);
    if (!entries.ok()) return ToGrpc(entries.status());
    if (!entries->empty()) {
      const uint64_t unread = inbox_->UnreadCount(user);
      for (auto& n : *entries) {
        pb::SubscribeResponse out;
        const uint64_t id = n.id();
        *out.mutable_notification() = std::move(n);
        out.set_unread_count(unread);
        if (!writer->Write(out)) return grpc::Status(grpc::CANCELLED, "the client went away");
        last = id;
      }
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
    // Wake on a change, and at least once a second to notice a client gone.
    hub_->Wait(user, generation, std::min({expires, next_check, now + absl::Seconds(1)}));
  }
}

grpc::Status NotificationInternalGrpcService::ApplyEvents(grpc::ServerContext* ctx,
                                                          const pb::ApplyEventsRequest* req,
                                                          pb::ApplyEventsResponse* resp) {
  PARLEY_AUTH(ctx, Service);
  return Respond(inbox_->ApplyEvents(req->batch()),
                 [&](uint64_t through) { resp->set_applied_through_sequence(through); });
}

}  // namespace parley::notify
