// The IPv4 routing table: longest-prefix match for IP output and forwarding, exact get/add/
// delete/change for the routing socket, ordered walks, flush by interface, change notifications.
// Addresses are uint32_t in host byte order.
//
// Theory of operation
// -------------------
// Lookups go through a multibit trie with strides 6-6-6-6-6-2 whose nodes are compressed with
// bitmaps, in the manner of Poptrie (Asai & Ohara, SIGCOMM 2015): a node has 64 slots (4 at the
// last level); a 64-bit vector marks the slots that have a child, another marks where a run of
// equal "leaves" begins, and two dense arrays hold the children and the runs. A lookup takes the
// next 6 bits of the address as the slot, remembers the slot's leaf (the longest route stored
// in this node covering the slot) and descends to the slot's child if there is one; a popcount
// finds each array index. A route of length L lives in one node only, at depth (L-1)/6 (the
// default route at the root), expanded over the slots it covers; routes from shallower nodes are
// never pushed down, so an update touches one node and its ancestors, whatever its length.
// Why this shape, against the alternatives the table could have had:
//  - a path-compressed binary trie (BSD radix, illumos' rn_*): compact, but a lookup chases one
//    pointer per branching bit, ~17-20 dependent loads with 100k routes; here it is at most 6,
//    4 for the /24s that dominate real tables.
//  - DIR-24-8 (DPDK rte_lpm): 1-2 loads, but 32-64 MiB per table, per stack, and a short prefix
//    rewrites up to 16M entries; several stacks live in one process here.
//  - an uncompressed 64-way trie: 1 KiB per node, ~85 MiB for 100k scattered /24s. Compressed,
//    a sparse node is ~50 bytes: 100k routes shaped like a real table take 5.4 MiB of nodes.
//
// Concurrency: lookups are lock-free (RCU, modules/ip/rcu.h). Nodes are immutable once
// published; a writer copies the path from the root to the node it changes (at most 6 nodes of
// at most 1 KiB), publishes the new root with one atomic store and retires the old path, which is
// freed when no reader can still hold it. A lookup therefore sees one consistent version of the
// table, never a half-made update, and costs no shared-memory write (a reader/writer lock would
// bounce its cache line between every core that routes packets). Writers are serialised by a mutex
// that also guards the exact-match index (an ordered map, used by Get, Walk and the writers).
// Updates are "occasional": each costs a few microseconds (path copy plus up to 6 index probes).
//
// Validation (Add, Change; prefix arguments of Delete and Get): EINVAL for a prefix length
// outside 0..32, host bits set outside the mask (10.0.0.1/8 is refused as Linux refuses it,
// not silently masked as 4.4BSD's rtrequest does), RTF_HOST with a length other than 32, and
// RTF_GATEWAY with a zero gateway. Flags are otherwise stored and returned as given: Lookup
// returns the longest match whatever its flags, and IP acts on RTF_REJECT and RTF_BLACKHOLE.
// One route per prefix and length (no multipath; RTF_MULTIRT is not interpreted).
//
// Notifications: after each change a subscriber receives {kRouteAdd | kRouteDelete | kRouteChange,
// route} (kRouteDelete carries the route as it was, kRouteChange the new one), in the order the
// changes were made, once each, one at a time. The thread that made a change delivers it before
// its call returns, unless another thread is delivering at that moment: then that thread
// delivers it too before it stops. Callbacks may call any method of the table, mutators
// included (their changes are delivered after the current one), except Subscribe and
// Unsubscribe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "modules/ip/rcu.h"

#if defined(RTF_UP)
#error \
    "modules/ip/route.h defines the BSD/illumos RTF_* values; do not include the host's <net/route.h> (Linux's values differ) in the same file"
#endif

namespace ustreams::ip {

// Route flags, bit for bit those of illumos usr/src/uts/common/net/route.h (and 4.4BSD), so the
// routing socket passes rtm_flags through unchanged.
enum RouteFlag : uint32_t {
  RTF_UP = 0x1,            // route usable
  RTF_GATEWAY = 0x2,       // destination is reached through a gateway
  RTF_HOST = 0x4,          // host entry (net otherwise)
  RTF_REJECT = 0x8,        // host or net unreachable: IP answers with ICMP unreachable
  RTF_DYNAMIC = 0x10,      // created dynamically (by redirect)
  RTF_MODIFIED = 0x20,     // modified dynamically (by redirect)
  RTF_DONE = 0x40,         // message confirmed
  RTF_MASK = 0x80,         // subnet mask present
  RTF_CLONING = 0x100,     // generate new routes on use
  RTF_XRESOLVE = 0x200,    // external daemon resolves name
  RTF_LLINFO = 0x400,      // generated by ARP
  RTF_STATIC = 0x800,      // manually added
  RTF_BLACKHOLE = 0x1000,  // silently discard packets
  RTF_PRIVATE = 0x2000,    // do not advertise this route
  RTF_PROTO2 = 0x4000,     // protocol specific routing flag
  RTF_PROTO1 = 0x8000,     // protocol specific routing flag
  RTF_MULTIRT = 0x10000,   // multiroute
  RTF_SETSRC = 0x20000,    // set default outgoing source address
  RTF_INDIRECT = 0x40000,  // gateway not directly reachable (illumos)
  RTF_KERNEL = 0x80000,    // created by the kernel; cannot be deleted (illumos)
};

// The routing message types of the notifications (values of illumos/BSD rtm_type).
enum RouteMsgType : uint8_t {
  kRouteAdd = 0x1,
  kRouteDelete = 0x2,
  kRouteChange = 0x3,
};

struct Route {
  uint32_t dst = 0;         // destination prefix; bits beyond prefix_len are zero
  uint8_t prefix_len = 0;   // 0 (default route) .. 32 (host route)
  uint32_t gateway = 0;     // next hop; 0 = directly connected (the destination is on-link)
  uint32_t ifindex = 0;     // outgoing interface
  uint32_t flags = RTF_UP;  // RouteFlag bits
  uint32_t metric = 0;
  uint32_t mtu = 0;  // 0 = the interface's MTU
  uint32_t src = 0;  // preferred source address; 0 = IP chooses
  // Added by IP itself when an address came up on ifindex (illumos IRE_INTERFACE); the routing
  // socket reports it like any other route.
  bool interface_route = false;

  friend bool operator==(const Route&, const Route&) = default;
};

// The netmask of a prefix length (0..32), host order.
constexpr uint32_t PrefixMask(int prefix_len) {
  return prefix_len <= 0 ? 0u : prefix_len >= 32 ? ~0u : ~0u << (32 - prefix_len);
}

// EINVAL unless 0 <= prefix_len <= 32 and dst has no bits outside the mask.
absl::Status ValidatePrefix(uint32_t dst, int prefix_len);
// ValidatePrefix plus the flag rules of the theory of operation.
absl::Status ValidateRoute(const Route& route);

struct RouteChange {
  RouteMsgType type;
  Route route;
  // What the changer passed as `origin` (0 for IP's own changes): lets a subscriber recognise
  // the changes it made itself (a routing socket echoes those with the writer's pid and seq).
  uint64_t origin = 0;
};

namespace internal {
struct TrieNode;
}

class RouteTable {
 public:
  using Callback = std::function<void(const RouteChange&)>;
  using SubscriptionId = uint64_t;

  RouteTable();
  // No lookup may be running; pending notifications are dropped.
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Errors carry their errno (modules/ip/errno_status.h): EINVAL (validation), EEXIST (a route
  // with this prefix and length exists), ESRCH (no such route, or gateway given and different).
  // `origin` is handed to the subscribers with the change (RouteChange::origin).
  absl::Status Add(const Route& route, uint64_t origin = 0);
  absl::Status Delete(uint32_t dst, int prefix_len, std::optional<uint32_t> gateway = std::nullopt,
                      uint64_t origin = 0);
  // Replaces every attribute of the route with route.dst/route.prefix_len.
  absl::Status Change(const Route& route, uint64_t origin = 0);
  absl::StatusOr<Route> Get(uint32_t dst, int prefix_len) const;

  // The longest prefix matching addr, or nullopt. Lock-free (see the theory of operation).
  std::optional<Route> Lookup(uint32_t addr) const;

  // Calls fn with a copy of every route in ascending (dst, prefix_len) order, until it returns
  // false. The copies are taken first, so fn may call anything, and sees no later change.
  void Walk(absl::FunctionRef<bool(const Route&)> fn) const;

  // Deletes every route on ifindex (interface routes included), notifying kRouteDelete for each.
  // Returns how many.
  size_t FlushInterface(uint32_t ifindex);
  // Deletes every route for which pred is true (called under the table's lock: pred must not
  // call the table). Returns how many.
  size_t FlushIf(absl::FunctionRef<bool(const Route&)> pred);

  size_t size() const;
  struct Stats {
    size_t routes = 0;
    size_t trie_nodes = 0;
    size_t trie_bytes = 0;  // requested by the trie's nodes, allocator overhead excluded
    size_t trie_depth = 0;  // levels on the longest path
    size_t retired = 0;     // retired nodes and routes not yet freed
  };
  Stats GetStats() const;
  // Incremented by every change, for callers that cache lookups (as illumos IRE generations).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Subscribers receive the changes made after Subscribe returns. After Unsubscribe returns
  // the callback is not running and is not called again. Neither may be called from a callback.
  SubscriptionId Subscribe(Callback cb);
  void Unsubscribe(SubscriptionId id);

 private:
  static uint64_t Key(uint32_t dst, int prefix_len) {
    return (uint64_t{dst} << 8) | static_cast<uint64_t>(prefix_len);
  }
  // The longest route stored in the same trie node as dst/prefix_len that covers it, with a
  // shorter length: what its slots fall back to when it is deleted.
  const Route* InNodeFallback(uint32_t dst, int prefix_len) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the route at it from the trie and the index, retiring it; queues kRouteDelete.
  void EraseLocked(absl::btree_map<uint64_t, const Route*>::iterator it, uint64_t origin)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes a new root, retires the replaced nodes and old_route, bumps the generation.
  void PublishLocked(const internal::TrieNode* root,
                     const std::vector<const internal::TrieNode*>& old_nodes,
                     const Route* old_route) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyLocked(RouteMsgType type, const Route& route, uint64_t origin)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Delivers the queued notifications (see the theory of operation). Called without mu_.
  void Deliver() ABSL_LOCKS_EXCLUDED(mu_, delivery_mu_);

  // std:: mutexes, not absl::Mutex: Debian's Abseil is built without ThreadSanitizer
  // annotations, so TSan could not see absl::Mutex's ordering. Lock order: delivery_mu_, mu_.
  mutable std::mutex delivery_mu_;
  std::vector<std::pair<SubscriptionId, Callback>> subscribers_ ABSL_GUARDED_BY(delivery_mu_);
  SubscriptionId next_subscription_ ABSL_GUARDED_BY(delivery_mu_) = 1;

  mutable std::shared_mutex mu_;
  // Every route, owned; the trie's leaves point at these same immutable objects.
  absl::btree_map<uint64_t, const Route*> index_ ABSL_GUARDED_BY(mu_);
  RcuRetireList retired_ ABSL_GUARDED_BY(mu_);
  std::deque<RouteChange> pending_ ABSL_GUARDED_BY(mu_);
  size_t subscriber_count_ ABSL_GUARDED_BY(mu_) = 0;

  // Written under mu_, read by lookups inside an RCU read section.
  std::atomic<const internal::TrieNode*> root_{nullptr};
  std::atomic<uint64_t> generation_{0};
};

}  // namespace ustreams::ip
