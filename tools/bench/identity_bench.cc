// Benchmark `identity`: logins per second (argon2id-bound by design) and access
// token verifications per second on one core, each beside its raw libsodium
// baseline measured in the same run (ratio = Parley / raw).
#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "identity/src/identity.h"
#include "parley/testing/testing.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename Fn>
double PerSecond(int iterations, Fn&& fn) {
  auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) fn(i);
  return iterations / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int logins = quick ? 20 : 100;
  const int verifies = quick ? 20000 : 200000;

  testing::TempDir dir;
  auto db_options = storage::DbOptions::ForTesting(dir.Sub("db"));
  db_options.column_families = identity::Identity::ColumnFamilies();
  auto db = *storage::Db::Open(db_options);
  auto id = *identity::Identity::Create(db.get(), {});  // production argon2id cost

  identity::pb::CreateOrganizationRequest org_req;
  org_req.set_domain("bench.example");
  org_req.set_display_name("Bench");
  auto org = *id->CreateOrganization(org_req);
  identity::pb::RegisterRequest reg;
  reg.set_domain("bench.example");
  reg.set_handle("bench");
  reg.set_display_name("Bench");
  reg.set_password("benchmark password");
  reg.set_invite_code(org.admin_invite().code());
  if (!id->Register(reg).ok()) return 1;

  identity::pb::LoginRequest login;
  login.set_login("bench@bench.example");
  login.set_password("benchmark password");
  std::string token;
  const double login_per_s = PerSecond(logins, [&](int i) {
    auto r =
        id->Login(login, "ipv4:10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250));
    if (!r.ok()) std::abort();
    token = r->access_token();
  });
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, "benchmark password", 18, 2, size_t{19} << 20,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return 1;
  }
  const double raw_login_per_s = PerSecond(logins, [&](int) {
    if (crypto_pwhash_str_verify(hash, "benchmark password", 18) != 0) std::abort();
  });

  auth::Verifier verifier(id->key_ring(),
                          {.kind = auth::TokenKind::TOKEN_KIND_USER_ACCESS,
                           .not_before = [&](uint64_t u) { return id->NotBefore(u); }});
  const double verify_per_s = PerSecond(verifies, [&](int) {
    if (!verifier.Verify(token).ok()) std::abort();
  });
  auth::SigningKey key = auth::GenerateSigningKey(absl::Now());
  unsigned char sig[crypto_sign_BYTES];
  const std::string message(token.substr(0, token.rfind('.')));
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(),
                       reinterpret_cast<const unsigned char*>(key.secret_key.data()));
  const double raw_verify_per_s = PerSecond(verifies, [&](int) {
    if (crypto_sign_verify_detached(
            sig, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
            reinterpret_cast<const unsigned char*>(key.public_key.data())) != 0) {
      std::abort();
    }
  });

  std::printf("identity benchmark (%s, one thread)\n", quick ? "quick" : "full");
  std::printf("%-28s %14s %14s %8s\n", "operation", "parley/s", "raw/s", "ratio");
  std::printf("%-28s %14.1f %14.1f %8.3f\n", "login (argon2id m=19MiB t=2)", login_per_s,
              raw_login_per_s, login_per_s / raw_login_per_s);
  std::printf("%-28s %14.0f %14.0f %8.3f\n", "access token verify", verify_per_s, raw_verify_per_s,
              verify_per_s / raw_verify_per_s);
  std::printf("BENCH identity login_per_s=%.1f raw_login_per_s=%.1f login_ratio=%.3f\n",
              login_per_s, raw_login_per_s, login_per_s / raw_login_per_s);
  std::printf("BENCH identity verify_per_s=%.0f raw_verify_per_s=%.0f verify_ratio=%.3f\n",
              verify_per_s, raw_verify_per_s, verify_per_s / raw_verify_per_s);
  return 0;
}
