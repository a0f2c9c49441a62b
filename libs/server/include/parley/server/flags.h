// Flags every Parley process shares (--grpc_addr, --metrics_addr, --data_dir,
// --node_id, --log_level, --drain_timeout_s, --max_message_bytes,
// --service_key_file, --sync_writes), read and validated in one place.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "parley/auth/auth.h"
#include "parley/server/server.h"

// --search_addr: search's host:port, subscribed to the events of every producer
// (identity and feed). Defined here, once, because the all-in-one binary links
// both modules that read it; each module validates it where it uses it.
ABSL_DECLARE_FLAG(std::string, search_addr);

namespace parley::server {

struct CommonConfig {
  ServerOptions server;
  std::string data_dir;
  uint32_t node_id = 0;
  std::string service_key_file;
  bool sync_writes = false;
};

// Validates the shared flags and applies --log_level. Errors name the flag.
absl::StatusOr<CommonConfig> ReadCommonFlags(std::string process_name);

// The service credential from --service_key_file, or (when that flag is empty,
// as in local development) from <data_dir>/service.key, created on first use
// with mode 0600. Every process of one deployment must share the same key.
absl::StatusOr<std::unique_ptr<auth::ServiceCredential>> LoadServiceCredential(
    const CommonConfig& config, std::string service_name);

}  // namespace parley::server
