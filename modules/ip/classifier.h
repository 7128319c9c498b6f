// The classifier: which endpoint (a TCP or UDP connection, a listener, a raw socket…) an arriving
// packet belongs to, and which local ports are free to bind. illumos ipclassifier.c's fanouts,
// as data structures without STREAMS. Addresses and ports are in host byte order.
//
// Theory of operation
// -------------------
// Entries are of two kinds:
//  - bound: (protocol, local address or INADDR_ANY, local port), from bind(); a TCP binding is
//    also marked listening by Listen();
//  - connected: the full (protocol, local address, local port, remote address, remote port),
//    from connect(), an accepted connection, or a UDP connect().
// Lookup(packet) tries, in order: the connected entry equal to the packet's five-tuple; the
// bound entries for (protocol, destination address, port); the wildcard ones for (protocol,
// INADDR_ANY, port). For TCP only listening bindings receive from the bound/wildcard levels (a
// bound socket that has not called listen() is not there to take a SYN). Several UDP sockets may
// share one binding (SO_REUSEADDR on all): a unicast lookup gives the most recently bound of
// them, as BSD and Linux do (both search from the head of a list they insert at); LookupAll
// gives every one, for broadcast and multicast.
//
// Bind conflicts follow Linux (inet_csk_bind_conflict for TCP, udp_lib_lport_inuse for UDP),
// SO_REUSEPORT aside. Two entries of the same protocol and port "overlap" when their local
// addresses are equal or either is INADDR_ANY; connected entries take part with their local
// address (this is what makes a restarted server need SO_REUSEADDR while its old connections
// sit in TIME_WAIT). A new binding B conflicts with an overlapping existing entry E — EADDRINUSE
// — unless B and E both have SO_REUSEADDR and E is not listening. Hence:
//  - different specific addresses on one port: always allowed;
//  - a wildcard and a specific binding on one port: only with SO_REUSEADDR on both (BSD would
//    need it on the second one only), and for TCP never two listeners among them;
//  - the same address and port twice: UDP with SO_REUSEADDR on both; TCP with SO_REUSEADDR on
//    both while neither listens (Listen() then admits one listener per overlapping set).
// Listen() re-checks the binding with the same rule, itself excluded: EADDRINUSE if an
// overlapping entry listens or either side lacks SO_REUSEADDR.
// Connect() with a given local port (an accepted connection, or a bound socket connecting) only
// requires its five-tuple to be unused, EADDRINUSE otherwise (BSD in_pcbconnect_setup; Linux says
// EADDRNOTAVAIL), and does not re-check bindings, as neither BSD nor Linux does.
//
// Ephemeral ports (port 0), within a configurable range, default 32768-60999 (Linux's):
//  - Bind: RFC 6056 §3.3.1 (algorithm 1): a random start, then the next ports in turn, taking
//    the first that no entry uses at all.
//  - Connect: RFC 6056 §3.3.4 (algorithm 4, double-hash): the search starts at
//    F(local address, remote address, remote port, protocol) + table[G(same)], F and G halves of
//    a SipHash-2-4 under a per-classifier secret; the table entry advances by the number of
//    ports tried plus a random 0..7, as Linux has since 5.18 (Klein & Pinkas' attack on the
//    double-hash counters). A port qualifies if no binding uses it and no connected entry chose
//    it explicitly (Linux's __inet_hash_connect test), and the five-tuple is unused: one local
//    port serves many destinations. Successive connections are therefore not sequential even to
//    one destination, and unpredictable across destinations.
// EADDRNOTAVAIL when no port qualifies. The secret and the random choices come from the
// injectable random source.
//
// Concurrency: the table is split into 64 shards by (protocol, local port), each a set of
// absl::flat_hash_maps under its own reader/writer lock, as illumos splits its fanouts into
// buckets with a lock each (std::shared_mutex rather than absl::Mutex: Debian's Abseil is built
// without ThreadSanitizer annotations, so TSan could not see absl::Mutex's ordering). Every entry
// that a lookup or a conflict check for one port needs is in that port's shard, so a lookup takes
// one reader lock, and a bind checks and inserts atomically under one writer lock. Ephemeral
// searches are serialised by one more mutex (taken before a shard's), which also guards the random
// source and the double-hash table.
//
// Endpoint lifetime: the classifier holds no reference on an endpoint. An owner unbinds before
// destroying one; a lookup racing the unbind may still return it, so an owner either defers
// destruction past every possible lookup, or has lookups take a reference in `hold`, which runs
// under the shard's reader lock, before Unbind can complete (illumos CONN_INC_REF under the
// fanout lock).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "modules/ip/protocols.h"
#include "modules/ip/siphash.h"

namespace ustreams::ip {


namespace internal {
struct ClassifierShard;  // classifier.cc
}

// An endpoint as the classifier sees it: an opaque pointer (a conn_t*, a socket…), never null.
using Endpoint = void*;

// An entry's or a packet's addressing, from the local side: for an arriving packet laddr and
// lport are its destination, faddr and fport its source. A bound entry has faddr = fport = 0.
struct FiveTuple {
  uint8_t protocol = 0;
  uint32_t laddr = 0;
  uint16_t lport = 0;
  uint32_t faddr = 0;
  uint16_t fport = 0;

  friend bool operator==(const FiveTuple&, const FiveTuple&) = default;
};

struct BindOptions {
  bool reuse_addr = false;  // SO_REUSEADDR
};

struct ClassifierOptions {
  // Linux's default ip_local_port_range; an invalid range (low 0 or above high) means this one.
  uint16_t ephemeral_low = 32768;
  uint16_t ephemeral_high = 60999;
  // The stack's random source (uniform 64-bit values). Default: a generator seeded from
  // std::random_device. Called with an internal mutex held, so it needs no locking of its own.
  std::function<uint64_t()> random;
};

class Classifier {
 public:
  explicit Classifier(ClassifierOptions options = {});
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // Errors carry their errno (modules/ip/errno_status.h).

  // Binds ep to (protocol, laddr, lport); laddr 0 is INADDR_ANY, lport 0 asks for an ephemeral
  // port. Returns the port. EINVAL for a null ep; EADDRINUSE on a conflict (theory of operation);
  // EADDRNOTAVAIL when no ephemeral port is free.
  absl::StatusOr<uint16_t> Bind(uint8_t protocol, uint32_t laddr, uint16_t lport,
                                BindOptions options, Endpoint ep);

  // Marks ep's TCP binding (protocol, laddr, lport) listening. ENOENT if ep has no such binding;
  // EINVAL for a protocol other than TCP; EADDRINUSE on a conflict. Listening twice is a no-op.
  absl::Status Listen(uint8_t protocol, uint32_t laddr, uint16_t lport, Endpoint ep);

  // Enters ep as connected on t, whose laddr, faddr and fport must be set (EINVAL otherwise).
  // t.lport 0 asks for an ephemeral port (RFC 6056 algorithm 4). replaces, if given, is ep's
  // current entry (a binding, or for UDP a previous connection), removed in the same step; it
  // must have t's protocol and port (EINVAL) and exist (ENOENT). Returns the local port.
  // EADDRINUSE if t is in use; EADDRNOTAVAIL when no ephemeral port qualifies.
  absl::StatusOr<uint16_t> Connect(const FiveTuple& t, BindOptions options, Endpoint ep,
                                   const FiveTuple* replaces = nullptr);

  // Removes ep's entry key: connected if key.faddr or key.fport is set, bound otherwise.
  // ENOENT if there is none.
  absl::Status Unbind(const FiveTuple& key, Endpoint ep);

  // The endpoint for an arriving packet, or null. hold, if given, runs on the endpoint found
  // under the shard's reader lock (it must not call the classifier).
  Endpoint Lookup(const FiveTuple& packet) const;
  Endpoint Lookup(const FiveTuple& packet, absl::FunctionRef<void(Endpoint)> hold) const;
  // Calls fn (under the shard's reader lock; it must not call the classifier) for every
  // endpoint that would receive the packet as broadcast or multicast: the connected entry equal
  // to the packet's, then the bindings of the destination address, then the wildcard ones, each
  // level oldest first. Returns how many.
  size_t LookupAll(const FiveTuple& packet, absl::FunctionRef<void(Endpoint)> fn) const;

  // Changes the ephemeral range (EINVAL unless 0 < low <= high).
  absl::Status SetEphemeralRange(uint16_t low, uint16_t high);

  // Entries, bound and connected.
  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  using Shard = internal::ClassifierShard;
  static constexpr size_t kShards = 64;
  static constexpr size_t kPerturbSize = 4096;  // RFC 6056 algorithm 4's table

  // The shard of a port: its bindings, the counts that bind conflicts need, and for protocols
  // other than TCP its connected entries too.
  Shard& PortShard(uint8_t protocol, uint16_t port) const;
  // The shard of a connected entry: for TCP one of conn_shards_ by a hash of the five-tuple,
  // else PortShard.
  Shard& ConnShard(const FiveTuple& t) const;
  // Algorithm 1 for Bind; the search holds alloc_mu_ and takes each candidate's shard lock.
  absl::StatusOr<uint16_t> BindEphemeral(uint8_t protocol, uint32_t laddr, BindOptions options,
                                         Endpoint ep);
  // Algorithm 4 for Connect.
  absl::StatusOr<uint16_t> ConnectEphemeral(const FiveTuple& t, BindOptions options, Endpoint ep);

  std::unique_ptr<Shard[]> port_shards_;
  std::unique_ptr<Shard[]> conn_shards_;
  std::atomic<size_t> size_{0};

  std::mutex alloc_mu_;  // before any shard's mutex
  uint16_t low_ ABSL_GUARDED_BY(alloc_mu_);
  uint16_t high_ ABSL_GUARDED_BY(alloc_mu_);
  std::function<uint64_t()> random_ ABSL_GUARDED_BY(alloc_mu_);
  SipKey secret_ ABSL_GUARDED_BY(alloc_mu_);
  std::vector<uint32_t> perturb_ ABSL_GUARDED_BY(alloc_mu_);
};

}  // namespace ustreams::ip
