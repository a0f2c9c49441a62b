// Posts, comments and likes: creating them (validation, mentions, the write
// limit), reading a post and its thread, deleting (a post takes its comments,
// likes and counts), and the counts other shards ask for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "feed/src/group_store.h"
#include "feed/src/home_store.h"
#include "feed/src/insights.h"
#include "feed/src/post_store.h"
#include "feed/src/rate_limiter.h"
#include "feed/src/store.h"
#include "feed/src/visibility.h"

namespace parley::feed {

class Posts : FeedPart {
 public:
  Posts(FeedStore* store, HomeStore* homes, GraphStore* graph, GroupStore* memberships,
        PostStore* post_store, Visibility* visibility, Insights* insights, RateLimiter* rate);

  absl::StatusOr<pb::Post> CreatePost(const Caller& caller, const pb::CreatePostRequest& req);
  absl::StatusOr<pb::Post> GetPost(const Caller& caller, uint64_t post_id);
  absl::Status DeletePost(const Caller& caller, uint64_t post_id);
  absl::StatusOr<pb::GetThreadResponse> GetThread(const Caller& caller,
                                                  const pb::GetThreadRequest& req);
  absl::StatusOr<pb::ListRepliesResponse> ListReplies(const Caller& caller,
                                                      const pb::ListRepliesRequest& req);
  absl::StatusOr<pb::Comment> CreateComment(const Caller& caller,
                                            const pb::CreateCommentRequest& req);
  absl::Status DeleteComment(const Caller& caller, uint64_t comment_id);
  absl::Status LikePost(const Caller& caller, uint64_t post_id, bool like);
  absl::Status LikeComment(const Caller& caller, uint64_t comment_id, bool like);
  // FeedInternalService.GetPostCounts for posts homed here.
  absl::StatusOr<pb::GetPostCountsResponse> GetPostCounts(const pb::GetPostCountsRequest& req);

  // A comment the viewer may read, and (if `post`) its post, hydrated.
  absl::StatusOr<pb::Comment> RequireComment(const Viewer& viewer, uint64_t comment_id,
                                             pb::Post* post);

 private:
  struct CommentPageResult {
    std::vector<pb::Comment> comments;
    uint64_t last = 0;  // cursor: the last comment id read
    bool more = false;
  };
  absl::StatusOr<CommentPageResult> CommentPage(const Viewer& viewer,
                                                rocksdb::ColumnFamilyHandle* index, uint64_t parent,
                                                uint64_t cursor, int32_t size);
  absl::Status SetLike(const Caller& caller, uint64_t post_id, uint64_t comment_id,
                       uint64_t content_author, uint64_t group_id, bool like);
  // Drops mentions of people who may not read `post` (a private group's non-members).
  void KeepReaders(const pb::Post& post,
                   google::protobuf::RepeatedPtrField<common::v1::UserRef>* mentions);
  absl::Status ParseBody(const Caller& caller, const std::string& body,
                         google::protobuf::RepeatedPtrField<common::v1::UserRef>* mentions,
                         google::protobuf::RepeatedPtrField<std::string>* hashtags);

  HomeStore* const homes_;
  GraphStore* const graph_;
  GroupStore* const memberships_;
  PostStore* const post_store_;
  Visibility* const visibility_;
  Insights* const insights_;
  RateLimiter* const rate_;
  rocksdb::ColumnFamilyHandle* const posts_;
  rocksdb::ColumnFamilyHandle* const user_posts_;
  rocksdb::ColumnFamilyHandle* const comments_;
  rocksdb::ColumnFamilyHandle* const post_comments_;
  rocksdb::ColumnFamilyHandle* const replies_;
  rocksdb::ColumnFamilyHandle* const likes_;
  rocksdb::ColumnFamilyHandle* const counters_;
  rocksdb::ColumnFamilyHandle* const meta_;
  rocksdb::ColumnFamilyHandle* const groups_;
  rocksdb::ColumnFamilyHandle* const questions_;
};

}  // namespace parley::feed
