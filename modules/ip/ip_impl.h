// IP's insides, shared by ip.cc (output, local delivery), ip_input.cc (input, ICMP, forwarding),
// arp.cc (address resolution) and ip_driver.cc (the STREAMS multiplexor and its ioctls).
// Private to modules/ip.
//
// Locks (never held across putnext, a transport's Receive, or Scheduler::CancelTimer):
//  - if_mu_ (shared): the interface list and each interface's addresses and flags. Readers take
//    a shared_ptr to an interface and let go.
//  - arp_mu_: every interface's ARP table and pending datagrams, and the ARP timer.
//  - reasm_mu_: the reassembler and its timer.
//  - misc_mu_: the path MTU cache and the ICMP rate limit.
// Order when nested: if_mu_, then one of the others.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "modules/ip/ip.h"
#include "modules/ip/ip_stats.h"
#include "modules/ip/reassembly.h"
#include "streams/scheduler.h"

namespace ustreams::ip {

struct IfAddr {
  uint32_t addr;
  uint8_t prefix_len;
  uint32_t mask() const { return PrefixMask(prefix_len); }
  uint32_t net() const { return addr & mask(); }
  // The directed broadcast address (none for /31 and /32).
  uint32_t broadcast() const { return prefix_len >= 31 ? 0 : (addr | ~mask()); }
};

enum class ArpState : uint8_t { kIncomplete, kReachable, kStale, kStatic };

struct ArpEntry {
  ArpState state = ArpState::kIncomplete;
  MacAddress mac{};
  absl::Time expires;  // incomplete: next retry; reachable: becomes stale; stale: deleted
  int tries = 0;
  std::deque<MsgPtr> pending;  // datagrams (IP header first) waiting for the address
  size_t pending_bytes = 0;
  // The waiting datagrams are being sent (outside arp_mu_): later ones queue behind them, so a
  // sender's datagrams keep their order.
  bool flushing = false;
};

// A lower stream linked under IP: a link, an interface once plumbed.
struct Lower {
  int muxid;
  queue_t* wq;  // l_qbot: putnext(wq, ...) goes down the link
  uint32_t ifindex = 0;  // 0 until IPIOC_PLUMB names it
};

// Where the DLPI conversation of IPIOC_PLUMB stands.
enum class PlumbStep : uint8_t {
  kInfo, kAttach, kBind, kPromisc, kPhysAddr, kInfo2, kRaw, kDone
};

struct Interface {
  uint32_t index = 0;
  std::string name;
  int muxid = 0;
  queue_t* lower_wq = nullptr;
  int ppa = -1;
  MacAddress mac{};
  uint32_t link_mtu = 1500;  // dl_max_sdu
  uint32_t mtu = 1500;       // IPIOC_SETMTU, <= link_mtu
  bool up = false;
  bool running = false;  // plumbing finished
  std::vector<IfAddr> addrs;  // the first is the primary
  absl::flat_hash_map<uint32_t, ArpEntry> arp;  // guarded by arp_mu_

  // IPIOC_PLUMB in progress: the held ioctl and the upper write queue to answer on.
  PlumbStep step = PlumbStep::kInfo;
  mblk_t* plumb_ioctl = nullptr;
  queue_t* plumb_wq = nullptr;

  bool HasAddress(uint32_t a) const {
    for (const IfAddr& x : addrs) {
      if (x.addr == a) return true;
    }
    return false;
  }
  bool IsBroadcastAddress(uint32_t a) const {
    for (const IfAddr& x : addrs) {
      if (x.broadcast() != 0 && x.broadcast() == a) return true;
    }
    return false;
  }
  bool OnLink(uint32_t a) const {
    for (const IfAddr& x : addrs) {
      if ((a & x.mask()) == x.net()) return true;
    }
    return false;
  }
  // The source address for a next hop on this link: the address of its subnet, else the first.
  uint32_t SourceFor(uint32_t next_hop) const {
    for (const IfAddr& x : addrs) {
      if ((next_hop & x.mask()) == x.net()) return x.addr;
    }
    return addrs.empty() ? 0 : addrs.front().addr;
  }
};
using InterfacePtr = std::shared_ptr<Interface>;

class IpImpl {
 public:
  IpImpl(Ip* owner, Domain& d, const IpConfig& config);
  ~IpImpl();

  Ip* owner_;
  Domain& domain_;
  Scheduler& sched_;
  IpConfig config_;
  IpStats stats_;
  RouteTable routes_;
  Classifier classifier_;
  std::atomic<bool> forwarding_;
  std::atomic<uint16_t> next_id_;
  std::atomic<Transport*> transports_[256] = {};

  // ---- interfaces (ip_driver.cc and ip.cc) ----
  mutable std::shared_mutex if_mu_;
  std::vector<InterfacePtr> ifs_;          // by index - 1 (null: removed)
  absl::flat_hash_map<int, Lower*> lowers_;  // by mux id
  InterfacePtr FindInterface(uint32_t index) const;
  InterfacePtr FindInterface(std::string_view name) const;
  // The interface that has addr, and whether it is one of its broadcast addresses.
  InterfacePtr OwnerOf(uint32_t addr) const;
  bool IsLocal(uint32_t addr) const;
  // True if addr is 255.255.255.255 or the directed broadcast address of any interface's subnet.
  bool IsBroadcast(uint32_t addr) const;

  // ---- output (ip.cc) ----
  int Send(const SendArgs& args, MsgPtr payload);
  // Sends dgram to next_hop on ifp: fragments if needed, resolves, transmits.
  int OutputOn(const InterfacePtr& ifp, uint32_t next_hop, bool link_broadcast, uint32_t mtu,
               MsgPtr dgram, bool forwarding);
  // Prepends the Ethernet header and puts the frame down the link.
  void Transmit(const InterfacePtr& ifp, const MacAddress& dst, uint16_t type, MsgPtr packet);
  // Delivers a datagram sent to this stack, from a deferred call.
  void LoopBack(MsgPtr dgram);
  uint32_t PathMtu(uint32_t dst, uint32_t route_mtu, uint32_t if_mtu) const;
  absl::StatusOr<uint32_t> SourceFor(uint32_t dst) const;

  // ---- input (ip_input.cc) ----
  void LinkInput(const InterfacePtr& ifp, MsgPtr frame);
  void Ipv4Input(const InterfacePtr& ifp, MsgPtr packet);  // b_rptr at the IP header
  // A datagram for this stack (whole or a fragment), already validated.
  void LocalInput(uint32_t ifindex, const Ipv4Header& h, MsgPtr dgram, bool broadcast);
  void Deliver(uint32_t ifindex, const Ipv4Header& h, MsgPtr dgram, bool broadcast);
  void IcmpInput(uint32_t ifindex, const Ipv4Header& h, MsgPtr dgram, bool broadcast);
  void Forward(const Ipv4Header& h, MsgPtr dgram);
  // ICMP error `type`/`code` about `offending` (b_rptr at its header). mtu: frag-needed's.
  void SendIcmpError(const MsgPtr& offending, uint8_t type, uint8_t code, uint16_t mtu,
                     uint32_t src_hint);
  void ArmReassemblyTimer();

  std::mutex reasm_mu_;
  Reassembler reasm_;
  absl::Time reasm_timer_at_ = absl::InfiniteFuture();

  mutable std::mutex misc_mu_;
  struct PmtuEntry {
    uint32_t mtu;
    absl::Time expires;
  };
  absl::flat_hash_map<uint32_t, PmtuEntry> pmtu_;
  double icmp_tokens_;
  absl::Time icmp_refill_;
  bool IcmpAllowed();

  // ---- ARP (arp.cc) ----
  std::mutex arp_mu_;
  absl::Time arp_timer_at_ = absl::InfiniteFuture();
  // Sends dgram (header first) to next_hop on ifp once its address is known.
  void Resolve(const InterfacePtr& ifp, uint32_t next_hop, MsgPtr dgram);
  void ArpInput(const InterfacePtr& ifp, const ArpPacket& a);
  // Sends `batch` (taken from the entry for ip, which the caller marked flushing), then whatever
  // queued behind it meanwhile, then clears flushing. Called without arp_mu_.
  void FlushPending(const InterfacePtr& ifp, uint32_t ip, const MacAddress& mac,
                    std::deque<MsgPtr> batch);
  void SendArp(const InterfacePtr& ifp, uint16_t op, uint32_t sender_ip, const MacAddress& dst_mac,
               const MacAddress& target_mac, uint32_t target_ip);
  void AnnounceAddress(const InterfacePtr& ifp, uint32_t addr);  // gratuitous ARP
  void ArmArpTimerLocked(absl::Time when);
  void ArpTimer();
  void FlushArp(const InterfacePtr& ifp);

  // ---- events (ip.cc) ----
  std::mutex ev_mu_;
  std::vector<std::pair<uint64_t, Ip::EventFn>> ev_subs_;
  uint64_t ev_next_ = 1;
  std::atomic<bool> ev_any_{false};
  std::atomic<void*> extensions_[Ip::kExtensionCount] = {};
  void Emit(const IpEvent& e);
  static IpEvent MissEvent(uint32_t dst) {
    IpEvent e;
    e.kind = IpEvent::kMiss;
    e.addr = dst;
    return e;
  }
  // An event about ifp (its name, index, state) of the given kind.
  IpEvent EventOf(const Interface& ifp, IpEvent::Kind kind) const;

  // ---- plumbing (ip_driver.cc) ----
  // Adds or removes the interface route of each address when the interface goes up or down.
  void InterfaceRoutes(const InterfacePtr& ifp, bool add);
  // After an interface route went away: gives each subnet that another up interface still has an
  // address on its route again (one route per prefix, so two interfaces on a subnet share one).
  void RestoreInterfaceRoutes();
  void RemoveInterface(const InterfacePtr& ifp);
  // The stack is going away: links are detached from IP's output and no timer is armed again.
  void Stop();
  bool stopping_ = false;  // guarded by arp_mu_ and reasm_mu_ (both taken to set it)
};

// Copies [off, off + len) of a chain as new blocks sharing the data (dupb), nullptr on failure.
mblk_t* DupRange(const mblk_t* mp, size_t off, size_t len);

}  // namespace ustreams::ip
