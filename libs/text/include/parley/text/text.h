// Post and comment text: UTF-8 validation, length in characters, and the
// @mentions and #hashtags a body contains.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace parley::text {

// Characters (code points) of valid UTF-8; nullopt for invalid UTF-8
// (overlong forms, surrogates, code points above U+10FFFF, truncation).
std::optional<size_t> Utf8Length(absl::string_view text);

// "@handle" or "@handle@domain" tokens, lowercased, de-duplicated, in order of
// first appearance. A mention starts at '@' not preceded by a word character.
std::vector<std::string> ExtractMentions(absl::string_view text);

// "#tag" tokens (letters, digits, '_' of ASCII), without '#', lowercased,
// de-duplicated, in order of first appearance.
std::vector<std::string> ExtractHashtags(absl::string_view text);

}  // namespace parley::text
