// The query language of search.proto, checked before Xapian sees it: words,
// "quoted phrases", AND / OR / NOT, ( ), prefix word*, and the filters
// from:handle, in:group (in:"two words") and #tag. Filters are taken out here
// (they become boolean Xapian terms); the rest goes to Xapian's QueryParser.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parley::search {

struct ParsedQuery {
  // What is left for Xapian's QueryParser ("" when the query is filters only).
  std::string text;
  // Lowercased words of `text` (no operators), e.g. for matched skills.
  std::vector<std::string> words;
  // from:handle (lowercased, without '@'); several mean any of them.
  std::vector<std::string> from_handles;
  // in:group names (lowercased); several mean any of them.
  std::vector<std::string> groups;
  // #tags (lowercased, without '#'); every one must match.
  std::vector<std::string> hashtags;

  bool has_filters() const { return !from_handles.empty() || !groups.empty() || !hashtags.empty(); }
};

// INVALID_ARGUMENT, saying what is wrong, for a query over kMaxQueryChars, an
// unbalanced quote or parenthesis, more than kMaxQueryTerms terms, invalid
// UTF-8, an empty filter, or a filter where `allow_filters` is false. An empty
// query is valid here (callers decide whether they need one).
absl::StatusOr<ParsedQuery> ParseQuery(absl::string_view query, bool allow_filters);

}  // namespace parley::search
