#include "parley/server/flags.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "parley/config/config.h"
#include "parley/ids/ids.h"
#include "parley/log/log.h"
#include "sodium.h"

ABSL_FLAG(std::string, grpc_addr, "127.0.0.1:7400",
          "host:port the gRPC server listens on (port 0: any free port)");
ABSL_FLAG(std::string, metrics_addr, "127.0.0.1:9400",
          "host:port serving Prometheus /metrics; empty disables it");
ABSL_FLAG(std::string, data_dir, "./var/data", "directory holding this process's RocksDB data");
ABSL_FLAG(int, node_id, 0, "0..1023, unique per process of a deployment (id generation)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error");
ABSL_FLAG(int, drain_timeout_s, 20, "seconds in-flight calls get to finish after SIGTERM (1..600)");
ABSL_FLAG(int, max_message_bytes, parley::server::kDefaultMaxMessageBytes,
          "largest gRPC message accepted or sent (64 KiB..64 MiB)");
ABSL_FLAG(std::string, service_key_file, "",
          "file with the deployment's service credential (64 hex digits); empty: "
          "<data_dir>/service.key, generated on first start (development only)");
ABSL_FLAG(bool, sync_writes, false,
          "fsync the RocksDB WAL on every write (machine-crash durability, slower)");
ABSL_FLAG(std::string, search_addr, "",
          "host:port of search, subscribed to identity's and feed's events; empty: none");

namespace parley::server {

absl::StatusOr<CommonConfig> ReadCommonFlags(std::string process_name) {
  CommonConfig config;
  config.server.name = std::move(process_name);
  config.server.grpc_addr = absl::GetFlag(FLAGS_grpc_addr);
  if (auto hp = config::ParseHostPort("grpc_addr", config.server.grpc_addr); !hp.ok()) {
    return hp.status();
  }
  config.server.metrics_addr = absl::GetFlag(FLAGS_metrics_addr);
  if (!config.server.metrics_addr.empty()) {
    if (auto hp = config::ParseHostPort("metrics_addr", config.server.metrics_addr); !hp.ok()) {
      return hp.status();
    }
  }
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (auto s = config::CheckNotEmpty("data_dir", config.data_dir); !s.ok()) return s;
  const int node_id = absl::GetFlag(FLAGS_node_id);
  if (auto s = config::CheckRange("node_id", node_id, 0, ids::kMaxNodeId); !s.ok()) return s;
  config.node_id = static_cast<uint32_t>(node_id);
  auto level = log::ParseLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --log_level: ", level.status().message()));
  }
  log::SetMinLevel(*level);
  const int drain = absl::GetFlag(FLAGS_drain_timeout_s);
  if (auto s = config::CheckRange("drain_timeout_s", drain, 1, 600); !s.ok()) return s;
  config.server.drain_timeout = absl::Seconds(drain);
  const int max_message = absl::GetFlag(FLAGS_max_message_bytes);
  if (auto s = config::CheckRange("max_message_bytes", max_message, 64 << 10, 64 << 20); !s.ok()) {
    return s;
  }
  config.server.max_message_bytes = max_message;
  config.service_key_file = absl::GetFlag(FLAGS_service_key_file);
  config.sync_writes = absl::GetFlag(FLAGS_sync_writes);
  return config;
}

absl::StatusOr<std::unique_ptr<auth::ServiceCredential>> LoadServiceCredential(
    const CommonConfig& config, std::string service_name) {
  std::string path = config.service_key_file;
  if (path.empty()) {
    path = config.data_dir + "/service.key";
    std::error_code ec;
    std::filesystem::create_directories(config.data_dir, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create --data_dir ", config.data_dir, ": ", ec.message()));
    }
    if (!std::filesystem::exists(path)) {
      auth::InitSodium();
      unsigned char seed[32];
      randombytes_buf(seed, sizeof(seed));
      std::string hex =
          absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(seed), 32));
      std::string tmp = path + ".tmp";
      std::filesystem::remove(tmp, ec);
      // Created 0600: a secret must never be readable by others, not even briefly.
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
      if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot create ", tmp));
      hex.push_back('\n');
      const bool written = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
      const bool closed = ::close(fd) == 0;
      if (!written || !closed) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
      std::filesystem::rename(tmp, path, ec);
      if (ec)
        return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", ec.message()));
      log::Warn("generated a development service key; set --service_key_file in production",
                {{"path", path}});
    }
  }
  return auth::ServiceCredential::FromFile(path, std::move(service_name));
}

}  // namespace parley::server
