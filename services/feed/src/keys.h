// Key layouts, page tokens and small helpers shared by feed's components.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "feed/src/store.h"
#include "google/protobuf/util/time_util.h"
#include "parley/status/status.h"
#include "parley/storage/keys.h"

namespace parley::feed::internal {

using storage::AppendDescU64;
using storage::AppendU64;
using storage::DecodeCounter;
using storage::DecodeDescU64;
using storage::DecodeU64;
using storage::EncodeCounter;
using storage::FromRocks;
using storage::KeyReader;
using storage::PrefixSuccessor;
using storage::U64Key;
namespace ev = ::parley::events::v1;

// Counter keys: a kind byte and an id.
constexpr char kPostLikes = 'L';
constexpr char kPostComments = 'C';
constexpr char kCommentLikes = 'l';
constexpr char kCommentReplies = 'r';
constexpr char kFollowerCount = 'F';
constexpr char kFollowingCount = 'G';
// Like keys: a kind byte, the target id, the person.
constexpr char kLikePost = 'p';
constexpr char kLikeComment = 'c';
// Block flags, stored on each side: <me><other> -> flags.
constexpr uint8_t kIBlocked = 1;
constexpr uint8_t kBlockedMe = 2;

inline std::string CounterKey(char kind, uint64_t id) {
  std::string k(1, kind);
  AppendU64(&k, id);
  return k;
}

inline std::string LikeKey(char kind, uint64_t target, uint64_t user) {
  std::string k(1, kind);
  AppendU64(&k, target);
  AppendU64(&k, user);
  return k;
}

inline std::string DescKey(uint64_t owner, uint64_t id) {
  std::string k;
  AppendU64(&k, owner);
  AppendDescU64(&k, id);
  return k;
}

inline std::string U64Key2(char kind, uint64_t a, uint64_t b) {
  std::string k(1, kind);
  AppendU64(&k, a);
  AppendU64(&k, b);
  return k;
}

// Home entries per WriteBatch during fan-out (large batches amortize the WAL
// write; tools/bench/run fanout measures it).
constexpr size_t kHomeWriteBatch = 50000;

// Clock skew allowed between shards when catching a new follower up.
constexpr absl::Duration kCatchUpSkew = absl::Seconds(5);

inline std::string IdxKey(uint64_t owner, uint64_t order, uint64_t other) {
  std::string k = DescKey(owner, order);
  AppendU64(&k, other);
  return k;
}

inline std::string U64Value(uint64_t v) {
  std::string s;
  AppendU64(&s, v);
  return s;
}

inline google::protobuf::Timestamp Ts(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

inline absl::StatusOr<int32_t> PageSize(int32_t requested) {
  if (requested == 0) return kDefaultPageSize;
  if (requested < 1 || requested > kMaxPageSize) {
    return status::OutOfRange("page_size", requested, 1, kMaxPageSize);
  }
  return requested;
}

// Page tokens: base64url of [version 1][mode][u64 cursor]. Mode 'h' reads the
// materialized head, 'p' the pull merge; the cursor is an exclusive id bound
// (or, for follower lists, the last position).
struct PageToken {
  char mode = 'h';
  uint64_t cursor = 0;  // 0: from the start
};

inline std::string EncodeToken(char mode, uint64_t cursor) {
  std::string raw(1, '\x01');
  raw.push_back(mode);
  AppendU64(&raw, cursor);
  return absl::WebSafeBase64Escape(raw);
}

inline absl::StatusOr<PageToken> DecodeToken(const std::string& token, absl::string_view modes) {
  PageToken t;
  if (token.empty()) {
    t.mode = modes[0];
    return t;
  }
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() != 10 || raw[0] != '\x01' ||
      modes.find(raw[1]) == absl::string_view::npos) {
    return absl::InvalidArgumentError("page_token: not a token this list returned");
  }
  t.mode = raw[1];
  t.cursor = DecodeU64(absl::string_view(raw).substr(2));
  return t;
}

// Snapshot page tokens (ListSnapshotEvents): base64url of [version 1]
// [section][u64 snapshot sequence][u8 events of the last record already
// returned][the last record's key, empty at a section's start]. The snapshot
// sequence rides along so that every page reports the first page's.
struct SnapshotToken {
  char section = 0;
  uint64_t snapshot_sequence = 0;
  uint8_t emitted = 0;
  std::string key;
};

inline std::string EncodeSnapshotToken(const SnapshotToken& t) {
  std::string raw(1, '\x01');
  raw.push_back(t.section);
  AppendU64(&raw, t.snapshot_sequence);
  raw.push_back(static_cast<char>(t.emitted));
  raw.append(t.key);
  return absl::WebSafeBase64Escape(raw);
}

inline absl::Status BadSnapshotToken() {
  return absl::InvalidArgumentError("page_token: not a token ListSnapshotEvents returned");
}

// The caller checks the section and the key's length.
inline absl::StatusOr<SnapshotToken> DecodeSnapshotToken(const std::string& token) {
  constexpr size_t kHeader = 11;
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < kHeader || raw[0] != '\x01') {
    return BadSnapshotToken();
  }
  SnapshotToken t;
  t.section = raw[1];
  t.snapshot_sequence = DecodeU64(absl::string_view(raw).substr(2, 8));
  t.emitted = static_cast<uint8_t>(raw[10]);
  t.key = raw.substr(kHeader);
  return t;
}

inline absl::Status NotFoundPost(uint64_t id) {
  return absl::NotFoundError(absl::StrCat("post ", id, " not found"));
}

// The compact copy of a post that other shards keep (no counts).
inline pb::Post PostFromEvent(const ev::Event& e) {
  const auto& pc = e.post_created();
  pb::Post p;
  p.set_id(pc.post_id());
  p.set_org_id(e.org_id());
  *p.mutable_author() = pc.author();
  p.set_kind(pc.kind());
  p.set_body(pc.body());
  *p.mutable_mentions() = pc.mentions();
  *p.mutable_hashtags() = pc.hashtags();
  p.set_visibility(pc.visibility());
  *p.mutable_create_time() = pc.create_time();
  if (pc.group().id() != 0) *p.mutable_group() = pc.group();
  return p;
}

// What a post's creation tells other services (PostFromEvent's inverse); the
// live event and the snapshot both come from the stored post.
inline ev::PostCreated PostCreatedOf(const pb::Post& p) {
  ev::PostCreated pc;
  pc.set_post_id(p.id());
  *pc.mutable_author() = p.author();
  pc.set_kind(p.kind());
  pc.set_body(p.body());
  *pc.mutable_mentions() = p.mentions();
  *pc.mutable_hashtags() = p.hashtags();
  pc.set_visibility(p.visibility());
  *pc.mutable_create_time() = p.create_time();
  if (p.group().id() != 0) *pc.mutable_group() = p.group();
  return pc;
}

// What a comment's creation tells, from the stored comment and its post.
inline ev::CommentCreated CommentCreatedOf(const pb::Comment& c, const pb::Post& post,
                                           uint64_t parent_author) {
  ev::CommentCreated cc;
  cc.set_comment_id(c.id());
  cc.set_post_id(c.post_id());
  cc.set_parent_comment_id(c.parent_comment_id());
  *cc.mutable_author() = c.author();
  cc.set_body(c.body());
  *cc.mutable_create_time() = c.create_time();
  cc.set_post_author_id(post.author().id());
  cc.set_parent_comment_author_id(parent_author);
  cc.set_post_visibility(post.visibility());
  cc.set_group_id(post.group().id());
  return cc;
}

inline common::v1::GroupRef RefOf(const pb::Group& g) {
  common::v1::GroupRef ref;
  ref.set_id(g.id());
  ref.set_name(g.name());
  ref.set_privacy(g.privacy());
  return ref;
}

// Counters of groups and people's memberships.
constexpr char kMemberCount = 'M';     // + group: members and admins
constexpr char kAdminCount = 'A';      // + group: admins
constexpr char kUserGroupCount = 'N';  // + user: groups they are a member of (their shard)

// "groups" family (on the group's home shard):
//   'g' group                      -> pb::Group (member_count, viewer_state unset)
//   'm' group user                 -> state byte + order (u64)
//   'x' group class ~order user    -> ""   (class 'm' members and admins, 'i', 'r')
//   'p' group ~post                -> author (u64): the group's timeline
// "my_groups" family (on the member's shard):
//   'm' user group                 -> order (u64)
//   'x' user ~order group          -> ""
//   'u' user group                 -> ""   (muted)
// "questions" family: 'o' author ~post (on the author's shard), 'g' group ~post
// (on the group's shard) -> "": every question; answered ones are skipped when read.
inline std::string Key1(char kind, uint64_t a) { return CounterKey(kind, a); }
inline std::string Key2(char kind, uint64_t a, uint64_t b) { return U64Key2(kind, a, b); }
inline std::string DescKey2(char kind, uint64_t a, uint64_t b) {
  std::string k(1, kind);
  AppendU64(&k, a);
  AppendDescU64(&k, b);
  return k;
}
inline std::string MemberIdx(uint64_t group, char cls, uint64_t order, uint64_t user) {
  std::string k(1, 'x');
  AppendU64(&k, group);
  k.push_back(cls);
  AppendDescU64(&k, order);
  AppendU64(&k, user);
  return k;
}

// A home entry's value: the author, and the group for a group post.
inline std::string HomeValue(uint64_t author, uint64_t group) {
  std::string s;
  AppendU64(&s, author);
  if (group != 0) AppendU64(&s, group);
  return s;
}
inline std::pair<uint64_t, uint64_t> ParseHomeValue(absl::string_view v) {
  if (v.size() < 8) return {0, 0};
  return {DecodeU64(v.substr(0, 8)), v.size() >= 16 ? DecodeU64(v.substr(8, 8)) : 0};
}

// A person's state in a group (the first byte of a 'm' membership value).
constexpr char kInvited = 'i';
constexpr char kRequested = 'r';
constexpr char kMember = 'm';
constexpr char kAdmin = 'a';

inline bool IsMember(char state) { return state == kMember || state == kAdmin; }

// The listing class of a state: members and admins share one, most recently
// joined first.
inline char ClassOf(char state) { return IsMember(state) ? kMember : state; }

inline pb::GroupMemberState StateOf(char state) {
  switch (state) {
    case kInvited:
      return pb::GROUP_MEMBER_STATE_INVITED;
    case kRequested:
      return pb::GROUP_MEMBER_STATE_REQUESTED;
    case kMember:
      return pb::GROUP_MEMBER_STATE_MEMBER;
    case kAdmin:
      return pb::GROUP_MEMBER_STATE_ADMIN;
    default:
      return pb::GROUP_MEMBER_STATE_NONE;
  }
}

inline absl::Status NotFoundGroup(uint64_t id) {
  return absl::NotFoundError(absl::StrCat("group ", id, " not found"));
}

inline std::string MyGroupIdx(uint64_t user, uint64_t order, uint64_t group) {
  std::string k = DescKey2('x', user, order);
  AppendU64(&k, group);
  return k;
}

inline absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(t));
}

}  // namespace parley::feed::internal
