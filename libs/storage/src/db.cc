#include "parley/storage/db.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"

namespace parley::storage {
namespace {

class UInt64AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    if (value.size() != 8 || (existing != nullptr && existing->size() != 8)) return false;
    uint64_t sum = Load(value) + (existing ? Load(*existing) : 0);
    new_value->assign(reinterpret_cast<const char*>(&sum), 8);
    return true;
  }
  const char* Name() const override { return "parley.UInt64Add"; }

 private:
  static uint64_t Load(const rocksdb::Slice& s) {
    uint64_t v;
    std::memcpy(&v, s.data(), 8);
    return v;
  }
};

}  // namespace

absl::Status FromRocks(const rocksdb::Status& status, absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  std::string message =
      context.empty() ? status.ToString() : absl::StrCat(context, ": ", status.ToString());
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsBusy() || status.IsTryAgain() || status.IsTimedOut() || status.IsIOError()) {
    return absl::UnavailableError(message);
  }
  if (status.IsCorruption()) return absl::DataLossError(message);
  return absl::InternalError(message);
}

DbOptions DbOptions::ForTesting(std::string path) {
  DbOptions options;
  options.path = std::move(path);
  options.block_cache_bytes = size_t{8} << 20;
  options.write_buffer_bytes = size_t{1} << 20;
  return options;
}

std::string EncodeCounter(int64_t delta) {
  uint64_t v = static_cast<uint64_t>(delta);
  return std::string(reinterpret_cast<const char*>(&v), 8);
}

int64_t DecodeCounter(absl::string_view value) {
  if (value.size() != 8) return 0;
  uint64_t v;
  std::memcpy(&v, value.data(), 8);
  return static_cast<int64_t>(v);
}

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const DbOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("data directory: path is empty");
  if (options.create_if_missing) {
    // RocksDB creates only the last path component; create the parents too.
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(options.path).parent_path(), ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create data directory ", options.path, ": ", ec.message()));
    }
  }
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  auto merge = std::make_shared<UInt64AddOperator>();

  auto family_options = [&](const std::string& name) {
    rocksdb::ColumnFamilyOptions cf;
    cf.merge_operator = merge;
    cf.write_buffer_size = options.write_buffer_bytes;
    cf.compression = rocksdb::kLZ4Compression;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    auto prefix = options.prefix_bloom_lengths.find(name);
    if (prefix != options.prefix_bloom_lengths.end()) {
      cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(prefix->second));
      table.whole_key_filtering = false;
      if (std::find(options.hash_memtable_families.begin(), options.hash_memtable_families.end(),
                    name) != options.hash_memtable_families.end()) {
        // The bucket array is allocated with each memtable: keep it a small
        // share of the write buffer (1 bucket per 512 bytes: 128k for 64 MiB).
        cf.memtable_factory.reset(rocksdb::NewHashSkipListRepFactory(
            std::max<size_t>(1024, options.write_buffer_bytes / 512)));
      }
    }
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    return cf;
  };

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 3;
  db_options.max_total_wal_size = options.write_buffer_bytes * 4;
  // Hash memtables do not support concurrent inserts.
  if (!options.hash_memtable_families.empty()) db_options.allow_concurrent_memtable_write = false;

  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName};
  for (const auto& n : options.column_families) names.push_back(n);
  std::vector<std::string> on_disk;
  if (rocksdb::DB::ListColumnFamilies(db_options, options.path, &on_disk).ok()) {
    for (const auto& n : on_disk) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, family_options(n));

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw);
  if (!s.ok()) {
    return FromRocks(s, absl::StrCat("cannot open data directory ", options.path));
  }
  std::unique_ptr<Db> db(new Db());
  db->db_.reset(raw);
  for (size_t i = 0; i < handles.size(); ++i) db->handles_[names[i]] = handles[i];
  db->write_options_.sync = options.sync_writes;
  return db;
}

rocksdb::ColumnFamilyHandle* Db::Cf(absl::string_view name) const {
  auto it = handles_.find(name);
  if (it == handles_.end()) {
    std::fprintf(stderr, "parley: column family %.*s was not opened\n",
                 static_cast<int>(name.size()), name.data());
    std::abort();
  }
  return it->second;
}

absl::Status Db::Write(rocksdb::WriteBatch* batch) {
  return FromRocks(db_->Write(write_options_, batch), "write");
}

absl::StatusOr<std::optional<std::string>> Db::Get(rocksdb::ColumnFamilyHandle* cf,
                                                   absl::string_view key) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf, rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "get");
  return std::optional<std::string>(std::move(value));
}

absl::Status Db::Close() {
  if (!db_) return absl::OkStatus();
  rocksdb::FlushOptions flush;
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (auto& [name, handle] : handles_) all.push_back(handle);
  absl::Status flushed = FromRocks(db_->Flush(flush, all), "flush");
  for (auto& [name, handle] : handles_) db_->DestroyColumnFamilyHandle(handle);
  handles_.clear();
  absl::Status closed = FromRocks(db_->Close(), "close");
  db_.reset();
  return flushed.ok() ? closed : flushed;
}

Db::~Db() { (void)Close(); }

}  // namespace parley::storage
