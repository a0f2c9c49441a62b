// parley: every implemented Parley service in one process on one port, wired
// together with in-process channels. The embedded default `tools/run` starts.
// Services implemented later add their module here.
#include "feed/src/module.h"
#include "identity/src/module.h"
#include "notify/src/module.h"
#include "parley/config/config.h"
#include "parley/log/log.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"
#include "search/src/module.h"

int main(int argc, char** argv) {
  parley::server::BlockTerminationSignals();
  parley::config::ParseFlags(argc, argv, "parley: all Parley services in one process.");
  auto config = parley::server::ReadCommonFlags("parley");
  if (!config.ok()) parley::config::ExitOnInvalidConfig("parley", config.status());
  auto credential = parley::server::LoadServiceCredential(*config, "allinone");
  if (!credential.ok()) parley::config::ExitOnInvalidConfig("parley", credential.status());

  // Services reach each other through the server's in-process channel, which
  // exists once the server has started; until then their calls wait.
  auto self = std::make_shared<parley::server::ChannelSlot>();
  auto identity = parley::identity::IdentityModule::Create(*config, **credential, self);
  if (!identity.ok()) parley::config::ExitOnInvalidConfig("parley", identity.status());
  auto registry = std::make_shared<prometheus::Registry>();
  auto notify = parley::notify::NotifyModule::Create(*config, credential->get(), *registry, self);
  if (!notify.ok()) parley::config::ExitOnInvalidConfig("parley", notify.status());
  auto search = parley::search::SearchModule::Create(*config, credential->get(), self, self);
  if (!search.ok()) parley::config::ExitOnInvalidConfig("parley", search.status());
  auto feed = parley::feed::FeedModule::Create(*config, credential->get(), self, self, self);
  if (!feed.ok()) parley::config::ExitOnInvalidConfig("parley", feed.status());

  std::vector<parley::server::HostedService> hosted = (*identity)->Hosted();
  for (auto& h : (*feed)->Hosted()) hosted.push_back(h);
  for (auto& h : (*notify)->Hosted()) hosted.push_back(h);
  for (auto& h : (*search)->Hosted()) hosted.push_back(h);
  auto server = parley::server::Server::Start(config->server, hosted, registry);
  if (!server.ok()) parley::config::ExitOnInvalidConfig("parley", server.status());
  self->Set((*server)->InProcessChannel());
  int sig = parley::server::WaitForTerminationSignal();
  parley::log::Info("stopping", {{"signal", sig}});
  (*notify)->StopStreams();
  (*server)->Drain();
  return 0;
}
