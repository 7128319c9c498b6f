// The config tool's back half: builds a validated Config (config.h) into a running network of
// stacks, through the calls an application makes.
//
//   absl::StatusOr<std::unique_ptr<Network>> net = Build(*config);
//   Stack* r = (*net)->stack("r");
//   (*net)->Run();                       // deterministic stacks: step them together
//
// Build order, each step only after the one before succeeded for every stack:
//   1. the LoopNetwork: one segment per link (AddWire/AddHub/AddSwitch), port MTUs, impairments
//      on every port's outgoing direction;
//   2. the Stacks (IpConfig from the tunables), each with "/dev/loop" for the network; with
//      deterministic stacks a Lockstep to step their clocks as one;
//   3. per stack: the autopush entries (SAD_SAP on "/dev/sad/admin", the driver's major from the
//      stack's registry), then an "ip" stream the builder keeps (the upper stream of every link),
//      then per interface: us_open("/dev/loop"), I_PUSH each module (and its PCAP_IOC_OPEN or
//      TRACE_IOC_LOG), I_LIST (what the graph shows: a linked stream answers no ioctl), I_PLINK
//      under the ip stream, I_STR IPIOC_PLUMB (the port), IPIOC_ADDADDR (each address),
//      IPIOC_SETMTU, IPIOC_SETFLAGS IPIF_UP — Stack::AddLoopInterface's sequence with pushes;
//   4. per stack: the routes, as RTM_ADD messages written to a "/dev/rts" stream
//      (routing_socket.h); the write fails with the errno the routing socket answers.
// A failure stops the build and returns the error prefixed with the FILE:LINE of the field that
// asked for the step; the half-made network is torn down with the Network object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "drivers/loop/lockstep.h"
#include "drivers/loop/loop.h"
#include "modules/stack/stack.h"
#include "tools/config/config.h"

namespace ustreams::config {

struct BuildOptions {
  // Virtual time, no threads: the network moves only when Run/Advance step it (tests, stackctl).
  bool deterministic = true;
  int workers = 2;  // per stack, when threaded
};

class Network {
 public:
  // A link stream as the builder made it.
  struct LinkStream {
    std::string ifname;
    uint32_t ifindex = 0;
    int muxid = 0;
    int port = 0;                      // the network's port number (dl_ppa)
    std::vector<std::string> modules;  // I_LIST before linking: top first, the driver last
  };
  // A stack and the streams the builder holds on it.
  struct StackState {
    std::string name;
    std::unique_ptr<Stack> stack;
    int ip_fd = -1;  // the "ip" stream every link is linked under
    std::vector<LinkStream> links;
  };
  // Who sits on a port of the loop network.
  struct PortOwner {
    size_t link = 0;    // index into config().links
    int link_port = 0;  // within the link
    std::string stack;  // empty: nobody
    std::string ifname;
  };

  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const Config& config() const { return config_; }
  LoopNetwork& loop() { return *loop_; }
  // nullptr for a name the config does not have.
  Stack* stack(std::string_view name);
  const StackState* state(std::string_view name) const;
  const std::vector<StackState>& stacks() const { return stacks_; }
  // By the network's port number.
  const std::vector<PortOwner>& ports() const { return ports_; }
  // The network's port numbers of link i, in the link's order.
  const std::vector<int>& link_ports(size_t i) const { return link_ports_[i]; }

  bool deterministic() const { return clock_ != nullptr; }
  // Deterministic: runs everything runnable now on every stack (false on a livelock).
  // Threaded: returns true at once.
  bool Run();
  // Deterministic: moves the shared clock on by d, running what falls due. Threaded: no-op.
  void Advance(absl::Duration d);
  Lockstep* clock() { return clock_.get(); }

 private:
  friend absl::StatusOr<std::unique_ptr<Network>> Build(const Config&, BuildOptions);
  explicit Network(const Config& c) : config_(c) {}

  Config config_;
  // Declaration order is destruction order reversed: the clock, then the stacks (after their
  // streams are closed by ~Network), then the loop network.
  std::unique_ptr<LoopNetwork> loop_;
  std::vector<std::vector<int>> link_ports_;
  std::vector<PortOwner> ports_;
  std::vector<StackState> stacks_;
  std::unique_ptr<Lockstep> clock_;
};

// I_LIST on a stream of the calling thread's current domain: its modules from the top, the driver
// last (empty if the ioctl fails, e.g. on a linked stream).
std::vector<std::string> ListModules(int fd);

// Builds the network. The config must come from Parse/Load* (it is not checked again).
absl::StatusOr<std::unique_ptr<Network>> Build(const Config& config, BuildOptions options = {});

}  // namespace ustreams::config
