// parleyctl: Parley's command-line client for people and scripts.
// Tables by default, --json for scripts; tokens are kept in
// $XDG_CONFIG_HOME/parley/credentials (default ~/.config/parley/).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "parley/auth/auth.h"
#include "parley/config/config.h"
#include "parley/identity/v1/identity.grpc.pb.h"

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
ABSL_FLAG(std::string, department, "", "user update: department");
ABSL_FLAG(std::string, location, "", "user update: location");
ABSL_FLAG(std::string, skills, "", "user update: comma-separated skills");
ABSL_FLAG(std::string, bio, "", "user update: bio");
ABSL_FLAG(int, page_size, 20, "list page size (1..100)");
ABSL_FLAG(std::string, page_token, "", "list: continue from this page token");

namespace {

namespace idpb = ::parley::identity::v1;
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
  seed-demo                            create the demo organisations and people (once))";

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
    channel_ = grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials());
    identity_ = idpb::IdentityService::NewStub(channel_);
    internal_ = idpb::IdentityInternalService::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s)));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  // The saved access token, refreshed first if it is about to expire.
  std::string UserToken() {
    Credentials c = LoadCredentials();
    if (c.access_token.empty() || c.addr != addr_) {
      std::fprintf(stderr, "parleyctl: not logged in to %s: run `parleyctl login HANDLE@DOMAIN`\n",
                   addr_.c_str());
      std::exit(1);
    }
    if (c.expire_unix - 30 < absl::ToUnixSeconds(absl::Now())) {
      idpb::RefreshTokenRequest req;
      req.set_refresh_token(c.refresh_token);
      idpb::RefreshTokenResponse resp;
      grpc::Status s = identity_->RefreshToken(Ctx().get(), req, &resp);
      if (!s.ok()) Fail("session expired; log in again", s);
      c.access_token = resp.access_token();
      c.refresh_token = resp.refresh_token();
      c.expire_unix = resp.access_token_expire_time().seconds();
      SaveCredentials(c);
    }
    return c.access_token;
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

 private:
  std::string addr_;
  std::unique_ptr<parley::auth::ServiceCredential> service_;
};

void PrintJson(const Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  std::cout << out;
}

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
  if (cmd == "seed-demo") return SeedDemo(client);
  Usage("unknown command or wrong arguments: " + absl::StrJoin(args, " "));
}
