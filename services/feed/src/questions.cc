#include "feed/src/questions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "feed/src/keys.h"
#include "parley/status/status.h"

namespace parley::feed {
using namespace internal;  // NOLINT: feed's key layouts

Questions::Questions(FeedStore* store, GroupStore* memberships, PostStore* post_store,
                     Visibility* visibility, Insights* insights)
    : FeedPart(store),
      memberships_(memberships),
      post_store_(post_store),
      visibility_(visibility),
      insights_(insights),
      posts_(db_->Cf("posts")),
      comments_(db_->Cf("comments")),
      meta_(db_->Cf("meta")),
      questions_(db_->Cf("questions")) {}

// ---------------------------------------------------------------------------
// Questions
absl::StatusOr<pb::Post> Questions::AcceptAnswer(const Caller& caller,
                                                 const pb::AcceptAnswerRequest& req) {
  if (req.post_id() == 0) return status::Required("post_id");
  if (req.comment_id() == 0) return status::Required("comment_id");
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  auto readable = visibility_->Hydrate(*viewer, {req.post_id()});
  if (!readable.ok()) return readable.status();
  if (readable->empty()) return NotFoundPost(req.post_id());
  auto me = store_->RequireActiveSelf(caller);
  if (!me.ok()) return me.status();
  {
    sync::MutexLock lock(&post_store_->mu());  // no comment delete in between
    auto record = post_store_->ReadPost(req.post_id());
    if (!record.ok()) return record.status();
    if (!record->has_value()) return NotFoundPost(req.post_id());
    pb::Post post = **std::move(record);
    if (post.kind() != common::v1::POST_KIND_QUESTION) {
      return absl::FailedPreconditionError(
          absl::StrCat("post ", post.id(), " is not a question: only questions have answers"));
    }
    const uint64_t group = post.group().id();
    if (post.author().id() != caller.user_id() &&
        !(group != 0 && memberships_->GroupMembership(group, caller.user_id()).state == kAdmin)) {
      return absl::PermissionDeniedError(
          "only the question's author (or a group admin, in a group) accepts an answer");
    }
    auto v = db_->Get(comments_, U64Key(req.comment_id()));
    if (!v.ok()) return v.status();
    pb::Comment comment;
    if (!v->has_value() || !comment.ParseFromString(**v) || comment.post_id() != post.id()) {
      return absl::NotFoundError(
          absl::StrCat("comment ", req.comment_id(), " is not on post ", post.id()));
    }
    const uint64_t previous = post.accepted_comment_id();
    if (previous != comment.id()) {
      post.set_accepted_comment_id(comment.id());
      rocksdb::WriteBatch batch;
      batch.Put(posts_, U64Key(post.id()), post.SerializeAsString());
      // Insights count a question answered once, at its first acceptance.
      auto first = db_->Get(meta_, Key1('a', post.id()));
      if (!first.ok()) return first.status();
      if (!first->has_value()) {
        const absl::Time asked = ToTime(post.create_time());
        const absl::Duration waited = std::max(absl::ZeroDuration(), absl::Now() - asked);
        batch.Put(meta_, Key1('a', post.id()), "");
        insights_->CountInsight(post.org_id(), group, asked, 'a', std::nullopt, &batch);
        insights_->CountInsight(post.org_id(), group, asked, 'T',
                                static_cast<uint64_t>(absl::ToInt64Milliseconds(waited)), &batch);
      }
      ev::Event e = store_->NewEvent(post.org_id());
      auto* a = e.mutable_answer_accepted();
      a->set_post_id(post.id());
      a->set_comment_id(comment.id());
      a->set_previous_comment_id(previous);
      a->set_question_author_id(post.author().id());
      a->set_answer_author_id(comment.author().id());
      *a->mutable_accepted_by() = me->ref;
      a->set_group_id(group);
      *a->mutable_question_create_time() = post.create_time();
      absl::Status s = store_->Commit(&batch, {e});
      if (!s.ok()) return s;
    }
  }
  auto posts = visibility_->Hydrate(*viewer, {req.post_id()});
  if (!posts.ok()) return posts.status();
  if (posts->empty()) return NotFoundPost(req.post_id());
  return std::move((*posts)[0]);
}

// A page of a question index (`prefix`: 'o' author or 'g' group), newest
// first, without the answered ones. Reads at most kMaxQuestionScan entries.
template <typename Response>
absl::StatusOr<Response> Questions::QuestionPage(const Viewer& viewer, const std::string& prefix,
                                                 const std::string& page_token, int32_t page_size) {
  auto size = PageSize(page_size);
  if (!size.ok()) return size.status();
  auto token = DecodeToken(page_token, "q");
  if (!token.ok()) return token.status();
  Response resp;
  std::string start = prefix;
  if (token->cursor != 0) AppendDescU64(&start, token->cursor - 1);
  std::unique_ptr<rocksdb::Iterator> it(db_->raw()->NewIterator({}, questions_));
  it->Seek(start);
  uint64_t cursor = 0;
  size_t scanned = 0;
  bool more = false;
  while (resp.posts_size() < *size) {
    std::vector<uint64_t> ids;
    const size_t want = static_cast<size_t>(*size - resp.posts_size());
    for (; it->Valid() && it->key().starts_with(prefix) && ids.size() < want; it->Next()) {
      ids.push_back(DecodeDescU64(absl::string_view(it->key().data() + prefix.size(), 8)));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "questions");
    if (ids.empty()) break;
    scanned += ids.size();
    cursor = ids.back();
    auto posts = visibility_->Hydrate(viewer, ids);
    if (!posts.ok()) return posts.status();
    for (auto& p : *posts) {
      if (p.kind() == common::v1::POST_KIND_QUESTION && p.accepted_comment_id() == 0) {
        *resp.add_posts() = std::move(p);
      }
    }
    more = it->Valid() && it->key().starts_with(prefix);
    if (!more || scanned >= kMaxQuestionScan) break;
  }
  if (more && cursor != 0) resp.set_next_page_token(EncodeToken('q', cursor));
  return resp;
}

absl::StatusOr<pb::ListMyOpenQuestionsResponse> Questions::ListMyOpenQuestions(
    const Caller& caller, const pb::ListMyOpenQuestionsRequest& req) {
  absl::Status local = store_->RequireLocal(caller.user_id());
  if (!local.ok()) return local;
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  return QuestionPage<pb::ListMyOpenQuestionsResponse>(*viewer, Key1('o', caller.user_id()),
                                                       req.page_token(), req.page_size());
}

absl::StatusOr<pb::ListGroupUnansweredQuestionsResponse> Questions::ListGroupUnansweredQuestions(
    const Caller& caller, const pb::ListGroupUnansweredQuestionsRequest& req) {
  auto g = memberships_->RequireGroup(caller, req.group_id());
  if (!g.ok()) return g.status();
  if (!memberships_->CanReadGroup(*g, memberships_->GroupMembership(g->id(), caller.user_id())))
    return NotFoundGroup(g->id());
  auto viewer = visibility_->LoadViewer(caller, false);
  if (!viewer.ok()) return viewer.status();
  return QuestionPage<pb::ListGroupUnansweredQuestionsResponse>(*viewer, Key1('g', g->id()),
                                                                req.page_token(), req.page_size());
}

}  // namespace parley::feed
