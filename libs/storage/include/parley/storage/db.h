// One RocksDB per service instance, with a column family per kind of record
// and the counter merge operator on every family. Owns the handles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace parley::storage {

// Maps RocksDB errors to canonical codes: NotFound→NOT_FOUND,
// Busy/TryAgain/TimedOut/IOError→UNAVAILABLE, Corruption→DATA_LOSS, else INTERNAL.
absl::Status FromRocks(const rocksdb::Status& status, absl::string_view context = "");

struct DbOptions {
  std::string path;
  // Column families besides "default". Families found on disk but not listed
  // are opened too (RocksDB requires it) and left alone.
  std::vector<std::string> column_families;
  bool create_if_missing = true;
  // fsync the WAL on every write. Off by default: writes reach the WAL (and
  // survive a process crash) and RocksDB group-commits; on for machine-crash
  // durability at a throughput cost (measure with tools/bench).
  bool sync_writes = false;
  size_t block_cache_bytes = size_t{256} << 20;
  size_t write_buffer_bytes = size_t{64} << 20;
  // Column family → length of the key prefix for prefix bloom filters
  // (e.g. 8 for "<owner u64>..." keys).
  std::map<std::string, size_t> prefix_bloom_lengths;
  // Column families (each must also have a prefix length above) whose
  // memtable is a hash of per-prefix skip lists: much cheaper inserts when
  // writes scatter over many prefixes (timeline fan-out), but reads of such a
  // family must stay within one prefix. Turns off concurrent memtable writes.
  std::vector<std::string> hash_memtable_families;

  // Small buffers for tests: RocksDB's defaults pre-allocate large files.
  static DbOptions ForTesting(std::string path);
};

class Db {
 public:
  static absl::StatusOr<std::unique_ptr<Db>> Open(const DbOptions& options);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  rocksdb::DB* raw() const { return db_.get(); }
  // The handle of a family named in DbOptions (or "default"). Asking for a
  // family that was not opened is a programming error and aborts.
  rocksdb::ColumnFamilyHandle* Cf(absl::string_view name) const;

  absl::Status Write(rocksdb::WriteBatch* batch);
  absl::StatusOr<std::optional<std::string>> Get(rocksdb::ColumnFamilyHandle* cf,
                                                 absl::string_view key);
  const rocksdb::WriteOptions& write_options() const { return write_options_; }
  // Flushes memtables and closes; also done by the destructor.
  absl::Status Close();

 private:
  Db() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> handles_;
  rocksdb::WriteOptions write_options_;
};

// Counters: values are 8-byte little-endian uint64 and merges add with
// wrap-around, so a delta of -1 (EncodeCounter(-1)) decrements.
std::string EncodeCounter(int64_t delta);
int64_t DecodeCounter(absl::string_view value);  // 0 for a value that is not 8 bytes

}  // namespace parley::storage
