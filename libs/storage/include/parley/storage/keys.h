// Binary key codec: big-endian integers so RocksDB's byte order is numeric
// order, and "descending" ids (~id) so that iterating forward reads newest first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace parley::storage {

void AppendU32(std::string* key, uint32_t value);
void AppendU64(std::string* key, uint64_t value);
// Appends ~value: larger (newer) ids sort first.
void AppendDescU64(std::string* key, uint64_t value);

uint64_t DecodeU64(absl::string_view bytes);      // first 8 bytes, big-endian
uint64_t DecodeDescU64(absl::string_view bytes);  // inverse of AppendDescU64

// Reads fixed-width fields from a key left to right; every Read returns
// nullopt once the key is too short (keys come from disk: never trust length).
class KeyReader {
 public:
  explicit KeyReader(absl::string_view key) : rest_(key) {}
  std::optional<uint32_t> ReadU32();
  std::optional<uint64_t> ReadU64();
  std::optional<uint64_t> ReadDescU64();
  absl::string_view rest() const { return rest_; }

 private:
  absl::string_view rest_;
};

// Convenience: a key made of one or two big-endian u64s.
std::string U64Key(uint64_t a);
std::string U64Key(uint64_t a, uint64_t b);

// The smallest key greater than every key starting with `prefix` (for
// iterate_upper_bound), or empty if there is none (prefix of all 0xff).
std::string PrefixSuccessor(absl::string_view prefix);

}  // namespace parley::storage
