#include "parley/text/text.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace parley::text {
namespace {

bool IsWord(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsHandleChar(char c) { return IsWord(c) || c == '.' || c == '-'; }

void AddUnique(std::vector<std::string>* out, std::string token) {
  if (std::find(out->begin(), out->end(), token) == out->end()) out->push_back(std::move(token));
}

}  // namespace

std::optional<size_t> Utf8Length(absl::string_view text) {
  size_t count = 0;
  size_t i = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  while (i < n) {
    unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + len > n) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    i += len;
    ++count;
  }
  return count;
}

std::vector<std::string> ExtractMentions(absl::string_view text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '@' || (i > 0 && IsHandleChar(text[i - 1]))) continue;
    size_t j = i + 1;
    while (j < text.size() && IsHandleChar(text[j])) ++j;
    // An optional @domain.
    if (j + 1 < text.size() && text[j] == '@' && IsWord(text[j + 1])) {
      size_t k = j + 1;
      while (k < text.size() && IsHandleChar(text[k])) ++k;
      j = k;
    }
    std::string token(text.substr(i + 1, j - i - 1));
    while (!token.empty() && (token.back() == '.' || token.back() == '-')) token.pop_back();
    if (!token.empty() && IsWord(token[0])) AddUnique(&out, absl::AsciiStrToLower(token));
    i = j - 1;
  }
  return out;
}

std::vector<std::string> ExtractHashtags(absl::string_view text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '#' || (i > 0 && IsWord(text[i - 1]))) continue;
    size_t j = i + 1;
    while (j < text.size() && IsWord(text[j])) ++j;
    if (j > i + 1) AddUnique(&out, absl::AsciiStrToLower(text.substr(i + 1, j - i - 1)));
    i = j - 1;
  }
  return out;
}

}  // namespace parley::text
