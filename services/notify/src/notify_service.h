// gRPC adapters for notifications and presence: authenticate, call the logic,
// convert the status. Subscribe holds one server thread per open stream.
//
// Inboxes are sharded by person. Any shard answers any call: inbox calls are
// forwarded once to the person's shard; a stream is served where it lands,
// reading the inbox through the owner's API and woken by the owner's Redis
// publications (or, while Redis is down, once a second).
#pragma once

#include <optional>
#include <vector>

#include "notify/src/hub.h"
#include "notify/src/inbox.h"
#include "notify/src/presence.h"
#include "parley/auth/auth.h"
#include "parley/directory/directory.h"
#include "parley/notify/v1/notify.grpc.pb.h"

namespace parley::notify {

// Streams re-check the person's account this often (a suspension ends them).
inline constexpr absl::Duration kStreamAccountCheck = absl::Seconds(5);

// The other notification shards' public API (null with one shard).
class NotifyPeers {
 public:
  explicit NotifyPeers(const shard::ShardMap& shards);
  pb::NotificationService::Stub* At(int32_t shard) { return stubs_.at(shard).get(); }

 private:
  std::vector<std::unique_ptr<pb::NotificationService::Stub>> stubs_;
};

class NotificationGrpcService final : public pb::NotificationService::Service {
 public:
  NotificationGrpcService(Inbox* inbox, Presence* presence, StreamHub* hub,
                          directory::Directory* directory, auth::Authenticator* auth,
                          NotifyPeers* peers = nullptr)
      : inbox_(inbox),
        presence_(presence),
        hub_(hub),
        directory_(directory),
        auth_(auth),
        peers_(peers) {}

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
  // Whether changes on other shards are published to this one (Redis
  // pub/sub up); while not, streams of people homed elsewhere poll each second.
  void SetPubSub(std::function<bool()> up) { pubsub_up_ = std::move(up); }

 private:
  std::function<absl::Time()> now_ = [] { return absl::Now(); };
  std::function<bool()> pubsub_up_ = [] { return false; };
  template <typename Req, typename Resp>
  using Method = grpc::Status (pb::NotificationService::Stub::*)(grpc::ClientContext*, const Req&,
                                                                 Resp*);
  // Forwards the call to `user`'s shard unless it is this one (then nullopt).
  template <typename Req, typename Resp>
  std::optional<grpc::Status> Route(grpc::ServerContext* ctx, uint64_t user, const Req& req,
                                    Resp* resp, Method<Req, Resp> method);
  // A stream's reads: the inbox here, or the owner's through its API.
  absl::StatusOr<std::vector<pb::Notification>> Since(grpc::ServerContext* ctx, uint64_t user,
                                                      uint64_t after, bool newest);
  absl::StatusOr<uint64_t> Unread(grpc::ServerContext* ctx, uint64_t user);
  Inbox* const inbox_;
  Presence* const presence_;
  StreamHub* const hub_;
  directory::Directory* const directory_;
  auth::Authenticator* const auth_;
  NotifyPeers* const peers_;
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
