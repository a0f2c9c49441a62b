// parleyctl: Parley's command-line client for people and scripts.
// Tables by default, --json for scripts; tokens are kept in
// $XDG_CONFIG_HOME/parley/credentials (default ~/.config/parley/).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <numeric>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parley/auth/auth.h"
#include "parley/config/config.h"
#include "parley/feed/v1/feed.grpc.pb.h"
#include "parley/identity/v1/identity.grpc.pb.h"
#include "parley/notify/v1/notify.grpc.pb.h"
#include "parley/search/v1/search.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:7400", "address of a Parley server (env PARLEY_ADDR)");
ABSL_FLAG(bool, json, false, "print JSON instead of tables");
ABSL_FLAG(int, timeout_s, 10, "deadline of each call in seconds");
ABSL_FLAG(std::string, password, "",
          "password for login/register (prefer PARLEY_PASSWORD or the prompt: flags show in ps)");
ABSL_FLAG(std::string, invite, "", "invite code for register");
ABSL_FLAG(std::string, role, "member", "role for invite: member, admin or guest");
ABSL_FLAG(bool, open, false,
          "org create: open registration with admin approval (default invite-only)");
ABSL_FLAG(std::string, service_key_file, "./var/data/service.key",
          "service credential for instance-admin commands (org create, seed-demo)");
ABSL_FLAG(std::string, display_name, "", "user update: display name");
ABSL_FLAG(std::string, title, "", "user update: title");
ABSL_FLAG(std::string, department, "",
          "user update: department; search people: only people in this department");
ABSL_FLAG(std::string, location, "",
          "user update: location; search people: only people at this location");
ABSL_FLAG(std::string, skills, "", "user update: comma-separated skills");
ABSL_FLAG(std::string, bio, "", "user update: bio");
ABSL_FLAG(int, page_size, 20, "lists, timelines, thread, search: page size (1..100)");
ABSL_FLAG(std::string, page_token, "",
          "lists, timelines, thread, search: continue from this page token");
ABSL_FLAG(bool, question, false, "post: a question instead of a status (like ask)");
ABSL_FLAG(uint64_t, group, 0,
          "post, ask: post in this group; insights: this group instead of the organisation");
ABSL_FLAG(std::string, description, "", "group create: what the group is about");
ABSL_FLAG(bool, private, false,
          "group create: only members see the group's content; joining needs an invitation or "
          "an admin's approval");
ABSL_FLAG(std::string, state, "",
          "group members: list pending invitations (invited) or requests (requested) instead");
ABSL_FLAG(int, days, 30, "insights: the last N days, today included (1..366)");
ABSL_FLAG(bool, followers_only, false,
          "post: only your followers may read it (default: the organisation's default)");
ABSL_FLAG(uint64_t, reply_to, 0, "comment: reply to this comment of the post");
ABSL_FLAG(bool, comment, false, "like, unlike: the ID is a comment's, not a post's");
ABSL_FLAG(bool, unread, false, "notifications: only those not yet read");
ABSL_FLAG(bool, all, false, "read: mark every notification in your inbox read");
ABSL_FLAG(uint64_t, after, 0,
          "watch: replay only notifications newer than this id (default: replay the inbox)");
ABSL_FLAG(std::string, sort, "relevance",
          "search posts: relevance (best matches first) or time (newest first)");
ABSL_FLAG(std::string, since, "",
          "search posts: only those created on or after this day, YYYY-MM-DD (UTC)");
ABSL_FLAG(std::string, until, "",
          "search posts: only those created on or before this day, YYYY-MM-DD (UTC)");

namespace {

namespace idpb = ::parley::identity::v1;
namespace feedpb = ::parley::feed::v1;
namespace commonpb = ::parley::common::v1;
namespace notifypb = ::parley::notify::v1;
namespace searchpb = ::parley::search::v1;
using google::protobuf::Message;

constexpr char kUsage[] = R"(parleyctl: command-line client for Parley.

usage: parleyctl [--addr=HOST:PORT] [--json] COMMAND [ARGS]

  health                               serving status of every Parley service
  login HANDLE@DOMAIN                  log in (password: PARLEY_PASSWORD or prompt)
  logout                               revoke the saved refresh token and forget it
  whoami                               the logged-in person and organisation
  org create DOMAIN "NAME" [--open]    create an organisation (instance admin, service key)
  invite [--role=member|admin|guest]   create an invite code (org admins)
  register DOMAIN HANDLE "NAME" --invite=CODE
  user get ID | user list | user update [--title=.. --skills=a,b ...]
  post "TEXT" [--question] [--followers_only | --group=GROUP_ID]
  ask "TEXT" [--group=GROUP_ID]        post a question
  accept POST_ID COMMENT_ID            accept a comment as the answer to your question
  questions                            your questions without an accepted answer
  comment POST_ID "TEXT" [--reply_to=COMMENT_ID]
  like POST_ID | like --comment COMMENT_ID   (unlike the same way)
  follow USER | unfollow USER          USER: a numeric id, a handle, @handle or handle@domain
  timeline [home | user [USER]]        newest posts first (--page_size, --page_token)
  thread POST_ID                       a post, its comments and their replies
  group create "NAME" [--description=TEXT] [--private]   you become its admin
  group list                           your groups (--page_size, --page_token as for timelines)
  group show GROUP_ID                  one group
  group join GROUP_ID                  join; a private group: ask to join (an admin approves)
  group leave GROUP_ID                 leave, withdraw a request or decline an invitation
  group invite GROUP_ID USER           invite (any member of a public group, admins of a private)
  group approve GROUP_ID USER | group decline GROUP_ID USER   answer a join request (admins)
  group remove GROUP_ID USER | group promote GROUP_ID USER    (group admins)
  group members GROUP_ID [--state=invited|requested]   members, or pending invitations/requests
  group timeline GROUP_ID | group questions GROUP_ID   its posts; its unanswered questions
  group archive GROUP_ID               make it read-only (group or org admins)
  group mute GROUP_ID | group unmute GROUP_ID   its posts leave (return to) your home timeline
  insights [--group=GROUP_ID] [--days=N]   participation over the last N days (default 30;
                                       org admins, or the group's admins)
  search posts "QUERY" [--sort=relevance|time] [--since=YYYY-MM-DD] [--until=YYYY-MM-DD]
                                       posts and comments (--page_size, --page_token); QUERY:
                                       words, "phrases", AND/OR/NOT, prefix*, from:handle,
                                       in:group (in:"two words"), #tag
  search people "QUERY" [--department=D] [--location=L]   who knows X (QUERY may be ""
                                       with a filter)
  search groups "QUERY"                groups by name and description
  suggest PREFIX                       typeahead: people (@prefix), groups, hashtags (#prefix)
  search rebuild                       re-index everything from identity and feed (instance
                                       admin, service key)
  notifications [--unread]             your inbox, newest first (--page_size, --page_token)
  read ID | read --all                 mark one notification, or your whole inbox, read
  watch [--after=ID]                   print notifications as they arrive (Ctrl-C stops);
                                       replays those after ID first (default: the inbox)
  presence USER...                     who is online, away, do not disturb or offline
  status set online|away|dnd ["TEXT"]  report yourself present, with an optional status text
  status clear                         back to online without a status text
  seed-demo                            create the demo organisations, people, posts and groups
                                       (once))";

struct Credentials {
  std::string addr, access_token, refresh_token;
  int64_t expire_unix = 0;
};

std::string CredentialsPath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  std::string base = xdg && *xdg ? xdg : std::string(home ? home : ".") + "/.config";
  return base + "/parley/credentials";
}

Credentials LoadCredentials() {
  Credentials c;
  std::ifstream in(CredentialsPath());
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "addr") c.addr = v;
    if (k == "access_token") c.access_token = v;
    if (k == "refresh_token") c.refresh_token = v;
    if (k == "expire_unix") (void)absl::SimpleAtoi(v, &c.expire_unix);
  }
  return c;
}

void SaveCredentials(const Credentials& c) {
  std::string path = CredentialsPath();
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "addr=" << c.addr << "\naccess_token=" << c.access_token
        << "\nrefresh_token=" << c.refresh_token << "\nexpire_unix=" << c.expire_unix << "\n";
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, path);
}

[[noreturn]] void Fail(const std::string& what, const grpc::Status& s) {
  std::fprintf(stderr, "parleyctl: %s: %s (%d)\n", what.c_str(), s.error_message().c_str(),
               static_cast<int>(s.error_code()));
  std::exit(1);
}

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "parleyctl: %s\n\n%s\n", why.c_str(), kUsage);
  std::exit(2);
}

class Client {
 public:
  Client() : addr_(absl::GetFlag(FLAGS_addr)) {
    // `watch` retries every second while the server is away; without this cap a channel that
    // lost its server waits up to 120 s between connection attempts.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    channel_ = grpc::CreateCustomChannel(addr_, grpc::InsecureChannelCredentials(), args);
    identity_ = idpb::IdentityService::NewStub(channel_);
    internal_ = idpb::IdentityInternalService::NewStub(channel_);
    feed_ = feedpb::FeedService::NewStub(channel_);
    notify_ = notifypb::NotificationService::NewStub(channel_);
    search_ = searchpb::SearchService::NewStub(channel_);
    search_internal_ = searchpb::SearchInternalService::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s)));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  // A context without a deadline, for streams that run until they are stopped.
  std::unique_ptr<grpc::ClientContext> StreamCtx(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  // The saved access token, refreshed first if it is about to expire.
  std::string UserToken() {
    std::string token;
    grpc::Status s = TryUserToken("", &token);
    if (!s.ok()) Fail("session expired; log in again", s);
    return token;
  }

  // The saved access token in *token, refreshed first if it is about to expire, or if it is
  // `rejected` (a server refused it as expired) and no other parleyctl has refreshed it since.
  // A failed refresh is returned (the saved credentials stay as they were).
  grpc::Status TryUserToken(const std::string& rejected, std::string* token) {
    Credentials c = LoadCredentials();
    if (c.access_token.empty() || c.addr != addr_) {
      std::fprintf(stderr, "parleyctl: not logged in to %s: run `parleyctl login HANDLE@DOMAIN`\n",
                   addr_.c_str());
      std::exit(1);
    }
    if (c.expire_unix - 30 < absl::ToUnixSeconds(absl::Now()) ||
        (!rejected.empty() && c.access_token == rejected)) {
      idpb::RefreshTokenRequest req;
      req.set_refresh_token(c.refresh_token);
      idpb::RefreshTokenResponse resp;
      grpc::Status s = identity_->RefreshToken(Ctx().get(), req, &resp);
      if (!s.ok()) return s;
      c.access_token = resp.access_token();
      c.refresh_token = resp.refresh_token();
      c.expire_unix = resp.access_token_expire_time().seconds();
      SaveCredentials(c);
    }
    *token = c.access_token;
    return grpc::Status::OK;
  }

  std::string ServiceToken() {
    if (!service_) {
      auto cred = parley::auth::ServiceCredential::FromFile(absl::GetFlag(FLAGS_service_key_file),
                                                            "parleyctl");
      if (!cred.ok()) {
        std::fprintf(stderr, "parleyctl: %s (set --service_key_file)\n",
                     std::string(cred.status().message()).c_str());
        std::exit(1);
      }
      service_ = *std::move(cred);
    }
    return service_->Token();
  }

  const std::string& addr() const { return addr_; }
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<idpb::IdentityService::Stub> identity_;
  std::unique_ptr<idpb::IdentityInternalService::Stub> internal_;
  std::unique_ptr<feedpb::FeedService::Stub> feed_;
  std::unique_ptr<notifypb::NotificationService::Stub> notify_;
  std::unique_ptr<searchpb::SearchService::Stub> search_;
  std::unique_ptr<searchpb::SearchInternalService::Stub> search_internal_;

 private:
  std::string addr_;
  std::unique_ptr<parley::auth::ServiceCredential> service_;
};

std::string JsonString(const Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

void PrintJson(const Message& m) { std::cout << JsonString(m); }

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string RoleNames(const idpb::User& u) {
  std::vector<std::string> names;
  for (int r : u.roles()) names.push_back(absl::AsciiStrToLower(idpb::Role_Name(r).substr(5)));
  return absl::StrJoin(names, ",");
}

std::string StateName(idpb::UserState s) {
  return absl::AsciiStrToLower(idpb::UserState_Name(s).substr(11));
}

void PrintUsers(const std::vector<idpb::User>& users) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : users) {
    rows.push_back({absl::StrCat(u.id()), u.handle() + "@" + u.domain(), u.display_name(),
                    u.title(), u.department(), absl::StrJoin(u.skills(), ","), RoleNames(u),
                    StateName(u.state())});
  }
  PrintTable({"ID", "HANDLE", "NAME", "TITLE", "DEPARTMENT", "SKILLS", "ROLES", "STATE"}, rows);
}

std::string ReadPassword() {
  std::string pw = absl::GetFlag(FLAGS_password);
  if (!pw.empty()) return pw;
  if (const char* env = std::getenv("PARLEY_PASSWORD")) return env;
  if (isatty(STDIN_FILENO)) std::fprintf(stderr, "password: ");
  std::getline(std::cin, pw);
  return pw;
}

int Health(Client& client) {
  auto stub = grpc::health::v1::Health::NewStub(client.channel_);
  const std::vector<std::string> services = {
      "parley.identity.v1.IdentityService",   "parley.identity.v1.IdentityInternalService",
      "parley.feed.v1.FeedService",           "parley.search.v1.SearchService",
      "parley.notify.v1.NotificationService", "parley.federation.v1.FederationService"};
  std::vector<std::vector<std::string>> rows;
  bool any_serving = false;
  for (const auto& name : services) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(name);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(client.Ctx().get(), req, &resp);
    std::string state =
        s.ok() ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())
        : s.error_code() == grpc::NOT_FOUND ? "NOT_HOSTED"
                                            : "UNREACHABLE: " + s.error_message();
    any_serving |= s.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    rows.push_back({name, state});
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << "{";
    for (size_t i = 0; i < rows.size(); ++i)
      std::cout << (i ? ", " : "") << "\"" << rows[i][0] << "\": \"" << rows[i][1] << "\"";
    std::cout << "}\n";
  } else {
    std::cout << "server " << client.addr() << "\n";
    PrintTable({"SERVICE", "STATUS"}, rows);
  }
  return any_serving ? 0 : 1;
}

int Login(Client& client, const std::string& login) {
  idpb::LoginRequest req;
  req.set_login(login);
  req.set_password(ReadPassword());
  idpb::LoginResponse resp;
  grpc::Status s = client.identity_->Login(client.Ctx().get(), req, &resp);
  if (!s.ok()) Fail("login", s);
  SaveCredentials({client.addr(), resp.access_token(), resp.refresh_token(),
                   resp.access_token_expire_time().seconds()});
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp.user());
  } else {
    std::cout << "logged in as " << resp.user().handle() << "@" << resp.user().domain() << " ("
              << resp.user().display_name() << ")\n";
  }
  return 0;
}

int Logout(Client& client) {
  Credentials c = LoadCredentials();
  if (!c.refresh_token.empty()) {
    idpb::LogoutRequest req;
    req.set_refresh_token(c.refresh_token);
    idpb::LogoutResponse resp;
    grpc::Status s = client.identity_->Logout(client.Ctx().get(), req, &resp);
    if (!s.ok()) Fail("logout", s);
  }
  std::filesystem::remove(CredentialsPath());
  std::cout << "logged out\n";
  return 0;
}

int WhoAmI(Client& client) {
  idpb::GetCurrentUserResponse resp;
  grpc::Status s =
      client.identity_->GetCurrentUser(client.Ctx(client.UserToken()).get(), {}, &resp);
  if (!s.ok()) Fail("whoami", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  const auto& u = resp.user();
  PrintTable({"FIELD", "VALUE"}, {{"id", absl::StrCat(u.id())},
                                  {"handle", u.handle() + "@" + u.domain()},
                                  {"name", u.display_name()},
                                  {"title", u.title()},
                                  {"department", u.department()},
                                  {"location", u.location()},
                                  {"skills", absl::StrJoin(u.skills(), ", ")},
                                  {"roles", RoleNames(u)},
                                  {"organisation", resp.organization().display_name() + " (" +
                                                       resp.organization().domain() + ")"}});
  return 0;
}

absl::StatusOr<idpb::CreateOrganizationResponse> CreateOrg(Client& client,
                                                           const std::string& domain,
                                                           const std::string& name, bool open) {
  idpb::CreateOrganizationRequest req;
  req.set_domain(domain);
  req.set_display_name(name);
  req.set_signup_policy(open ? idpb::SIGNUP_POLICY_OPEN_WITH_APPROVAL
                             : idpb::SIGNUP_POLICY_INVITE_ONLY);
  idpb::CreateOrganizationResponse resp;
  grpc::Status s =
      client.internal_->CreateOrganization(client.Ctx(client.ServiceToken()).get(), req, &resp);
  if (!s.ok())
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return resp;
}

int Register(Client& client, const std::string& domain, const std::string& handle,
             const std::string& name) {
  idpb::RegisterRequest req;
  req.set_domain(domain);
  req.set_handle(handle);
  req.set_display_name(name);
  req.set_invite_code(absl::GetFlag(FLAGS_invite));
  req.set_password(ReadPassword());
  idpb::RegisterResponse resp;
  grpc::Status s = client.identity_->Register(client.Ctx().get(), req, &resp);
  if (!s.ok()) Fail("register", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp.user());
  } else {
    std::cout << "registered " << handle << "@" << domain << " (" << StateName(resp.user().state())
              << ")\n";
  }
  return 0;
}

int Invite(Client& client) {
  idpb::CreateInviteRequest req;
  const std::string role = absl::GetFlag(FLAGS_role);
  req.set_role(role == "admin"   ? idpb::ROLE_ADMIN
               : role == "guest" ? idpb::ROLE_GUEST
                                 : idpb::ROLE_MEMBER);
  idpb::CreateInviteResponse resp;
  grpc::Status s = client.identity_->CreateInvite(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("invite", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp.invite());
  } else {
    std::cout << resp.invite().code() << "\n";
  }
  return 0;
}

int User(Client& client, const std::vector<std::string>& args) {
  if (args.empty()) Usage("user: get ID, list or update");
  const std::string token = client.UserToken();
  if (args[0] == "get" && args.size() == 2) {
    idpb::GetUserRequest req;
    uint64_t id;
    if (!absl::SimpleAtoi(args[1], &id)) Usage("user get: ID must be a number");
    req.set_user_id(id);
    idpb::GetUserResponse resp;
    grpc::Status s = client.identity_->GetUser(client.Ctx(token).get(), req, &resp);
    if (!s.ok()) Fail("user get", s);
    if (absl::GetFlag(FLAGS_json))
      PrintJson(resp.user());
    else
      PrintUsers({resp.user()});
    return 0;
  }
  if (args[0] == "list") {
    idpb::ListUsersRequest req;
    req.set_page_size(absl::GetFlag(FLAGS_page_size));
    req.set_page_token(absl::GetFlag(FLAGS_page_token));
    idpb::ListUsersResponse resp;
    grpc::Status s = client.identity_->ListUsers(client.Ctx(token).get(), req, &resp);
    if (!s.ok()) Fail("user list", s);
    if (absl::GetFlag(FLAGS_json)) {
      PrintJson(resp);
    } else {
      PrintUsers({resp.users().begin(), resp.users().end()});
      if (!resp.next_page_token().empty())
        std::cout << "next: --page_token=" << resp.next_page_token() << "\n";
    }
    return 0;
  }
  if (args[0] == "update") {
    idpb::UpdateProfileRequest req;
    auto set = [&](const char* path, const std::string& value, auto setter) {
      if (value.empty()) return;
      req.mutable_update_mask()->add_paths(path);
      setter(value);
    };
    idpb::User* u = req.mutable_user();
    set("display_name", absl::GetFlag(FLAGS_display_name),
        [&](const std::string& v) { u->set_display_name(v); });
    set("title", absl::GetFlag(FLAGS_title), [&](const std::string& v) { u->set_title(v); });
    set("department", absl::GetFlag(FLAGS_department),
        [&](const std::string& v) { u->set_department(v); });
    set("location", absl::GetFlag(FLAGS_location),
        [&](const std::string& v) { u->set_location(v); });
    set("bio", absl::GetFlag(FLAGS_bio), [&](const std::string& v) { u->set_bio(v); });
    set("skills", absl::GetFlag(FLAGS_skills), [&](const std::string& v) {
      for (absl::string_view skill : absl::StrSplit(v, ',', absl::SkipEmpty()))
        u->add_skills(std::string(skill));
    });
    if (req.update_mask().paths_size() == 0)
      Usage("user update: name at least one of --title, --skills, ...");
    idpb::UpdateProfileResponse resp;
    grpc::Status s = client.identity_->UpdateProfile(client.Ctx(token).get(), req, &resp);
    if (!s.ok()) Fail("user update", s);
    if (absl::GetFlag(FLAGS_json))
      PrintJson(resp.user());
    else
      PrintUsers({resp.user()});
    return 0;
  }
  Usage("user: get ID, list or update");
}

// --- Feed ---

uint64_t ParseId(const std::string& what, const std::string& text) {
  uint64_t id;
  if (!absl::SimpleAtoi(text, &id) || id == 0) Usage(what + " must be a number");
  return id;
}

// A person named by numeric id, or by handle: "ana", "@ana" or "ana@acme.example" (a leading
// '@' makes an all-digit handle a handle). Handles resolve in the caller's organisation.
uint64_t ResolveUser(Client& client, const std::string& token, const std::string& what,
                     const std::string& who) {
  uint64_t id;
  if (!absl::StartsWith(who, "@") && absl::SimpleAtoi(who, &id)) return id;
  std::string handle = absl::AsciiStrToLower(absl::StripPrefix(who, "@"));
  std::string domain;
  if (auto at = handle.find('@'); at != std::string::npos) {
    domain = handle.substr(at + 1);
    handle.resize(at);
  }
  if (handle.empty()) Usage(what + ": USER is a numeric id or a handle");
  idpb::ResolveHandlesRequest req;
  req.add_handles(handle);
  idpb::ResolveHandlesResponse resp;
  grpc::Status s = client.identity_->ResolveHandles(client.Ctx(token).get(), req, &resp);
  if (!s.ok()) Fail(what + ": resolve " + who, s);
  for (const auto& u : resp.users()) {
    if (u.handle() == handle && (domain.empty() || u.domain() == domain)) return u.id();
  }
  std::fprintf(stderr, "parleyctl: %s: nobody active is %s in your organisation\n", what.c_str(),
               who.c_str());
  std::exit(1);
}

std::string HandleOf(const commonpb::UserRef& u) { return u.handle() + "@" + u.domain(); }

std::string FormatTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixSeconds(t.seconds()),
                          absl::LocalTimeZone());
}

// `text` on one line (newlines and tabs become spaces), cut to `max_chars` characters.
std::string OneLine(absl::string_view text, size_t max_chars) {
  auto starts_char = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; };
  const size_t total = static_cast<size_t>(std::count_if(text.begin(), text.end(), starts_char));
  const size_t keep = total > max_chars ? max_chars - 3 : total;
  std::string out;
  size_t chars = 0;
  for (char c : text) {
    if (starts_char(c) && ++chars > keep) break;
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  if (keep < total) out += "...";
  return out;
}

// "in GROUPNAME" for a group post, "answered" or "unanswered" for a question, comma-separated.
std::string PostNotes(const feedpb::Post& p) {
  std::vector<std::string> notes;
  if (p.has_group() && p.group().id() != 0) notes.push_back("in " + OneLine(p.group().name(), 30));
  if (p.kind() == commonpb::POST_KIND_QUESTION)
    notes.push_back(p.accepted_comment_id() != 0 ? "answered" : "unanswered");
  return absl::StrJoin(notes, ", ");
}

void PrintPosts(const std::vector<feedpb::Post>& posts, const std::string& next_page_token) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : posts) {
    rows.push_back({absl::StrCat(p.id()), HandleOf(p.author()), FormatTime(p.create_time()),
                    absl::StrCat(p.like_count()), absl::StrCat(p.comment_count()), PostNotes(p),
                    OneLine(p.body(), 60)});
  }
  PrintTable({"ID", "AUTHOR", "TIME", "LIKES", "COMMENTS", "NOTES", "BODY"}, rows);
  if (!next_page_token.empty()) std::cout << "next: --page_token=" << next_page_token << "\n";
}

using FeedStub = feedpb::FeedService::Stub;
// A FeedService call, e.g. &FeedStub::ListHomeTimeline.
template <typename Request, typename Response>
using FeedRpc = grpc::Status (FeedStub::*)(grpc::ClientContext*, const Request&, Response*);

// --page_size and --page_token.
template <typename Request>
void SetPage(Request* req) {
  req->set_page_size(absl::GetFlag(FLAGS_page_size));
  req->set_page_token(absl::GetFlag(FLAGS_page_token));
}

// One page of posts (--page_size, --page_token) from a list call: JSON or a table.
template <typename Request, typename Response>
int ListPosts(Client& client, const std::string& cmd, Request req, FeedRpc<Request, Response> rpc) {
  SetPage(&req);
  Response resp;
  grpc::Status s = (client.feed_.get()->*rpc)(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail(cmd, s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(resp);
  else
    PrintPosts({resp.posts().begin(), resp.posts().end()}, resp.next_page_token());
  return 0;
}

// Replies are indented under their top-level comment; a question's accepted answer is marked.
std::vector<std::string> CommentRow(const feedpb::Comment& c, bool accepted = false) {
  const bool reply = c.parent_comment_id() != 0;
  const std::string indent = reply ? "  " : "";
  return {indent + absl::StrCat(c.id()),
          HandleOf(c.author()),
          FormatTime(c.create_time()),
          absl::StrCat(c.like_count()),
          reply ? "" : absl::StrCat(c.reply_count()),
          indent + (accepted ? "[accepted answer] " : "") + OneLine(c.body(), 80)};
}

void PrintComments(const std::vector<std::vector<std::string>>& rows) {
  PrintTable({"ID", "AUTHOR", "TIME", "LIKES", "REPLIES", "COMMENT"}, rows);
}

// `post`, or `ask` (question: a question whatever --question says).
int Post(Client& client, const std::vector<std::string>& args, bool question) {
  const std::string cmd = question ? "ask" : "post";
  if (args.size() != 1) Usage(cmd + ": one \"TEXT\" argument (quote it)");
  feedpb::CreatePostRequest req;
  req.set_body(args[0]);
  if (question || absl::GetFlag(FLAGS_question)) req.set_kind(commonpb::POST_KIND_QUESTION);
  const uint64_t group_id = absl::GetFlag(FLAGS_group);
  if (group_id != 0 && absl::GetFlag(FLAGS_followers_only))
    Usage(cmd + ": --group and --followers_only exclude each other");
  if (group_id != 0) {
    req.set_visibility(commonpb::VISIBILITY_GROUP);
    req.set_group_id(group_id);
  }
  if (absl::GetFlag(FLAGS_followers_only)) req.set_visibility(commonpb::VISIBILITY_FOLLOWERS);
  feedpb::CreatePostResponse resp;
  grpc::Status s = client.feed_->CreatePost(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail(cmd, s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(resp.post());
  else
    PrintPosts({resp.post()}, "");
  return 0;
}

int Comment(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2) Usage("comment: POST_ID \"TEXT\" [--reply_to=COMMENT_ID]");
  feedpb::CreateCommentRequest req;
  req.set_post_id(ParseId("comment: POST_ID", args[0]));
  req.set_parent_comment_id(absl::GetFlag(FLAGS_reply_to));
  req.set_body(args[1]);
  feedpb::CreateCommentResponse resp;
  grpc::Status s = client.feed_->CreateComment(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("comment", s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(resp.comment());
  else
    PrintComments({CommentRow(resp.comment())});
  return 0;
}

int Like(Client& client, const std::vector<std::string>& args, bool like) {
  const std::string cmd = like ? "like" : "unlike";
  const bool comment = absl::GetFlag(FLAGS_comment);
  if (args.size() != 1) Usage(cmd + ": POST_ID, or --comment COMMENT_ID");
  const uint64_t id = ParseId(cmd + (comment ? ": COMMENT_ID" : ": POST_ID"), args[0]);
  auto ctx = client.Ctx(client.UserToken());
  grpc::Status s;
  std::unique_ptr<Message> resp;
  if (comment && like) {
    feedpb::LikeCommentRequest req;
    req.set_comment_id(id);
    auto r = std::make_unique<feedpb::LikeCommentResponse>();
    s = client.feed_->LikeComment(ctx.get(), req, r.get());
    resp = std::move(r);
  } else if (comment) {
    feedpb::UnlikeCommentRequest req;
    req.set_comment_id(id);
    auto r = std::make_unique<feedpb::UnlikeCommentResponse>();
    s = client.feed_->UnlikeComment(ctx.get(), req, r.get());
    resp = std::move(r);
  } else if (like) {
    feedpb::LikePostRequest req;
    req.set_post_id(id);
    auto r = std::make_unique<feedpb::LikePostResponse>();
    s = client.feed_->LikePost(ctx.get(), req, r.get());
    resp = std::move(r);
  } else {
    feedpb::UnlikePostRequest req;
    req.set_post_id(id);
    auto r = std::make_unique<feedpb::UnlikePostResponse>();
    s = client.feed_->UnlikePost(ctx.get(), req, r.get());
    resp = std::move(r);
  }
  if (!s.ok()) Fail(cmd, s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(*resp);
  else
    std::cout << cmd << "d " << (comment ? "comment " : "post ") << id << "\n";
  return 0;
}

int Follow(Client& client, const std::vector<std::string>& args, bool follow) {
  const std::string cmd = follow ? "follow" : "unfollow";
  if (args.size() != 1) Usage(cmd + ": USER (a numeric id or a handle)");
  const std::string token = client.UserToken();
  const uint64_t id = ResolveUser(client, token, cmd, args[0]);
  grpc::Status s;
  std::unique_ptr<Message> resp;
  if (follow) {
    feedpb::FollowUserRequest req;
    req.set_user_id(id);
    auto r = std::make_unique<feedpb::FollowUserResponse>();
    s = client.feed_->FollowUser(client.Ctx(token).get(), req, r.get());
    resp = std::move(r);
  } else {
    feedpb::UnfollowUserRequest req;
    req.set_user_id(id);
    auto r = std::make_unique<feedpb::UnfollowUserResponse>();
    s = client.feed_->UnfollowUser(client.Ctx(token).get(), req, r.get());
    resp = std::move(r);
  }
  if (!s.ok()) Fail(cmd, s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(*resp);
  else
    std::cout << (follow ? "following " : "no longer following ") << args[0] << " (user " << id
              << ")\n";
  return 0;
}

int Timeline(Client& client, const std::vector<std::string>& args) {
  const std::string which = args.empty() ? "home" : args[0];
  if ((which != "home" && which != "user") || (which == "home" && args.size() > 1) ||
      args.size() > 2)
    Usage("timeline: home, or user [USER]");
  if (which == "home") {
    return ListPosts(client, "timeline home", feedpb::ListHomeTimelineRequest(),
                     &FeedStub::ListHomeTimeline);
  }
  const std::string token = client.UserToken();
  feedpb::ListUserTimelineRequest req;
  if (args.size() == 2) {
    req.set_user_id(ResolveUser(client, token, "timeline user", args[1]));
  } else {
    idpb::GetCurrentUserResponse me;
    grpc::Status s = client.identity_->GetCurrentUser(client.Ctx(token).get(), {}, &me);
    if (!s.ok()) Fail("timeline user", s);
    req.set_user_id(me.user().id());
  }
  return ListPosts(client, "timeline user", req, &FeedStub::ListUserTimeline);
}

// A post and one page of its top-level comments (--page_size, --page_token), each followed by
// all of its replies.
int Thread(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 1) Usage("thread: POST_ID");
  const std::string token = client.UserToken();
  feedpb::GetThreadRequest req;
  req.set_post_id(ParseId("thread: POST_ID", args[0]));
  SetPage(&req);
  feedpb::GetThreadResponse thread;
  grpc::Status s = client.feed_->GetThread(client.Ctx(token).get(), req, &thread);
  if (!s.ok()) Fail("thread", s);
  std::map<uint64_t, feedpb::ListRepliesResponse> replies;  // by top-level comment id
  for (const auto& c : thread.comments()) {
    if (c.reply_count() == 0) continue;
    feedpb::ListRepliesResponse& all = replies[c.id()];
    std::string page_token;
    do {
      feedpb::ListRepliesRequest rreq;
      rreq.set_comment_id(c.id());
      rreq.set_page_size(100);
      rreq.set_page_token(page_token);
      feedpb::ListRepliesResponse page;
      s = client.feed_->ListReplies(client.Ctx(token).get(), rreq, &page);
      if (!s.ok()) Fail(absl::StrCat("thread: replies to comment ", c.id()), s);
      for (auto& r : *page.mutable_comments()) *all.add_comments() = std::move(r);
      page_token = page.next_page_token();
    } while (!page_token.empty());
  }
  if (absl::GetFlag(FLAGS_json)) {
    // {"thread": GetThreadResponse, "replies": {"COMMENT_ID": ListRepliesResponse, ...}}
    std::cout << "{\"thread\": " << JsonString(thread) << ", \"replies\": {";
    bool first = true;
    for (const auto& [id, r] : replies) {
      std::cout << (first ? "" : ", ") << "\"" << id << "\": " << JsonString(r);
      first = false;
    }
    std::cout << "}}\n";
    return 0;
  }
  const feedpb::Post& p = thread.post();
  const std::string notes = PostNotes(p);
  std::cout << "post " << p.id() << " by " << p.author().display_name() << " ("
            << HandleOf(p.author()) << "), " << FormatTime(p.create_time()) << "\n"
            << p.like_count() << " likes, " << p.comment_count() << " comments"
            << (p.kind() == commonpb::POST_KIND_QUESTION ? ", question" : "")
            << (notes.empty() ? "" : ", " + notes)
            << (p.visibility() == commonpb::VISIBILITY_FOLLOWERS ? ", followers only" : "")
            << (p.viewer_has_liked() ? ", liked by you" : "") << "\n\n"
            << p.body() << "\n\n";
  // The accepted answer may be on another page of comments: shown here whatever the page.
  const uint64_t accepted = p.accepted_comment_id();
  if (thread.has_accepted_answer() && accepted != 0) {
    const feedpb::Comment& a = thread.accepted_answer();
    std::cout << "accepted answer (comment " << a.id() << ") by " << a.author().display_name()
              << " (" << HandleOf(a.author()) << "), " << FormatTime(a.create_time()) << ":\n"
              << a.body() << "\n\n";
  }
  if (thread.comments().empty() && absl::GetFlag(FLAGS_page_token).empty()) {
    std::cout << "no comments\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : thread.comments()) {
    rows.push_back(CommentRow(c, accepted != 0 && c.id() == accepted));
    auto it = replies.find(c.id());
    if (it == replies.end()) continue;
    for (const auto& r : it->second.comments())
      rows.push_back(CommentRow(r, accepted != 0 && r.id() == accepted));
  }
  PrintComments(rows);
  if (!thread.next_page_token().empty())
    std::cout << "next: --page_token=" << thread.next_page_token() << "\n";
  return 0;
}

// --- Questions, groups, insights ---

int Accept(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2) Usage("accept: POST_ID COMMENT_ID");
  feedpb::AcceptAnswerRequest req;
  req.set_post_id(ParseId("accept: POST_ID", args[0]));
  req.set_comment_id(ParseId("accept: COMMENT_ID", args[1]));
  feedpb::AcceptAnswerResponse resp;
  grpc::Status s = client.feed_->AcceptAnswer(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("accept", s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(resp.post());
  else
    PrintPosts({resp.post()}, "");
  return 0;
}

int Questions(Client& client, const std::vector<std::string>& args) {
  if (!args.empty()) Usage("questions: no arguments (--page_size, --page_token)");
  return ListPosts(client, "questions", feedpb::ListMyOpenQuestionsRequest(),
                   &FeedStub::ListMyOpenQuestions);
}

std::string GroupStateName(feedpb::GroupMemberState s) {
  return absl::AsciiStrToLower(
      absl::StripPrefix(feedpb::GroupMemberState_Name(s), "GROUP_MEMBER_STATE_"));
}

std::string PrivacyName(commonpb::GroupPrivacy p) {
  return absl::AsciiStrToLower(absl::StripPrefix(commonpb::GroupPrivacy_Name(p), "GROUP_PRIVACY_"));
}

// The member count, "-" where it is hidden (a private group the caller is not in).
std::string MemberCount(const feedpb::Group& g) {
  const bool member = g.viewer_state() == feedpb::GROUP_MEMBER_STATE_MEMBER ||
                      g.viewer_state() == feedpb::GROUP_MEMBER_STATE_ADMIN;
  if (g.privacy() == commonpb::GROUP_PRIVACY_PRIVATE && !member) return "-";
  return absl::StrCat(g.member_count());
}

void PrintGroups(const std::vector<feedpb::Group>& groups, const std::string& next_page_token) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : groups) {
    rows.push_back({absl::StrCat(g.id()), OneLine(g.name(), 40), PrivacyName(g.privacy()),
                    MemberCount(g), GroupStateName(g.viewer_state()),
                    g.archived() ? "archived" : ""});
  }
  PrintTable({"ID", "NAME", "PRIVACY", "MEMBERS", "YOU", "STATUS"}, rows);
  if (!next_page_token.empty()) std::cout << "next: --page_token=" << next_page_token << "\n";
}

grpc::Status FetchGroup(Client& client, const std::string& token, uint64_t id,
                        feedpb::Group* group) {
  feedpb::GetGroupRequest req;
  req.set_group_id(id);
  feedpb::GetGroupResponse resp;
  grpc::Status s = client.feed_->GetGroup(client.Ctx(token).get(), req, &resp);
  if (s.ok()) *group = resp.group();
  return s;
}

int GroupCreate(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2) Usage("group create: \"NAME\" [--description=TEXT] [--private]");
  feedpb::CreateGroupRequest req;
  req.set_name(args[1]);
  req.set_description(absl::GetFlag(FLAGS_description));
  req.set_privacy(absl::GetFlag(FLAGS_private) ? commonpb::GROUP_PRIVACY_PRIVATE
                                               : commonpb::GROUP_PRIVACY_PUBLIC);
  feedpb::CreateGroupResponse resp;
  grpc::Status s = client.feed_->CreateGroup(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("group create", s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(resp.group());
  else
    PrintGroups({resp.group()}, "");
  return 0;
}

int GroupList(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 1) Usage("group list: no arguments (--page_size, --page_token)");
  feedpb::ListMyGroupsRequest req;
  SetPage(&req);
  feedpb::ListMyGroupsResponse resp;
  grpc::Status s = client.feed_->ListMyGroups(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("group list", s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(resp);
  else
    PrintGroups({resp.groups().begin(), resp.groups().end()}, resp.next_page_token());
  return 0;
}

int GroupShow(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2) Usage("group show: GROUP_ID");
  feedpb::Group g;
  grpc::Status s =
      FetchGroup(client, client.UserToken(), ParseId("group show: GROUP_ID", args[1]), &g);
  if (!s.ok()) Fail("group show", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(g);
    return 0;
  }
  PrintTable({"FIELD", "VALUE"},
             {{"id", absl::StrCat(g.id())},
              {"name", g.name()},
              {"description", OneLine(g.description(), 2000)},
              {"privacy", PrivacyName(g.privacy())},
              {"members", MemberCount(g)},
              {"archived", g.archived() ? "yes" : "no"},
              {"created", g.has_create_time() ? FormatTime(g.create_time()) : "-"},
              {"you", GroupStateName(g.viewer_state())}});
  return 0;
}

// Joins a public group, or a private one the caller is invited to. A private group without an
// invitation gets a join request instead, for one of its admins to approve.
int GroupJoin(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2) Usage("group join: GROUP_ID");
  const uint64_t id = ParseId("group join: GROUP_ID", args[1]);
  const std::string token = client.UserToken();
  feedpb::JoinGroupRequest req;
  req.set_group_id(id);
  feedpb::JoinGroupResponse resp;
  grpc::Status s = client.feed_->JoinGroup(client.Ctx(token).get(), req, &resp);
  if (s.ok()) {
    if (absl::GetFlag(FLAGS_json))
      PrintJson(resp.group());
    else
      std::cout << "joined " << resp.group().name() << " (group " << id << ", "
                << resp.group().member_count() << " members)\n";
    return 0;
  }
  feedpb::Group group;
  if (s.error_code() != grpc::StatusCode::FAILED_PRECONDITION ||
      !FetchGroup(client, token, id, &group).ok() ||
      group.privacy() != commonpb::GROUP_PRIVACY_PRIVATE)
    Fail("group join", s);
  feedpb::RequestToJoinGroupRequest ask;
  ask.set_group_id(id);
  feedpb::RequestToJoinGroupResponse asked;
  s = client.feed_->RequestToJoinGroup(client.Ctx(token).get(), ask, &asked);
  if (!s.ok()) Fail("group join: ask to join", s);
  if (absl::GetFlag(FLAGS_json)) {
    s = FetchGroup(client, token, id, &group);  // now with viewer_state REQUESTED
    if (!s.ok()) Fail("group join", s);
    PrintJson(group);
  } else {
    std::cout << "asked to join " << group.name() << " (group " << id
              << "); a group admin must approve\n";
  }
  return 0;
}

// Requests that name a person besides the group.
template <typename Request>
concept NamesPerson = requires(Request& r) {
  r.set_user_id(uint64_t{0});
};

// `group SUB GROUP_ID [USER]`: one call naming a group, and a person when the request has
// user_id. Prints `done` with {group} and {user} filled in (or the response with --json).
template <typename Request, typename Response>
int GroupCall(Client& client, const std::vector<std::string>& args, FeedRpc<Request, Response> rpc,
              const std::string& done) {
  constexpr bool kPerson = NamesPerson<Request>;
  const std::string cmd = "group " + args[0];
  if (args.size() != (kPerson ? 3u : 2u)) Usage(cmd + (kPerson ? ": GROUP_ID USER" : ": GROUP_ID"));
  const uint64_t group_id = ParseId(cmd + ": GROUP_ID", args[1]);
  const std::string token = client.UserToken();
  Request req;
  req.set_group_id(group_id);
  std::string who;
  if constexpr (kPerson) {
    req.set_user_id(ResolveUser(client, token, cmd, args[2]));
    who = absl::StrCat(args[2], " (user ", req.user_id(), ")");
  }
  Response resp;
  grpc::Status s = (client.feed_.get()->*rpc)(client.Ctx(token).get(), req, &resp);
  if (!s.ok()) Fail(cmd, s);
  if (absl::GetFlag(FLAGS_json))
    PrintJson(resp);
  else
    std::cout << absl::StrReplaceAll(done, {{"{group}", absl::StrCat(group_id)}, {"{user}", who}})
              << "\n";
  return 0;
}

int GroupMembers(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2) Usage("group members: GROUP_ID [--state=invited|requested]");
  feedpb::ListGroupMembersRequest req;
  req.set_group_id(ParseId("group members: GROUP_ID", args[1]));
  const std::string state = absl::GetFlag(FLAGS_state);
  if (state == "invited") {
    req.set_state(feedpb::GROUP_MEMBER_STATE_INVITED);
  } else if (state == "requested") {
    req.set_state(feedpb::GROUP_MEMBER_STATE_REQUESTED);
  } else if (!state.empty()) {
    Usage("group members: --state is invited or requested (members and admins without it)");
  }
  SetPage(&req);
  feedpb::ListGroupMembersResponse resp;
  grpc::Status s = client.feed_->ListGroupMembers(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("group members", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : resp.members()) {
    rows.push_back({absl::StrCat(m.user().id()), HandleOf(m.user()), m.user().display_name(),
                    GroupStateName(m.state()), FormatTime(m.update_time())});
  }
  PrintTable({"ID", "HANDLE", "NAME", "STATE", "SINCE"}, rows);
  if (!resp.next_page_token().empty())
    std::cout << "next: --page_token=" << resp.next_page_token() << "\n";
  return 0;
}

int Group(Client& client, const std::vector<std::string>& args) {
  const std::string sub = args.empty() ? "" : args[0];
  if (sub == "create") return GroupCreate(client, args);
  if (sub == "list") return GroupList(client, args);
  if (sub == "show") return GroupShow(client, args);
  if (sub == "join") return GroupJoin(client, args);
  if (sub == "members") return GroupMembers(client, args);
  if (sub == "timeline" || sub == "questions") {
    if (args.size() != 2) Usage("group " + sub + ": GROUP_ID");
    const uint64_t id = ParseId("group " + sub + ": GROUP_ID", args[1]);
    if (sub == "timeline") {
      feedpb::ListGroupTimelineRequest req;
      req.set_group_id(id);
      return ListPosts(client, "group timeline", req, &FeedStub::ListGroupTimeline);
    }
    feedpb::ListGroupUnansweredQuestionsRequest req;
    req.set_group_id(id);
    return ListPosts(client, "group questions", req, &FeedStub::ListGroupUnansweredQuestions);
  }
  if (sub == "leave") return GroupCall(client, args, &FeedStub::LeaveGroup, "left group {group}");
  if (sub == "invite")
    return GroupCall(client, args, &FeedStub::InviteToGroup,
                     "invited {user} to group {group}; they accept with "
                     "`parleyctl group join {group}`");
  if (sub == "approve")
    return GroupCall(client, args, &FeedStub::ApproveJoinRequest,
                     "{user} is now a member of group {group}");
  if (sub == "decline")
    return GroupCall(client, args, &FeedStub::DeclineJoinRequest,
                     "declined the request of {user} to join group {group}");
  if (sub == "remove")
    return GroupCall(client, args, &FeedStub::RemoveGroupMember,
                     "removed {user} from group {group}");
  if (sub == "promote")
    return GroupCall(client, args, &FeedStub::PromoteGroupMember,
                     "{user} is now an admin of group {group}");
  if (sub == "archive")
    return GroupCall(client, args, &FeedStub::ArchiveGroup,
                     "archived group {group}: its content stays readable; nothing new is posted "
                     "and nobody joins");
  if (sub == "mute")
    return GroupCall(client, args, &FeedStub::MuteGroup,
                     "muted group {group}: its posts leave your home timeline");
  if (sub == "unmute")
    return GroupCall(client, args, &FeedStub::UnmuteGroup, "unmuted group {group}");
  Usage(
      "group: create, list, show, join, leave, invite, approve, decline, remove, promote, members, "
      "timeline, questions, archive, mute or unmute");
}

// `value` with `decimals` digits after the point.
std::string Fixed(double value, int decimals) {
  std::ostringstream out;
  out.precision(decimals);
  out << std::fixed << value;
  return out.str();
}

int Insights(Client& client, const std::vector<std::string>& args) {
  if (!args.empty()) Usage("insights: no arguments ([--group=GROUP_ID] [--days=N])");
  const int days = absl::GetFlag(FLAGS_days);
  if (days < 1) Usage("insights: --days must be at least 1");
  // The server rounds the window outwards to whole UTC days: from N-1 days ago until now, it
  // covers the last N days, today included.
  const absl::Time now = absl::Now();
  feedpb::GetParticipationInsightsRequest req;
  req.set_group_id(absl::GetFlag(FLAGS_group));
  req.mutable_start_time()->set_seconds(absl::ToUnixSeconds(now - absl::Hours(24) * (days - 1)));
  req.mutable_end_time()->set_seconds(absl::ToUnixSeconds(now));
  const std::string token = client.UserToken();
  feedpb::GetParticipationInsightsResponse resp;
  grpc::Status s = client.feed_->GetParticipationInsights(client.Ctx(token).get(), req, &resp);
  if (!s.ok()) Fail("insights", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  const feedpb::ParticipationInsights& ins = resp.insights();
  std::string scope = "organisation";
  if (req.group_id() != 0) {
    feedpb::Group g;
    scope = FetchGroup(client, token, req.group_id(), &g).ok()
                ? absl::StrCat(g.name(), " (group ", g.id(), ")")
                : absl::StrCat("group ", req.group_id());
  }
  // The window's end is exclusive: the midnight after its last day.
  auto day = [](int64_t unix_seconds) {
    return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(unix_seconds), absl::UTCTimeZone());
  };
  const int64_t start = ins.start_time().seconds(), end = ins.end_time().seconds();
  const absl::Duration to_answer = absl::Seconds(ins.median_time_to_answer().seconds()) +
                                   absl::Nanoseconds(ins.median_time_to_answer().nanos());
  PrintTable(
      {"FIELD", "VALUE"},
      {{"scope", scope},
       {"window",
        absl::StrCat(day(start), " to ", day(end - 1), " UTC (", (end - start) / 86400, " days)")},
       {"active posters", absl::StrCat(ins.active_posters())},
       {"posts", absl::StrCat(ins.post_count())},
       {"comments", absl::StrCat(ins.comment_count())},
       {"top 15% posters' share of posts", Fixed(100 * ins.top_posters_post_share(), 1) + "%"},
       {"gini coefficient of posts per poster", Fixed(ins.post_gini_coefficient(), 2)},
       {"posts per day", Fixed(ins.posts_per_day(), 2)},
       {"comments per day", Fixed(ins.comments_per_day(), 2)},
       {"median post reach (people)", absl::StrCat(ins.median_post_reach())},
       {"questions", absl::StrCat(ins.question_count())},
       {"answered questions", Fixed(100 * ins.answered_question_rate(), 1) + "%"},
       {"median time to answer",
        ins.answered_question_rate() > 0
            ? absl::FormatDuration(absl::Trunc(to_answer, to_answer < absl::Seconds(1)
                                                              ? absl::Milliseconds(1)
                                                              : absl::Seconds(1)))
            : "-"}});
  return 0;
}

// --- Search ---

// The midnight (UTC) that starts day `text` (YYYY-MM-DD), or ends it when `end_of_day`.
google::protobuf::Timestamp ParseDay(const std::string& what, const std::string& text,
                                     bool end_of_day) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &err))
    Usage(what + " is a day, YYYY-MM-DD (" + err + ")");
  if (end_of_day) t += absl::Hours(24);
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

// "next: --page_token=..." when there is a next page, then the (estimated) number of matches.
void PrintSearchFooter(const std::string& next_page_token, uint64_t total_size) {
  if (!next_page_token.empty()) std::cout << "next: --page_token=" << next_page_token << "\n";
  std::cout << "total: " << total_size << "\n";
}

int SearchPosts(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2)
    Usage(
        "search posts: one \"QUERY\" argument (quote it) [--sort=relevance|time] "
        "[--since=YYYY-MM-DD] [--until=YYYY-MM-DD]");
  searchpb::SearchPostsRequest req;
  req.set_query(args[1]);
  const std::string sort = absl::GetFlag(FLAGS_sort);
  if (sort.empty() || sort == "relevance") {
    req.set_sort_order(searchpb::SORT_ORDER_RELEVANCE);
  } else if (sort == "time") {
    req.set_sort_order(searchpb::SORT_ORDER_TIME);
  } else {
    Usage("search posts: --sort is relevance or time");
  }
  // [since's midnight, the midnight after until): both days included.
  const std::string since = absl::GetFlag(FLAGS_since), until = absl::GetFlag(FLAGS_until);
  if (!since.empty()) *req.mutable_start_time() = ParseDay("search posts: --since", since, false);
  if (!until.empty()) *req.mutable_end_time() = ParseDay("search posts: --until", until, true);
  if (req.has_start_time() && req.has_end_time() &&
      req.start_time().seconds() >= req.end_time().seconds())
    Usage("search posts: --since is after --until");
  SetPage(&req);
  searchpb::SearchPostsResponse resp;
  grpc::Status s = client.search_->SearchPosts(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("search posts", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : resp.hits()) {
    rows.push_back({h.comment_id() != 0 ? absl::StrCat(h.post_id(), "/c ", h.comment_id())
                                        : absl::StrCat(h.post_id()),
                    "@" + h.author().handle(),
                    h.has_group() && h.group().id() != 0 ? OneLine(h.group().name(), 30) : "",
                    FormatTime(h.create_time()), OneLine(h.snippet(), 80)});
  }
  PrintTable({"ID", "AUTHOR", "GROUP", "TIME", "SNIPPET"}, rows);
  PrintSearchFooter(resp.next_page_token(), resp.total_size());
  return 0;
}

int SearchPeople(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2)
    Usage("search people: one \"QUERY\" argument (\"\" with --department or --location)");
  searchpb::SearchPeopleRequest req;
  req.set_query(args[1]);
  req.set_department(absl::GetFlag(FLAGS_department));
  req.set_location(absl::GetFlag(FLAGS_location));
  if (req.query().empty() && req.department().empty() && req.location().empty())
    Usage("search people: an empty QUERY needs --department or --location");
  SetPage(&req);
  searchpb::SearchPeopleResponse resp;
  grpc::Status s = client.search_->SearchPeople(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("search people", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : resp.hits()) {
    rows.push_back({"@" + h.user().handle(), h.user().display_name(), h.title(), h.department(),
                    h.location(), absl::StrJoin(h.matched_skills(), ", ")});
  }
  PrintTable({"USER", "NAME", "TITLE", "DEPARTMENT", "LOCATION", "SKILLS"}, rows);
  PrintSearchFooter(resp.next_page_token(), resp.total_size());
  return 0;
}

int SearchGroups(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2) Usage("search groups: one \"QUERY\" argument (quote it)");
  searchpb::SearchGroupsRequest req;
  req.set_query(args[1]);
  SetPage(&req);
  searchpb::SearchGroupsResponse resp;
  grpc::Status s = client.search_->SearchGroups(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("search groups", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : resp.hits()) {
    rows.push_back({absl::StrCat(h.group().id()), OneLine(h.group().name(), 40),
                    PrivacyName(h.group().privacy()), OneLine(h.snippet(), 80)});
  }
  PrintTable({"ID", "NAME", "PRIVACY", "SNIPPET"}, rows);
  PrintSearchFooter(resp.next_page_token(), resp.total_size());
  return 0;
}

// Re-indexes every organisation (an instance operation, with the service credential). Blocks
// until the new index is in place, so the deadline is long whatever --timeout_s says.
int SearchRebuild(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 1) Usage("search rebuild: no arguments");
  constexpr auto kRebuildDeadline = std::chrono::seconds(600);
  auto ctx = client.Ctx(client.ServiceToken());
  ctx->set_deadline(std::chrono::system_clock::now() + kRebuildDeadline);
  searchpb::RebuildResponse resp;
  grpc::Status s = client.search_internal_->Rebuild(ctx.get(), {}, &resp);
  if (!s.ok()) Fail("search rebuild", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  const absl::Duration took =
      absl::Seconds(resp.duration().seconds()) + absl::Nanoseconds(resp.duration().nanos());
  std::cout << "rebuilt the search index in "
            << absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(1))) << ": "
            << resp.post_count() << " posts, " << resp.comment_count() << " comments, "
            << resp.person_count() << " people, " << resp.group_count() << " groups\n";
  return 0;
}

int Search(Client& client, const std::vector<std::string>& args) {
  const std::string sub = args.empty() ? "" : args[0];
  if (sub == "posts") return SearchPosts(client, args);
  if (sub == "people") return SearchPeople(client, args);
  if (sub == "groups") return SearchGroups(client, args);
  if (sub == "rebuild") return SearchRebuild(client, args);
  Usage("search: posts, people, groups or rebuild");
}

// Typeahead: people, groups and hashtags starting with PREFIX ('@': people only, '#': hashtags
// only), best first.
int Suggest(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 1) Usage("suggest: PREFIX (@prefix for people, #prefix for hashtags)");
  searchpb::SuggestRequest req;
  req.set_prefix(args[0]);
  searchpb::SuggestResponse resp;
  grpc::Status s = client.search_->Suggest(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("suggest", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& sg : resp.suggestions()) {
    switch (sg.suggestion_case()) {
      case searchpb::Suggestion::kPerson:
        rows.push_back({"person", "@" + sg.person().handle()});
        break;
      case searchpb::Suggestion::kGroup:
        rows.push_back(
            {"group", absl::StrCat(OneLine(sg.group().name(), 40), " (", sg.group().id(), ")")});
        break;
      case searchpb::Suggestion::kHashtag:
        rows.push_back({"hashtag", "#" + sg.hashtag()});
        break;
      default:
        break;
    }
  }
  PrintTable({"KIND", "VALUE"}, rows);
  return 0;
}

// --- Notifications and presence ---

std::string KindName(notifypb::NotificationKind k) {
  switch (k) {
    case notifypb::NOTIFICATION_KIND_MENTION:
      return "mention";
    case notifypb::NOTIFICATION_KIND_COMMENT:
      return "comment";
    case notifypb::NOTIFICATION_KIND_REPLY:
      return "reply";
    case notifypb::NOTIFICATION_KIND_POST_LIKED:
      return "post liked";
    case notifypb::NOTIFICATION_KIND_COMMENT_LIKED:
      return "comment liked";
    case notifypb::NOTIFICATION_KIND_NEW_FOLLOWER:
      return "new follower";
    case notifypb::NOTIFICATION_KIND_GROUP_INVITE:
      return "group invite";
    case notifypb::NOTIFICATION_KIND_GROUP_JOIN_REQUEST:
      return "join request";
    case notifypb::NOTIFICATION_KIND_GROUP_JOIN_APPROVED:
      return "join approved";
    case notifypb::NOTIFICATION_KIND_ANSWER_ACCEPTED:
      return "answer accepted";
    default:
      return absl::StrCat("kind ", static_cast<int>(k));
  }
}

// "ana@acme.example", or "ana@acme.example and 12 others" (the most recent actor first).
std::string Who(const notifypb::Notification& n) {
  if (n.actors().empty()) return "-";
  const uint64_t total = std::max<uint64_t>(n.actor_count(), n.actors_size());
  std::string who = HandleOf(n.actors(0));
  if (total == 2) absl::StrAppend(&who, " and 1 other");
  if (total > 2) absl::StrAppend(&who, " and ", total - 1, " others");
  return who;
}

// What the notification is about: "post N", "comment N on post P" or "group NAME"; empty for
// a new follower.
std::string Subject(const notifypb::Notification& n) {
  switch (n.kind()) {
    case notifypb::NOTIFICATION_KIND_NEW_FOLLOWER:
      return "";
    case notifypb::NOTIFICATION_KIND_GROUP_INVITE:
    case notifypb::NOTIFICATION_KIND_GROUP_JOIN_REQUEST:
    case notifypb::NOTIFICATION_KIND_GROUP_JOIN_APPROVED:
      if (!n.has_group() || n.group().id() == 0) return "";
      return "group " + (n.group().name().empty() ? absl::StrCat(n.group().id())
                                                  : OneLine(n.group().name(), 40));
    case notifypb::NOTIFICATION_KIND_COMMENT:  // the post commented on (comment_id: the latest)
    case notifypb::NOTIFICATION_KIND_POST_LIKED:
      return n.post_id() != 0 ? absl::StrCat("post ", n.post_id()) : "";
    default:  // mention (in a post or a comment), reply, comment liked, answer accepted
      if (n.comment_id() != 0) {
        return n.post_id() != 0 ? absl::StrCat("comment ", n.comment_id(), " on post ", n.post_id())
                                : absl::StrCat("comment ", n.comment_id());
      }
      return n.post_id() != 0 ? absl::StrCat("post ", n.post_id()) : "";
  }
}

std::string PresenceName(notifypb::PresenceState s) {
  switch (s) {
    case notifypb::PRESENCE_STATE_ONLINE:
      return "online";
    case notifypb::PRESENCE_STATE_AWAY:
      return "away";
    case notifypb::PRESENCE_STATE_DO_NOT_DISTURB:
      return "do not disturb";
    case notifypb::PRESENCE_STATE_OFFLINE:
      return "offline";
    default:
      return "unknown";
  }
}

// `m` as JSON on one line, newline included (for streams: one object per line).
std::string JsonLine(const Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out + "\n";
}

uint64_t UnreadCount(Client& client, const std::string& token, const std::string& cmd) {
  notifypb::GetUnreadCountResponse resp;
  grpc::Status s = client.notify_->GetUnreadCount(client.Ctx(token).get(), {}, &resp);
  if (!s.ok()) Fail(cmd + ": unread count", s);
  return resp.unread_count();
}

int ListInbox(Client& client, const std::vector<std::string>& args) {
  if (!args.empty()) Usage("notifications: no arguments ([--unread], --page_size, --page_token)");
  const std::string token = client.UserToken();
  notifypb::ListNotificationsRequest req;
  SetPage(&req);
  req.set_unread_only(absl::GetFlag(FLAGS_unread));
  notifypb::ListNotificationsResponse resp;
  grpc::Status s = client.notify_->ListNotifications(client.Ctx(token).get(), req, &resp);
  if (!s.ok()) Fail("notifications", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : resp.notifications()) {
    rows.push_back({absl::StrCat(n.id()), KindName(n.kind()), Who(n), Subject(n),
                    FormatTime(n.update_time()), n.read() ? "yes" : "no"});
  }
  PrintTable({"ID", "KIND", "WHO", "SUBJECT", "TIME", "READ"}, rows);
  if (!resp.next_page_token().empty())
    std::cout << "next: --page_token=" << resp.next_page_token() << "\n";
  std::cout << "unread: " << UnreadCount(client, token, "notifications") << "\n";
  return 0;
}

// `read ID` marks one notification read; `read --all` every one up to the newest in the inbox.
int MarkRead(Client& client, const std::vector<std::string>& args) {
  const bool all = absl::GetFlag(FLAGS_all);
  if (all ? !args.empty() : args.size() != 1) Usage("read: ID, or --all");
  const std::string token = client.UserToken();
  notifypb::MarkReadRequest req;
  if (all) {
    notifypb::ListNotificationsRequest list;
    list.set_page_size(1);  // newest first: the first entry has the largest id
    notifypb::ListNotificationsResponse page;
    grpc::Status s = client.notify_->ListNotifications(client.Ctx(token).get(), list, &page);
    if (!s.ok()) Fail("read --all: newest notification", s);
    if (page.notifications().empty()) {
      if (absl::GetFlag(FLAGS_json))
        PrintJson(notifypb::MarkReadResponse());  // unread_count 0
      else
        std::cout << "nothing to mark\n";
      return 0;
    }
    req.set_up_to_notification_id(page.notifications(0).id());
  } else {
    req.set_notification_id(ParseId("read: ID", args[0]));
  }
  notifypb::MarkReadResponse resp;
  grpc::Status s = client.notify_->MarkRead(client.Ctx(token).get(), req, &resp);
  if (!s.ok()) Fail("read", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
  } else {
    std::cout << (all ? absl::StrCat("marked everything up to notification ",
                                     req.up_to_notification_id(), " read")
                      : absl::StrCat("marked notification ", req.notification_id(), " read"))
              << "; unread: " << resp.unread_count() << "\n";
  }
  return 0;
}

void ExitOnInterrupt(int) { std::_Exit(0); }

// Prints notifications as they arrive until Ctrl-C. Resubscribes after the last id seen when
// the access token expires (with a refreshed one) or the server is away (every second).
int Watch(Client& client, const std::vector<std::string>& args) {
  if (!args.empty()) Usage("watch: no arguments ([--after=ID])");
  std::signal(SIGINT, ExitOnInterrupt);  // every line is flushed as it is printed
  const bool json = absl::GetFlag(FLAGS_json);
  uint64_t after = absl::GetFlag(FLAGS_after);
  std::string token = client.UserToken();
  absl::Time refreshed = absl::InfinitePast();  // the last refresh after UNAUTHENTICATED
  bool away = false;                            // reported the server away, nothing since
  for (;;) {
    notifypb::SubscribeRequest req;
    req.set_after_notification_id(after);
    auto ctx = client.StreamCtx(token);
    std::unique_ptr<grpc::ClientReader<notifypb::SubscribeResponse>> reader =
        client.notify_->Subscribe(ctx.get(), req);
    notifypb::SubscribeResponse resp;
    while (reader->Read(&resp)) {
      away = false;
      const notifypb::Notification& n = resp.notification();
      after = std::max(after, n.id());
      if (json) {
        std::cout << JsonLine(resp) << std::flush;
        continue;
      }
      std::vector<std::string> parts = {FormatTime(n.update_time()), KindName(n.kind()), Who(n)};
      if (std::string subject = Subject(n); !subject.empty()) parts.push_back(subject);
      parts.push_back(absl::StrCat("(unread ", resp.unread_count(), ")"));
      std::cout << absl::StrJoin(parts, " ") << std::endl;
    }
    grpc::Status s = reader->Finish();
    switch (s.error_code()) {
      case grpc::StatusCode::UNAUTHENTICATED: {
        // A token refused again right after a refresh is not an expiry: give up.
        if (absl::Now() - refreshed < absl::Seconds(10)) Fail("watch", s);
        grpc::Status r = client.TryUserToken(token, &token);
        if (r.ok()) {
          refreshed = absl::Now();
        } else if (r.error_code() == grpc::StatusCode::UNAVAILABLE) {
          std::this_thread::sleep_for(std::chrono::seconds(1));  // refresh on the next try
        } else {
          Fail("watch: session expired; log in again", r);
        }
        break;
      }
      case grpc::StatusCode::OK:  // the server ended the stream: carry on like a lost one
      case grpc::StatusCode::UNAVAILABLE:
        if (!away) {
          std::fprintf(stderr, "parleyctl: watch: %s; reconnecting every second\n",
                       s.ok() ? "the server ended the stream" : s.error_message().c_str());
          away = true;
        }
        std::this_thread::sleep_for(std::chrono::seconds(1));
        break;
      default:
        Fail("watch", s);
    }
  }
}

int ShowPresence(Client& client, const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 500) Usage("presence: USER... (1 to 500 of them)");
  const std::string token = client.UserToken();
  notifypb::GetPresenceRequest req;
  for (const auto& who : args) req.add_user_ids(ResolveUser(client, token, "presence", who));
  notifypb::GetPresenceResponse resp;
  grpc::Status s = client.notify_->GetPresence(client.Ctx(token).get(), req, &resp);
  if (!s.ok()) Fail("presence", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  // One presence per requested id, in request order.
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < resp.presences_size(); ++i) {
    const notifypb::Presence& p = resp.presences(i);
    const std::string person =
        static_cast<size_t>(i) < args.size() && req.user_ids(i) == p.user_id()
            ? args[i]
            : absl::StrCat(p.user_id());
    rows.push_back({person, PresenceName(p.state()), OneLine(p.status_text(), 100)});
  }
  PrintTable({"PERSON", "STATE", "STATUS"}, rows);
  return 0;
}

// `status set online|away|dnd ["TEXT"]` or `status clear`: one heartbeat.
int SetStatus(Client& client, const std::vector<std::string>& args) {
  const std::string sub = args.empty() ? "" : args[0];
  notifypb::HeartbeatRequest req;
  if (sub == "clear" && args.size() == 1) {
    req.set_state(notifypb::PRESENCE_STATE_ONLINE);
  } else if (sub == "set" && (args.size() == 2 || args.size() == 3)) {
    const std::string& state = args[1];
    if (state == "online") {
      req.set_state(notifypb::PRESENCE_STATE_ONLINE);
    } else if (state == "away") {
      req.set_state(notifypb::PRESENCE_STATE_AWAY);
    } else if (state == "dnd") {
      req.set_state(notifypb::PRESENCE_STATE_DO_NOT_DISTURB);
    } else {
      Usage("status set: the state is online, away or dnd");
    }
    if (args.size() == 3) req.set_status_text(args[2]);
  } else {
    Usage("status: set online|away|dnd [\"TEXT\"], or clear");
  }
  notifypb::HeartbeatResponse resp;
  grpc::Status s = client.notify_->Heartbeat(client.Ctx(client.UserToken()).get(), req, &resp);
  if (!s.ok()) Fail("status", s);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(resp);
    return 0;
  }
  std::cout << "status: " << PresenceName(req.state());
  if (!req.status_text().empty()) std::cout << " \"" << req.status_text() << "\"";
  const absl::Duration every = absl::Seconds(resp.heartbeat_interval().seconds()) +
                               absl::Nanoseconds(resp.heartbeat_interval().nanos());
  if (every > absl::ZeroDuration())
    std::cout << " (next heartbeat within " << absl::FormatDuration(every) << ")";
  std::cout << "\n";
  return 0;
}

int SeedDemo(Client& client);

}  // namespace

#include "tools/parleyctl/demo_data.inc"

int main(int argc, char** argv) {
  std::vector<char*> positional = parley::config::ParseFlags(argc, argv, kUsage);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (args.empty()) Usage("no command");
  Client client;
  const std::string& cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "health") return Health(client);
  if (cmd == "login" && rest.size() == 1) return Login(client, rest[0]);
  if (cmd == "logout") return Logout(client);
  if (cmd == "whoami") return WhoAmI(client);
  if (cmd == "invite") return Invite(client);
  if (cmd == "register" && rest.size() == 3) return Register(client, rest[0], rest[1], rest[2]);
  if (cmd == "org" && rest.size() == 3 && rest[0] == "create") {
    auto org = CreateOrg(client, rest[1], rest[2], absl::GetFlag(FLAGS_open));
    if (!org.ok()) {
      std::fprintf(stderr, "parleyctl: org create: %s\n",
                   std::string(org.status().message()).c_str());
      return 1;
    }
    if (absl::GetFlag(FLAGS_json)) {
      PrintJson(*org);
    } else {
      std::cout << "created " << org->organization().domain()
                << "\nfirst admin registers with: parleyctl register "
                << org->organization().domain()
                << " HANDLE \"NAME\" --invite=" << org->admin_invite().code() << "\n";
    }
    return 0;
  }
  if (cmd == "user") return User(client, rest);
  if (cmd == "post") return Post(client, rest, false);
  if (cmd == "ask") return Post(client, rest, true);
  if (cmd == "accept") return Accept(client, rest);
  if (cmd == "questions") return Questions(client, rest);
  if (cmd == "group") return Group(client, rest);
  if (cmd == "insights") return Insights(client, rest);
  if (cmd == "comment") return Comment(client, rest);
  if (cmd == "like" || cmd == "unlike") return Like(client, rest, cmd == "like");
  if (cmd == "follow" || cmd == "unfollow") return Follow(client, rest, cmd == "follow");
  if (cmd == "timeline") return Timeline(client, rest);
  if (cmd == "thread") return Thread(client, rest);
  if (cmd == "notifications") return ListInbox(client, rest);
  if (cmd == "read") return MarkRead(client, rest);
  if (cmd == "watch") return Watch(client, rest);
  if (cmd == "presence") return ShowPresence(client, rest);
  if (cmd == "status") return SetStatus(client, rest);
  if (cmd == "search") return Search(client, rest);
  if (cmd == "suggest") return Suggest(client, rest);
  if (cmd == "seed-demo") return SeedDemo(client);
  Usage("unknown command or wrong arguments: " + absl::StrJoin(args, " "));
}
