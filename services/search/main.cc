// parley-search: full-text search of posts, people and groups alone.
#include "parley/config/config.h"
#include "parley/log/log.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"
#include "search/src/module.h"

int main(int argc, char** argv) {
  parley::server::BlockTerminationSignals();
  parley::config::ParseFlags(argc, argv, "parley-search: Parley's search.");
  auto config = parley::server::ReadCommonFlags("parley-search");
  if (!config.ok()) parley::config::ExitOnInvalidConfig("parley-search", config.status());
  auto credential = parley::server::LoadServiceCredential(*config, "search");
  if (!credential.ok()) parley::config::ExitOnInvalidConfig("parley-search", credential.status());
  auto module = parley::search::SearchModule::Create(*config, credential->get());
  if (!module.ok()) parley::config::ExitOnInvalidConfig("parley-search", module.status());
  auto server = parley::server::Server::Start(config->server, (*module)->Hosted(),
                                              std::make_shared<prometheus::Registry>());
  if (!server.ok()) parley::config::ExitOnInvalidConfig("parley-search", server.status());
  int sig = parley::server::WaitForTerminationSignal();
  parley::log::Info("stopping", {{"signal", sig}});
  (*server)->Drain();
  return 0;
}
