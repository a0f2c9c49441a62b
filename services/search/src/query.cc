#include "search/src/query.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "parley/status/status.h"
#include "parley/text/text.h"
#include "search/src/index.h"

namespace parley::search {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsWordByte(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         (static_cast<unsigned char>(c) & 0x80) != 0;  // any byte of a non-ASCII letter
}
bool IsOperator(absl::string_view w) { return w == "AND" || w == "OR" || w == "NOT"; }

// Lowercased word runs of `s` (operators left out).
void AddWords(absl::string_view s, std::vector<std::string>* words) {
  size_t i = 0;
  while (i < s.size()) {
    if (!IsWordByte(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && IsWordByte(s[j])) ++j;
    absl::string_view w = s.substr(i, j - i);
    if (!IsOperator(w)) words->push_back(absl::AsciiStrToLower(w));
    i = j;
  }
}

}  // namespace

absl::StatusOr<ParsedQuery> ParseQuery(absl::string_view query, bool allow_filters) {
  auto chars = text::Utf8Length(query);
  if (!chars.has_value()) return absl::InvalidArgumentError("query: not valid UTF-8");
  if (*chars > kMaxQueryChars) return status::TooLong("query", *chars, kMaxQueryChars);

  ParsedQuery out;
  int depth = 0;
  size_t i = 0;
  const size_t n = query.size();
  while (i < n) {
    const char c = query[i];
    if (IsSpace(c)) {
      out.text.push_back(' ');
      ++i;
      continue;
    }
    if (c == '"') {
      const size_t close = query.find('"', i + 1);
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "query: unbalanced quote: the '\"' at character ", i + 1, " is never closed"));
      }
      absl::StrAppend(&out.text, query.substr(i, close - i + 1));
      AddWords(query.substr(i + 1, close - i - 1), &out.words);
      i = close + 1;
      continue;
    }
    if (c == '(' || c == ')') {
      depth += c == '(' ? 1 : -1;
      if (depth < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "query: unbalanced parenthesis: the ')' at character ", i + 1, " closes nothing"));
      }
      out.text.push_back(c);
      ++i;
      continue;
    }
    // A token: up to whitespace, a quote or a parenthesis.
    size_t j = i;
    while (j < n && !IsSpace(query[j]) && query[j] != '"' && query[j] != '(' && query[j] != ')') {
      ++j;
    }
    absl::string_view token = query.substr(i, j - i);
    const bool from = absl::StartsWithIgnoreCase(token, "from:");
    const bool in = absl::StartsWithIgnoreCase(token, "in:");
    const bool tag = token.size() > 1 && token[0] == '#';
    if (!from && !in && !tag) {
      absl::StrAppend(&out.text, token);
      AddWords(token, &out.words);
      i = j;
      continue;
    }
    if (!allow_filters) {
      return absl::InvalidArgumentError(
          absl::StrCat("query: \"", token, "\": from:, in: and #tag filters apply to posts only"));
    }
    if (from) {
      std::string handle = absl::AsciiStrToLower(token.substr(5));
      if (!handle.empty() && handle[0] == '@') handle.erase(0, 1);
      if (handle.empty()) return absl::InvalidArgumentError("query: from: needs a handle");
      out.from_handles.push_back(handle);
      i = j;
    } else if (in) {
      std::string name;
      if (token.size() == 3 && j < n && query[j] == '"') {  // in:"two words"
        const size_t close = query.find('"', j + 1);
        if (close == absl::string_view::npos) {
          return absl::InvalidArgumentError(absl::StrCat(
              "query: unbalanced quote: the '\"' at character ", j + 1, " is never closed"));
        }
        name = std::string(query.substr(j + 1, close - j - 1));
        j = close + 1;
      } else {
        name = std::string(token.substr(3));
      }
      name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
      if (name.empty()) return absl::InvalidArgumentError("query: in: needs a group name");
      out.groups.push_back(name);
      i = j;
    } else {
      std::vector<std::string> tags = text::ExtractHashtags(token);
      if (tags.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "query: \"", token, "\" is not a hashtag (letters, digits and '_' after '#')"));
      }
      out.hashtags.push_back(tags[0]);
      i = j;
    }
  }
  if (depth != 0) {
    return absl::InvalidArgumentError("query: unbalanced parenthesis: a '(' is never closed");
  }
  const size_t terms =
      out.words.size() + out.from_handles.size() + out.groups.size() + out.hashtags.size();
  if (terms > kMaxQueryTerms) return status::TooMany("query terms", terms, kMaxQueryTerms);
  if (absl::StripAsciiWhitespace(out.text).empty()) out.text.clear();
  return out;
}

}  // namespace parley::search
