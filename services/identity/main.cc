// parley-identity: the identity service alone (organisations, people, tokens).
#include <cstdio>

#include "identity/src/module.h"
#include "parley/config/config.h"
#include "parley/log/log.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"

int main(int argc, char** argv) {
  parley::server::BlockTerminationSignals();
  parley::config::ParseFlags(argc, argv, "parley-identity: Parley's identity service.");
  auto config = parley::server::ReadCommonFlags("parley-identity");
  if (!config.ok()) parley::config::ExitOnInvalidConfig("parley-identity", config.status());
  auto credential = parley::server::LoadServiceCredential(*config, "identity");
  if (!credential.ok()) parley::config::ExitOnInvalidConfig("parley-identity", credential.status());
  auto module = parley::identity::IdentityModule::Create(*config, **credential);
  if (!module.ok()) parley::config::ExitOnInvalidConfig("parley-identity", module.status());
  auto registry = std::make_shared<prometheus::Registry>();
  auto server = parley::server::Server::Start(config->server, (*module)->Hosted(), registry);
  if (!server.ok()) parley::config::ExitOnInvalidConfig("parley-identity", server.status());
  int sig = parley::server::WaitForTerminationSignal();
  parley::log::Info("stopping", {{"signal", sig}});
  (*server)->Drain();
  return 0;
}
