#include "feed/src/posts.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/status/status.h"
#include "parley/text/text.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Posts::Posts(FeedStore* store, HomeStore* homes, GraphStore* graph, GroupStore* memberships,
             PostStore* post_store, Visibility* visibility, Insights* insights, RateLimiter* rate)
    : FeedPart(store),
      homes_(homes),
      graph_(graph),
      memberships_(memberships),
      post_store_(post_store),
      visibility_(visibility),
      insights_(insights),
      rate_(rate),
      posts_(db_->Cf("posts")),
      user_posts_(db_->Cf("user_posts")),
      comments_(db_->Cf("comments")),
      post_comments_(db_->Cf("post_comments")),
      replies_(db_->Cf("replies")),
      likes_(db_->Cf("likes")),
      counters_(db_->Cf("counters")),
      meta_(db_->Cf("meta")),
      groups_(db_->Cf("groups")),
      questions_(db_->Cf("questions")) {}

absl::Status Posts::ParseBody(const Caller& caller, const std::string& body,
                              google::protobuf::RepeatedPtrField<common::v1::UserRef>* mentions,
                              google::protobuf::RepeatedPtrField<std::string>* hashtags) {
  auto length = text::Utf8Length(body);
  if (!length.has_value()) return absl::InvalidArgumentError("body: not valid UTF-8");
  if (*length == 0) return status::Required("body");
  if (*length > kMaxBodyChars) return status::TooLong("body", *length, kMaxBodyChars);
  std::vector<std::string> handles = text::ExtractMentions(body);
  if (handles.size() > kMaxMentions)
    return status::TooMany("mentions", handles.size(), kMaxMentions);
  if (hashtags != nullptr) {
    std::vector<std::string> tags = text::ExtractHashtags(body);
    if (tags.size() > kMaxHashtags) return status::TooMany("hashtags", tags.size(), kMaxHashtags);
    for (auto& t : tags) {
      if (t.size() > kMaxHashtagChars)
        return status::TooLong("hashtag", t.size(), kMaxHashtagChars);
      hashtags->Add(std::move(t));
    }
  }
  // Handles of another domain stay text (partners' people arrive with federation).
  std::vector<std::string> local;
  for (auto& h : handles) {
    auto at = h.find('@');
    if (at == std::string::npos || h.substr(at + 1) == caller.org_domain()) local.push_back(h);
  }
  auto resolved = directory_->Resolve(caller.org_id(), local);
  if (!resolved.ok()) return resolved.status();
  for (const auto& p : *resolved) *mentions->Add() = p.ref;
  return absl::OkStatus();
}

// A private group's content mentions (and so notifies) its members only: a
// mention must not tell anyone else that the post exists. Runs on the group's
// shard, which knows the membership.
void Posts::KeepReaders(const pb::Post& post,
                        google::protobuf::RepeatedPtrField<common::v1::UserRef>* mentions) {
  if (post.group().id() == 0 || post.group().privacy() == common::v1::GROUP_PRIVACY_PUBLIC) {
    return;
  }
  google::protobuf::RepeatedPtrField<common::v1::UserRef> kept;
  for (auto& m : *mentions) {
    const char state = memberships_->GroupMembership(post.group().id(), m.id()).state;
    if (state == 'm' || state == 'a') *kept.Add() = std::move(m);
  }
  *mentions = std::move(kept);
}

// ---------------------------------------------------------------------------
// Posts
absl::StatusOr<pb::Post> Posts::CreatePost(const Caller& caller, const pb::CreatePostRequest& req) {
  pb::Post post;
  switch (req.kind()) {
    case common::v1::POST_KIND_UNSPECIFIED:
    case common::v1::POST_KIND_STATUS:
      post.set_kind(common::v1::POST_KIND_STATUS);
      break;
    case common::v1::POST_KIND_QUESTION:
      post.set_kind(common::v1::POST_KIND_QUESTION);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("kind: unknown value ", req.kind()));
  }
  common::v1::Visibility visibility = req.visibility();
  if (req.group_id() != 0 && visibility != common::v1::VISIBILITY_GROUP) {
    return absl::InvalidArgumentError("group_id: set only with visibility VISIBILITY_GROUP");
  }
  // A group post lives on the group's shard (which knows the membership);
  // any other post on its author's.
  std::optional<pb::Group> group;
  if (visibility == common::v1::VISIBILITY_GROUP) {
    if (req.group_id() == 0) return status::Required("group_id");
    auto g = memberships_->RequireGroup(caller, req.group_id());
    if (!g.ok()) return g.status();
    const Membership m = memberships_->GroupMembership(g->id(), caller.user_id());
    if (m.state != 'm' && m.state != 'a') {
      if (!memberships_->CanReadGroup(*g, m))
        return absl::NotFoundError(absl::StrCat("group ", g->id(), " not found"));
      return absl::PermissionDeniedError("only members post in a group: join it first");
    }
    if (g->archived()) {
      return absl::FailedPreconditionError("the group is archived: nothing new is posted");
    }
    group = *std::move(g);
  } else {
    absl::Status local = store_->RequireLocal(caller.user_id());
    if (!local.ok()) return local;
  }
  if (visibility != common::v1::VISIBILITY_GROUP &&
      visibility != common::v1::VISIBILITY_UNSPECIFIED &&
      visibility != common::v1::VISIBILITY_ORG && visibility != common::v1::VISIBILITY_FOLLOWERS) {
    return absl::InvalidArgumentError(absl::StrCat("visibility: unknown value ", visibility));
  }
  if (visibility == common::v1::VISIBILITY_UNSPECIFIED) {
    auto v = directory_->DefaultVisibility(caller.org_id());
    if (!v.ok()) return v.status();
    visibility = *v == common::v1::VISIBILITY_FOLLOWERS ? *v : common::v1::VISIBILITY_ORG;
  }
  post.set_visibility(visibility);
  if (group.has_value()) {
    post.mutable_group()->set_id(group->id());
    post.mutable_group()->set_name(group->name());
    post.mutable_group()->set_privacy(group->privacy());
  }
  absl::Status s = ParseBody(caller, req.body(), post.mutable_mentions(), post.mutable_hashtags());
  if (!s.ok()) return s;
  KeepReaders(post, post.mutable_mentions());
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  s = rate_->CheckRate(caller.user_id());
  if (!s.ok()) return s;
  // A group post commits under the groups lock, having checked again that the
  // author is still a member of a group that is not archived.
  std::optional<sync::MutexLock> group_lock;
  if (group.has_value()) {
    group_lock.emplace(&memberships_->mu());
    const char state = memberships_->GroupMembership(group->id(), caller.user_id()).state;
    auto current = memberships_->ReadGroup(group->id());
    if (!current.ok()) return current.status();
    if (state != 'm' && state != 'a') {
      return absl::PermissionDeniedError("only members post in a group: you left it");
    }
    if (!current->has_value() || (*current)->archived()) {
      return absl::FailedPreconditionError("the group is archived: nothing new is posted");
    }
  }

  const uint64_t id = store_->ids().Next();
  post.set_id(id);
  post.set_org_id(caller.org_id());
  *post.mutable_author() = me->ref;
  post.set_body(req.body());
  *post.mutable_create_time() = Ts(ids::TimeOf(id));

  const uint64_t group_id = group.has_value() ? group->id() : 0;
  rocksdb::WriteBatch batch;
  batch.Put(posts_, U64Key(id), post.SerializeAsString());
  if (options_.shards.IsLocal(caller.user_id())) {
    // (A group post by someone homed elsewhere reaches their page and their
    // open questions through PostCreated, and their home through fan-out.)
    batch.Put(user_posts_, DescKey(caller.user_id(), id),
              group_id != 0 ? U64Value(group_id) : std::string());
    // Read-your-write: the author's own home timeline has it at once.
    homes_->AddEntry(caller.user_id(), id, caller.user_id(), group_id, &batch);
    if (post.kind() == common::v1::POST_KIND_QUESTION) {
      batch.Put(questions_, DescKey2('o', caller.user_id(), id), "");
    }
  }
  if (group_id != 0) {
    batch.Put(groups_, DescKey2('p', group_id, id), U64Value(caller.user_id()));
    if (post.kind() == common::v1::POST_KIND_QUESTION) {
      batch.Put(questions_, DescKey2('g', group_id, id), "");
    }
  }
  // Insights: the post, its author and its audience at publication.
  const absl::Time now = ids::TimeOf(id);
  const uint64_t reach = group_id != 0
                             ? std::max<uint64_t>(memberships_->MemberCount(group_id), 1) - 1
                             : graph_->FollowerCount(caller.user_id());
  insights_->CountInsight(caller.org_id(), group_id, now, 'p', std::nullopt, &batch);
  insights_->CountInsight(caller.org_id(), group_id, now, 'P', caller.user_id(), &batch);
  insights_->CountInsight(caller.org_id(), group_id, now, 'R', reach, &batch);
  if (post.kind() == common::v1::POST_KIND_QUESTION) {
    insights_->CountInsight(caller.org_id(), group_id, now, 'q', std::nullopt, &batch);
  }
  std::vector<ev::Event> events;
  ev::Event e = store_->NewEvent(caller.org_id());
  *e.mutable_post_created() = PostCreatedOf(post);
  events.push_back(std::move(e));
  if (post.mentions_size() > 0) {
    ev::Event m = store_->NewEvent(caller.org_id());
    *m.mutable_mentioned()->mutable_author() = me->ref;
    *m.mutable_mentioned()->mutable_mentioned_users() = post.mentions();
    m.mutable_mentioned()->set_post_id(id);
    m.mutable_mentioned()->set_group_id(group_id);
    events.push_back(std::move(m));
  }
  s = store_->Commit(&batch, events);
  if (!s.ok()) return s;
  return post;
}

absl::StatusOr<pb::Post> Posts::GetPost(const Caller& caller, uint64_t post_id) {
  if (post_id == 0) return status::Required("post_id");
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  auto posts = visibility_->Hydrate(*viewer, {post_id});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(post_id);
  return std::move((*posts)[0]);
}

absl::Status Posts::DeletePost(const Caller& caller, uint64_t post_id) {
  if (post_id == 0) return status::Required("post_id");
  auto post = post_store_->ReadPost(post_id);
  if (!post.ok()) return post.status();
  if (!post->has_value() || (*post)->org_id() != caller.org_id()) return NotFoundPost(post_id);
  const pb::Post& p = **post;
  if (p.author().id() != caller.user_id()) {
    auto viewer = visibility_->LoadViewer(caller, false);
    if (!viewer.ok()) return viewer.status();
    if (!visibility_->CanSee(*viewer, p)) return NotFoundPost(post_id);
    auto me = store_->RequireActiveSelf(caller);
    if (!me.ok()) return me.status();
    if (!me->admin) {
      return absl::PermissionDeniedError("only the author or an org admin can delete a post");
    }
  }
  sync::MutexLock lock(&post_store_->mu());  // no like or comment delete in between
  rocksdb::WriteBatch batch;
  batch.Delete(posts_, U64Key(post_id));
  batch.Delete(user_posts_, DescKey(p.author().id(), post_id));
  homes_->RemoveEntry(p.author().id(), post_id, &batch);
  batch.Delete(questions_, DescKey2('o', p.author().id(), post_id));
  batch.Delete(meta_, Key1('a', post_id));
  if (p.group().id() != 0) {
    batch.Delete(groups_, DescKey2('p', p.group().id(), post_id));
    batch.Delete(questions_, DescKey2('g', p.group().id(), post_id));
  }
  batch.Delete(counters_, CounterKey(kPostLikes, post_id));
  batch.Delete(counters_, CounterKey(kPostComments, post_id));
  batch.DeleteRange(likes_, CounterKey(kLikePost, post_id),
                    PrefixSuccessor(CounterKey(kLikePost, post_id)));
  // Its comments and replies, with their likes and counts, go with it.
  auto drop_comment = [&](uint64_t id) {
    batch.Delete(comments_, U64Key(id));
    batch.Delete(counters_, CounterKey(kCommentLikes, id));
    batch.Delete(counters_, CounterKey(kCommentReplies, id));
    batch.DeleteRange(likes_, CounterKey(kLikeComment, id),
                      PrefixSuccessor(CounterKey(kLikeComment, id)));
  };
  const std::string post_prefix = U64Key(post_id);
  std::unique_ptr<rocksdb::Iterator> top(db_->raw()->NewIterator({}, post_comments_));
  std::unique_ptr<rocksdb::Iterator> rep(db_->raw()->NewIterator({}, replies_));
  for (top->Seek(post_prefix); top->Valid() && top->key().starts_with(post_prefix); top->Next()) {
    const uint64_t cid = DecodeU64(absl::string_view(top->key().data() + 8, 8));
    drop_comment(cid);
    const std::string reply_prefix = U64Key(cid);
    for (rep->Seek(reply_prefix); rep->Valid() && rep->key().starts_with(reply_prefix);
         rep->Next()) {
      drop_comment(DecodeU64(absl::string_view(rep->key().data() + 8, 8)));
    }
    batch.DeleteRange(replies_, reply_prefix, PrefixSuccessor(reply_prefix));
  }
  batch.DeleteRange(post_comments_, post_prefix, PrefixSuccessor(post_prefix));
  ev::Event e = store_->NewEvent(caller.org_id());
  e.mutable_post_deleted()->set_post_id(post_id);
  e.mutable_post_deleted()->set_author_id(p.author().id());
  e.mutable_post_deleted()->set_group_id(p.group().id());
  return store_->Commit(&batch, {e});
}

absl::StatusOr<pb::Comment> Posts::RequireComment(const Viewer& viewer, uint64_t comment_id,
                                                  pb::Post* post) {
  if (comment_id == 0) return status::Required("comment_id");
  auto v = db_->Get(comments_, U64Key(comment_id));
  if (!v.ok()) return v.status();
  pb::Comment c;
  if (!v->has_value() || !c.ParseFromString(**v)) {
    return absl::NotFoundError(absl::StrCat("comment ", comment_id, " not found"));
  }
  auto posts = visibility_->Hydrate(viewer, {c.post_id()});
  if (!posts.ok()) return posts.status();
  if (posts->empty() || viewer.blocked.contains(c.author().id())) {
    return absl::NotFoundError(absl::StrCat("comment ", comment_id, " not found"));
  }
  auto author = directory_->GetOne(c.author().id());
  if (!author.ok() || !author->active) {  // a suspended or removed author's comment is hidden
    return absl::NotFoundError(absl::StrCat("comment ", comment_id, " not found"));
  }
  if (post != nullptr) *post = (*posts)[0];
  return c;
}

absl::StatusOr<pb::Comment> Posts::CreateComment(const Caller& caller,
                                                 const pb::CreateCommentRequest& req) {
  if (req.post_id() == 0) return status::Required("post_id");
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  auto posts = visibility_->Hydrate(*viewer, {req.post_id()});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(req.post_id());
  const pb::Post& post = (*posts)[0];
  if (post.group().id() != 0) {
    // Only members comment in a group, and nothing is added to an archived one.
    auto g = memberships_->ReadGroup(post.group().id());
    if (!g.ok()) return g.status();
    if (!g->has_value()) return NotFoundPost(req.post_id());
    const char state = memberships_->GroupMembership(post.group().id(), caller.user_id()).state;
    if (state != 'm' && state != 'a') {
      return absl::PermissionDeniedError("only members comment in a group: join it first");
    }
    if ((*g)->archived()) {
      return absl::FailedPreconditionError("the group is archived: nothing new is added");
    }
  }
  pb::Comment comment;
  uint64_t parent_author = 0;
  if (req.parent_comment_id() != 0) {
    auto parent = RequireComment(*viewer, req.parent_comment_id(), nullptr);
    if (!parent.ok()) return parent.status();
    if (parent->post_id() != req.post_id()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parent_comment_id: comment ", req.parent_comment_id(), " is on another post"));
    }
    // Threads are two levels deep: a reply to a reply joins its top-level comment.
    comment.set_parent_comment_id(parent->parent_comment_id() != 0 ? parent->parent_comment_id()
                                                                   : parent->id());
    parent_author = parent->author().id();
  }
  absl::Status s = ParseBody(caller, req.body(), comment.mutable_mentions(), nullptr);
  if (!s.ok()) return s;
  KeepReaders(post, comment.mutable_mentions());
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  s = rate_->CheckRate(caller.user_id());
  if (!s.ok()) return s;
  const uint64_t id = store_->ids().Next();
  comment.set_id(id);
  comment.set_post_id(req.post_id());
  *comment.mutable_author() = me->ref;
  comment.set_body(req.body());
  *comment.mutable_create_time() = Ts(ids::TimeOf(id));
  rocksdb::WriteBatch batch;
  batch.Put(comments_, U64Key(id), comment.SerializeAsString());
  if (comment.parent_comment_id() == 0) {
    batch.Put(post_comments_, U64Key(req.post_id(), id), "");
  } else {
    batch.Put(replies_, U64Key(comment.parent_comment_id(), id), "");
    batch.Merge(counters_, CounterKey(kCommentReplies, comment.parent_comment_id()),
                EncodeCounter(1));
  }
  batch.Merge(counters_, CounterKey(kPostComments, req.post_id()), EncodeCounter(1));
  insights_->CountInsight(caller.org_id(), post.group().id(), ids::TimeOf(id), 'c', std::nullopt,
                          &batch);
  std::vector<ev::Event> events;
  ev::Event e = store_->NewEvent(caller.org_id());
  *e.mutable_comment_created() = CommentCreatedOf(comment, post, parent_author);
  events.push_back(std::move(e));
  if (comment.mentions_size() > 0) {
    ev::Event m = store_->NewEvent(caller.org_id());
    *m.mutable_mentioned()->mutable_author() = me->ref;
    *m.mutable_mentioned()->mutable_mentioned_users() = comment.mentions();
    m.mutable_mentioned()->set_post_id(req.post_id());
    m.mutable_mentioned()->set_comment_id(id);
    m.mutable_mentioned()->set_group_id(post.group().id());
    events.push_back(std::move(m));
  }
  s = store_->Commit(&batch, events);
  if (!s.ok()) return s;
  return comment;
}

absl::Status Posts::DeleteComment(const Caller& caller, uint64_t comment_id) {
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  pb::Post post;
  auto c = RequireComment(*viewer, comment_id, &post);
  if (!c.ok()) return c.status();
  if (c->author().id() != caller.user_id() && post.author().id() != caller.user_id()) {
    auto me = store_->RequireActiveSelf(caller);
    if (!me.ok()) return me.status();
    if (!me->admin) {
      return absl::PermissionDeniedError(
          "only the comment's author, the post's author or an org admin can delete a comment");
    }
  }
  sync::MutexLock lock(&post_store_->mu());
  // Re-check under the lock: a concurrent delete must not count twice.
  auto still = db_->Get(comments_, U64Key(comment_id));
  if (!still.ok()) return still.status();
  if (!still->has_value()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  int64_t removed = 1;
  batch.Delete(comments_, U64Key(comment_id));
  std::vector<uint64_t> gone = {comment_id};
  if (c->parent_comment_id() == 0) {
    batch.Delete(post_comments_, U64Key(c->post_id(), comment_id));
    // Its replies go with it.
    std::string prefix = U64Key(comment_id);
    std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, replies_));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      batch.Delete(comments_, it->key().ToString().substr(8));
      batch.Delete(replies_, it->key());
      gone.push_back(DecodeU64(absl::string_view(it->key().data() + 8, 8)));
      ++removed;
    }
    batch.Delete(counters_, CounterKey(kCommentReplies, comment_id));
  } else {
    batch.Delete(replies_, U64Key(c->parent_comment_id(), comment_id));
    batch.Merge(counters_, CounterKey(kCommentReplies, c->parent_comment_id()), EncodeCounter(-1));
  }
  batch.Merge(counters_, CounterKey(kPostComments, c->post_id()), EncodeCounter(-removed));
  // Deleting the accepted answer makes the question open again.
  auto record = post_store_->ReadPost(c->post_id());
  if (!record.ok()) return record.status();
  if (record->has_value() && (*record)->accepted_comment_id() != 0 &&
      std::find(gone.begin(), gone.end(), (*record)->accepted_comment_id()) != gone.end()) {
    (*record)->clear_accepted_comment_id();
    batch.Put(posts_, U64Key(c->post_id()), (*record)->SerializeAsString());
  }
  ev::Event e = store_->NewEvent(caller.org_id());
  e.mutable_comment_deleted()->set_comment_id(comment_id);
  e.mutable_comment_deleted()->set_post_id(c->post_id());
  e.mutable_comment_deleted()->set_author_id(c->author().id());
  return store_->Commit(&batch, {e});
}

absl::StatusOr<pb::GetThreadResponse> Posts::GetThread(const Caller& caller,
                                                       const pb::GetThreadRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "t");
  if (!token.ok()) return token.status();
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  if (req.post_id() == 0) return status::Required("post_id");
  auto posts = visibility_->Hydrate(*viewer, {req.post_id()});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(req.post_id());
  pb::GetThreadResponse resp;
  *resp.mutable_post() = std::move((*posts)[0]);
  if (resp.post().accepted_comment_id() != 0) {
    auto accepted = RequireComment(*viewer, resp.post().accepted_comment_id(), nullptr);
    if (accepted.ok()) {
      std::vector<pb::Comment> one = {*std::move(accepted)};
      absl::Status s = visibility_->FillComments(*viewer, &one);
      if (!s.ok()) return s;
      if (!one.empty()) *resp.mutable_accepted_answer() = std::move(one[0]);
    }
  }
  auto page = CommentPage(*viewer, post_comments_, req.post_id(), token->cursor, *size);
  if (!page.ok()) return page.status();
  for (auto& c : page->comments) *resp.add_comments() = std::move(c);
  if (page->more) resp.set_next_page_token(EncodeToken('t', page->last));
  return resp;
}

// One page of comments indexed under `parent` in `index` (a post's top-level
// comments, or a comment's replies), oldest first after the cursor (the last
// comment id returned). Comments hidden from the viewer (blocked or suspended
// authors) leave a page short.
absl::StatusOr<Posts::CommentPageResult> Posts::CommentPage(const Viewer& viewer,
                                                            rocksdb::ColumnFamilyHandle* index,
                                                            uint64_t parent, uint64_t cursor,
                                                            int32_t size) {
  CommentPageResult out;
  std::string prefix = U64Key(parent);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, index));
  it->Seek(cursor == 0 ? prefix : U64Key(parent, cursor + 1));
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (static_cast<int32_t>(out.comments.size()) == size) {
      out.more = true;
      break;
    }
    out.last = DecodeU64(absl::string_view(it->key().data() + 8, 8));
    auto v = db_->Get(comments_, U64Key(out.last));
    pb::Comment c;
    if (v.ok() && v->has_value() && c.ParseFromString(**v)) out.comments.push_back(std::move(c));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "comments");
  absl::Status s = visibility_->FillComments(viewer, &out.comments);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<pb::ListRepliesResponse> Posts::ListReplies(const Caller& caller,
                                                           const pb::ListRepliesRequest& req) {
  auto size = PageSize(req.page_size());
  if (!size.ok()) return size.status();
  auto token = DecodeToken(req.page_token(), "r");
  if (!token.ok()) return token.status();
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  auto parent = RequireComment(*viewer, req.comment_id(), nullptr);
  if (!parent.ok()) return parent.status();
  auto page = CommentPage(*viewer, replies_, req.comment_id(), token->cursor, *size);
  if (!page.ok()) return page.status();
  pb::ListRepliesResponse resp;
  for (auto& c : page->comments) *resp.add_comments() = std::move(c);
  if (page->more) resp.set_next_page_token(EncodeToken('r', page->last));
  return resp;
}

absl::Status Posts::LikePost(const Caller& caller, uint64_t post_id, bool like) {
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  if (post_id == 0) return status::Required("post_id");
  auto posts = visibility_->Hydrate(*viewer, {post_id});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(post_id);
  return SetLike(caller, post_id, 0, (*posts)[0].author().id(), (*posts)[0].group().id(), like);
}

absl::Status Posts::LikeComment(const Caller& caller, uint64_t comment_id, bool like) {
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  pb::Post post;
  auto c = RequireComment(*viewer, comment_id, &post);
  if (!c.ok()) return c.status();
  return SetLike(caller, c->post_id(), comment_id, c->author().id(), post.group().id(), like);
}

// Likes (or unlikes) a readable post, or one of its comments when comment_id
// is set. Idempotent: only a change of state writes, counts and emits.
absl::Status Posts::SetLike(const Caller& caller, uint64_t post_id, uint64_t comment_id,
                            uint64_t content_author, uint64_t group_id, bool like) {
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  const std::string key = comment_id == 0 ? LikeKey(kLikePost, post_id, caller.user_id())
                                          : LikeKey(kLikeComment, comment_id, caller.user_id());
  sync::MutexLock lock(&post_store_->mu());
  auto existing = db_->Get(likes_, key);
  if (!existing.ok()) return existing.status();
  if (existing->has_value() == like) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  ev::Event e = store_->NewEvent(caller.org_id());
  if (like) {
    batch.Put(likes_, key, "");
    *e.mutable_liked()->mutable_user() = me->ref;
    e.mutable_liked()->set_post_id(post_id);
    e.mutable_liked()->set_comment_id(comment_id);
    e.mutable_liked()->set_content_author_id(content_author);
    e.mutable_liked()->set_group_id(group_id);
  } else {
    batch.Delete(likes_, key);
    e.mutable_unliked()->set_user_id(caller.user_id());
    e.mutable_unliked()->set_post_id(post_id);
    e.mutable_unliked()->set_comment_id(comment_id);
  }
  batch.Merge(
      counters_,
      comment_id == 0 ? CounterKey(kPostLikes, post_id) : CounterKey(kCommentLikes, comment_id),
      EncodeCounter(like ? 1 : -1));
  return store_->Commit(&batch, {e});
}

absl::StatusOr<pb::GetPostCountsResponse> Posts::GetPostCounts(
    const pb::GetPostCountsRequest& req) {
  if (static_cast<size_t>(req.post_ids_size()) > kMaxCountPosts) {
    return status::TooMany("post_ids", req.post_ids_size(), kMaxCountPosts);
  }
  pb::GetPostCountsResponse resp;
  for (uint64_t id : req.post_ids()) {
    if (store_->ShardOfId(id) != options_.shards.self()) {
      return absl::InvalidArgumentError(absl::StrCat("post ", id, " is not homed on this shard"));
    }
    auto post = post_store_->ReadPost(id);
    if (!post.ok()) return post.status();
    if (!post->has_value()) continue;
    // A private group's posts count only for its members (and the author):
    // a reader whose shard has not yet heard of their removal gets nothing.
    const pb::Post& p = **post;
    if (p.group().id() != 0 && p.group().privacy() != common::v1::GROUP_PRIVACY_PUBLIC &&
        p.author().id() != req.viewer_user_id()) {
      const char state = memberships_->GroupMembership(p.group().id(), req.viewer_user_id()).state;
      if (state != 'm' && state != 'a') continue;
    }
    auto count = [&](char kind) -> uint64_t {
      auto v = db_->Get(counters_, CounterKey(kind, id));
      return v.ok() && v->has_value() ? std::max<int64_t>(0, DecodeCounter(**v)) : 0;
    };
    pb::PostCounts* c = resp.add_counts();
    c->set_post_id(id);
    c->set_like_count(count(kPostLikes));
    c->set_comment_count(count(kPostComments));
    auto liked = db_->Get(likes_, LikeKey(kLikePost, id, req.viewer_user_id()));
    c->set_viewer_has_liked(liked.ok() && liked->has_value());
    c->set_accepted_comment_id((*post)->accepted_comment_id());
  }
  return resp;
}

}  // namespace parley::feed
