// stackctl: the config tool's command line (config.h, network.h, graph.h, stats.h).
//
//   stackctl check [FILE]          validate; "FILE: ok" or one "FILE:LINE: ..." per problem
//   stackctl graph [--dot] [FILE]  build and print the module graph (text or Graphviz DOT)
//   stackctl stats [--json] [FILE] build, let it settle, print the counters (text or JSON)
//   stackctl routes [FILE]         build and print each stack's routing table
//   stackctl arp [FILE]            build and print each stack's ARP cache
//   stackctl default               print the embedded default network
//
// FILE "-" is standard input; without FILE the embedded default network is used. Networks are
// built with deterministic stacks (virtual time), so the output is the same on every run.
// Exit status: 0 done, 1 the file is invalid or the build failed, 2 usage.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/config/config.h"
#include "tools/config/graph.h"
#include "tools/config/network.h"
#include "tools/config/stats.h"

namespace ustreams::config {
namespace {

int Usage() {
  std::cerr << "usage: stackctl check [FILE]\n"
               "       stackctl graph [--dot] [FILE]\n"
               "       stackctl stats [--json] [FILE]\n"
               "       stackctl routes [FILE]\n"
               "       stackctl arp [FILE]\n"
               "       stackctl default\n"
               "FILE \"-\" reads standard input; no FILE: the embedded default network.\n";
  return 2;
}

absl::StatusOr<Config> Load(const std::string& file) {
  if (file.empty()) return LoadDefault();
  if (file == "-") {
    std::string text(std::istreambuf_iterator<char>(std::cin), {});
    return LoadText(text, "<stdin>");
  }
  return LoadFile(file);
}

int Main(std::vector<std::string> args) {
  if (args.empty()) return Usage();
  const std::string cmd = args[0];
  bool dot = false, json = false;
  std::string file;
  for (size_t i = 1; i < args.size(); i++) {
    if (args[i] == "--dot" && cmd == "graph") {
      dot = true;
    } else if (args[i] == "--json" && cmd == "stats") {
      json = true;
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      std::cerr << "stackctl: unknown option " << args[i] << "\n";
      return Usage();
    } else if (file.empty()) {
      file = args[i];
    } else {
      return Usage();
    }
  }
  if (cmd == "default") {
    std::cout << kDefaultConfig;
    return 0;
  }
  if (cmd != "check" && cmd != "graph" && cmd != "stats" && cmd != "routes" && cmd != "arp") {
    std::cerr << "stackctl: unknown command " << cmd << "\n";
    return Usage();
  }
  absl::StatusOr<Config> config = Load(file);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 1;
  }
  if (cmd == "check") {
    std::cout << config->file << ": ok (" << config->stacks.size() << " stacks, "
              << config->links.size() << " links)\n";
    return 0;
  }
  absl::StatusOr<std::unique_ptr<Network>> net = Build(*config);
  if (!net.ok()) {
    std::cerr << net.status().message() << "\n";
    return 1;
  }
  if (cmd == "graph") {
    std::cout << (dot ? GraphDot(**net) : GraphText(**net));
    return 0;
  }
  pb::NetworkStats stats = CollectStats(**net);
  if (cmd == "routes") {
    std::cout << RoutesText(stats);
  } else if (cmd == "arp") {
    std::cout << ArpText(stats);
  } else if (json) {
    absl::StatusOr<std::string> j = StatsJson(stats);
    if (!j.ok()) {
      std::cerr << j.status().message() << "\n";
      return 1;
    }
    std::cout << *j << "\n";
  } else {
    std::cout << StatsText(stats);
  }
  return 0;
}

}  // namespace
}  // namespace ustreams::config

int main(int argc, char** argv) {
  return ustreams::config::Main(std::vector<std::string>(argv + 1, argv + argc));
}
