#include "parley/storage/keys.h"

namespace parley::storage {

void AppendU32(std::string* key, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) key->push_back(static_cast<char>(value >> shift));
}

void AppendU64(std::string* key, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) key->push_back(static_cast<char>(value >> shift));
}

void AppendDescU64(std::string* key, uint64_t value) { AppendU64(key, ~value); }

uint64_t DecodeU64(absl::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

uint64_t DecodeDescU64(absl::string_view bytes) { return ~DecodeU64(bytes); }

std::optional<uint32_t> KeyReader::ReadU32() {
  if (rest_.size() < 4) return std::nullopt;
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(rest_[i]);
  rest_.remove_prefix(4);
  return value;
}

std::optional<uint64_t> KeyReader::ReadU64() {
  if (rest_.size() < 8) return std::nullopt;
  uint64_t value = DecodeU64(rest_);
  rest_.remove_prefix(8);
  return value;
}

std::optional<uint64_t> KeyReader::ReadDescU64() {
  auto value = ReadU64();
  if (!value) return std::nullopt;
  return ~*value;
}

std::string U64Key(uint64_t a) {
  std::string key;
  AppendU64(&key, a);
  return key;
}

std::string U64Key(uint64_t a, uint64_t b) {
  std::string key;
  key.reserve(16);
  AppendU64(&key, a);
  AppendU64(&key, b);
  return key;
}

std::string PrefixSuccessor(absl::string_view prefix) {
  std::string next(prefix);
  while (!next.empty()) {
    unsigned char last = static_cast<unsigned char>(next.back());
    if (last != 0xff) {
      next.back() = static_cast<char>(last + 1);
      return next;
    }
    next.pop_back();
  }
  return next;
}

}  // namespace parley::storage
