// parley: every implemented Parley service in one process on one port, wired
// together with in-process channels. The embedded default `tools/run` starts.
// Services implemented later add their module here.
#include "feed/src/module.h"
#include "identity/src/module.h"
#include "parley/config/config.h"
#include "parley/log/log.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"

int main(int argc, char** argv) {
  parley::server::BlockTerminationSignals();
  parley::config::ParseFlags(argc, argv, "parley: all Parley services in one process.");
  auto config = parley::server::ReadCommonFlags("parley");
  if (!config.ok()) parley::config::ExitOnInvalidConfig("parley", config.status());
  auto credential = parley::server::LoadServiceCredential(*config, "allinone");
  if (!credential.ok()) parley::config::ExitOnInvalidConfig("parley", credential.status());

  auto identity = parley::identity::IdentityModule::Create(*config, **credential);
  if (!identity.ok()) parley::config::ExitOnInvalidConfig("parley", identity.status());

  // Feed reaches identity through the server's in-process channel, which
  // exists once the server has started; until then its calls wait.
  auto identity_channel = std::make_shared<parley::feed::ChannelSlot>();
  auto feed = parley::feed::FeedModule::Create(*config, credential->get(), identity_channel);
  if (!feed.ok()) parley::config::ExitOnInvalidConfig("parley", feed.status());

  std::vector<parley::server::HostedService> hosted = (*identity)->Hosted();
  for (auto& h : (*feed)->Hosted()) hosted.push_back(h);
  auto registry = std::make_shared<prometheus::Registry>();
  auto server = parley::server::Server::Start(config->server, hosted, registry);
  if (!server.ok()) parley::config::ExitOnInvalidConfig("parley", server.status());
  identity_channel->Set((*server)->InProcessChannel());
  int sig = parley::server::WaitForTerminationSignal();
  parley::log::Info("stopping", {{"signal", sig}});
  (*server)->Drain();
  return 0;
}
