// parley-notify: notifications (inbox, real-time stream) and presence alone.
#include "notify/src/module.h"
#include "parley/config/config.h"
#include "parley/log/log.h"
#include "parley/server/flags.h"
#include "parley/server/server.h"

int main(int argc, char** argv) {
  parley::server::BlockTerminationSignals();
  parley::config::ParseFlags(argc, argv, "parley-notify: Parley's notifications and presence.");
  auto config = parley::server::ReadCommonFlags("parley-notify");
  if (!config.ok()) parley::config::ExitOnInvalidConfig("parley-notify", config.status());
  auto credential = parley::server::LoadServiceCredential(*config, "notify");
  if (!credential.ok()) parley::config::ExitOnInvalidConfig("parley-notify", credential.status());
  auto registry = std::make_shared<prometheus::Registry>();
  auto module = parley::notify::NotifyModule::Create(*config, credential->get(), *registry);
  if (!module.ok()) parley::config::ExitOnInvalidConfig("parley-notify", module.status());
  auto server = parley::server::Server::Start(config->server, (*module)->Hosted(), registry);
  if (!server.ok()) parley::config::ExitOnInvalidConfig("parley-notify", server.status());
  int sig = parley::server::WaitForTerminationSignal();
  parley::log::Info("stopping", {{"signal", sig}});
  (*module)->StopStreams();
  (*server)->Drain();
  return 0;
}
