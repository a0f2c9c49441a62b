#include "search/src/index.h"

#include <fcntl.h>
#include <unistd.h>
#include <xapian.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "parley/events/events.h"
#include "parley/log/log.h"
#include "parley/status/status.h"
#include "parley/storage/keys.h"
#include "parley/text/text.h"
#include "search/src/query.h"

namespace parley::search {

namespace epb = ::parley::events::v1;
namespace cpb = ::parley::common::v1;
using google::protobuf::util::TimeUtil;

namespace {

// ---- Document layout ------------------------------------------------------
//
// Every document has a unique id term Q<kind><id> (kinds: p post, c comment,
// u person, g group), a kind term XT<kind> and its org XO<org>. Visibility
// terms: XA<author> (blocks, suspensions), XW<owner> (whose followers may read
// a followers-only post or its comments), XZF (followers-only), XG<group> and
// XZP (in a private group), XZS (author suspended), XZA (archived group).
// Filters: XH<handle> (from:), XK<org>:<tag> (#tag), XP<post> (a comment's
// post), XN<name> (a group's whole lowercased name, in:), XD<department> and
// XL<location> (people filters). XU<word> and XV<word> are the words of
// people's and groups' names, for typeahead. Free text is unprefixed, stemmed
// (Z) as Xapian's TermGenerator does. The document data is the event that
// created it; value slot 0 is the creation time (seconds, sortable).
constexpr Xapian::valueno kSlotTime = 0;
// Hashtags with a prefix that Suggest ranks by use.
constexpr size_t kMaxTagCandidates = 10000;

// A Xapian::Stem is a handle to one stateful stemmer, not safe to share
// between threads: each thread has its own, and each indexer.
constexpr char kLanguage[] = "english";
const Xapian::Stem& Stemmer() {
  thread_local const Xapian::Stem stem(kLanguage);
  return stem;
}
constexpr char kPost = 'p', kComment = 'c', kPerson = 'u', kGroup = 'g';

// Xapian refuses terms over 245 bytes. A longer value (a 100-character CJK
// group name, a long hashtag in a comment) keeps a prefix of itself and a hash
// of the rest, the same at indexing and query time.
constexpr size_t kMaxTermBytes = 240;
std::string Capped(std::string term) {
  if (term.size() <= kMaxTermBytes) return term;
  const std::string hash = absl::StrCat("#", absl::Hex(std::hash<std::string>()(term)));
  size_t keep = kMaxTermBytes - hash.size();
  while (keep > 0 && (static_cast<unsigned char>(term[keep]) & 0xC0) == 0x80) --keep;
  term.resize(keep);
  return term + hash;
}

std::string IdTerm(char kind, uint64_t id) { return absl::StrCat("Q", std::string(1, kind), id); }
std::string KindTerm(char kind) { return absl::StrCat("XT", std::string(1, kind)); }
std::string OrgTerm(uint64_t org) { return absl::StrCat("XO", org); }
std::string AuthorTerm(uint64_t user) { return absl::StrCat("XA", user); }
std::string OwnerTerm(uint64_t user) { return absl::StrCat("XW", user); }
std::string GroupTerm(uint64_t group) { return absl::StrCat("XG", group); }
std::string PostTerm(uint64_t post) { return absl::StrCat("XP", post); }
std::string ReplyTerm(uint64_t parent) { return absl::StrCat("XR", parent); }
std::string HandleTerm(absl::string_view handle) {
  return Capped(absl::StrCat("XH", absl::AsciiStrToLower(handle)));
}
std::string TagTerm(uint64_t org, absl::string_view tag) {
  return Capped(absl::StrCat("XK", org, ":", absl::AsciiStrToLower(tag)));
}
std::string Lower(const std::string& s) { return Xapian::Unicode::tolower(s); }
constexpr char kFollowersOnly[] = "XZF", kPrivate[] = "XZP", kSuspended[] = "XZS",
               kArchived[] = "XZA";
// Terms copied from a post to its comments: they decide who may read both (the
// post's author's XA: a comment under a blocked or suspended author's post is
// hidden with it).
bool IsVisibilityTerm(const std::string& t) {
  return t == kFollowersOnly || t == kPrivate || absl::StartsWith(t, "XW") ||
         absl::StartsWith(t, "XG") || absl::StartsWith(t, "XA");
}

// ---- Metadata: what visibility needs, and the applied sequences ------------
//
// f<follower><followee>, b<blocker><blocked>, B<blocked><blocker>,
// m<user><group>, u<user> (suspended): ids big-endian. s<producer>: the last
// applied sequence of a producer.
std::string Edge(char kind, uint64_t a, uint64_t b) {
  std::string k(1, kind);
  storage::AppendU64(&k, a);
  if (b != 0) storage::AppendU64(&k, b);
  return k;
}
std::string U64(uint64_t v) {
  std::string out;
  storage::AppendU64(&out, v);
  return out;
}
std::string SeqKey(absl::string_view producer) { return absl::StrCat("s", producer); }

uint64_t LastApplied(const Xapian::Database& db, absl::string_view producer) {
  const std::string v = db.get_metadata(SeqKey(producer));
  return v.size() == 8 ? storage::DecodeU64(v) : 0;
}

// Ids after a one-byte kind and an 8-byte id in metadata keys.
std::vector<uint64_t> EdgeTargets(const Xapian::Database& db, char kind, uint64_t from) {
  std::vector<uint64_t> out;
  const std::string prefix = Edge(kind, from, 0);
  for (auto it = db.metadata_keys_begin(prefix); it != db.metadata_keys_end(prefix); ++it) {
    const std::string& key = *it;
    if (key.size() == 17) out.push_back(storage::DecodeU64(absl::string_view(key).substr(9)));
  }
  return out;
}

double Seconds(const google::protobuf::Timestamp& t) {
  return static_cast<double>(t.seconds()) + t.nanos() / 1e9;
}

// Rewrites every document indexed by `term` with `edit` (suspensions, group
// privacy changes).
void RewriteDocs(Xapian::WritableDatabase& db, const std::string& term,
                 const std::function<void(Xapian::Document&)>& edit) {
  std::vector<Xapian::docid> ids;
  for (auto it = db.postlist_begin(term); it != db.postlist_end(term); ++it) ids.push_back(*it);
  for (Xapian::docid id : ids) {
    Xapian::Document doc = db.get_document(id);
    edit(doc);
    db.replace_document(id, doc);
  }
}

bool HasTerm(const Xapian::Document& doc, const std::string& term) {
  Xapian::TermIterator it = doc.termlist_begin();
  it.skip_to(term);
  return it != doc.termlist_end() && *it == term;
}

void SetTerm(Xapian::Document& doc, const std::string& term, bool on) {
  const bool has = HasTerm(doc, term);
  if (on && !has) doc.add_boolean_term(term);
  if (!on && has) doc.remove_term(term);
}

// The first document indexed by `term`, if any.
std::optional<Xapian::Document> FindDoc(const Xapian::Database& db, const std::string& term) {
  auto it = db.postlist_begin(term);
  if (it == db.postlist_end(term)) return std::nullopt;
  return db.get_document(*it);
}

// ---- Applying events -------------------------------------------------------

class Indexer {
 public:
  Indexer() {
    gen_.set_stemmer(Xapian::Stem(kLanguage));
    gen_.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
  }

  // Applies one event's effect to `db`; events this index does not use are
  // no-ops. A malformed event (an id of 0) is skipped with a warning: refusing
  // it would stall its producer's delivery for good.
  void Apply(Xapian::WritableDatabase& db, const epb::Event& e) {
    switch (e.payload_case()) {
      case epb::Event::kPostCreated:
        return PostCreated(db, e);
      case epb::Event::kPostDeleted:
        db.delete_document(IdTerm(kPost, e.post_deleted().post_id()));
        db.delete_document(PostTerm(e.post_deleted().post_id()));
        return;
      case epb::Event::kCommentCreated:
        return CommentCreated(db, e);
      case epb::Event::kCommentDeleted:
        // Feed deletes a comment's replies with it and tells only the comment.
        db.delete_document(IdTerm(kComment, e.comment_deleted().comment_id()));
        db.delete_document(ReplyTerm(e.comment_deleted().comment_id()));
        return;
      case epb::Event::kFollowed:
        return SetEdge(db, Edge('f', e.followed().follower().id(), e.followed().followee().id()),
                       true);
      case epb::Event::kUnfollowed:
        return SetEdge(
            db, Edge('f', e.unfollowed().follower().id(), e.unfollowed().followee().id()), false);
      case epb::Event::kBlocked:
      case epb::Event::kUnblocked: {
        const bool on = e.has_blocked();
        const uint64_t a = on ? e.blocked().blocker_id() : e.unblocked().blocker_id();
        const uint64_t b = on ? e.blocked().blocked_user_id() : e.unblocked().blocked_user_id();
        SetEdge(db, Edge('b', a, b), on);
        SetEdge(db, Edge('B', b, a), on);
        return;
      }
      case epb::Event::kGroupCreated:
        return GroupChanged(db, e.org_id(), e.group_created().group(),
                            e.group_created().description(), /*archived=*/false,
                            &e.group_created());
      case epb::Event::kGroupUpdated:
        return GroupChanged(db, e.org_id(), e.group_updated().group(),
                            e.group_updated().description(), e.group_updated().archived(), nullptr);
      case epb::Event::kGroupMemberJoined:
        return SetEdge(
            db, Edge('m', e.group_member_joined().user().id(), e.group_member_joined().group_id()),
            true);
      case epb::Event::kGroupJoinApproved:
        return SetEdge(
            db, Edge('m', e.group_join_approved().user_id(), e.group_join_approved().group().id()),
            true);
      case epb::Event::kGroupMemberLeft:
        return SetEdge(db,
                       Edge('m', e.group_member_left().user_id(), e.group_member_left().group_id()),
                       false);
      case epb::Event::kGroupMemberRemoved:
        return SetEdge(
            db, Edge('m', e.group_member_removed().user_id(), e.group_member_removed().group_id()),
            false);
      case epb::Event::kUserUpdated:
        return UserUpdated(db, e);
      case epb::Event::kUserSuspended:
        return Suspend(db, e.user_suspended().user_id(), true);
      case epb::Event::kUserReactivated:
        return Suspend(db, e.user_reactivated().user_id(), false);
      default:
        return;
    }
  }

 private:
  static void SetEdge(Xapian::WritableDatabase& db, const std::string& key, bool on) {
    if (key.size() != 17 || storage::DecodeU64(absl::string_view(key).substr(1)) == 0 ||
        storage::DecodeU64(absl::string_view(key).substr(9)) == 0) {
      log::Warn("search: event with a zero id skipped", {{"kind", std::string(1, key[0])}});
      return;
    }
    db.set_metadata(key, on ? "1" : "");
  }

  void IndexText(Xapian::Document& doc, const std::string& text, Xapian::termcount wdf_inc = 1) {
    gen_.set_document(doc);
    gen_.index_text(text, wdf_inc);
    gen_.increase_termpos();
  }

  static void AddCommon(Xapian::Document& doc, char kind, uint64_t id, uint64_t org) {
    doc.add_boolean_term(IdTerm(kind, id));
    doc.add_boolean_term(KindTerm(kind));
    doc.add_boolean_term(OrgTerm(org));
  }

  void PostCreated(Xapian::WritableDatabase& db, const epb::Event& e) {
    const epb::PostCreated& p = e.post_created();
    if (p.post_id() == 0 || p.author().id() == 0) {
      log::Warn("search: PostCreated without ids skipped");
      return;
    }
    Xapian::Document doc;
    AddCommon(doc, kPost, p.post_id(), e.org_id());
    doc.add_boolean_term(AuthorTerm(p.author().id()));
    doc.add_boolean_term(OwnerTerm(p.author().id()));
    if (!p.author().handle().empty()) doc.add_boolean_term(HandleTerm(p.author().handle()));
    if (p.visibility() == cpb::VISIBILITY_FOLLOWERS) doc.add_boolean_term(kFollowersOnly);
    if (p.group().id() != 0) {
      doc.add_boolean_term(GroupTerm(p.group().id()));
      if (p.group().privacy() == cpb::GROUP_PRIVACY_PRIVATE) doc.add_boolean_term(kPrivate);
    }
    for (const std::string& tag : p.hashtags()) doc.add_boolean_term(TagTerm(e.org_id(), tag));
    if (!db.get_metadata(Edge('u', p.author().id(), 0)).empty()) doc.add_boolean_term(kSuspended);
    IndexText(doc, p.body());
    doc.add_value(kSlotTime, Xapian::sortable_serialise(Seconds(p.create_time())));
    doc.set_data(e.SerializeAsString());
    db.replace_document(IdTerm(kPost, p.post_id()), doc);
  }

  void CommentCreated(Xapian::WritableDatabase& db, const epb::Event& e) {
    const epb::CommentCreated& c = e.comment_created();
    if (c.comment_id() == 0 || c.post_id() == 0 || c.author().id() == 0) {
      log::Warn("search: CommentCreated without ids skipped");
      return;
    }
    // Comments live on their post's shard, so the post's event came first
    // from the same producer; without it the post is gone (or was never
    // indexed) and so is the comment.
    auto post = FindDoc(db, IdTerm(kPost, c.post_id()));
    if (!post.has_value()) return;
    Xapian::Document doc;
    AddCommon(doc, kComment, c.comment_id(), e.org_id());
    doc.add_boolean_term(AuthorTerm(c.author().id()));
    if (!c.author().handle().empty()) doc.add_boolean_term(HandleTerm(c.author().handle()));
    doc.add_boolean_term(PostTerm(c.post_id()));
    if (c.parent_comment_id() != 0) doc.add_boolean_term(ReplyTerm(c.parent_comment_id()));
    for (auto it = post->termlist_begin(); it != post->termlist_end(); ++it) {
      if (IsVisibilityTerm(*it)) doc.add_boolean_term(*it);
    }
    for (const std::string& tag : text::ExtractHashtags(c.body())) {
      doc.add_boolean_term(TagTerm(e.org_id(), tag));
    }
    if (!db.get_metadata(Edge('u', c.author().id(), 0)).empty() ||
        (c.post_author_id() != 0 && !db.get_metadata(Edge('u', c.post_author_id(), 0)).empty())) {
      doc.add_boolean_term(kSuspended);
    }
    IndexText(doc, c.body());
    doc.add_value(kSlotTime, Xapian::sortable_serialise(Seconds(c.create_time())));
    doc.set_data(e.SerializeAsString());
    db.replace_document(IdTerm(kComment, c.comment_id()), doc);
  }

  // GroupCreated (`created` set) or GroupUpdated: the group's document, and
  // on a privacy change the privacy term of every post and comment in it.
  void GroupChanged(Xapian::WritableDatabase& db, uint64_t org, const cpb::GroupRef& group,
                    const std::string& description, bool archived,
                    const epb::GroupCreated* created) {
    if (group.id() == 0) {
      log::Warn("search: group event without an id skipped");
      return;
    }
    epb::GroupCreated record;
    if (created != nullptr) {
      record = *created;
    } else if (auto old = FindDoc(db, IdTerm(kGroup, group.id())); old.has_value()) {
      epb::Event previous;
      if (previous.ParseFromString(old->get_data())) record = previous.group_created();
      if (previous.group_created().group().privacy() != group.privacy()) {
        const bool priv = group.privacy() == cpb::GROUP_PRIVACY_PRIVATE;
        RewriteDocs(db, GroupTerm(group.id()),
                    [&](Xapian::Document& d) { SetTerm(d, kPrivate, priv); });
      }
    }
    *record.mutable_group() = group;
    record.set_description(description);
    Xapian::Document doc;
    AddCommon(doc, kGroup, group.id(), org);
    doc.add_boolean_term(GroupTerm(group.id()));
    if (group.privacy() == cpb::GROUP_PRIVACY_PRIVATE) doc.add_boolean_term(kPrivate);
    if (archived) doc.add_boolean_term(kArchived);
    doc.add_boolean_term(Capped(absl::StrCat("XN", Lower(group.name()))));
    for (absl::string_view w : absl::StrSplit(Lower(group.name()), ' ', absl::SkipEmpty())) {
      doc.add_boolean_term(Capped(absl::StrCat("XV", w)));
    }
    IndexText(doc, group.name(), 3);
    IndexText(doc, description);
    epb::Event data;
    data.set_org_id(org);
    *data.mutable_group_created() = record;
    doc.set_data(data.SerializeAsString());
    db.replace_document(IdTerm(kGroup, group.id()), doc);
  }

  void UserUpdated(Xapian::WritableDatabase& db, const epb::Event& e) {
    const epb::UserUpdated& u = e.user_updated();
    if (u.user().id() == 0) {
      log::Warn("search: UserUpdated without an id skipped");
      return;
    }
    Xapian::Document doc;
    AddCommon(doc, kPerson, u.user().id(), e.org_id());
    doc.add_boolean_term(AuthorTerm(u.user().id()));
    if (!u.user().handle().empty()) doc.add_boolean_term(HandleTerm(u.user().handle()));
    if (!u.department().empty())
      doc.add_boolean_term(Capped(absl::StrCat("XD", Lower(u.department()))));
    if (!u.location().empty())
      doc.add_boolean_term(Capped(absl::StrCat("XL", Lower(u.location()))));
    if (!db.get_metadata(Edge('u', u.user().id(), 0)).empty()) doc.add_boolean_term(kSuspended);
    const std::string names = absl::StrCat(u.user().handle(), " ", u.user().display_name());
    for (absl::string_view w :
         absl::StrSplit(Lower(names), absl::ByAnyChar(" ._-"), absl::SkipEmpty())) {
      doc.add_boolean_term(Capped(absl::StrCat("XU", w)));
    }
    // Declared skills weigh most, then title, department and name; the bio
    // counts like a post.
    for (const std::string& skill : u.skills()) IndexText(doc, skill, 6);
    IndexText(doc, u.title(), 3);
    IndexText(doc, u.department(), 2);
    IndexText(doc, u.user().display_name(), 2);
    IndexText(doc, u.user().handle(), 2);
    IndexText(doc, u.location());
    IndexText(doc, u.bio());
    doc.set_data(e.SerializeAsString());
    db.replace_document(IdTerm(kPerson, u.user().id()), doc);
  }

  static void Suspend(Xapian::WritableDatabase& db, uint64_t user, bool on) {
    if (user == 0) return;
    db.set_metadata(Edge('u', user, 0), on ? "1" : "");
    RewriteDocs(db, AuthorTerm(user), [&](Xapian::Document& d) { SetTerm(d, kSuspended, on); });
  }

  Xapian::TermGenerator gen_;
};

// ---- Queries ---------------------------------------------------------------

// Relevance order's recency boost: up to `weight`, halving every `half_life`
// seconds of age, from the creation time in value slot 0.
class RecencySource : public Xapian::ValuePostingSource {
 public:
  RecencySource(double now, double weight, double half_life)
      : Xapian::ValuePostingSource(kSlotTime), now_(now), weight_(weight), half_life_(half_life) {}
  double get_weight() const override {
    const double age = std::max(0.0, now_ - Xapian::sortable_unserialise(get_value()));
    return weight_ * std::exp2(-age / half_life_);
  }
  void init(const Xapian::Database& db) override {
    Xapian::ValuePostingSource::init(db);
    set_maxweight(weight_);
  }
  RecencySource* clone() const override { return new RecencySource(now_, weight_, half_life_); }
  std::string name() const override { return "parley.RecencySource"; }

 private:
  const double now_, weight_, half_life_;
};

Xapian::Query AnyOf(const std::vector<std::string>& terms) {
  return Xapian::Query(Xapian::Query::OP_OR, terms.begin(), terms.end());
}

// What `viewer` must not see, as one query to AND_NOT away: suspended
// authors, blocks either way, followers-only content of people they do not
// follow, private groups they are not in. Read from the same committed
// revision as the documents.
Xapian::Query Hidden(const Xapian::Database& db, const Viewer& viewer) {
  std::vector<Xapian::Query> hidden = {Xapian::Query(kSuspended)};
  std::vector<std::string> blocked;
  for (uint64_t u : EdgeTargets(db, 'b', viewer.user_id)) blocked.push_back(AuthorTerm(u));
  for (uint64_t u : EdgeTargets(db, 'B', viewer.user_id)) blocked.push_back(AuthorTerm(u));
  if (!blocked.empty()) hidden.push_back(AnyOf(blocked));
  std::vector<std::string> owners = {OwnerTerm(viewer.user_id)};
  for (uint64_t u : EdgeTargets(db, 'f', viewer.user_id)) owners.push_back(OwnerTerm(u));
  hidden.push_back(
      Xapian::Query(Xapian::Query::OP_AND_NOT, Xapian::Query(kFollowersOnly), AnyOf(owners)));
  std::vector<std::string> groups;
  for (uint64_t g : EdgeTargets(db, 'm', viewer.user_id)) groups.push_back(GroupTerm(g));
  hidden.push_back(groups.empty() ? Xapian::Query(kPrivate)
                                  : Xapian::Query(Xapian::Query::OP_AND_NOT,
                                                  Xapian::Query(kPrivate), AnyOf(groups)));
  return Xapian::Query(Xapian::Query::OP_OR, hidden.begin(), hidden.end());
}

// One query's reader and viewer, with what the viewer may not see read once
// from that reader's revision.
struct Scope {
  Scope(const Xapian::Database& d, const Viewer& v) : db(d), viewer(v), hidden(Hidden(d, v)) {}
  const Xapian::Database& db;
  const Viewer viewer;
  const Xapian::Query hidden;
};

// `scored` restricted to `filter` and to what the scope's viewer may see.
Xapian::Query Visible(const Scope& scope, const Xapian::Query& scored,
                      const Xapian::Query& filter) {
  return Xapian::Query(Xapian::Query::OP_AND_NOT,
                       Xapian::Query(Xapian::Query::OP_FILTER, scored, filter), scope.hidden);
}

absl::StatusOr<std::pair<size_t, int32_t>> PageOf(int32_t page_size, const std::string& token) {
  const int32_t size = page_size == 0 ? kDefaultPageSize : page_size;
  if (size < 1 || size > kMaxPageSize) {
    return status::OutOfRange("page_size", page_size, 1, kMaxPageSize);
  }
  size_t offset = 0;
  if (!token.empty()) {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() != 8) {
      return absl::InvalidArgumentError("page_token: malformed");
    }
    offset = storage::DecodeU64(raw);
  }
  if (offset > kMaxResultWindow || offset + static_cast<size_t>(size) > kMaxResultWindow) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: results beyond the first ", kMaxResultWindow,
                     " are not served; narrow the query (filters, a date range) instead"));
  }
  return std::make_pair(offset, size);
}

std::string TokenFor(size_t offset) {
  std::string raw;
  storage::AppendU64(&raw, offset);
  std::string token;
  absl::WebSafeBase64Escape(raw, &token);
  return token;
}

// Snippets are plain text of at most kSnippetChars characters.
std::string Snippet(const Xapian::MSet& mset, const std::string& text, const Xapian::Stem& stem) {
  if (text.empty()) return "";
  std::string s = mset.snippet(text, kSnippetChars - 10, stem,
                               Xapian::MSet::SNIPPET_BACKGROUND_MODEL, "", "", "…");
  // Xapian escapes snippets for HTML; the API's snippet is plain text.
  s = absl::StrReplaceAll(
      s, {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}});
  // Cut to whole characters if a long word overran.
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++chars > kSnippetChars) break;
  }
  s.resize(i);
  return s;
}

absl::Status FromXapian(const Xapian::Error& e, absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("search index: ", what, ": ", e.get_type(), ": ", e.get_msg()));
}

}  // namespace

// CURRENT names the serving generation: written to a temporary file, synced,
// renamed over, and the directory synced.
absl::Status WriteCurrent(const std::string& path, uint64_t generation) {
  const std::string tmp = path + "/CURRENT.tmp";
  const std::string line = absl::StrCat(generation, "\n");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("search index: cannot write ", tmp));
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), (path + "/CURRENT").c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("search index: cannot write ", path, "/CURRENT"));
  }
  const int dir = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

// ---- State -----------------------------------------------------------------

struct Index::State {
  explicit State(IndexOptions o) : options(std::move(o)) {}

  IndexOptions options;
  // Backend and sync flags; the caller adds how to open.
  int db_flags() const {
    return Xapian::DB_BACKEND_GLASS | (options.sync ? 0 : Xapian::DB_NO_SYNC);
  }
  std::string DirOf(uint64_t generation) const {
    return absl::StrCat(options.path, "/index-", generation);
  }

  // Writer side. `wmu` guards writer, indexer, the rebuild queue.
  std::mutex wmu;
  std::unique_ptr<Xapian::WritableDatabase> writer;
  std::unique_ptr<Indexer> indexer;
  bool rebuilding = false;
  bool rebuild_overflow = false;
  std::vector<epb::EventBatch> rebuild_queue;
  size_t rebuild_queued_events = 0;
  std::atomic<bool> rebuild_running{false};

  // Commits: Apply bumps `applied`; the committer commits and publishes
  // `committed` (and bumps `revision`, which readers compare).
  std::mutex cmu;
  std::condition_variable cv;
  uint64_t applied = 0, committed = 0, failed = 0;
  absl::Status commit_error;
  bool flush_now = false, stop = false;
  std::thread committer;

  // Readers: generation (index-<n>) and revision they were opened at.
  std::atomic<uint64_t> generation{0};
  std::atomic<uint64_t> revision{0};
  struct Reader {
    Xapian::Database db;
    uint64_t generation = 0, revision = 0;
  };
  std::mutex rmu;
  std::vector<std::unique_ptr<Reader>> readers;

  std::unique_ptr<Reader> Acquire() {
    std::unique_ptr<Reader> r;
    {
      std::lock_guard<std::mutex> lock(rmu);
      if (!readers.empty()) {
        r = std::move(readers.back());
        readers.pop_back();
      }
    }
    const uint64_t gen = generation.load();
    const uint64_t rev = revision.load();
    if (r == nullptr || r->generation != gen) {
      r = std::make_unique<Reader>();
      r->db = Xapian::Database(DirOf(gen));
      r->generation = gen;
    } else if (r->revision != rev) {
      r->db.reopen();
    }
    r->revision = rev;
    return r;
  }
  void Release(std::unique_ptr<Reader> r) {
    std::lock_guard<std::mutex> lock(rmu);
    readers.push_back(std::move(r));
  }

  // Runs `fn` on a fresh reader; a reader overtaken by two commits throws
  // DatabaseModifiedError, and is reopened and retried.
  template <typename T>
  absl::StatusOr<T> Read(const std::function<absl::StatusOr<T>(const Xapian::Database&)>& fn) {
    for (int attempt = 0;; ++attempt) {
      try {
        auto r = Acquire();
        auto result = fn(r->db);
        Release(std::move(r));
        return result;
      } catch (const Xapian::DatabaseModifiedError& e) {
        if (attempt >= 3) return FromXapian(e, "read");
        revision.fetch_add(1);  // makes the next Acquire reopen
      } catch (const Xapian::DatabaseOpeningError& e) {
        // A rebuild switched generations and removed the one being opened.
        if (attempt >= 3) return FromXapian(e, "open for reading");
      } catch (const Xapian::QueryParserError& e) {
        return absl::InvalidArgumentError(absl::StrCat("query: ", e.get_msg()));
      } catch (const Xapian::Error& e) {
        return FromXapian(e, "read");
      }
    }
  }

  void CommitLoop() {
    std::unique_lock<std::mutex> lock(cmu);
    while (true) {
      cv.wait(lock, [&] { return stop || flush_now || applied > settled(); });
      if (applied <= settled() && !flush_now) return;  // stopping, nothing pending
      // Let the applies of other producers join this commit.
      if (!stop && !flush_now && options.commit_delay > absl::ZeroDuration()) {
        cv.wait_for(lock, absl::ToChronoNanoseconds(options.commit_delay),
                    [&] { return stop || flush_now; });
      }
      flush_now = false;
      lock.unlock();
      uint64_t upto = 0;
      absl::Status status;
      {
        std::lock_guard<std::mutex> w(wmu);
        {
          std::lock_guard<std::mutex> c(cmu);
          upto = applied;
        }
        try {
          writer->commit();
        } catch (const Xapian::Error& e) {
          status = FromXapian(e, "commit");
        }
      }
      lock.lock();
      if (status.ok()) {
        committed = std::max(committed, upto);
        revision.fetch_add(1);
      } else {
        // Some of these changes may be lost: every batch applied up to here
        // fails, and its producer sends it again.
        log::Error("search: commit failed", {{"error", status.ToString()}});
        failed = std::max(failed, upto);
        commit_error = status;
      }
      cv.notify_all();
      if (stop && !status.ok()) return;
    }
  }

  // Applies up to here are committed or failed.
  uint64_t settled() const { return std::max(committed, failed); }

  // Waits until what was applied up to `epoch` is committed; an error if the
  // commit that should have held it failed.
  absl::Status WaitCommitted(uint64_t epoch) {
    std::unique_lock<std::mutex> lock(cmu);
    cv.notify_all();
    cv.wait(lock, [&] { return settled() >= epoch || stop; });
    if (committed >= epoch && failed < epoch) return absl::OkStatus();
    if (failed >= epoch) return commit_error;
    return absl::UnavailableError("search index: stopping");
  }

  uint64_t MarkApplied() {
    std::lock_guard<std::mutex> lock(cmu);
    return ++applied;
  }
};

Index::Index(IndexOptions options) : state_(std::make_unique<State>(std::move(options))) {}

Index::~Index() {
  {
    std::lock_guard<std::mutex> lock(state_->cmu);
    state_->stop = true;
    state_->flush_now = true;
  }
  state_->cv.notify_all();
  if (state_->committer.joinable()) state_->committer.join();
  std::lock_guard<std::mutex> w(state_->wmu);
  try {
    if (state_->writer != nullptr) state_->writer->commit();
  } catch (const Xapian::Error& e) {
    log::Error("search: final commit failed", {{"error", e.get_msg()}});
  }
}

absl::StatusOr<std::unique_ptr<Index>> Index::Open(IndexOptions options) {
  if (options.path.empty()) return status::Required("search index path");
  std::unique_ptr<Index> index(new Index(std::move(options)));
  State& s = *index->state_;
  std::error_code ec;
  std::filesystem::create_directories(s.options.path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("search index: cannot create ", s.options.path, ": ", ec.message()));
  }
  uint64_t generation = 1;
  bool named = false;
  {
    std::ifstream current(s.options.path + "/CURRENT");
    std::string line;
    if (current && std::getline(current, line)) {
      if (!absl::SimpleAtoi(line, &generation)) {
        return absl::DataLossError(
            absl::StrCat("search index: ", s.options.path, "/CURRENT is malformed"));
      }
      named = true;
    }
  }
  try {
    // A generation CURRENT names must exist: never start over silently.
    s.writer = std::make_unique<Xapian::WritableDatabase>(
        s.DirOf(generation), s.db_flags() | (named ? Xapian::DB_OPEN : Xapian::DB_CREATE_OR_OPEN));
    s.writer->commit();
  } catch (const Xapian::Error& e) {
    return FromXapian(e, "open");
  }
  s.generation = generation;
  s.indexer = std::make_unique<Indexer>();
  s.committer = std::thread([&s] { s.CommitLoop(); });
  return index;
}

// Every event is an upsert or a delete, so applying part of a batch is safe:
// the marker moves only after the whole batch, and a redelivery applies it
// again. (No Xapian transaction: cancelling an unflushed one would also drop
// other producers' applied, uncommitted batches.) An event Xapian refuses as
// invalid is skipped with a warning, or it would stall its producer for good.
// While a rebuild runs the events are also queued for the new index.
void Index::ApplyLocked(State& s, const epb::EventBatch& batch, uint64_t* last) {
  epb::EventBatch fresh;
  for (const epb::Event& e : batch.events()) {
    if (e.sequence() <= *last) continue;
    try {
      s.indexer->Apply(*s.writer, e);
    } catch (const Xapian::InvalidArgumentError& err) {
      log::Warn("search: event skipped", {{"producer", e.producer()},
                                          {"sequence", static_cast<int64_t>(e.sequence())},
                                          {"error", err.get_msg()}});
    }
    *last = e.sequence();
    if (s.rebuilding) *fresh.add_events() = e;
  }
  s.writer->set_metadata(SeqKey(batch.producer()), U64(*last));
  if (s.rebuilding && fresh.events_size() > 0) {
    s.rebuild_queued_events += fresh.events_size();
    if (s.rebuild_queued_events > kMaxRebuildQueuedEvents) {
      s.rebuild_overflow = true;
    } else {
      fresh.set_producer(batch.producer());
      s.rebuild_queue.push_back(std::move(fresh));
    }
  }
}

absl::StatusOr<uint64_t> Index::Apply(const epb::EventBatch& batch) {
  auto sequences = events::ValidateBatch(batch);
  if (!sequences.ok()) return sequences.status();
  State& s = *state_;
  uint64_t last = 0, epoch = 0;
  {
    std::lock_guard<std::mutex> lock(s.wmu);
    try {
      last = LastApplied(*s.writer, batch.producer());
      if (batch.events_size() == 0 || batch.events(batch.events_size() - 1).sequence() <= last) {
        // Nothing new (a redelivery): answer once what is applied is
        // committed, which may not be the case yet.
        std::lock_guard<std::mutex> c(s.cmu);
        epoch = s.applied;
      } else {
        ApplyLocked(s, batch, &last);
        epoch = s.MarkApplied();
      }
    } catch (const Xapian::Error& e) {
      return FromXapian(e, "apply");
    }
  }
  if (auto st = s.WaitCommitted(epoch); !st.ok()) return st;
  return last;
}

absl::Status Index::Flush() {
  State& s = *state_;
  uint64_t epoch = s.MarkApplied();
  {
    std::lock_guard<std::mutex> lock(s.cmu);
    s.flush_now = true;
  }
  return s.WaitCommitted(epoch);
}

// ---- Queries ---------------------------------------------------------------

namespace {

Xapian::Query ParseText(const Xapian::Database& db, const Xapian::Stem& stem,
                        const std::string& text) {
  if (text.empty()) return Xapian::Query::MatchAll;
  Xapian::QueryParser qp;
  qp.set_stemmer(stem);
  qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
  qp.set_database(db);
  qp.set_default_op(Xapian::Query::OP_AND);
  qp.set_max_expansion(kMaxWildcardExpansion, Xapian::Query::WILDCARD_LIMIT_MOST_FREQUENT,
                       Xapian::QueryParser::FLAG_WILDCARD);
  return qp.parse_query(text, Xapian::QueryParser::FLAG_PHRASE | Xapian::QueryParser::FLAG_BOOLEAN |
                                  Xapian::QueryParser::FLAG_LOVEHATE |
                                  Xapian::QueryParser::FLAG_WILDCARD |
                                  Xapian::QueryParser::FLAG_PURE_NOT);
}

Xapian::Query AllOf(const std::vector<Xapian::Query>& queries) {
  return Xapian::Query(Xapian::Query::OP_AND, queries.begin(), queries.end());
}

epb::Event DataOf(const Xapian::Document& doc) {
  epb::Event e;
  e.ParseFromString(doc.get_data());
  return e;
}

void SetWeighting(Xapian::Enquire& enquire, const IndexOptions& o) {
  enquire.set_weighting_scheme(Xapian::BM25Weight(o.bm25_k1, 0, 1, o.bm25_b, o.bm25_min_normlen));
}

// Group terms of the groups named `names` (whole names, lowercased) that
// `viewer` may see.
std::vector<std::string> ResolveGroups(const Scope& scope, const std::vector<std::string>& names) {
  const Xapian::Database& db = scope.db;
  const Viewer& viewer = scope.viewer;
  std::vector<std::string> named;
  for (const std::string& n : names) named.push_back(Capped(absl::StrCat("XN", n)));
  Xapian::Enquire enquire(db);
  enquire.set_query(Visible(scope, Xapian::Query::MatchAll,
                            AllOf({Xapian::Query(OrgTerm(viewer.org_id)),
                                   Xapian::Query(KindTerm(kGroup)), AnyOf(named)})));
  std::vector<std::string> out;
  Xapian::MSet mset = enquire.get_mset(0, 100);
  for (auto it = mset.begin(); it != mset.end(); ++it) {
    out.push_back(GroupTerm(DataOf(it.get_document()).group_created().group().id()));
  }
  return out;
}

// The posts-and-comments query of `parsed` for `viewer`, without paging;
// nullopt when a filter matches nothing (an unknown group).
std::optional<Xapian::Query> PostsQuery(const Scope& scope, const IndexOptions& o,
                                        const Xapian::Stem& stem, const ParsedQuery& parsed,
                                        const pb::SearchPostsRequest* req, bool recency) {
  const Xapian::Database& db = scope.db;
  const Viewer& viewer = scope.viewer;
  Xapian::Query text = ParseText(db, stem, parsed.text);
  std::vector<Xapian::Query> filters = {
      Xapian::Query(OrgTerm(viewer.org_id)),
      Xapian::Query(Xapian::Query::OP_OR, Xapian::Query(KindTerm(kPost)),
                    Xapian::Query(KindTerm(kComment)))};
  if (!parsed.from_handles.empty()) {
    std::vector<std::string> handles;
    for (const std::string& h : parsed.from_handles) handles.push_back(HandleTerm(h));
    filters.push_back(AnyOf(handles));
  }
  if (!parsed.groups.empty()) {
    std::vector<std::string> groups = ResolveGroups(scope, parsed.groups);
    if (groups.empty()) return std::nullopt;
    filters.push_back(AnyOf(groups));
  }
  for (const std::string& tag : parsed.hashtags) {
    filters.push_back(Xapian::Query(TagTerm(viewer.org_id, tag)));
  }
  if (req != nullptr && req->has_start_time()) {
    filters.push_back(Xapian::Query(Xapian::Query::OP_VALUE_GE, kSlotTime,
                                    Xapian::sortable_serialise(Seconds(req->start_time()))));
  }
  if (req != nullptr && req->has_end_time()) {
    // [start, end): the largest time before end_time.
    filters.push_back(
        Xapian::Query(Xapian::Query::OP_VALUE_LE, kSlotTime,
                      Xapian::sortable_serialise(std::nextafter(Seconds(req->end_time()), 0.0))));
  }
  Xapian::Query scored = text;
  if (recency && !parsed.text.empty() && o.recency_weight > 0) {
    const double now = absl::ToDoubleSeconds(o.clock() - absl::UnixEpoch());
    auto* source =
        new RecencySource(now, o.recency_weight, absl::ToDoubleSeconds(o.recency_half_life));
    scored = Xapian::Query(Xapian::Query::OP_AND_MAYBE, text, Xapian::Query(source->release()));
  }
  return Visible(scope, scored, AllOf(filters));
}

}  // namespace

absl::StatusOr<pb::SearchPostsResponse> Index::SearchPosts(const Viewer& viewer,
                                                           const pb::SearchPostsRequest& req) {
  auto page = PageOf(req.page_size(), req.page_token());
  if (!page.ok()) return page.status();
  auto parsed = ParseQuery(req.query(), /*allow_filters=*/true);
  if (!parsed.ok()) return parsed.status();
  if (parsed->text.empty() && !parsed->has_filters()) return status::Required("query");
  if (req.has_start_time() && req.has_end_time() &&
      Seconds(req.end_time()) <= Seconds(req.start_time())) {
    return absl::InvalidArgumentError("end_time must be after start_time");
  }
  const auto [offset, size] = *page;
  State& s = *state_;
  const bool by_time = req.sort_order() == pb::SORT_ORDER_TIME || parsed->text.empty();
  return s.Read<pb::SearchPostsResponse>(
      [&](const Xapian::Database& db) -> absl::StatusOr<pb::SearchPostsResponse> {
        const Scope scope(db, viewer);
        pb::SearchPostsResponse resp;
        auto query = PostsQuery(scope, s.options, Stemmer(), *parsed, &req, !by_time);
        if (!query.has_value()) return resp;
        Xapian::Enquire enquire(db);
        enquire.set_query(*query);
        SetWeighting(enquire, s.options);
        if (by_time) enquire.set_sort_by_value_then_relevance(kSlotTime, /*reverse=*/true);
        Xapian::MSet mset = enquire.get_mset(offset, size + 1, kExactCountUpTo);
        for (auto it = mset.begin(); it != mset.end() && resp.hits_size() < size; ++it) {
          const epb::Event e = DataOf(it.get_document());
          pb::PostHit* hit = resp.add_hits();
          hit->set_score(it.get_weight());
          if (e.has_post_created()) {
            const epb::PostCreated& p = e.post_created();
            hit->set_post_id(p.post_id());
            *hit->mutable_author() = p.author();
            hit->set_kind(p.kind());
            if (p.group().id() != 0) *hit->mutable_group() = p.group();
            hit->set_snippet(Snippet(mset, p.body(), Stemmer()));
            *hit->mutable_create_time() = p.create_time();
          } else {
            const epb::CommentCreated& c = e.comment_created();
            hit->set_post_id(c.post_id());
            hit->set_comment_id(c.comment_id());
            *hit->mutable_author() = c.author();
            if (auto post = FindDoc(db, IdTerm(kPost, c.post_id())); post.has_value()) {
              const epb::PostCreated p = DataOf(*post).post_created();
              hit->set_kind(p.kind());
              if (p.group().id() != 0) *hit->mutable_group() = p.group();
            }
            hit->set_snippet(Snippet(mset, c.body(), Stemmer()));
            *hit->mutable_create_time() = c.create_time();
          }
        }
        if (mset.size() > static_cast<Xapian::doccount>(size)) {
          resp.set_next_page_token(TokenFor(offset + size));
        }
        resp.set_total_size(mset.get_matches_estimated());
        return resp;
      });
}

absl::StatusOr<pb::SearchPeopleResponse> Index::SearchPeople(const Viewer& viewer,
                                                             const pb::SearchPeopleRequest& req) {
  auto page = PageOf(req.page_size(), req.page_token());
  if (!page.ok()) return page.status();
  auto parsed = ParseQuery(req.query(), /*allow_filters=*/false);
  if (!parsed.ok()) return parsed.status();
  if (parsed->text.empty() && req.department().empty() && req.location().empty()) {
    return absl::InvalidArgumentError("query: required unless department or location is set");
  }
  if (req.department().size() > kMaxQueryChars || req.location().size() > kMaxQueryChars) {
    return status::TooLong("department or location",
                           std::max(req.department().size(), req.location().size()),
                           kMaxQueryChars);
  }
  const auto [offset, size] = *page;
  State& s = *state_;
  return s.Read<pb::SearchPeopleResponse>([&](const Xapian::Database& db)
                                              -> absl::StatusOr<pb::SearchPeopleResponse> {
    const Scope scope(db, viewer);
    std::vector<Xapian::Query> filters = {Xapian::Query(OrgTerm(viewer.org_id)),
                                          Xapian::Query(KindTerm(kPerson))};
    if (!req.department().empty()) {
      filters.push_back(Xapian::Query(Capped(absl::StrCat("XD", Lower(req.department())))));
    }
    if (!req.location().empty()) {
      filters.push_back(Xapian::Query(Capped(absl::StrCat("XL", Lower(req.location())))));
    }
    const Xapian::Query person_filter = AllOf(filters);
    const Xapian::Query text = ParseText(db, Stemmer(), parsed->text);
    // Declared expertise: skills, title, department, name.
    std::map<uint64_t, double> declared;
    std::map<uint64_t, Xapian::Document> docs;
    double max_declared = 0;
    {
      Xapian::Enquire enquire(db);
      enquire.set_query(Visible(scope, text, person_filter));
      SetWeighting(enquire, s.options);
      Xapian::MSet mset = enquire.get_mset(0, kMaxResultWindow);
      for (auto it = mset.begin(); it != mset.end(); ++it) {
        const uint64_t id = DataOf(it.get_document()).user_updated().user().id();
        declared[id] = it.get_weight();
        docs[id] = it.get_document();
        max_declared = std::max(max_declared, it.get_weight());
      }
    }
    // What they wrote on the topic, among the posts the viewer may read.
    std::map<uint64_t, double> written;
    double max_written = 0;
    if (!parsed->text.empty()) {
      ParsedQuery topic;
      topic.text = parsed->text;
      auto posts = PostsQuery(scope, s.options, Stemmer(), topic, nullptr, false);
      Xapian::Enquire enquire(db);
      enquire.set_query(*posts);
      SetWeighting(enquire, s.options);
      Xapian::MSet mset = enquire.get_mset(0, kMaxTopicPosts);
      for (auto it = mset.begin(); it != mset.end(); ++it) {
        const epb::Event e = DataOf(it.get_document());
        const uint64_t author = e.has_post_created() ? e.post_created().author().id()
                                                     : e.comment_created().author().id();
        written[author] += it.get_weight();
      }
      // Writers the declared query missed must pass the same person filter.
      std::vector<std::string> missing;
      for (const auto& [author, w] : written) {
        if (!declared.contains(author)) missing.push_back(IdTerm(kPerson, author));
      }
      std::set<uint64_t> eligible;
      for (const auto& [author, w] : written) {
        if (declared.contains(author)) eligible.insert(author);
      }
      if (!missing.empty()) {
        Xapian::Enquire people(db);
        people.set_query(
            Visible(scope, Xapian::Query::MatchAll,
                    Xapian::Query(Xapian::Query::OP_AND, person_filter, AnyOf(missing))));
        Xapian::MSet found = people.get_mset(0, missing.size());
        for (auto it = found.begin(); it != found.end(); ++it) {
          const uint64_t id = DataOf(it.get_document()).user_updated().user().id();
          eligible.insert(id);
          docs[id] = it.get_document();
        }
      }
      for (auto it = written.begin(); it != written.end();) {
        if (!eligible.contains(it->first)) {
          it = written.erase(it);
        } else {
          max_written = std::max(max_written, it->second);
          ++it;
        }
      }
    }
    // Declared expertise counts fully, writing on the topic half as much.
    std::vector<std::pair<double, uint64_t>> ranked;
    for (const auto& [id, doc] : docs) {
      double score = 0;
      if (auto d = declared.find(id); d != declared.end() && max_declared > 0) {
        score += d->second / max_declared;
      }
      if (auto w = written.find(id); w != written.end() && max_written > 0) {
        score += 0.5 * w->second / max_written;
      }
      ranked.emplace_back(score, id);
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    pb::SearchPeopleResponse resp;
    resp.set_total_size(ranked.size());
    for (size_t i = offset; i < ranked.size() && resp.hits_size() < size; ++i) {
      const epb::UserUpdated u = DataOf(docs[ranked[i].second]).user_updated();
      pb::PersonHit* hit = resp.add_hits();
      *hit->mutable_user() = u.user();
      hit->set_title(u.title());
      hit->set_department(u.department());
      hit->set_location(u.location());
      hit->set_score(ranked[i].first);
      for (const std::string& skill : u.skills()) {
        std::vector<std::string> skill_words =
            absl::StrSplit(Lower(skill), absl::ByAnyChar(" -/"), absl::SkipEmpty());
        const bool match = std::any_of(parsed->words.begin(), parsed->words.end(), [&](auto& w) {
          return std::any_of(skill_words.begin(), skill_words.end(), [&](const std::string& sw) {
            return sw == w || Stemmer()(sw) == Stemmer()(w);
          });
        });
        if (match) hit->add_matched_skills(skill);
      }
    }
    if (offset + size < ranked.size()) resp.set_next_page_token(TokenFor(offset + size));
    return resp;
  });
}

absl::StatusOr<pb::SearchGroupsResponse> Index::SearchGroups(const Viewer& viewer,
                                                             const pb::SearchGroupsRequest& req) {
  auto page = PageOf(req.page_size(), req.page_token());
  if (!page.ok()) return page.status();
  auto parsed = ParseQuery(req.query(), /*allow_filters=*/false);
  if (!parsed.ok()) return parsed.status();
  if (parsed->text.empty()) return status::Required("query");
  const auto [offset, size] = *page;
  State& s = *state_;
  return s.Read<pb::SearchGroupsResponse>(
      [&](const Xapian::Database& db) -> absl::StatusOr<pb::SearchGroupsResponse> {
        const Scope scope(db, viewer);
        Xapian::Enquire enquire(db);
        enquire.set_query(Visible(
            scope, ParseText(db, Stemmer(), parsed->text),
            AllOf({Xapian::Query(OrgTerm(viewer.org_id)), Xapian::Query(KindTerm(kGroup))})));
        SetWeighting(enquire, s.options);
        Xapian::MSet mset = enquire.get_mset(offset, size + 1, kExactCountUpTo);
        pb::SearchGroupsResponse resp;
        for (auto it = mset.begin(); it != mset.end() && resp.hits_size() < size; ++it) {
          const epb::GroupCreated g = DataOf(it.get_document()).group_created();
          pb::GroupHit* hit = resp.add_hits();
          *hit->mutable_group() = g.group();
          hit->set_snippet(Snippet(mset, g.description(), Stemmer()));
          hit->set_score(it.get_weight());
        }
        if (mset.size() > static_cast<Xapian::doccount>(size)) {
          resp.set_next_page_token(TokenFor(offset + size));
        }
        resp.set_total_size(mset.get_matches_estimated());
        return resp;
      });
}

absl::StatusOr<pb::SuggestResponse> Index::Suggest(const Viewer& viewer,
                                                   const pb::SuggestRequest& req) {
  auto chars = text::Utf8Length(req.prefix());
  if (!chars.has_value()) return absl::InvalidArgumentError("prefix: not valid UTF-8");
  if (*chars == 0) return status::Required("prefix");
  if (*chars > kMaxPrefixChars) return status::TooLong("prefix", *chars, kMaxPrefixChars);
  const int32_t max = req.max_results() == 0 ? kMaxSuggestions : req.max_results();
  if (max < 1 || max > kMaxSuggestions) {
    return status::OutOfRange("max_results", req.max_results(), 1, kMaxSuggestions);
  }
  std::string prefix = Lower(std::string(absl::StripAsciiWhitespace(req.prefix())));
  bool people = true, groups = true, tags = true;
  if (!prefix.empty() && (prefix[0] == '@' || prefix[0] == '#')) {
    people = prefix[0] == '@';
    groups = false;
    tags = prefix[0] == '#';
    prefix.erase(0, 1);
  }
  std::vector<std::string> words =
      absl::StrSplit(prefix, absl::ByAnyChar(" ._-"), absl::SkipEmpty());
  if (words.empty()) return absl::InvalidArgumentError("prefix: needs a letter or digit");
  State& s = *state_;
  return s.Read<pb::SuggestResponse>(
      [&](const Xapian::Database& db) -> absl::StatusOr<pb::SuggestResponse> {
        const Scope scope(db, viewer);
        // Every word but the last is whole; the last is a prefix.
        auto named = [&](const char* term_prefix) {
          std::vector<Xapian::Query> parts;
          for (size_t i = 0; i + 1 < words.size(); ++i) {
            parts.emplace_back(Capped(absl::StrCat(term_prefix, words[i])));
          }
          parts.emplace_back(Xapian::Query::OP_WILDCARD, absl::StrCat(term_prefix, words.back()),
                             kMaxWildcardExpansion, Xapian::Query::WILDCARD_LIMIT_MOST_FREQUENT);
          return AllOf(parts);
        };
        std::vector<pb::Suggestion> found[3];
        auto run = [&](const Xapian::Query& q, int slot, bool person) {
          Xapian::Enquire enquire(db);
          enquire.set_query(q);
          Xapian::MSet mset = enquire.get_mset(0, max);
          for (auto it = mset.begin(); it != mset.end(); ++it) {
            const epb::Event e = DataOf(it.get_document());
            pb::Suggestion sug;
            if (person) {
              *sug.mutable_person() = e.user_updated().user();
            } else {
              *sug.mutable_group() = e.group_created().group();
            }
            found[slot].push_back(std::move(sug));
          }
        };
        if (people) {
          run(Visible(
                  scope, named("XU"),
                  AllOf({Xapian::Query(OrgTerm(viewer.org_id)), Xapian::Query(KindTerm(kPerson))})),
              0, true);
        }
        if (groups) {
          run(Xapian::Query(Xapian::Query::OP_AND_NOT,
                            Visible(scope, named("XV"),
                                    AllOf({Xapian::Query(OrgTerm(viewer.org_id)),
                                           Xapian::Query(KindTerm(kGroup))})),
                            Xapian::Query(kArchived)),
              1, false);
        }
        if (tags && words.size() == 1) {
          // The org's most used tags with the prefix that the viewer can see
          // in at least one post or comment.
          const std::string tag_prefix = TagTerm(viewer.org_id, words[0]);
          const std::string org_prefix = TagTerm(viewer.org_id, "");
          std::vector<std::pair<Xapian::doccount, std::string>> candidates;
          for (auto it = db.allterms_begin(tag_prefix);
               it != db.allterms_end(tag_prefix) && candidates.size() < kMaxTagCandidates; ++it) {
            candidates.emplace_back(it.get_termfreq(), *it);
          }
          std::sort(candidates.begin(), candidates.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
          for (const auto& [freq, term] : candidates) {
            if (static_cast<int32_t>(found[2].size()) >= max) break;
            Xapian::Enquire enquire(db);
            enquire.set_query(
                Xapian::Query(Xapian::Query::OP_AND_NOT, Xapian::Query(term), scope.hidden));
            if (enquire.get_mset(0, 1).empty()) continue;
            pb::Suggestion sug;
            sug.set_hashtag(term.substr(org_prefix.size()));
            found[2].push_back(std::move(sug));
          }
        }
        // Best of each kind first, then the second of each, and so on.
        pb::SuggestResponse resp;
        for (size_t i = 0; resp.suggestions_size() < max; ++i) {
          bool any = false;
          for (auto& kind : found) {
            if (i < kind.size() && resp.suggestions_size() < max) {
              *resp.add_suggestions() = kind[i];
              any = true;
            }
          }
          if (!any) break;
        }
        return resp;
      });
}

// ---- Rebuild ----------------------------------------------------------------

absl::StatusOr<RebuildCounts> Index::Rebuild(const std::vector<SnapshotSource>& sources) {
  State& s = *state_;
  if (s.rebuild_running.exchange(true)) {
    return absl::AbortedError("a rebuild is already running");
  }
  struct Done {
    State& s;
    ~Done() {
      std::lock_guard<std::mutex> lock(s.wmu);
      s.rebuilding = false;
      s.rebuild_overflow = false;
      s.rebuild_queue.clear();
      s.rebuild_queued_events = 0;
      s.rebuild_running = false;
    }
  } done{s};
  const uint64_t next = s.generation.load() + 1;
  const std::string dir = s.DirOf(next);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  try {
    auto fresh = std::make_unique<Xapian::WritableDatabase>(
        dir, Xapian::DB_CREATE_OR_OVERWRITE | Xapian::DB_BACKEND_GLASS |
                 (s.options.sync ? 0 : Xapian::DB_NO_SYNC));
    Indexer indexer;
    {
      std::lock_guard<std::mutex> lock(s.wmu);
      s.rebuilding = true;
    }
    std::map<std::string, uint64_t> markers;
    for (const SnapshotSource& source : sources) {
      std::string token;
      do {
        auto page = source(token);
        if (!page.ok()) {
          std::filesystem::remove_all(dir, ec);
          return page.status();
        }
        for (const epb::Event& e : page->events) {
          try {
            indexer.Apply(*fresh, e);
          } catch (const Xapian::InvalidArgumentError& err) {
            log::Warn("search: snapshot event skipped", {{"error", err.get_msg()}});
          }
          markers[e.producer()] = page->snapshot_sequence;
        }
        token = page->next_page_token;
      } while (!token.empty());
    }
    std::lock_guard<std::mutex> lock(s.wmu);
    if (s.rebuild_overflow) {
      std::filesystem::remove_all(dir, ec);
      return absl::ResourceExhaustedError(
          absl::StrCat("rebuild: more than ", kMaxRebuildQueuedEvents,
                       " live events arrived while it ran; retry at a quieter time"));
    }
    // Live events that arrived meanwhile, on top of the snapshot.
    for (const auto& [producer, sequence] : markers) {
      fresh->set_metadata(SeqKey(producer), U64(sequence));
    }
    for (const epb::EventBatch& batch : s.rebuild_queue) {
      uint64_t last = LastApplied(*fresh, batch.producer());
      for (const epb::Event& e : batch.events()) {
        if (e.sequence() <= last) continue;
        try {
          indexer.Apply(*fresh, e);
        } catch (const Xapian::InvalidArgumentError& err) {
          log::Warn("search: event skipped", {{"error", err.get_msg()}});
        }
        last = e.sequence();
      }
      fresh->set_metadata(SeqKey(batch.producer()), U64(last));
    }
    // Producers the snapshot did not name keep their markers.
    const std::string seq_prefix = "s";
    for (auto it = s.writer->metadata_keys_begin(seq_prefix);
         it != s.writer->metadata_keys_end(seq_prefix); ++it) {
      if (fresh->get_metadata(*it).empty()) fresh->set_metadata(*it, s.writer->get_metadata(*it));
    }
    fresh->commit();
    s.writer->commit();
    // The new generation is on disk (committed, fsynced unless --sync_writes
    // is off) before CURRENT names it, and CURRENT before the old one goes.
    if (auto st = WriteCurrent(s.options.path, next); !st.ok()) return st;
    const std::string old = s.DirOf(next - 1);
    s.writer = std::move(fresh);
    s.generation = next;
    s.revision.fetch_add(1);
    std::filesystem::remove_all(old, ec);  // open readers keep their files until reopened
  } catch (const Xapian::Error& e) {
    std::filesystem::remove_all(dir, ec);
    return FromXapian(e, "rebuild");
  }
  return Counts();
}

RebuildCounts Index::Counts() {
  auto counts =
      state_->Read<RebuildCounts>([](const Xapian::Database& db) -> absl::StatusOr<RebuildCounts> {
        RebuildCounts c;
        c.posts = db.get_termfreq(KindTerm(kPost));
        c.comments = db.get_termfreq(KindTerm(kComment));
        c.people = db.get_termfreq(KindTerm(kPerson));
        c.groups = db.get_termfreq(KindTerm(kGroup));
        return c;
      });
  return counts.ok() ? *counts : RebuildCounts{};
}

}  // namespace parley::search
