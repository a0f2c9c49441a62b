#include "notify/src/inbox.h"

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "parley/events/events.h"
#include "parley/status/status.h"
#include "parley/storage/keys.h"

namespace parley::notify {
namespace {

namespace ev = ::parley::events::v1;
using storage::AppendDescU64;
using storage::AppendU64;
using storage::DecodeCounter;
using storage::DecodeDescU64;
using storage::DecodeU64;
using storage::EncodeCounter;
using storage::FromRocks;
using storage::U64Key;
using TimeUtil = google::protobuf::util::TimeUtil;

// Column families:
//   inbox      user ~id                       -> pb::Notification
//   unread     user ~id                       -> ""
//   subjects   subject                        -> entry id (u64)
//   actors     subject actor                  -> ""   (distinct actors of the entry)
//   by_content 'p' post subject / 'c' comment subject -> "" (entries to drop on delete)
//   prefs      user                           -> pb::NotificationPreferences
//   blocks     blocker blocked                -> ""
//   deleted    'p' post / 'c' comment         -> ""   (later events about it are dropped)
//   counters   'u' user                       -> unread count (uint64-add merge)
// A subject is user(8) kind(1) post(8) comment(8) group(8): what entries
// coalesce on.
constexpr size_t kSubjectSize = 33;

std::string InboxKey(uint64_t user, uint64_t id) {
  std::string k;
  AppendU64(&k, user);
  AppendDescU64(&k, id);
  return k;
}

std::string Tagged(char tag, uint64_t id) {
  std::string k(1, tag);
  AppendU64(&k, id);
  return k;
}

// The subject entries of `kind` coalesce on (COMMENT: the post; its
// comment_id is only the latest comment).
std::string SubjectKey(uint64_t user, pb::NotificationKind kind, uint64_t post, uint64_t comment,
                       uint64_t group) {
  std::string k;
  AppendU64(&k, user);
  k.push_back(static_cast<char>(kind));
  AppendU64(&k, post);
  AppendU64(&k, kind == pb::NOTIFICATION_KIND_COMMENT ? 0 : comment);
  AppendU64(&k, group);
  return k;
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

google::protobuf::Timestamp Ts(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

std::string EncodeToken(char mode, uint64_t cursor) {
  std::string raw(1, '\x01');
  raw.push_back(mode);
  AppendU64(&raw, cursor);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<uint64_t> DecodeToken(const std::string& token, char mode) {
  if (token.empty()) return 0;
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() != 10 || raw[0] != '\x01' ||
      raw[1] != mode) {
    return absl::InvalidArgumentError("page_token: not a token this list returned");
  }
  return DecodeU64(absl::string_view(raw).substr(2));
}

// Kinds where one actor acting again changes nothing (a like after an
// unlike; a follow after an unfollow): the entry is bumped only for a new
// actor. A second join request or invitation is news, and bumps.
bool OncePerActor(pb::NotificationKind kind) {
  switch (kind) {
    case pb::NOTIFICATION_KIND_POST_LIKED:
    case pb::NOTIFICATION_KIND_COMMENT_LIKED:
    case pb::NOTIFICATION_KIND_NEW_FOLLOWER:
      return true;
    default:
      return false;
  }
}

// A high-water mark of entry ids, kept so that ids stay above every id ever
// handed out across restarts (even of entries since deleted).
constexpr char kHighWater[] = "h";

}  // namespace

std::vector<std::string> Inbox::ColumnFamilies() {
  return {"inbox", "unread", "subjects", "actors",   "by_content",
          "prefs", "blocks", "deleted",  "counters", "applied"};
}

Inbox::Inbox(storage::Db* db, directory::Directory* directory, InboxOptions options)
    : db_(db), directory_(directory), options_(std::move(options)) {
  inbox_ = db->Cf("inbox");
  unread_ = db->Cf("unread");
  subjects_ = db->Cf("subjects");
  actors_ = db->Cf("actors");
  by_content_ = db->Cf("by_content");
  prefs_ = db->Cf("prefs");
  blocks_ = db->Cf("blocks");
  deleted_ = db->Cf("deleted");
  counters_ = db->Cf("counters");
}

absl::StatusOr<std::unique_ptr<Inbox>> Inbox::Create(storage::Db* db,
                                                     directory::Directory* directory,
                                                     InboxOptions options) {
  auto generator = ids::IdGenerator::Create(static_cast<uint32_t>(options.shards.self()));
  if (!generator.ok()) return generator.status();
  std::unique_ptr<Inbox> inbox(new Inbox(db, directory, std::move(options)));
  inbox->ids_ = *std::move(generator);
  inbox->applied_ = std::make_unique<storage::AppliedSequences>(db, db->Cf("applied"));
  // Never hand out an id at or below one handed out before (clock stepped
  // back across a restart): a stream's "above N" must see every later entry.
  auto high = db->Get(inbox->counters_, kHighWater);
  if (!high.ok()) return high.status();
  if (high->has_value() && (*high)->size() == 8) inbox->ids_->AdvancePast(DecodeU64(**high));
  return inbox;
}

bool Inbox::Has(rocksdb::ColumnFamilyHandle* cf, const std::string& key) {
  auto v = db_->Get(cf, key);
  return v.ok() && v->has_value();
}

bool Inbox::Blocked(uint64_t a, uint64_t b) {
  return Has(blocks_, U64Key(a, b)) || Has(blocks_, U64Key(b, a));
}

// ---------------------------------------------------------------------------
// Events

std::vector<Inbox::Delivery> Inbox::DeliveriesOf(const ev::Event& e) {
  std::vector<Delivery> out;
  const absl::Time when = e.has_create_time() ? ToTime(e.create_time()) : absl::Now();
  auto add = [&](uint64_t recipient, pb::NotificationKind kind, const common::v1::UserRef& actor) {
    Delivery d;
    d.recipient = recipient;
    d.kind = kind;
    d.actor = actor;
    d.when = when;
    out.push_back(std::move(d));
    return &out.back();
  };
  switch (e.payload_case()) {
    case ev::Event::kMentioned: {
      const auto& m = e.mentioned();
      for (const auto& u : m.mentioned_users()) {
        Delivery* d = add(u.id(), pb::NOTIFICATION_KIND_MENTION, m.author());
        d->post_id = m.post_id();
        d->comment_id = m.comment_id();
        d->group_id = m.group_id();
      }
      break;
    }
    case ev::Event::kCommentCreated: {
      const auto& c = e.comment_created();
      if (c.parent_comment_id() != 0 && c.parent_comment_author_id() != 0) {
        Delivery* d = add(c.parent_comment_author_id(), pb::NOTIFICATION_KIND_REPLY, c.author());
        d->post_id = c.post_id();
        d->comment_id = c.parent_comment_id();
        d->group_id = c.group_id();
        d->cause_comment_id = c.comment_id();
      }
      // The post's author hears of every comment, unless the reply already
      // told them (it was their comment).
      if (c.post_author_id() != 0 && c.post_author_id() != c.parent_comment_author_id()) {
        Delivery* d = add(c.post_author_id(), pb::NOTIFICATION_KIND_COMMENT, c.author());
        d->post_id = c.post_id();
        d->comment_id = c.comment_id();
        d->group_id = c.group_id();
        d->cause_comment_id = c.comment_id();
      }
      break;
    }
    case ev::Event::kLiked: {
      const auto& l = e.liked();
      Delivery* d = add(l.content_author_id(),
                        l.comment_id() != 0 ? pb::NOTIFICATION_KIND_COMMENT_LIKED
                                            : pb::NOTIFICATION_KIND_POST_LIKED,
                        l.user());
      d->post_id = l.post_id();
      d->comment_id = l.comment_id();
      d->group_id = l.group_id();
      break;
    }
    case ev::Event::kFollowed:
      add(e.followed().followee().id(), pb::NOTIFICATION_KIND_NEW_FOLLOWER,
          e.followed().follower());
      break;
    case ev::Event::kGroupInvited: {
      const auto& g = e.group_invited();
      Delivery* d = add(g.invitee_id(), pb::NOTIFICATION_KIND_GROUP_INVITE, g.inviter());
      d->group = g.group();
      d->group_id = g.group().id();
      break;
    }
    case ev::Event::kGroupJoinRequested: {
      const auto& g = e.group_join_requested();
      for (uint64_t admin : g.admin_user_ids()) {
        Delivery* d = add(admin, pb::NOTIFICATION_KIND_GROUP_JOIN_REQUEST, g.requester());
        d->group = g.group();
        d->group_id = g.group().id();
      }
      break;
    }
    case ev::Event::kGroupJoinApproved: {
      const auto& g = e.group_join_approved();
      Delivery* d = add(g.user_id(), pb::NOTIFICATION_KIND_GROUP_JOIN_APPROVED, g.approver());
      d->group = g.group();
      d->group_id = g.group().id();
      break;
    }
    case ev::Event::kAnswerAccepted: {
      const auto& a = e.answer_accepted();
      Delivery* d =
          add(a.answer_author_id(), pb::NOTIFICATION_KIND_ANSWER_ACCEPTED, a.accepted_by());
      d->post_id = a.post_id();
      d->comment_id = a.comment_id();
      d->group_id = a.group_id();
      break;
    }
    default:
      break;
  }
  // Only people homed on this shard, never oneself, and each recipient once
  // per kind and subject (a person mentioned twice in one post).
  std::vector<Delivery> kept;
  std::set<std::string> seen;
  for (auto& d : out) {
    if (d.recipient == 0 || d.recipient == d.actor.id() || !IsLocal(d.recipient)) continue;
    if (!seen.insert(SubjectKey(d.recipient, d.kind, d.post_id, d.comment_id, d.group.id()))
             .second) {
      continue;
    }
    kept.push_back(std::move(d));
  }
  return kept;
}

absl::Status Inbox::Apply(const ev::Event& e,
                          const absl::flat_hash_map<uint64_t, directory::Person>& actors,
                          rocksdb::WriteBatch* batch, std::vector<uint64_t>* touched) {
  switch (e.payload_case()) {
    case ev::Event::kBlocked:
      batch->Put(blocks_, U64Key(e.blocked().blocker_id(), e.blocked().blocked_user_id()), "");
      return absl::OkStatus();
    case ev::Event::kUnblocked:
      batch->Delete(blocks_, U64Key(e.unblocked().blocker_id(), e.unblocked().blocked_user_id()));
      return absl::OkStatus();
    case ev::Event::kPostDeleted:
      batch->Put(deleted_, Tagged('p', e.post_deleted().post_id()), "");
      return DropContent('p', e.post_deleted().post_id(), batch);
    case ev::Event::kCommentDeleted: {
      const uint64_t comment = e.comment_deleted().comment_id();
      batch->Put(deleted_, Tagged('c', comment), "");
      absl::Status s = DropContent('c', comment, batch);
      if (s.ok()) s = DropContent('k', comment, batch);
      return s;
    }
    default:
      break;
  }
  std::vector<Delivery> deliveries = DeliveriesOf(e);
  if (deliveries.empty()) return absl::OkStatus();
  // Suspended (or unknown) actors never notify.
  auto actor = actors.find(deliveries[0].actor.id());
  if (actor == actors.end() || !actor->second.active) return absl::OkStatus();
  for (Delivery& d : deliveries) {
    d.actor = actor->second.ref;  // the current name
    absl::Status s = Deliver(d, batch);
    if (!s.ok()) return s;
    touched->push_back(d.recipient);
  }
  return absl::OkStatus();
}

absl::Status Inbox::Deliver(const Delivery& d, rocksdb::WriteBatch* batch) {
  const uint64_t user = d.recipient;
  // Deleted content, blocks and the recipient's preferences.
  if (d.post_id != 0 && Has(deleted_, Tagged('p', d.post_id))) return absl::OkStatus();
  if (d.comment_id != 0 && Has(deleted_, Tagged('c', d.comment_id))) return absl::OkStatus();
  if (Blocked(user, d.actor.id())) return absl::OkStatus();
  auto prefs = GetPreferences(user);
  if (!prefs.ok()) return prefs.status();
  const auto& mk = prefs->muted_kinds();
  if (std::find(mk.begin(), mk.end(), d.kind) != mk.end()) return absl::OkStatus();
  const auto& mp = prefs->muted_post_ids();
  if (d.post_id != 0 && std::find(mp.begin(), mp.end(), d.post_id) != mp.end()) {
    return absl::OkStatus();
  }
  const auto& mg = prefs->muted_group_ids();
  if (d.group_id != 0 && std::find(mg.begin(), mg.end(), d.group_id) != mg.end()) {
    return absl::OkStatus();
  }

  const std::string subject = SubjectKey(user, d.kind, d.post_id, d.comment_id, d.group.id());
  const std::string actor_key = subject + U64Key(d.actor.id());
  const bool new_actor = !Has(actors_, actor_key);
  auto current = db_->Get(subjects_, subject);
  if (!current.ok()) return current.status();
  pb::Notification n;
  bool was_read = false;
  if (current->has_value()) {
    if (OncePerActor(d.kind) && !new_actor) return absl::OkStatus();
    const uint64_t old_id = DecodeU64(**current);
    auto v = db_->Get(inbox_, InboxKey(user, old_id));
    if (!v.ok()) return v.status();
    if (v->has_value() && n.ParseFromString(**v)) {
      was_read = n.read();
      batch->Delete(inbox_, InboxKey(user, old_id));
      batch->Delete(unread_, InboxKey(user, old_id));
      n.set_replaced_notification_id(old_id);
    } else {
      n.Clear();
    }
  }
  const bool fresh = n.id() == 0;
  const uint64_t id = ids_->Next();
  if (fresh) {
    n.set_kind(d.kind);
    n.set_post_id(d.post_id);
    *n.mutable_group() = d.group;
    *n.mutable_create_time() = Ts(d.when);
  }
  n.set_id(id);
  n.set_comment_id(d.comment_id);
  *n.mutable_update_time() = Ts(d.when);
  n.set_read(false);
  // The most recent actors first, each once.
  std::vector<common::v1::UserRef> actors = {d.actor};
  for (const auto& a : n.actors()) {
    // Someone blocked since is not shown again.
    if (a.id() != d.actor.id() && actors.size() < kMaxActorsShown && !Blocked(user, a.id())) {
      actors.push_back(a);
    }
  }
  n.clear_actors();
  for (auto& a : actors) *n.add_actors() = std::move(a);
  n.set_actor_count((fresh ? 0 : n.actor_count()) + (new_actor ? 1 : 0));
  if (n.actor_count() == 0) n.set_actor_count(1);

  batch->Put(inbox_, InboxKey(user, id), n.SerializeAsString());
  batch->Put(unread_, InboxKey(user, id), "");
  batch->Put(subjects_, subject, U64Key(id));
  batch->Put(actors_, actor_key, "");
  if (d.post_id != 0) batch->Put(by_content_, Tagged('p', d.post_id) + subject, "");
  if (d.comment_id != 0 && d.kind != pb::NOTIFICATION_KIND_COMMENT) {
    batch->Put(by_content_, Tagged('c', d.comment_id) + subject, "");
  }
  if (d.cause_comment_id != 0) {
    batch->Put(by_content_, Tagged('k', d.cause_comment_id) + subject, "");
  }
  batch->Put(counters_, kHighWater, U64Key(id));
  // A new entry, or a read one bumped, is one more unread.
  if (fresh || was_read) batch->Merge(counters_, Tagged('u', user), EncodeCounter(1));
  return absl::OkStatus();
}

absl::Status Inbox::DropContent(char kind, uint64_t id, rocksdb::WriteBatch* batch) {
  const std::string prefix = Tagged(kind, id);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, by_content_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    batch->Delete(by_content_, it->key());
    const std::string subject = it->key().ToString().substr(prefix.size());
    if (subject.size() != kSubjectSize) continue;
    const uint64_t user = DecodeU64(subject);
    auto current = db_->Get(subjects_, subject);
    if (!current.ok()) return current.status();
    if (!current->has_value()) continue;
    const uint64_t entry = DecodeU64(**current);
    if (kind == 'k') {
      // The deleted comment caused this entry: withdraw it only if it was the
      // entry's one actor (others' comments still stand).
      auto v = db_->Get(inbox_, InboxKey(user, entry));
      if (!v.ok()) return v.status();
      pb::Notification n;
      if (v->has_value() && n.ParseFromString(**v) && n.actor_count() > 1) continue;
    }
    batch->Delete(subjects_, subject);
    if (Has(unread_, InboxKey(user, entry))) {
      batch->Merge(counters_, Tagged('u', user), EncodeCounter(-1));
    }
    batch->Delete(inbox_, InboxKey(user, entry));
    batch->Delete(unread_, InboxKey(user, entry));
    batch->DeleteRange(actors_, subject, storage::PrefixSuccessor(subject));
  }
  return FromRocks(it->status(), "by_content");
}

absl::StatusOr<uint64_t> Inbox::ApplyEvents(const ev::EventBatch& batch) {
  if (batch.events_size() > static_cast<int>(events::kMaxEventsPerBatch)) {
    return status::TooMany("batch.events", batch.events_size(), events::kMaxEventsPerBatch);
  }
  if (batch.producer().empty()) return status::Required("batch.producer");
  // The actors, from identity, before taking the write lock.
  std::vector<uint64_t> actor_ids;
  for (const auto& e : batch.events()) {
    for (const Delivery& d : DeliveriesOf(e)) actor_ids.push_back(d.actor.id());
  }
  absl::flat_hash_map<uint64_t, directory::Person> actors;
  if (!actor_ids.empty()) {
    auto people = directory_->Get(actor_ids);
    if (!people.ok()) return people.status();  // the batch is retried
    actors = *std::move(people);
  }
  std::vector<uint64_t> touched;
  absl::StatusOr<uint64_t> through;
  {
    std::lock_guard<std::mutex> lock(mu_);
    through = applied_->LastApplied(batch.producer());
    // One event per write: each sees what the ones before it did.
    for (const auto& e : batch.events()) {
      ev::EventBatch one;
      one.set_producer(batch.producer());
      *one.add_events() = e;
      std::vector<uint64_t> these;
      through =
          events::ApplyBatch(*applied_, one, [&](const ev::Event& event, rocksdb::WriteBatch* b) {
            return Apply(event, actors, b, &these);
          });
      if (!through.ok()) break;
      touched.insert(touched.end(), these.begin(), these.end());
    }
  }
  if (!touched.empty() && on_change_) {
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    on_change_(touched);
  }
  return through;
}

// ---------------------------------------------------------------------------
// Reads and marks

absl::StatusOr<pb::ListNotificationsResponse> Inbox::List(uint64_t user,
                                                          const pb::ListNotificationsRequest& req) {
  int32_t size = req.page_size() == 0 ? kDefaultPageSize : req.page_size();
  if (size < 1 || size > kMaxPageSize) {
    return status::OutOfRange("page_size", req.page_size(), 1, kMaxPageSize);
  }
  auto cursor = DecodeToken(req.page_token(), req.unread_only() ? 'u' : 'a');
  if (!cursor.ok()) return cursor.status();
  const std::string prefix = U64Key(user);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->raw()->NewIterator({}, req.unread_only() ? unread_ : inbox_));
  it->Seek(*cursor == 0 ? prefix : InboxKey(user, *cursor - 1));
  pb::ListNotificationsResponse resp;
  uint64_t last = 0;
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (resp.notifications_size() == size) {
      resp.set_next_page_token(EncodeToken(req.unread_only() ? 'u' : 'a', last));
      break;
    }
    last = DecodeDescU64(absl::string_view(it->key().data() + 8, 8));
    std::string value;
    if (req.unread_only()) {
      auto v = db_->Get(inbox_, it->key().ToString());
      if (!v.ok()) return v.status();
      if (!v->has_value()) continue;
      value = **v;
    } else {
      value = it->value().ToString();
    }
    if (!resp.add_notifications()->ParseFromString(value)) {
      return absl::DataLossError("notification record");
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "inbox");
  return resp;
}

uint64_t Inbox::UnreadCount(uint64_t user) {
  auto v = db_->Get(counters_, Tagged('u', user));
  return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
}

absl::StatusOr<uint64_t> Inbox::MarkRead(uint64_t user, const pb::MarkReadRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> ids;
  switch (req.target_case()) {
    case pb::MarkReadRequest::kNotificationId:
      if (req.notification_id() == 0) return status::Required("notification_id");
      if (Has(unread_, InboxKey(user, req.notification_id()))) ids.push_back(req.notification_id());
      break;
    case pb::MarkReadRequest::kUpToNotificationId: {
      const std::string prefix = U64Key(user);
      std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, unread_));
      for (it->Seek(InboxKey(user, req.up_to_notification_id()));
           it->Valid() && it->key().starts_with(prefix); it->Next()) {
        ids.push_back(DecodeDescU64(absl::string_view(it->key().data() + 8, 8)));
      }
      if (!it->status().ok()) return FromRocks(it->status(), "unread");
      break;
    }
    default:
      return absl::InvalidArgumentError("target: set notification_id or up_to_notification_id");
  }
  if (!ids.empty()) {
    rocksdb::WriteBatch batch;
    int64_t marked = 0;
    for (uint64_t id : ids) {
      auto v = db_->Get(inbox_, InboxKey(user, id));
      if (!v.ok()) return v.status();
      batch.Delete(unread_, InboxKey(user, id));
      pb::Notification n;
      if (!v->has_value() || !n.ParseFromString(**v)) continue;
      n.set_read(true);
      batch.Put(inbox_, InboxKey(user, id), n.SerializeAsString());
      ++marked;
    }
    batch.Merge(counters_, Tagged('u', user), EncodeCounter(-marked));
    absl::Status s = db_->Write(&batch);
    if (!s.ok()) return s;
  }
  return UnreadCount(user);
}

absl::StatusOr<pb::NotificationPreferences> Inbox::GetPreferences(uint64_t user) {
  pb::NotificationPreferences p;
  auto v = db_->Get(prefs_, U64Key(user));
  if (!v.ok()) return v.status();
  if (v->has_value() && !p.ParseFromString(**v)) return absl::DataLossError("preferences");
  return p;
}

absl::StatusOr<pb::NotificationPreferences> Inbox::UpdatePreferences(
    uint64_t user, const pb::UpdatePreferencesRequest& req) {
  if (req.update_mask().paths_size() == 0) return status::Required("update_mask");
  const auto& in = req.preferences();
  for (const auto& path : req.update_mask().paths()) {
    if (path == "muted_kinds") {
      for (int k : in.muted_kinds()) {
        if (!pb::NotificationKind_IsValid(k) || k == pb::NOTIFICATION_KIND_UNSPECIFIED) {
          return absl::InvalidArgumentError(absl::StrCat("muted_kinds: unknown kind ", k));
        }
      }
    } else if (path == "muted_post_ids") {
      if (static_cast<size_t>(in.muted_post_ids_size()) > kMaxMutedPosts) {
        return status::TooMany("muted_post_ids", in.muted_post_ids_size(), kMaxMutedPosts);
      }
    } else if (path == "muted_group_ids") {
      if (static_cast<size_t>(in.muted_group_ids_size()) > kMaxMutedGroups) {
        return status::TooMany("muted_group_ids", in.muted_group_ids_size(), kMaxMutedGroups);
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("update_mask: unknown path \"", path,
                       "\" (muted_kinds, muted_post_ids, muted_group_ids)"));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto p = GetPreferences(user);
  if (!p.ok()) return p.status();
  for (const auto& path : req.update_mask().paths()) {
    if (path == "muted_kinds") *p->mutable_muted_kinds() = in.muted_kinds();
    if (path == "muted_post_ids") *p->mutable_muted_post_ids() = in.muted_post_ids();
    if (path == "muted_group_ids") *p->mutable_muted_group_ids() = in.muted_group_ids();
  }
  rocksdb::WriteBatch batch;
  batch.Put(prefs_, U64Key(user), p->SerializeAsString());
  absl::Status s = db_->Write(&batch);
  if (!s.ok()) return s;
  return p;
}

absl::StatusOr<std::vector<pb::Notification>> Inbox::Since(uint64_t user, uint64_t after,
                                                           bool newest) {
  std::vector<pb::Notification> out;
  const std::string prefix = U64Key(user);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, inbox_));
  auto take = [&]() -> absl::Status {
    pb::Notification n;
    if (!n.ParseFromString(it->value().ToString())) return absl::DataLossError("notification");
    out.push_back(std::move(n));
    return absl::OkStatus();
  };
  if (newest) {
    // Keys run newest first: read down to `after`, then reverse.
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out.size() < kMaxReplay;
         it->Next()) {
      if (DecodeDescU64(absl::string_view(it->key().data() + 8, 8)) <= after) break;
      absl::Status s = take();
      if (!s.ok()) return s;
    }
    std::reverse(out.begin(), out.end());
  } else {
    // The smallest id above `after`, then upwards (backwards in key order).
    for (it->SeekForPrev(InboxKey(user, after + 1));
         it->Valid() && it->key().starts_with(prefix) && out.size() < kMaxReplay; it->Prev()) {
      absl::Status s = take();
      if (!s.ok()) return s;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "inbox");
  return out;
}

}  // namespace parley::notify
