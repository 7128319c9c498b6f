#include "modules/ip/classifier.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <shared_mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "modules/ip/errno_status.h"

namespace ustreams::ip {
namespace internal {
namespace {

struct BoundEntry {
  Endpoint ep;
  bool reuse_addr;
  bool listening;
};

struct ConnEntry {
  Endpoint ep;
  bool reuse_addr;
  bool port_chosen;  // Connect picked the port (it may serve other destinations too)
};

// The five-tuple packed into two words for hashing.
struct ConnKey {
  uint64_t addrs;  // laddr:faddr
  uint64_t rest;   // protocol:lport:fport
  friend bool operator==(const ConnKey&, const ConnKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ConnKey& k) {
    return H::combine(std::move(h), k.addrs, k.rest);
  }
};

ConnKey ConnKeyOf(const FiveTuple& t) {
  return ConnKey{(uint64_t{t.laddr} << 32) | t.faddr,
                 (uint64_t{t.protocol} << 32) | (uint64_t{t.lport} << 16) | t.fport};
}

uint64_t BindKey(uint8_t protocol, uint16_t port, uint32_t laddr) {
  return (uint64_t{protocol} << 48) | (uint64_t{port} << 32) | laddr;
}

uint32_t PortKey(uint8_t protocol, uint16_t port) { return (uint32_t{protocol} << 16) | port; }

struct ConnCounts {
  uint32_t total = 0;
  uint32_t no_reuse = 0;  // without SO_REUSEADDR
};

// Everything on one (protocol, port) that conflict checks and port choice look at.
struct PortUse {
  absl::InlinedVector<uint32_t, 2> bound_addrs;  // distinct local addresses with bindings
  uint32_t bound = 0;                            // bound entries
  uint32_t conn_explicit = 0;                    // connected entries whose port was given
  ConnCounts conn_all;
  absl::flat_hash_map<uint32_t, ConnCounts> conn_by_addr;
  bool empty() const { return bound == 0 && conn_all.total == 0; }
};

}  // namespace

struct alignas(64) ClassifierShard {
  mutable std::shared_mutex mu;
  absl::flat_hash_map<ConnKey, ConnEntry> conn ABSL_GUARDED_BY(mu);
  // Several UDP endpoints may share a binding: in bind order.
  absl::flat_hash_map<uint64_t, absl::InlinedVector<BoundEntry, 1>> bound ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint32_t, PortUse> ports ABSL_GUARDED_BY(mu);
};

namespace {

using Shard = ClassifierShard;

// Would a binding (laddr, reuse) on (protocol, port) conflict with an entry other than self?
// The rule of the theory of operation: conflict unless both reuse and the other one is not
// listening; connected entries never listen. ps is the port's shard.
bool Conflicts(const Shard& ps, uint8_t protocol, uint16_t port, uint32_t laddr, bool reuse,
               const BoundEntry* self) ABSL_SHARED_LOCKS_REQUIRED(ps.mu) {
  auto pit = ps.ports.find(PortKey(protocol, port));
  if (pit == ps.ports.end()) return false;
  const PortUse& use = pit->second;
  auto conflicts_with = [&](uint32_t addr) {
    auto it = ps.bound.find(BindKey(protocol, port, addr));
    if (it == ps.bound.end()) return false;
    for (const BoundEntry& e : it->second) {
      if (&e != self && !(reuse && e.reuse_addr && !e.listening)) return true;
    }
    return false;
  };
  ConnCounts conns;
  if (laddr == 0) {
    for (uint32_t addr : use.bound_addrs) {
      if (conflicts_with(addr)) return true;
    }
    conns = use.conn_all;
  } else {
    if (conflicts_with(laddr) || conflicts_with(0)) return true;
    auto it = use.conn_by_addr.find(laddr);
    if (it != use.conn_by_addr.end()) conns = it->second;
  }
  return conns.total != 0 && (!reuse || conns.no_reuse != 0);
}

void InsertBound(Shard& ps, uint8_t protocol, uint32_t laddr, uint16_t port, bool reuse,
                 Endpoint ep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ps.mu) {
  auto& entries = ps.bound[BindKey(protocol, port, laddr)];
  PortUse& use = ps.ports[PortKey(protocol, port)];
  if (entries.empty()) use.bound_addrs.push_back(laddr);
  entries.push_back(BoundEntry{ep, reuse, false});
  ++use.bound;
}

// ps: the port's shard; cs: the shard of the connected entry (ps itself but for TCP).
void InsertConn(Shard& ps, Shard& cs, const FiveTuple& t, bool reuse, bool port_chosen,
                Endpoint ep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ps.mu, cs.mu) {
  cs.conn.emplace(ConnKeyOf(t), ConnEntry{ep, reuse, port_chosen});
  PortUse& use = ps.ports[PortKey(t.protocol, t.lport)];
  for (ConnCounts* c : {&use.conn_all, &use.conn_by_addr[t.laddr]}) {
    ++c->total;
    if (!reuse) ++c->no_reuse;
  }
  if (!port_chosen) ++use.conn_explicit;
}

BoundEntry* FindBound(Shard& ps, uint8_t protocol, uint32_t laddr, uint16_t port, Endpoint ep)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(ps.mu) {
  auto it = ps.bound.find(BindKey(protocol, port, laddr));
  if (it == ps.bound.end()) return nullptr;
  for (BoundEntry& e : it->second) {
    if (e.ep == ep) return &e;
  }
  return nullptr;
}

bool IsConnected(const FiveTuple& key) { return key.faddr != 0 || key.fport != 0; }

// cs: the shard the key would be in if it is connected.
bool Exists(Shard& ps, Shard& cs, const FiveTuple& key, Endpoint ep)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(ps.mu, cs.mu) {
  if (!IsConnected(key)) return FindBound(ps, key.protocol, key.laddr, key.lport, ep) != nullptr;
  auto it = cs.conn.find(ConnKeyOf(key));
  return it != cs.conn.end() && it->second.ep == ep;
}

// Removes ep's entry key; false if there is none.
bool Remove(Shard& ps, Shard& cs, const FiveTuple& key, Endpoint ep)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(ps.mu, cs.mu) {
  auto pit = ps.ports.find(PortKey(key.protocol, key.lport));
  if (pit == ps.ports.end()) return false;
  PortUse& use = pit->second;
  if (IsConnected(key)) {
    auto it = cs.conn.find(ConnKeyOf(key));
    if (it == cs.conn.end() || it->second.ep != ep) return false;
    bool reuse = it->second.reuse_addr;
    if (!it->second.port_chosen) --use.conn_explicit;
    cs.conn.erase(it);
    auto ait = use.conn_by_addr.find(key.laddr);
    for (ConnCounts* c : {&use.conn_all, &ait->second}) {
      --c->total;
      if (!reuse) --c->no_reuse;
    }
    if (ait->second.total == 0) use.conn_by_addr.erase(ait);
  } else {
    auto it = ps.bound.find(BindKey(key.protocol, key.lport, key.laddr));
    if (it == ps.bound.end()) return false;
    auto& entries = it->second;
    auto e = std::find_if(entries.begin(), entries.end(),
                          [ep](const BoundEntry& b) { return b.ep == ep; });
    if (e == entries.end()) return false;
    entries.erase(e);
    --use.bound;
    if (entries.empty()) {
      ps.bound.erase(it);
      use.bound_addrs.erase(std::find(use.bound_addrs.begin(), use.bound_addrs.end(), key.laddr));
    }
  }
  if (use.empty()) ps.ports.erase(pit);
  return true;
}

Endpoint FindConnLocked(const Shard& cs, const FiveTuple& p) ABSL_SHARED_LOCKS_REQUIRED(cs.mu) {
  if (cs.conn.empty()) return nullptr;
  auto it = cs.conn.find(ConnKeyOf(p));
  return it == cs.conn.end() ? nullptr : it->second.ep;
}

// The bound, then the wildcard level of a lookup.
Endpoint FindBoundLocked(const Shard& ps, const FiveTuple& p) ABSL_SHARED_LOCKS_REQUIRED(ps.mu) {
  if (ps.bound.empty()) return nullptr;
  for (uint32_t addr : {p.laddr, 0u}) {
    auto it = ps.bound.find(BindKey(p.protocol, p.lport, addr));
    if (it != ps.bound.end()) {
      // The most recent binding first, as BSD and Linux find it.
      for (auto e = it->second.rbegin(); e != it->second.rend(); ++e) {
        if (p.protocol != kProtoTcp || e->listening) return e->ep;
      }
    }
    if (addr == 0) break;
  }
  return nullptr;
}

// Write-locks the connected-entry shard cs when it is not the port's shard ps, already locked.
class ConnShardLock {
 public:
  ConnShardLock(Shard& ps, Shard& cs) {
    if (&cs != &ps) lock_ = std::unique_lock<std::shared_mutex>(cs.mu);
  }

 private:
  std::unique_lock<std::shared_mutex> lock_;
};

std::string Describe(uint8_t protocol, uint32_t addr, uint16_t port) {
  std::string name = protocol == kProtoTcp   ? "tcp"
                     : protocol == kProtoUdp ? "udp"
                                             : absl::StrCat("protocol ", protocol);
  return absl::StrCat(name, " ", addr >> 24, ".", (addr >> 16) & 0xff, ".", (addr >> 8) & 0xff, ".",
                      addr & 0xff, ":", port);
}

}  // namespace
}  // namespace internal

using internal::ConnKeyOf;
using internal::ConnShardLock;
using internal::PortKey;

Classifier::Classifier(ClassifierOptions options)
    : port_shards_(new Shard[kShards]),
      conn_shards_(new Shard[kShards]),
      low_(options.ephemeral_low),
      high_(options.ephemeral_high),
      random_(std::move(options.random)),
      perturb_(kPerturbSize, 0) {
  if (low_ == 0 || low_ > high_) {
    low_ = 32768;
    high_ = 60999;
  }
  std::lock_guard l(alloc_mu_);
  if (!random_) {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    auto gen = std::make_shared<std::mt19937_64>(seed);
    random_ = [gen] { return (*gen)(); };
  }
  secret_ = SipKey{random_(), random_()};
}

Classifier::~Classifier() = default;

Classifier::Shard& Classifier::PortShard(uint8_t protocol, uint16_t port) const {
  return port_shards_[(port + 13u * protocol) % kShards];
}

Classifier::Shard& Classifier::ConnShard(const FiveTuple& t) const {
  if (t.protocol != kProtoTcp) return PortShard(t.protocol, t.lport);
  internal::ConnKey k = ConnKeyOf(t);
  uint64_t h = (k.addrs * 0x9e3779b97f4a7c15ull) ^ (k.rest * 0xc2b2ae3d27d4eb4full);
  return conn_shards_[(h >> 32) % kShards];
}

absl::Status Classifier::SetEphemeralRange(uint16_t low, uint16_t high) {
  if (low == 0 || low > high) {
    return ErrnoError(EINVAL, absl::StrCat("bad ephemeral port range ", low, "-", high));
  }
  std::lock_guard l(alloc_mu_);
  low_ = low;
  high_ = high;
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> Classifier::Bind(uint8_t protocol, uint32_t laddr, uint16_t lport,
                                          BindOptions options, Endpoint ep) {
  if (ep == nullptr) return ErrnoError(EINVAL, "null endpoint");
  if (lport == 0) return BindEphemeral(protocol, laddr, options, ep);
  Shard& ps = PortShard(protocol, lport);
  std::lock_guard l(ps.mu);
  if (internal::Conflicts(ps, protocol, lport, laddr, options.reuse_addr, nullptr)) {
    return ErrnoError(EADDRINUSE, internal::Describe(protocol, laddr, lport) + " is in use");
  }
  internal::InsertBound(ps, protocol, laddr, lport, options.reuse_addr, ep);
  size_.fetch_add(1, std::memory_order_relaxed);
  return lport;
}

absl::StatusOr<uint16_t> Classifier::BindEphemeral(uint8_t protocol, uint32_t laddr,
                                                   BindOptions options, Endpoint ep) {
  std::lock_guard a(alloc_mu_);
  uint32_t num = uint32_t{high_} - low_ + 1;
  uint32_t next = static_cast<uint32_t>(random_() % num);
  for (uint32_t i = 0; i < num; ++i, next = next + 1 == num ? 0 : next + 1) {
    auto port = static_cast<uint16_t>(low_ + next);
    Shard& ps = PortShard(protocol, port);
    std::lock_guard l(ps.mu);
    if (ps.ports.contains(PortKey(protocol, port))) continue;  // any use disqualifies
    internal::InsertBound(ps, protocol, laddr, port, options.reuse_addr, ep);
    size_.fetch_add(1, std::memory_order_relaxed);
    return port;
  }
  return ErrnoError(EADDRNOTAVAIL, "no free ephemeral port");
}

absl::Status Classifier::Listen(uint8_t protocol, uint32_t laddr, uint16_t lport, Endpoint ep) {
  if (protocol != kProtoTcp) return ErrnoError(EINVAL, "only TCP listens");
  Shard& ps = PortShard(protocol, lport);
  std::lock_guard l(ps.mu);
  internal::BoundEntry* e = internal::FindBound(ps, protocol, laddr, lport, ep);
  if (e == nullptr) {
    return ErrnoError(ENOENT, internal::Describe(protocol, laddr, lport) + " is not bound");
  }
  if (e->listening) return absl::OkStatus();
  if (internal::Conflicts(ps, protocol, lport, laddr, e->reuse_addr, e)) {
    return ErrnoError(EADDRINUSE,
                      internal::Describe(protocol, laddr, lport) + " has another listener");
  }
  e->listening = true;
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> Classifier::Connect(const FiveTuple& t, BindOptions options, Endpoint ep,
                                             const FiveTuple* replaces) {
  if (ep == nullptr || t.laddr == 0 || t.faddr == 0 || t.fport == 0) {
    return ErrnoError(EINVAL,
                      "connect needs an endpoint, a local address and a remote address "
                      "and port");
  }
  if (replaces != nullptr &&
      (t.lport == 0 || replaces->protocol != t.protocol || replaces->lport != t.lport ||
       (t.protocol == kProtoTcp && internal::IsConnected(*replaces)))) {
    return ErrnoError(EINVAL,
                      "the replaced entry must have the protocol and port connected, and be a "
                      "binding for TCP");
  }
  if (t.lport == 0) return ConnectEphemeral(t, options, ep);
  // The replaced entry is in ps: a binding, or a connection of a protocol other than TCP.
  Shard& ps = PortShard(t.protocol, t.lport);
  Shard& cs = ConnShard(t);
  std::lock_guard l(ps.mu);
  ConnShardLock lc(ps, cs);
  if (replaces != nullptr && !internal::Exists(ps, ps, *replaces, ep)) {
    return ErrnoError(ENOENT, "the replaced entry does not exist");
  }
  auto it = cs.conn.find(ConnKeyOf(t));
  if (it != cs.conn.end()) {
    if (replaces != nullptr && *replaces == t) return t.lport;  // a reconnect to the same peer
    return ErrnoError(EADDRINUSE, absl::StrCat(internal::Describe(t.protocol, t.laddr, t.lport),
                                               " is connected to ",
                                               internal::Describe(t.protocol, t.faddr, t.fport)));
  }
  // Insert before removing: PortUse stays in place, and a lookup never finds neither.
  internal::InsertConn(ps, cs, t, options.reuse_addr, /*port_chosen=*/false, ep);
  size_.fetch_add(1, std::memory_order_relaxed);
  if (replaces != nullptr) {
    internal::Remove(ps, ps, *replaces, ep);
    size_.fetch_sub(1, std::memory_order_relaxed);
  }
  return t.lport;
}

absl::StatusOr<uint16_t> Classifier::ConnectEphemeral(const FiveTuple& t, BindOptions options,
                                                      Endpoint ep) {
  std::lock_guard a(alloc_mu_);
  uint32_t num = uint32_t{high_} - low_ + 1;
  unsigned char in[11];
  std::memcpy(in, &t.laddr, 4);
  std::memcpy(in + 4, &t.faddr, 4);
  std::memcpy(in + 8, &t.fport, 2);
  in[10] = t.protocol;
  uint64_t h = SipHash24(secret_, in, sizeof in);
  auto offset = static_cast<uint32_t>(h);                  // F
  uint32_t& counter = perturb_[(h >> 32) % kPerturbSize];  // table[G]
  for (uint32_t i = 0; i < num; ++i) {
    FiveTuple c = t;
    c.lport = static_cast<uint16_t>(low_ + (offset + counter + i) % num);
    Shard& ps = PortShard(c.protocol, c.lport);
    Shard& cs = ConnShard(c);
    std::lock_guard l(ps.mu);
    auto pit = ps.ports.find(PortKey(c.protocol, c.lport));
    if (pit != ps.ports.end() && (pit->second.bound != 0 || pit->second.conn_explicit != 0)) {
      continue;  // a port someone bound or was given is not shared (Linux __inet_hash_connect)
    }
    ConnShardLock lc(ps, cs);
    if (cs.conn.contains(ConnKeyOf(c))) continue;
    internal::InsertConn(ps, cs, c, options.reuse_addr, /*port_chosen=*/true, ep);
    size_.fetch_add(1, std::memory_order_relaxed);
    counter += i + 1 + static_cast<uint32_t>(random_() & 7);
    return c.lport;
  }
  return ErrnoError(EADDRNOTAVAIL, "no ephemeral port for this destination");
}

absl::Status Classifier::Unbind(const FiveTuple& key, Endpoint ep) {
  Shard& ps = PortShard(key.protocol, key.lport);
  Shard& cs = internal::IsConnected(key) ? ConnShard(key) : ps;
  std::lock_guard l(ps.mu);
  ConnShardLock lc(ps, cs);
  if (!internal::Remove(ps, cs, key, ep)) {
    return ErrnoError(ENOENT, internal::Describe(key.protocol, key.laddr, key.lport) +
                                  ": no such entry for this endpoint");
  }
  size_.fetch_sub(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

Endpoint Classifier::Lookup(const FiveTuple& packet) const {
  return Lookup(packet, [](Endpoint) {});
}

Endpoint Classifier::Lookup(const FiveTuple& p, absl::FunctionRef<void(Endpoint)> hold) const {
  const Shard& ps = PortShard(p.protocol, p.lport);
  const Shard& cs = ConnShard(p);
  if (&cs != &ps) {
    std::shared_lock l(cs.mu);
    if (Endpoint ep = internal::FindConnLocked(cs, p)) {
      hold(ep);
      return ep;
    }
  }
  std::shared_lock l(ps.mu);
  Endpoint ep = &cs == &ps ? internal::FindConnLocked(ps, p) : nullptr;
  if (ep == nullptr) ep = internal::FindBoundLocked(ps, p);
  if (ep != nullptr) hold(ep);
  return ep;
}

size_t Classifier::LookupAll(const FiveTuple& p, absl::FunctionRef<void(Endpoint)> fn) const {
  const Shard& ps = PortShard(p.protocol, p.lport);
  const Shard& cs = ConnShard(p);
  size_t n = 0;
  if (&cs != &ps) {
    std::shared_lock l(cs.mu);
    if (Endpoint ep = internal::FindConnLocked(cs, p)) {
      fn(ep);
      ++n;
    }
  }
  std::shared_lock l(ps.mu);
  if (&cs == &ps) {
    if (Endpoint ep = internal::FindConnLocked(ps, p)) {
      fn(ep);
      ++n;
    }
  }
  for (uint32_t addr : {p.laddr, 0u}) {
    auto b = ps.bound.find(internal::BindKey(p.protocol, p.lport, addr));
    if (b != ps.bound.end()) {
      for (const internal::BoundEntry& e : b->second) {
        if (p.protocol == kProtoTcp && !e.listening) continue;
        fn(e.ep);
        ++n;
      }
    }
    if (addr == 0) break;
  }
  return n;
}

}  // namespace ustreams::ip
