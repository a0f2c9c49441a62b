// parley-feed: the feed service alone (graph, posts, comments, likes, timelines).
#include "feed/src/module.h"
#include "parley/config/config.h"
#include "parley/log/log.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"

int main(int argc, char** argv) {
  parley::server::BlockTerminationSignals();
  parley::config::ParseFlags(argc, argv, "parley-feed: Parley's feed service.");
  auto config = parley::server::ReadCommonFlags("parley-feed");
  if (!config.ok()) parley::config::ExitOnInvalidConfig("parley-feed", config.status());
  auto credential = parley::server::LoadServiceCredential(*config, "feed");
  if (!credential.ok()) parley::config::ExitOnInvalidConfig("parley-feed", credential.status());
  auto module = parley::feed::FeedModule::Create(*config, credential->get());
  if (!module.ok()) parley::config::ExitOnInvalidConfig("parley-feed", module.status());
  auto registry = std::make_shared<prometheus::Registry>();
  auto server = parley::server::Server::Start(config->server, (*module)->Hosted(), registry);
  if (!server.ok()) parley::config::ExitOnInvalidConfig("parley-feed", server.status());
  int sig = parley::server::WaitForTerminationSignal();
  parley::log::Info("stopping", {{"signal", sig}});
  (*server)->Drain();
  return 0;
}
