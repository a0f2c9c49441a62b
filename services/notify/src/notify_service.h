// gRPC adapters for notifications and presence: authenticate, call the logic,
// convert the status. Subscribe holds one server thread per open stream.
#pragma once

#include "notify/src/hub.h"
#include "notify/src/inbox.h"
#include "notify/src/presence.h"
#include "parley/auth/auth.h"
#include "parley/directory/directory.h"
#include "parley/notify/v1/notify.grpc.pb.h"

namespace parley::notify {

// Streams re-check the person's account this often (a suspension ends them).
inline constexpr absl::Duration kStreamAccountCheck = absl::Seconds(5);

class NotificationGrpcService final : public pb::NotificationService::Service {
 public:
  NotificationGrpcService(Inbox* inbox, Presence* presence, StreamHub* hub,
                          directory::Directory* directory, auth::Authenticator* auth)
      : inbox_(inbox), presence_(presence), hub_(hub), directory_(directory), auth_(auth) {}

#define PARLEY_NOTIFY_RPC(Name)                                             \
  grpc::Status Name(grpc::ServerContext* ctx, const pb::Name##Request* req, \
                    pb::Name##Response* resp) override;
  PARLEY_NOTIFY_RPC(ListNotifications)
  PARLEY_NOTIFY_RPC(GetUnreadCount)
  PARLEY_NOTIFY_RPC(MarkRead)
  PARLEY_NOTIFY_RPC(GetPreferences)
  PARLEY_NOTIFY_RPC(UpdatePreferences)
  PARLEY_NOTIFY_RPC(Heartbeat)
  PARLEY_NOTIFY_RPC(GetPresence)
#undef PARLEY_NOTIFY_RPC
  grpc::Status Subscribe(grpc::ServerContext* ctx, const pb::SubscribeRequest* req,
                         grpc::ServerWriter<pb::SubscribeResponse>* writer) override;
  // The clock streams compare token expiry with (tests move it forward).
  void SetClock(std::function<absl::Time()> now) { now_ = std::move(now); }

 private:
  std::function<absl::Time()> now_ = [] { return absl::Now(); };
  Inbox* const inbox_;
  Presence* const presence_;
  StreamHub* const hub_;
  directory::Directory* const directory_;
  auth::Authenticator* const auth_;
};

class NotificationInternalGrpcService final : public pb::NotificationInternalService::Service {
 public:
  NotificationInternalGrpcService(Inbox* inbox, auth::Authenticator* auth)
      : inbox_(inbox), auth_(auth) {}
  grpc::Status ApplyEvents(grpc::ServerContext* ctx, const pb::ApplyEventsRequest* req,
                           pb::ApplyEventsResponse* resp) override;

 private:
  Inbox* const inbox_;
  auth::Authenticator* const auth_;
};

}  // namespace parley::notify
