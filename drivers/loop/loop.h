// The loop link driver: in-memory Ethernet links between STREAMS domains (stacks), with seeded,
// reproducible impairments. The backbone of the integration tests and the demo (DESIGN.md §5).
//
//   LoopNetwork net({.seed = 7});
//   auto [a, b] = net.AddWire();                       // ports 0 and 1 (the PPAs)
//   net.SetImpairments(a, LinkDir::kOut, {.loss = 0.01, .delay = absl::Milliseconds(5)});
//   RegisterLoopDriver(stack_a.domain(), net);          // "/dev/loop" in each stack
//   RegisterLoopDriver(stack_b.domain(), net);
//   // stack A: open /dev/loop, DL_ATTACH_REQ ppa a, DL_BIND_REQ 0x0800 ... ; stack B: ppa b.
//
// Theory of operation
// -------------------
// A LoopNetwork holds ports joined into segments: a wire (two ports), a hub (N ports, every frame
// repeated to all others) or a learning switch (N ports; a frame goes to the port its destination
// was last seen on as a source, and is flooded when unknown, broadcast or multicast). A port is a
// network card: a MAC address (02:00:ii:ii:pp:pp from the network id and port number, or what
// DL_SET_PHYS_ADDR_REQ set), an MTU, and a cable to its segment with two directions — kOut (port
// to segment) and kIn (segment to port) — each with its own impairments, random source and
// counters. The A→B direction of a wire is A's kOut followed by B's kIn; set the impairment on
// either.
//
// STREAMS reach ports through the "loop" driver (driver.cc), a DLPI style-2 provider: a stream
// opens unattached and DL_ATTACH_REQ with dl_ppa = port number attaches it to that port of the
// network its domain registered the driver for. Any number of streams of one domain may share a
// port (IP bound to 0x0800 and ARP bound to 0x0806, a snoop in promiscuous mode); the domain of a
// port's first stream is the port's home until its last stream detaches, and another domain's
// DL_ATTACH_REQ meanwhile gets DL_BUSY.
//
// A frame sent by a stream goes through its port's kOut direction at the sender's clock, is copied
// to the segment's target ports, goes through each target's kIn direction, and lands in the
// target's arrival queue with an arrival time. Each port has one delivery timer on its home
// domain's scheduler; when it fires, the frames due are handed in arrival order (ties in send
// order) to the port's streams with put() on each stream's driver read queue — so each stack's
// own scheduler (its threads, or its virtual clock) drives its receive side, one batch at a time
// per port, and a port never delivers out of order unless the reorder impairment says so.
//
// Times are absolute, on one timeline for every domain of a network: threaded domains all read
// the steady clock, and deterministic ones are stepped together from a common start by a
// Lockstep (lockstep.h) — do not mix the two kinds on one network.
//
// Impairments per direction, applied in this order to each frame (impair.h has the details):
// MTU (payload longer than `mtu` dropped), loss, rate limit (serialisation at rate_bps; kOut makes
// the sender wait, flow-controlling the stream above; kIn tail-drops beyond queue_bytes), delay
// plus uniform jitter (order kept), reordering (a frame held back by reorder_gap so later ones
// overtake it), corruption (one random bit of the payload flipped), duplication (a second copy
// right behind the first). Each direction draws from its own xoshiro256** stream seeded from the
// network seed, the port and the direction, and draws only for the knobs that are on: the same
// seed, configuration and traffic give the same losses, delays and flips every run.
//
// Memory is bounded: a port's transmit queue (the driver's write queue) is flow controlled; a
// rate-limited kIn direction holds at most queue_bytes; and every frame in flight counts against
// Options::max_in_flight_bytes (beyond it frames are dropped as overflow). Frames in flight to a
// port whose streams all went away (closed, detached, their domain destroyed) are dropped and
// counted as rx_abandoned; frames sent to a port with no stream are dropped as rx_no_receiver.
//
// Ownership: the network's state lives in a shared core; the LoopNetwork object, each open loop
// stream and each pending delivery timer hold it, so domains and the network may be destroyed in
// any order (a stream opened after its network went away fails with ENXIO).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "streams/domain.h"

namespace ustreams {

namespace loop_internal {
class NetCore;
}

// A 6-byte IEEE 802 address.
struct MacAddr {
  std::array<uint8_t, 6> octets{};

  static MacAddr Broadcast() { return MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  static MacAddr FromBytes(const uint8_t* p) {
    MacAddr m;
    for (int i = 0; i < 6; i++) m.octets[i] = p[i];
    return m;
  }
  bool IsBroadcast() const { return *this == Broadcast(); }
  bool IsGroup() const { return (octets[0] & 1) != 0; }  // multicast or broadcast
  std::string ToString() const;  // "02:00:00:01:00:00"

  friend bool operator==(const MacAddr& a, const MacAddr& b) { return a.octets == b.octets; }
  friend bool operator!=(const MacAddr& a, const MacAddr& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const MacAddr& m) {
    return H::combine(std::move(h), m.octets);
  }
};

// Ethernet framing as the driver builds it: destination, source, type (big-endian on the wire).
inline constexpr size_t kEtherHeaderLen = 14;
inline constexpr uint16_t kEtherTypeIPv4 = 0x0800;
inline constexpr uint16_t kEtherTypeARP = 0x0806;
inline constexpr uint16_t kEtherTypeIPv6 = 0x86dd;

// One direction of a port's cable. Every knob off (the default) is a perfect link.
struct Impairments {
  double loss = 0;                                  // probability a frame is dropped
  absl::Duration delay = absl::ZeroDuration();      // fixed propagation delay
  absl::Duration jitter = absl::ZeroDuration();     // plus uniform [0, jitter]; order is kept
  double reorder = 0;                               // probability a frame is held back ...
  absl::Duration reorder_gap = absl::Milliseconds(10);  // ... by this much
  double duplicate = 0;                             // probability of a second copy
  double corrupt = 0;                               // probability one payload bit is flipped
  uint64_t rate_bps = 0;                            // serialisation rate; 0 = unlimited
  size_t queue_bytes = 64 * 1024;                   // rate-limited backlog bound
  uint32_t mtu = 0;                                 // payload bytes that pass; 0 = no limit
};

enum class LinkDir { kOut, kIn };  // port → segment, segment → port

// Counters of one direction. "offered" counts what entered it; "passed" what left it (a
// duplicate counts twice); each drop reason on its own.
struct DirStats {
  uint64_t offered_frames = 0, offered_bytes = 0;
  uint64_t passed_frames = 0, passed_bytes = 0;
  uint64_t dropped_loss = 0;
  uint64_t dropped_mtu = 0;
  uint64_t dropped_queue = 0;     // kIn: rate-limited backlog over queue_bytes
  uint64_t dropped_overflow = 0;  // the network's in-flight bound (or no memory for a copy)
  uint64_t duplicated = 0, corrupted = 0, reordered = 0;
};

// Counters of a port: its two directions and what its streams did. Byte counts are frame bytes
// (Ethernet header included).
struct PortStats {
  DirStats out, in;
  uint64_t tx_frames = 0, tx_bytes = 0;  // handed to the network by the port's streams
  uint64_t tx_oversize = 0;   // refused by the driver: payload over the port's MTU
  uint64_t tx_malformed = 0;  // M_DATA without a whole Ethernet header, or not bound
  uint64_t rx_frames = 0, rx_bytes = 0;  // delivered to at least one stream
  uint64_t rx_filtered = 0;      // arrived, but no stream of the port wanted it (address, SAP)
  uint64_t rx_no_receiver = 0;   // sent to the port while no stream was attached
  uint64_t rx_abandoned = 0;     // in flight when the port's last stream (or its domain) went
  uint64_t rx_overflow = 0;      // a stream's read side was full (or no memory for a copy)
};

class LoopNetwork {
 public:
  struct Options {
    uint64_t seed = 1;    // the impairments' random streams derive from it
    uint16_t id = 1;      // goes into the ports' MAC addresses
    uint32_t mtu = 1500;  // the ports' MTU (dl_max_sdu) unless SetMtu says otherwise
    size_t max_in_flight_bytes = 64 << 20;
  };

  LoopNetwork();
  explicit LoopNetwork(Options options);
  ~LoopNetwork();
  LoopNetwork(const LoopNetwork&) = delete;
  LoopNetwork& operator=(const LoopNetwork&) = delete;

  // Segments. Ports are numbered from 0 across the network in creation order; the numbers are
  // the dl_ppa values of DL_ATTACH_REQ. n >= 2 for hubs and switches.
  std::pair<int, int> AddWire();
  std::vector<int> AddHub(int n);
  std::vector<int> AddSwitch(int n);
  int ports() const;

  // InvalidArgument for an unknown port or out-of-range values (probabilities outside [0,1],
  // negative durations, queue_bytes 0 with a rate). Takes effect for the next frame; the
  // direction's random stream goes on where it was.
  absl::Status SetImpairments(int port, LinkDir dir, const Impairments& imp);
  absl::Status SetImpairments(int port, const Impairments& imp);  // both directions
  // The port's MTU: the payload a frame may carry (DL_INFO_ACK dl_max_sdu). 68..65535.
  absl::Status SetMtu(int port, uint32_t mtu);

  // The port's current MAC address (all zeros for an unknown port).
  MacAddr Mac(int port) const;
  PortStats Stats(int port) const;
  // Frames in flight (sent, not yet delivered or dropped) anywhere in the network.
  size_t in_flight_frames() const;

  const std::shared_ptr<loop_internal::NetCore>& core() const { return core_; }

 private:
  std::shared_ptr<loop_internal::NetCore> core_;
};

// Registers the loop driver in d under `name` (a clone device: every open of "/dev/<name>" is a
// new, unattached stream), reaching the ports of `net`. A domain on two networks registers the
// driver twice under two names. AlreadyExists if d already has a driver by that name.
//
// DLPI specifics (driver.cc has the full conversation rules):
//   - style 2, DL_ETHER, DL_CLDLS, DL_VERSION_2; dl_addr_length 8 (MAC + 16-bit SAP in host
//     order), dl_sap_length -2, broadcast ff:ff:ff:ff:ff:ff; dl_max_sdu the port's MTU.
//   - DL_BIND_REQ: an Ethertype 0x0600..0xffff, or 0..1500 for 802.3 frames (their type field
//     is a length); anything else is DL_BADSAP.
//   - The fast path: after DL_BIND_ACK, M_DATA written down that starts with a whole Ethernet
//     header is sent as it is (IP prepends the header into its headroom; DL_IOC_HDR_INFO, as on
//     illumos, hands out the header to prepend and switches received frames to M_DATA without
//     the header). DLIOCRAW switches received frames to M_DATA with the header, so the upper
//     side sees exactly the frame on the wire. DL_UNBIND_REQ returns to DL_UNITDATA_IND.
absl::Status RegisterLoopDriver(Domain& d, LoopNetwork& net, std::string_view name = "loop");

}  // namespace ustreams
