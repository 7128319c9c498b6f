#include "modules/ip/classifier.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "modules/ip/errno_status.h"

namespace ustreams::ip {
namespace {

constexpr uint32_t IP(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}
constexpr uint32_t kAny = 0;
constexpr uint32_t kA = IP(10, 0, 0, 1);
constexpr uint32_t kB = IP(10, 0, 0, 2);
constexpr uint32_t kPeer = IP(192, 0, 2, 7);
constexpr BindOptions kReuse{.reuse_addr = true};
constexpr BindOptions kNoReuse{};

Endpoint Ep(uintptr_t i) { return reinterpret_cast<Endpoint>((i + 1) * 16); }

FiveTuple Packet(uint8_t proto, uint32_t dst, uint16_t dport, uint32_t src = kPeer,
                 uint16_t sport = 4000) {
  return FiveTuple{proto, dst, dport, src, sport};
}
FiveTuple Conn(uint8_t proto, uint32_t laddr, uint16_t lport, uint32_t faddr = kPeer,
               uint16_t fport = 4000) {
  return FiveTuple{proto, laddr, lport, faddr, fport};
}
FiveTuple Bound(uint8_t proto, uint32_t laddr, uint16_t lport) {
  return FiveTuple{proto, laddr, lport, 0, 0};
}

// A deterministic random source for tests.
ClassifierOptions Seeded(uint64_t seed, uint16_t low = 32768, uint16_t high = 60999) {
  auto gen = std::make_shared<std::mt19937_64>(seed);
  return ClassifierOptions{low, high, [gen] { return (*gen)(); }};
}

int Err(const absl::StatusOr<uint16_t>& r) { return StatusErrno(r.status()); }

// ---- lookup order ----

TEST(ClassifierLookup, ConnectedThenBoundAddressThenWildcard) {
  Classifier c(Seeded(1));
  ASSERT_TRUE(c.Bind(kProtoUdp, kAny, 53, kReuse, Ep(1)).ok());
  ASSERT_TRUE(c.Bind(kProtoUdp, kA, 53, kReuse, Ep(2)).ok());
  ASSERT_TRUE(c.Connect(Conn(kProtoUdp, kA, 53), kReuse, Ep(3)).ok());
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 53)), Ep(3));                  // connected
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 53, kPeer, 4001)), Ep(2));     // other source port
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 53, IP(1, 1, 1, 1))), Ep(2));  // other source
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kB, 53)), Ep(1));                  // other local address
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 54)), nullptr);                // other port
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kA, 53)), nullptr);                // other protocol
  ASSERT_TRUE(c.Unbind(Bound(kProtoUdp, kA, 53), Ep(2)).ok());
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 53, IP(1, 1, 1, 1))), Ep(1));
  EXPECT_EQ(c.size(), 2u);
}

TEST(ClassifierLookup, TcpBindingsReceiveOnlyWhenListening) {
  Classifier c(Seeded(1));
  ASSERT_TRUE(c.Bind(kProtoTcp, kAny, 80, kReuse, Ep(1)).ok());
  ASSERT_TRUE(c.Bind(kProtoTcp, kA, 80, kReuse, Ep(2)).ok());
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kA, 80)), nullptr);
  ASSERT_TRUE(c.Listen(kProtoTcp, kAny, 80, Ep(1)).ok());
  // The specific binding has not called listen(): the SYN goes to the wildcard listener.
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kA, 80)), Ep(1));
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kB, 80)), Ep(1));
}

TEST(ClassifierLookup, SpecificListenerBeatsWildcard) {
  Classifier c(Seeded(1));
  // Two listeners that do not overlap: 10.0.0.1:80 and 10.0.0.2:80.
  ASSERT_TRUE(c.Bind(kProtoTcp, kA, 80, kNoReuse, Ep(1)).ok());
  ASSERT_TRUE(c.Bind(kProtoTcp, kB, 80, kNoReuse, Ep(2)).ok());
  ASSERT_TRUE(c.Listen(kProtoTcp, kA, 80, Ep(1)).ok());
  ASSERT_TRUE(c.Listen(kProtoTcp, kB, 80, Ep(2)).ok());
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kA, 80)), Ep(1));
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kB, 80)), Ep(2));
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, IP(10, 0, 0, 3), 80)), nullptr);
  // An accepted connection takes its own packets.
  ASSERT_TRUE(c.Connect(Conn(kProtoTcp, kA, 80), kNoReuse, Ep(3)).ok());
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kA, 80)), Ep(3));
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kA, 80, kPeer, 4001)), Ep(1));
}

TEST(ClassifierLookup, UnicastToSharedUdpBindingGoesToTheNewest) {
  Classifier c(Seeded(1));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.Bind(kProtoUdp, kAny, 5353, kReuse, Ep(i)).ok());
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 5353)), Ep(2));
  ASSERT_TRUE(c.Unbind(Bound(kProtoUdp, kAny, 5353), Ep(2)).ok());
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 5353)), Ep(1));
}

TEST(ClassifierLookup, LookupAllForBroadcastAndMulticast) {
  Classifier c(Seeded(1));
  const uint32_t group = IP(224, 0, 0, 251);
  ASSERT_TRUE(c.Bind(kProtoUdp, kAny, 5353, kReuse, Ep(1)).ok());
  ASSERT_TRUE(c.Bind(kProtoUdp, group, 5353, kReuse, Ep(2)).ok());
  ASSERT_TRUE(c.Bind(kProtoUdp, group, 5353, kReuse, Ep(3)).ok());
  ASSERT_TRUE(c.Bind(kProtoUdp, kAny, 5353, kReuse, Ep(4)).ok());
  ASSERT_TRUE(c.Bind(kProtoUdp, kA, 5353, kReuse, Ep(5)).ok());  // another address: not included
  ASSERT_TRUE(c.Connect(Conn(kProtoUdp, group, 5353), kReuse, Ep(6)).ok());
  std::vector<Endpoint> got;
  EXPECT_EQ(c.LookupAll(Packet(kProtoUdp, group, 5353), [&](Endpoint e) { got.push_back(e); }), 5u);
  EXPECT_EQ(got, (std::vector<Endpoint>{Ep(6), Ep(2), Ep(3), Ep(1), Ep(4)}));
  got.clear();
  // From another source the connected socket is not included.
  EXPECT_EQ(c.LookupAll(Packet(kProtoUdp, group, 5353, IP(1, 2, 3, 4)),
                        [&](Endpoint e) { got.push_back(e); }),
            4u);
}

TEST(ClassifierLookup, HoldRunsOnTheEndpointFound) {
  Classifier c(Seeded(1));
  ASSERT_TRUE(c.Bind(kProtoUdp, kAny, 7, kNoReuse, Ep(1)).ok());
  int held = 0;
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 7), [&](Endpoint e) { held += e == Ep(1); }), Ep(1));
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, 8), [&](Endpoint) { held += 10; }), nullptr);
  EXPECT_EQ(held, 1);
}

// ---- bind conflicts (Linux rules; see the theory of operation) ----

struct ConflictCase {
  const char* name;
  uint8_t proto;
  uint32_t first_addr;
  bool first_reuse;
  bool first_listens;
  uint32_t second_addr;
  bool second_reuse;
  int want;  // 0 or errno
};

TEST(ClassifierBind, ConflictRules) {
  const ConflictCase cases[] = {
      {"udp specific/other specific", kProtoUdp, kA, false, false, kB, false, 0},
      {"tcp specific/other specific", kProtoTcp, kA, false, true, kB, false, 0},
      {"udp same addr, no reuse", kProtoUdp, kA, false, false, kA, false, EADDRINUSE},
      {"udp same addr, reuse on second only", kProtoUdp, kA, false, false, kA, true, EADDRINUSE},
      {"udp same addr, reuse on first only", kProtoUdp, kA, true, false, kA, false, EADDRINUSE},
      {"udp same addr, reuse on both", kProtoUdp, kA, true, false, kA, true, 0},
      {"udp wildcard twice, reuse on both", kProtoUdp, kAny, true, false, kAny, true, 0},
      {"udp wildcard then specific, no reuse", kProtoUdp, kAny, false, false, kA, false,
       EADDRINUSE},
      {"udp specific then wildcard, no reuse", kProtoUdp, kA, false, false, kAny, false,
       EADDRINUSE},
      {"udp wildcard then specific, reuse on both", kProtoUdp, kAny, true, false, kA, true, 0},
      {"tcp same addr, no reuse", kProtoTcp, kA, false, false, kA, false, EADDRINUSE},
      {"tcp same addr, reuse on both, neither listens", kProtoTcp, kA, true, false, kA, true, 0},
      {"tcp same addr, reuse on both, first listens", kProtoTcp, kA, true, true, kA, true,
       EADDRINUSE},
      {"tcp wildcard then specific, no reuse", kProtoTcp, kAny, false, false, kA, false,
       EADDRINUSE},
      {"tcp wildcard then specific, reuse on second only (BSD would allow)", kProtoTcp, kAny, false,
       false, kA, true, EADDRINUSE},
      {"tcp wildcard then specific, reuse on both", kProtoTcp, kAny, true, false, kA, true, 0},
      {"tcp wildcard listening then specific, reuse on both", kProtoTcp, kAny, true, true, kA, true,
       EADDRINUSE},
      {"tcp specific listening then wildcard, reuse on both", kProtoTcp, kA, true, true, kAny, true,
       EADDRINUSE},
  };
  for (const ConflictCase& k : cases) {
    Classifier c(Seeded(1));
    ASSERT_TRUE(c.Bind(k.proto, k.first_addr, 8080, BindOptions{k.first_reuse}, Ep(1)).ok())
        << k.name;
    if (k.first_listens) {
      ASSERT_TRUE(c.Listen(k.proto, k.first_addr, 8080, Ep(1)).ok()) << k.name;
    }
    absl::StatusOr<uint16_t> r =
        c.Bind(k.proto, k.second_addr, 8080, BindOptions{k.second_reuse}, Ep(2));
    EXPECT_EQ(Err(r), k.want) << k.name << ": " << r.status();
    if (r.ok()) {
      EXPECT_EQ(*r, 8080);
    }
    EXPECT_EQ(c.size(), k.want == 0 ? 2u : 1u) << k.name;
    // The other protocol's port space is separate.
    uint8_t other = k.proto == kProtoTcp ? kProtoUdp : kProtoTcp;
    EXPECT_TRUE(c.Bind(other, k.second_addr, 8080, kNoReuse, Ep(3)).ok()) << k.name;
  }
}

TEST(ClassifierBind, OneListenerPerOverlappingSet) {
  Classifier c(Seeded(1));
  ASSERT_TRUE(c.Bind(kProtoTcp, kAny, 80, kReuse, Ep(1)).ok());
  ASSERT_TRUE(c.Bind(kProtoTcp, kA, 80, kReuse, Ep(2)).ok());
  ASSERT_TRUE(c.Listen(kProtoTcp, kA, 80, Ep(2)).ok());
  EXPECT_EQ(StatusErrno(c.Listen(kProtoTcp, kAny, 80, Ep(1))), EADDRINUSE);
  EXPECT_TRUE(c.Listen(kProtoTcp, kA, 80, Ep(2)).ok());  // again: a no-op
  ASSERT_TRUE(c.Unbind(Bound(kProtoTcp, kA, 80), Ep(2)).ok());
  EXPECT_TRUE(c.Listen(kProtoTcp, kAny, 80, Ep(1)).ok());
}

TEST(ClassifierBind, ListenErrors) {
  Classifier c(Seeded(1));
  ASSERT_TRUE(c.Bind(kProtoUdp, kAny, 53, kNoReuse, Ep(1)).ok());
  EXPECT_EQ(StatusErrno(c.Listen(kProtoUdp, kAny, 53, Ep(1))), EINVAL);
  EXPECT_EQ(StatusErrno(c.Listen(kProtoTcp, kAny, 53, Ep(1))), ENOENT);
  ASSERT_TRUE(c.Bind(kProtoTcp, kAny, 53, kNoReuse, Ep(1)).ok());
  EXPECT_EQ(StatusErrno(c.Listen(kProtoTcp, kAny, 53, Ep(2))), ENOENT);  // not ep 2's
}

// A restarted server: its old connections (TIME_WAIT) still hold the port.
TEST(ClassifierBind, ConnectionsHoldTheirPortAgainstBinds) {
  Classifier c(Seeded(1));
  ASSERT_TRUE(c.Bind(kProtoTcp, kAny, 80, kReuse, Ep(1)).ok());
  ASSERT_TRUE(c.Listen(kProtoTcp, kAny, 80, Ep(1)).ok());
  ASSERT_TRUE(c.Connect(Conn(kProtoTcp, kA, 80), kReuse, Ep(2)).ok());  // accepted, inherits reuse
  ASSERT_TRUE(c.Unbind(Bound(kProtoTcp, kAny, 80), Ep(1)).ok());        // the server exits
  EXPECT_EQ(Err(c.Bind(kProtoTcp, kAny, 80, kNoReuse, Ep(3))), EADDRINUSE);
  EXPECT_EQ(Err(c.Bind(kProtoTcp, kA, 80, kNoReuse, Ep(3))), EADDRINUSE);
  EXPECT_TRUE(c.Bind(kProtoTcp, kB, 80, kNoReuse, Ep(4)).ok());  // no overlap with 10.0.0.1
  ASSERT_TRUE(c.Unbind(Bound(kProtoTcp, kB, 80), Ep(4)).ok());
  ASSERT_TRUE(c.Bind(kProtoTcp, kAny, 80, kReuse, Ep(3)).ok());
  EXPECT_TRUE(c.Listen(kProtoTcp, kAny, 80, Ep(3)).ok());
  // A connection without SO_REUSEADDR blocks even a binding that has it.
  ASSERT_TRUE(c.Connect(Conn(kProtoTcp, kB, 81), kNoReuse, Ep(5)).ok());
  EXPECT_EQ(Err(c.Bind(kProtoTcp, kAny, 81, kReuse, Ep(6))), EADDRINUSE);
  EXPECT_TRUE(c.Bind(kProtoTcp, kA, 81, kReuse, Ep(6)).ok());
}

TEST(ClassifierBind, UnbindErrorsAndReuseOfThePort) {
  Classifier c(Seeded(1));
  EXPECT_EQ(StatusErrno(c.Unbind(Bound(kProtoUdp, kAny, 53), Ep(1))), ENOENT);
  ASSERT_TRUE(c.Bind(kProtoUdp, kAny, 53, kNoReuse, Ep(1)).ok());
  EXPECT_EQ(StatusErrno(c.Unbind(Bound(kProtoUdp, kAny, 53), Ep(2))), ENOENT);  // not ep 2's
  EXPECT_EQ(StatusErrno(c.Unbind(Bound(kProtoUdp, kA, 53), Ep(1))), ENOENT);
  EXPECT_EQ(StatusErrno(c.Unbind(Conn(kProtoUdp, kAny, 53), Ep(1))), ENOENT);
  ASSERT_TRUE(c.Unbind(Bound(kProtoUdp, kAny, 53), Ep(1)).ok());
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(c.Bind(kProtoUdp, kAny, 53, kNoReuse, Ep(2)).ok());
  EXPECT_EQ(Err(c.Bind(kProtoUdp, kAny, 53, kNoReuse, nullptr)), EINVAL);
}

// ---- connect ----

TEST(ClassifierConnect, Errors) {
  Classifier c(Seeded(1));
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kAny, 80), kNoReuse, Ep(1))), EINVAL);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 80, 0), kNoReuse, Ep(1))), EINVAL);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 80, kPeer, 0), kNoReuse, Ep(1))), EINVAL);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 80), kNoReuse, nullptr)), EINVAL);
  ASSERT_TRUE(c.Connect(Conn(kProtoTcp, kA, 80), kNoReuse, Ep(1)).ok());
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 80), kReuse, Ep(2))), EADDRINUSE);
  EXPECT_TRUE(c.Connect(Conn(kProtoTcp, kA, 80, kPeer, 4001), kNoReuse, Ep(2)).ok());
  FiveTuple missing = Bound(kProtoTcp, kA, 81);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 81), kNoReuse, Ep(3), &missing)), ENOENT);
  FiveTuple other_port = Bound(kProtoTcp, kA, 82);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 81), kNoReuse, Ep(3), &other_port)), EINVAL);
  FiveTuple other_proto = Bound(kProtoUdp, kA, 81);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 81), kNoReuse, Ep(3), &other_proto)), EINVAL);
  EXPECT_EQ(c.size(), 2u);
}

TEST(ClassifierConnect, ReplacesTheBindingInOneStep) {
  Classifier c(Seeded(1));
  absl::StatusOr<uint16_t> port = c.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(1));
  ASSERT_TRUE(port.ok());
  FiveTuple bound = Bound(kProtoUdp, kAny, *port);
  FiveTuple conn = Conn(kProtoUdp, kA, *port);
  ASSERT_EQ(*c.Connect(conn, kNoReuse, Ep(1), &bound), *port);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, *port)), Ep(1));
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, *port, IP(1, 1, 1, 1))), nullptr);  // connected only
  // The connected entry still holds the port against binds.
  EXPECT_EQ(Err(c.Bind(kProtoUdp, kAny, *port, kNoReuse, Ep(2))), EADDRINUSE);
  // A UDP socket connects again, to another peer, then to the same one.
  FiveTuple conn2 = Conn(kProtoUdp, kA, *port, IP(1, 1, 1, 1), 53);
  ASSERT_TRUE(c.Connect(conn2, kNoReuse, Ep(1), &conn).ok());
  ASSERT_TRUE(c.Connect(conn2, kNoReuse, Ep(1), &conn2).ok());
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, *port, IP(1, 1, 1, 1), 53)), Ep(1));
  EXPECT_EQ(c.Lookup(Packet(kProtoUdp, kA, *port)), nullptr);
  ASSERT_TRUE(c.Unbind(conn2, Ep(1)).ok());
  EXPECT_EQ(c.size(), 0u);
}

// ---- ephemeral ports ----

TEST(ClassifierEphemeral, BindPortsAreRandomInRangeAndDistinct) {
  Classifier c(Seeded(42));
  std::vector<uint16_t> ports;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<uint16_t> p = c.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(i));
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_GE(*p, 32768);
    EXPECT_LE(*p, 60999);
    ports.push_back(*p);
  }
  EXPECT_EQ(std::set<uint16_t>(ports.begin(), ports.end()).size(), ports.size());
  int sequential = 0;
  for (size_t i = 1; i < ports.size(); ++i) sequential += ports[i] == ports[i - 1] + 1;
  EXPECT_LT(sequential, 5);
  // Spread over the range: both halves used.
  int low_half = std::count_if(ports.begin(), ports.end(), [](uint16_t p) { return p < 46884; });
  EXPECT_GT(low_half, 60);
  EXPECT_LT(low_half, 140);
}

TEST(ClassifierEphemeral, BindExhaustionIsEaddrnotavail) {
  Classifier c(Seeded(3, 5000, 5009));
  std::map<uint16_t, Endpoint> got;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<uint16_t> p = c.Bind(kProtoTcp, kAny, 0, kNoReuse, Ep(i));
    ASSERT_TRUE(p.ok());
    got[*p] = Ep(i);
  }
  EXPECT_EQ(got.size(), 10u);
  EXPECT_EQ(got.begin()->first, 5000);
  EXPECT_EQ(got.rbegin()->first, 5009);
  EXPECT_EQ(Err(c.Bind(kProtoTcp, kAny, 0, kReuse, Ep(10))), EADDRNOTAVAIL);
  EXPECT_TRUE(c.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(10)).ok());  // UDP's ports are separate
  ASSERT_TRUE(c.Unbind(Bound(kProtoTcp, kAny, 5004), got[5004]).ok());
  EXPECT_EQ(*c.Bind(kProtoTcp, kAny, 0, kNoReuse, Ep(11)), 5004);
}

TEST(ClassifierEphemeral, BindSkipsPortsInAnyUse) {
  Classifier c(Seeded(3, 5000, 5003));
  ASSERT_TRUE(c.Bind(kProtoTcp, kA, 5000, kReuse, Ep(1)).ok());
  ASSERT_TRUE(c.Connect(Conn(kProtoTcp, kA, 5001), kReuse, Ep(2)).ok());
  ASSERT_TRUE(c.Connect(Conn(kProtoTcp, kA, 0), kReuse, Ep(3)).ok());  // takes 5002 or 5003
  absl::StatusOr<uint16_t> p = c.Bind(kProtoTcp, kB, 0, kReuse, Ep(4));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Err(c.Bind(kProtoTcp, kB, 0, kReuse, Ep(5))), EADDRNOTAVAIL);
}

TEST(ClassifierEphemeral, ConnectPortsAreNotSequentialEvenToOneDestination) {
  Classifier c(Seeded(9));
  std::vector<uint16_t> ports;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<uint16_t> p = c.Connect(Conn(kProtoTcp, kA, 0, kPeer, 443), kNoReuse, Ep(i));
    ASSERT_TRUE(p.ok()) << p.status();
    ports.push_back(*p);
  }
  EXPECT_EQ(std::set<uint16_t>(ports.begin(), ports.end()).size(), ports.size());
  std::set<int> steps;
  int unit_steps = 0;
  for (size_t i = 1; i < ports.size(); ++i) {
    steps.insert(ports[i] - ports[i - 1]);
    unit_steps += ports[i] == ports[i - 1] + 1;
  }
  EXPECT_GE(steps.size(), 6u);  // random increments of 1..8
  EXPECT_LT(unit_steps, 60);
  for (uint16_t p : ports)
    EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kA, p, kPeer, 443)) != nullptr, true);
}

TEST(ClassifierEphemeral, ConnectStartsUnpredictablyAcrossDestinationsAndSecrets) {
  Classifier c1(Seeded(1)), c2(Seeded(2)), c1_again(Seeded(1));
  std::set<uint16_t> first_ports;
  for (uint16_t dport = 1; dport <= 50; ++dport) {
    uint16_t a = *c1.Connect(Conn(kProtoTcp, kA, 0, kPeer, dport), kNoReuse, Ep(dport));
    uint16_t b = *c2.Connect(Conn(kProtoTcp, kA, 0, kPeer, dport), kNoReuse, Ep(dport));
    uint16_t a2 = *c1_again.Connect(Conn(kProtoTcp, kA, 0, kPeer, dport), kNoReuse, Ep(dport));
    EXPECT_EQ(a, a2);  // the injected random source makes it reproducible
    first_ports.insert(a);
    EXPECT_NE(a, b) << "destination port " << dport;  // ~1/28k chance of a false failure each
  }
  EXPECT_GT(first_ports.size(), 45u);
}

TEST(ClassifierEphemeral, ConnectSharesPortsAcrossDestinationsUntilExhausted) {
  Classifier c(Seeded(5, 6000, 6009));
  std::map<uint16_t, Endpoint> to_peer;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<uint16_t> p = c.Connect(Conn(kProtoTcp, kA, 0, kPeer, 80), kNoReuse, Ep(i));
    ASSERT_TRUE(p.ok()) << i << ": " << p.status();
    to_peer[*p] = Ep(i);
  }
  EXPECT_EQ(to_peer.size(), 10u);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 0, kPeer, 80), kNoReuse, Ep(10))), EADDRNOTAVAIL);
  // Another destination (or source address) reuses the same local ports.
  EXPECT_TRUE(c.Connect(Conn(kProtoTcp, kA, 0, kPeer, 81), kNoReuse, Ep(11)).ok());
  EXPECT_TRUE(c.Connect(Conn(kProtoTcp, kB, 0, kPeer, 80), kNoReuse, Ep(12)).ok());
  // But not for a bind: every port is in use.
  EXPECT_EQ(Err(c.Bind(kProtoTcp, kAny, 0, kReuse, Ep(13))), EADDRNOTAVAIL);
  // Closing one frees it for that destination.
  auto [freed, owner] = *to_peer.begin();
  ASSERT_TRUE(c.Unbind(Conn(kProtoTcp, kA, freed, kPeer, 80), owner).ok());
  EXPECT_EQ(*c.Connect(Conn(kProtoTcp, kA, 0, kPeer, 80), kNoReuse, Ep(14)), freed);
}

TEST(ClassifierEphemeral, ConnectAvoidsBoundAndGivenPorts) {
  Classifier c(Seeded(5, 7000, 7003));
  ASSERT_TRUE(c.Bind(kProtoTcp, kB, 7000, kReuse, Ep(1)).ok());  // bound
  ASSERT_TRUE(c.Bind(kProtoTcp, kAny, 7001, kReuse, Ep(2)).ok());
  ASSERT_TRUE(c.Listen(kProtoTcp, kAny, 7001, Ep(2)).ok());  // a listener
  ASSERT_TRUE(c.Connect(Conn(kProtoTcp, kA, 7002, IP(1, 1, 1, 1)), kReuse, Ep(3)).ok());  // given
  absl::StatusOr<uint16_t> p = c.Connect(Conn(kProtoTcp, kA, 0), kNoReuse, Ep(4));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, 7003);
  // 7003 serves another destination too.
  EXPECT_EQ(*c.Connect(Conn(kProtoTcp, kA, 0, kPeer, 1), kNoReuse, Ep(5)), 7003);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoTcp, kA, 0), kNoReuse, Ep(6))), EADDRNOTAVAIL);
}

TEST(ClassifierEphemeral, DefaultsWithoutAnInjectedSource) {
  Classifier c;  // random_device-seeded source, default range
  absl::StatusOr<uint16_t> p = c.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(1));
  ASSERT_TRUE(p.ok());
  EXPECT_GE(*p, 32768);
  EXPECT_LE(*p, 60999);
  ClassifierOptions o;
  o.ephemeral_low = 9;
  o.ephemeral_high = 8;
  Classifier bad_range(o);
  p = bad_range.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(1));
  ASSERT_TRUE(p.ok());
  EXPECT_GE(*p, 32768);
}

TEST(ClassifierEphemeral, RangeIsConfigurable) {
  Classifier c(Seeded(1));
  EXPECT_EQ(StatusErrno(c.SetEphemeralRange(0, 10)), EINVAL);
  EXPECT_EQ(StatusErrno(c.SetEphemeralRange(20, 10)), EINVAL);
  ASSERT_TRUE(c.SetEphemeralRange(1024, 1024).ok());
  EXPECT_EQ(*c.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(1)), 1024);
  EXPECT_EQ(Err(c.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(2))), EADDRNOTAVAIL);
  EXPECT_EQ(Err(c.Connect(Conn(kProtoUdp, kA, 0), kNoReuse, Ep(3))), EADDRNOTAVAIL);
}

// ---- scale ----

TEST(ClassifierScale, HundredThousandEntries) {
  Classifier c(Seeded(11));
  // A server: listeners on 80 and 443, 100 000 accepted connections from random clients, plus
  // 20 000 UDP sockets on ephemeral ports.
  ASSERT_TRUE(c.Bind(kProtoTcp, kAny, 80, kReuse, Ep(0)).ok());
  ASSERT_TRUE(c.Listen(kProtoTcp, kAny, 80, Ep(0)).ok());
  ASSERT_TRUE(c.Bind(kProtoTcp, kA, 443, kReuse, Ep(1)).ok());
  ASSERT_TRUE(c.Listen(kProtoTcp, kA, 443, Ep(1)).ok());
  std::mt19937 rng(4);
  std::vector<FiveTuple> conns;
  absl::flat_hash_set<uint64_t> seen;
  while (conns.size() < 100000) {
    FiveTuple t = Conn(kProtoTcp, kA, conns.size() % 2 ? 80 : 443, rng() | 1,
                       static_cast<uint16_t>(1024 + rng() % 60000));
    if (!seen.insert((uint64_t{t.faddr} << 17) | (uint64_t{t.fport} << 1) | (t.lport == 80))
             .second) {
      continue;
    }
    ASSERT_TRUE(c.Connect(t, kReuse, Ep(10 + conns.size())).ok());
    conns.push_back(t);
  }
  std::vector<uint16_t> udp_ports;
  for (int i = 0; i < 20000; ++i) {
    absl::StatusOr<uint16_t> p = c.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(200000 + i));
    ASSERT_TRUE(p.ok()) << p.status();
    udp_ports.push_back(*p);
  }
  EXPECT_EQ(c.size(), 2u + 100000u + 20000u);
  for (size_t i = 0; i < conns.size(); ++i) {
    ASSERT_EQ(c.Lookup(Packet(kProtoTcp, kA, conns[i].lport, conns[i].faddr, conns[i].fport)),
              Ep(10 + i));
  }
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(c.Lookup(Packet(kProtoUdp, kB, udp_ports[i])), Ep(200000 + i));
  }
  // New SYNs go to the listeners.
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kB, 80, 2, 2)), Ep(0));
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kA, 443, 2, 2)), Ep(1));
  EXPECT_EQ(c.Lookup(Packet(kProtoTcp, kB, 443, 2, 2)), nullptr);
  for (size_t i = 0; i < conns.size(); ++i) ASSERT_TRUE(c.Unbind(conns[i], Ep(10 + i)).ok());
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(c.Unbind(Bound(kProtoUdp, kAny, udp_ports[i]), Ep(200000 + i)).ok());
  }
  EXPECT_EQ(c.size(), 2u);
}

// ---- concurrency ----

TEST(ClassifierConcurrency, LookupsDuringBindsAndUnbinds) {
  Classifier c(Seeded(8));
  // Stable entries that must always be found.
  constexpr int kStable = 1000;
  for (int i = 0; i < kStable; ++i) {
    ASSERT_TRUE(
        c.Connect(Conn(kProtoTcp, kA, 80, IP(172, 16, 0, 0) + i, 5000), kNoReuse, Ep(i)).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> lookups{0};
  auto reader = [&](int seed) {
    std::mt19937 rng(seed);
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      int i = static_cast<int>(rng() % kStable);
      Endpoint e = c.Lookup(Packet(kProtoTcp, kA, 80, IP(172, 16, 0, 0) + i, 5000));
      if (e != Ep(i)) failures.fetch_add(1);
      // Churning entries: whatever is found is the right kind of endpoint.
      Endpoint u = c.Lookup(Packet(kProtoUdp, kA, static_cast<uint16_t>(32768 + rng() % 28232)));
      if (u != nullptr &&
          reinterpret_cast<uintptr_t>(u) < reinterpret_cast<uintptr_t>(Ep(100000))) {
        failures.fetch_add(1);
      }
      ++n;
    }
    lookups.fetch_add(n);
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(reader, i);
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      std::vector<uint16_t> mine;
      for (int i = 0; i < 5000; ++i) {
        absl::StatusOr<uint16_t> p = c.Bind(kProtoUdp, kAny, 0, kNoReuse, Ep(100000 + w));
        if (!p.ok()) {
          failures.fetch_add(1);
          continue;
        }
        mine.push_back(*p);
        if (mine.size() > 100) {
          if (!c.Unbind(Bound(kProtoUdp, kAny, mine.front()), Ep(100000 + w)).ok()) {
            failures.fetch_add(1);
          }
          mine.erase(mine.begin());
        }
        absl::StatusOr<uint16_t> q =
            c.Connect(Conn(kProtoTcp, kB, 0, IP(1, 2, 3, w), 80), kNoReuse, Ep(100000 + w));
        if (!q.ok() ||
            !c.Unbind(Conn(kProtoTcp, kB, *q, IP(1, 2, 3, w), 80), Ep(100000 + w)).ok()) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_EQ(c.size(), kStable + 2u * 100u);
}

}  // namespace
}  // namespace ustreams::ip
