// Questions: accepting an answer (the question's author, or a group admin),
// and the open-question lists of a person and of a group ("questions": 'o'
// author ~post on the author's shard, 'g' group ~post on the group's; answered
// ones are skipped when read; meta 'a' post marks a question answered once).
#pragma once

#include <string>

#include "feed/src/group_store.h"
#include "feed/src/insights.h"
#include "feed/src/post_store.h"
#include "feed/src/store.h"
#include "feed/src/visibility.h"

namespace parley::feed {

class Questions : FeedPart {
 public:
  Questions(FeedStore* store, GroupStore* memberships, PostStore* post_store,
            Visibility* visibility, Insights* insights);

  absl::StatusOr<pb::Post> AcceptAnswer(const Caller& caller, const pb::AcceptAnswerRequest& req);
  absl::StatusOr<pb::ListMyOpenQuestionsResponse> ListMyOpenQuestions(
      const Caller& caller, const pb::ListMyOpenQuestionsRequest& req);
  absl::StatusOr<pb::ListGroupUnansweredQuestionsResponse> ListGroupUnansweredQuestions(
      const Caller& caller, const pb::ListGroupUnansweredQuestionsRequest& req);

 private:
  template <typename Response>
  absl::StatusOr<Response> QuestionPage(const Viewer& viewer, const std::string& prefix,
                                        const std::string& page_token, int32_t page_size);

  GroupStore* const memberships_;
  PostStore* const post_store_;
  Visibility* const visibility_;
  Insights* const insights_;
  rocksdb::ColumnFamilyHandle* const posts_;
  rocksdb::ColumnFamilyHandle* const comments_;
  rocksdb::ColumnFamilyHandle* const meta_;
  rocksdb::ColumnFamilyHandle* const questions_;
};

}  // namespace parley::feed
