#include "modules/ip/route.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "modules/ip/errno_status.h"
#include "modules/ip/rcu.h"

namespace ustreams::ip {
namespace {

constexpr uint32_t IP(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

Route R(uint32_t dst, int len, uint32_t ifindex = 1, uint32_t gateway = 0) {
  Route r;
  r.dst = dst;
  r.prefix_len = static_cast<uint8_t>(len);
  r.ifindex = ifindex;
  r.gateway = gateway;
  r.flags = RTF_UP;
  if (gateway != 0) r.flags |= RTF_GATEWAY;
  if (len == 32) r.flags |= RTF_HOST;
  return r;
}

// The prefix of the longest match, "none" if there is none.
std::string Match(const RouteTable& t, uint32_t addr) {
  std::optional<Route> r = t.Lookup(addr);
  if (!r) return "none";
  return std::to_string(r->dst >> 24) + "." + std::to_string((r->dst >> 16) & 255) + "." +
         std::to_string((r->dst >> 8) & 255) + "." + std::to_string(r->dst & 255) + "/" +
         std::to_string(r->prefix_len);
}

#define EXPECT_ERRNO(expr, err)                               \
  do {                                                        \
    absl::Status s_ = (expr);                                 \
    EXPECT_EQ(StatusErrno(s_), (err)) << #expr << ": " << s_; \
  } while (0)

// ---- flag and message values are the BSD/illumos ones ----

TEST(RouteFlags, MatchIllumosNetRouteH) {
  static_assert(RTF_UP == 0x1 && RTF_GATEWAY == 0x2 && RTF_HOST == 0x4 && RTF_REJECT == 0x8);
  static_assert(RTF_DYNAMIC == 0x10 && RTF_MODIFIED == 0x20 && RTF_DONE == 0x40 &&
                RTF_MASK == 0x80);
  static_assert(RTF_CLONING == 0x100 && RTF_XRESOLVE == 0x200 && RTF_LLINFO == 0x400 &&
                RTF_STATIC == 0x800);
  static_assert(RTF_BLACKHOLE == 0x1000 && RTF_PRIVATE == 0x2000 && RTF_PROTO2 == 0x4000 &&
                RTF_PROTO1 == 0x8000);
  static_assert(RTF_MULTIRT == 0x10000 && RTF_SETSRC == 0x20000 && RTF_INDIRECT == 0x40000 &&
                RTF_KERNEL == 0x80000);
  static_assert(kRouteAdd == 1 && kRouteDelete == 2 && kRouteChange == 3);
  static_assert(PrefixMask(0) == 0 && PrefixMask(8) == 0xff000000u && PrefixMask(32) == ~0u);
}

// ---- validation ----

TEST(RouteValidation, PrefixLengthOutsideRangeIsEinval) {
  RouteTable t;
  Route r = R(0, 0);
  r.prefix_len = 33;
  EXPECT_ERRNO(t.Add(r), EINVAL);
  EXPECT_ERRNO(t.Delete(0, 33), EINVAL);
  EXPECT_ERRNO(t.Delete(0, -1), EINVAL);
  EXPECT_ERRNO(t.Get(0, 33).status(), EINVAL);
  EXPECT_ERRNO(t.Change(r), EINVAL);
  EXPECT_EQ(t.size(), 0u);
}

TEST(RouteValidation, HostBitsOutsideTheMaskAreEinval) {
  RouteTable t;
  EXPECT_ERRNO(t.Add(R(IP(10, 0, 0, 1), 8)), EINVAL);
  EXPECT_ERRNO(t.Add(R(IP(10, 1, 0, 0), 15)), EINVAL);  // bit 16 is outside a /15
  EXPECT_ERRNO(t.Add(R(IP(0, 0, 0, 1), 0)), EINVAL);
  EXPECT_ERRNO(t.Delete(IP(10, 0, 0, 1), 8), EINVAL);
  EXPECT_ERRNO(t.Get(IP(10, 0, 0, 1), 8).status(), EINVAL);
  EXPECT_TRUE(t.Add(R(IP(10, 0, 0, 0), 15)).ok());
  EXPECT_TRUE(t.Add(R(IP(10, 0, 0, 1), 32)).ok());
}

TEST(RouteValidation, FlagRules) {
  RouteTable t;
  Route host = R(IP(10, 0, 0, 0), 24);
  host.flags |= RTF_HOST;
  EXPECT_ERRNO(t.Add(host), EINVAL);
  Route gw = R(IP(10, 0, 0, 0), 24);
  gw.flags |= RTF_GATEWAY;  // and gateway 0
  EXPECT_ERRNO(t.Add(gw), EINVAL);
  // Any other flag combination is stored as given.
  Route odd = R(IP(10, 0, 0, 0), 24);
  odd.flags = RTF_REJECT | RTF_BLACKHOLE | RTF_STATIC | RTF_PROTO1;
  ASSERT_TRUE(t.Add(odd).ok());
  EXPECT_EQ(t.Get(IP(10, 0, 0, 0), 24)->flags, odd.flags);
  // A gateway without RTF_GATEWAY is an interface route through a local address (route -interface).
  Route iface = R(IP(10, 1, 0, 0), 16);
  iface.gateway = IP(10, 1, 0, 1);
  EXPECT_TRUE(t.Add(iface).ok());
}

// ---- add, delete, change, get ----

TEST(RouteTable, AddDuplicateIsEexist) {
  RouteTable t;
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8, 1)).ok());
  EXPECT_ERRNO(t.Add(R(IP(10, 0, 0, 0), 8, 2)), EEXIST);
  EXPECT_EQ(t.Get(IP(10, 0, 0, 0), 8)->ifindex, 1u);
  // Same address, another length: a different route.
  EXPECT_TRUE(t.Add(R(IP(10, 0, 0, 0), 9)).ok());
  EXPECT_EQ(t.size(), 2u);
}

TEST(RouteTable, DeleteMissingIsEsrch) {
  RouteTable t;
  EXPECT_ERRNO(t.Delete(IP(10, 0, 0, 0), 8), ESRCH);
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8)).ok());
  EXPECT_ERRNO(t.Delete(IP(10, 0, 0, 0), 16), ESRCH);  // exact match only
  EXPECT_TRUE(t.Delete(IP(10, 0, 0, 0), 8).ok());
  EXPECT_ERRNO(t.Delete(IP(10, 0, 0, 0), 8), ESRCH);
  EXPECT_EQ(t.size(), 0u);
}

TEST(RouteTable, DeleteByGateway) {
  RouteTable t;
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8, 1, IP(192, 168, 0, 1))).ok());
  EXPECT_ERRNO(t.Delete(IP(10, 0, 0, 0), 8, IP(192, 168, 0, 2)), ESRCH);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.Delete(IP(10, 0, 0, 0), 8, IP(192, 168, 0, 1)).ok());
  EXPECT_EQ(t.size(), 0u);
}

TEST(RouteTable, ChangeReplacesEveryAttribute) {
  RouteTable t;
  EXPECT_ERRNO(t.Change(R(IP(10, 0, 0, 0), 8)), ESRCH);
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8, 1)).ok());
  Route c = R(IP(10, 0, 0, 0), 8, 7, IP(192, 168, 1, 1));
  c.metric = 5;
  c.mtu = 1400;
  c.src = IP(10, 0, 0, 9);
  c.flags |= RTF_STATIC;
  ASSERT_TRUE(t.Change(c).ok());
  EXPECT_EQ(*t.Get(IP(10, 0, 0, 0), 8), c);
  EXPECT_EQ(*t.Lookup(IP(10, 9, 9, 9)), c);
  // A change is validated like an add.
  Route bad = c;
  bad.flags |= RTF_HOST;
  EXPECT_ERRNO(t.Change(bad), EINVAL);
  EXPECT_EQ(*t.Get(IP(10, 0, 0, 0), 8), c);
}

TEST(RouteTable, GetIsExactNotLongestMatch) {
  RouteTable t;
  Route r = R(IP(10, 0, 0, 0), 8, 3, IP(1, 2, 3, 4));
  r.interface_route = true;
  r.metric = 9;
  ASSERT_TRUE(t.Add(r).ok());
  EXPECT_EQ(*t.Get(IP(10, 0, 0, 0), 8), r);
  EXPECT_ERRNO(t.Get(IP(10, 1, 0, 0), 16).status(), ESRCH);
  EXPECT_ERRNO(t.Get(0, 0).status(), ESRCH);
}

// ---- longest-prefix match ----

TEST(RouteLookup, EmptyTableHasNoMatch) {
  RouteTable t;
  EXPECT_EQ(t.Lookup(IP(1, 2, 3, 4)), std::nullopt);
  EXPECT_EQ(t.Lookup(0), std::nullopt);
  EXPECT_EQ(t.Lookup(~0u), std::nullopt);
}

TEST(RouteLookup, DefaultRouteMatchesEverything) {
  RouteTable t;
  ASSERT_TRUE(t.Add(R(0, 0, 1, IP(192, 168, 0, 1))).ok());
  for (uint32_t a : {0u, 1u, IP(10, 0, 0, 1), IP(127, 255, 255, 255), IP(128, 0, 0, 0), ~0u}) {
    EXPECT_EQ(Match(t, a), "0.0.0.0/0") << a;
  }
  ASSERT_TRUE(t.Delete(0, 0).ok());
  EXPECT_EQ(t.Lookup(IP(10, 0, 0, 1)), std::nullopt);
}

TEST(RouteLookup, HostRoutesMatchOnlyTheirAddress) {
  RouteTable t;
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 1), 32)).ok());
  ASSERT_TRUE(t.Add(R(~0u, 32)).ok());
  ASSERT_TRUE(t.Add(R(0, 32)).ok());
  EXPECT_EQ(Match(t, IP(10, 0, 0, 1)), "10.0.0.1/32");
  EXPECT_EQ(Match(t, IP(10, 0, 0, 0)), "none");
  EXPECT_EQ(Match(t, IP(10, 0, 0, 2)), "none");
  EXPECT_EQ(Match(t, ~0u), "255.255.255.255/32");
  EXPECT_EQ(Match(t, ~0u - 1), "none");
  EXPECT_EQ(Match(t, 0), "0.0.0.0/32");
  EXPECT_EQ(Match(t, 1), "none");
}

TEST(RouteLookup, OverlappingPrefixesLongestWins) {
  RouteTable t;
  ASSERT_TRUE(t.Add(R(0, 0)).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8)).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 1, 0, 0), 16)).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 1, 2, 0), 24)).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 1, 2, 3), 32)).ok());
  EXPECT_EQ(Match(t, IP(10, 1, 2, 3)), "10.1.2.3/32");
  EXPECT_EQ(Match(t, IP(10, 1, 2, 4)), "10.1.2.0/24");
  EXPECT_EQ(Match(t, IP(10, 1, 2, 255)), "10.1.2.0/24");
  EXPECT_EQ(Match(t, IP(10, 1, 3, 0)), "10.1.0.0/16");
  EXPECT_EQ(Match(t, IP(10, 1, 1, 255)), "10.1.0.0/16");
  EXPECT_EQ(Match(t, IP(10, 2, 0, 0)), "10.0.0.0/8");
  EXPECT_EQ(Match(t, IP(10, 0, 255, 255)), "10.0.0.0/8");
  EXPECT_EQ(Match(t, IP(11, 0, 0, 0)), "0.0.0.0/0");
  EXPECT_EQ(Match(t, IP(9, 255, 255, 255)), "0.0.0.0/0");
}

// Every length, with routes on both sides of each node boundary (6, 12, 18, 24, 30 bits).
TEST(RouteLookup, EveryPrefixLengthOnANestedChain) {
  RouteTable t;
  const uint32_t addr = IP(0xb6, 0x5a, 0xc3, 0x3c);
  for (int len = 0; len <= 32; ++len) ASSERT_TRUE(t.Add(R(addr & PrefixMask(len), len)).ok());
  for (int len = 32; len >= 0; --len) {
    // An address agreeing with addr in exactly its first len bits matches the /len route.
    uint32_t probe = len == 32 ? addr : addr ^ (1u << (31 - len));
    std::optional<Route> r = t.Lookup(probe);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->prefix_len, len) << "probe differs at bit " << len;
  }
  // Delete from the longest: addr's match shortens one bit at a time.
  for (int len = 32; len >= 0; --len) {
    EXPECT_EQ(t.Lookup(addr)->prefix_len, len);
    ASSERT_TRUE(t.Delete(addr & PrefixMask(len), len).ok());
  }
  EXPECT_EQ(t.Lookup(addr), std::nullopt);
  EXPECT_EQ(t.GetStats().trie_nodes, 0u);
}

TEST(RouteLookup, DeleteCoveringPrefixKeepsMoreSpecific) {
  RouteTable t;
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8, 1)).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 10, 2)).ok());  // same trie node as the /8
  ASSERT_TRUE(t.Add(R(IP(10, 64, 0, 0), 10, 3)).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 1, 2, 0), 24, 4)).ok());  // a deeper node
  ASSERT_TRUE(t.Delete(IP(10, 0, 0, 0), 8).ok());
  EXPECT_EQ(Match(t, IP(10, 1, 2, 3)), "10.1.2.0/24");
  EXPECT_EQ(Match(t, IP(10, 1, 3, 3)), "10.0.0.0/10");
  EXPECT_EQ(Match(t, IP(10, 64, 3, 3)), "10.64.0.0/10");
  EXPECT_EQ(Match(t, IP(10, 128, 0, 0)), "none");
  EXPECT_EQ(Match(t, IP(10, 192, 0, 0)), "none");
}

TEST(RouteLookup, DeleteMoreSpecificFallsBackToCovering) {
  RouteTable t;
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 7)).ok());    // node 1
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 9)).ok());    // node 1, covers the /10 and /11
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 11)).ok());   // node 1
  ASSERT_TRUE(t.Add(R(IP(10, 32, 0, 0), 11)).ok());  // node 1: with the one above, covers the /10
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 10)).ok());   // node 1, shadowed by the two /11s
  EXPECT_EQ(Match(t, IP(10, 0, 0, 1)), "10.0.0.0/11");
  EXPECT_EQ(Match(t, IP(10, 32, 0, 1)), "10.32.0.0/11");
  ASSERT_TRUE(t.Delete(IP(10, 0, 0, 0), 11).ok());
  EXPECT_EQ(Match(t, IP(10, 0, 0, 1)), "10.0.0.0/10");
  ASSERT_TRUE(t.Delete(IP(10, 0, 0, 0), 10).ok());
  EXPECT_EQ(Match(t, IP(10, 0, 0, 1)), "10.0.0.0/9");
  EXPECT_EQ(Match(t, IP(10, 32, 0, 1)), "10.32.0.0/11");
  ASSERT_TRUE(t.Delete(IP(10, 32, 0, 0), 11).ok());
  EXPECT_EQ(Match(t, IP(10, 32, 0, 1)), "10.0.0.0/9");
  ASSERT_TRUE(t.Delete(IP(10, 0, 0, 0), 9).ok());
  EXPECT_EQ(Match(t, IP(10, 32, 0, 1)), "10.0.0.0/7");
  EXPECT_EQ(Match(t, IP(11, 255, 0, 1)), "10.0.0.0/7");
}

TEST(RouteLookup, ChangeIsSeenByLookup) {
  RouteTable t;
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8, 1)).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 24, 1)).ok());
  ASSERT_TRUE(t.Change(R(IP(10, 0, 0, 0), 8, 2)).ok());
  EXPECT_EQ(t.Lookup(IP(10, 1, 0, 0))->ifindex, 2u);
  EXPECT_EQ(t.Lookup(IP(10, 0, 0, 1))->ifindex, 1u);
}

// ---- walk, flush, generation ----

TEST(RouteTable, WalkIsOrderedByPrefixThenLength) {
  RouteTable t;
  std::vector<std::pair<uint32_t, int>> added = {
      {IP(192, 168, 1, 0), 24}, {0, 0},
      {IP(10, 0, 0, 0), 16},    {IP(10, 0, 0, 0), 8},
      {IP(10, 0, 0, 1), 32},    {IP(255, 255, 255, 255), 32},
      {IP(10, 1, 0, 0), 16}};
  for (auto [dst, len] : added) ASSERT_TRUE(t.Add(R(dst, len)).ok());
  std::vector<std::pair<uint32_t, int>> seen;
  t.Walk([&](const Route& r) {
    seen.emplace_back(r.dst, r.prefix_len);
    return true;
  });
  std::vector<std::pair<uint32_t, int>> want = added;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(seen, want);
  int n = 0;
  t.Walk([&](const Route&) { return ++n < 3; });
  EXPECT_EQ(n, 3);
}

TEST(RouteTable, WalkCallbackMayModifyTheTable) {
  RouteTable t;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(t.Add(R(IP(10, i, 0, 0), 16)).ok());
  t.Walk([&](const Route& r) {
    EXPECT_TRUE(t.Delete(r.dst, r.prefix_len).ok());
    return true;
  });
  EXPECT_EQ(t.size(), 0u);
}

TEST(RouteTable, FlushInterfaceRemovesOnlyThatInterface) {
  RouteTable t;
  std::vector<RouteChange> changes;
  t.Subscribe([&](const RouteChange& c) { changes.push_back(c); });
  Route ifr = R(IP(10, 0, 0, 0), 24, 2);
  ifr.interface_route = true;
  ASSERT_TRUE(t.Add(ifr).ok());
  ASSERT_TRUE(t.Add(R(0, 0, 2, IP(10, 0, 0, 1))).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 0, 1, 0), 24, 1)).ok());
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 5), 32, 2)).ok());
  changes.clear();
  EXPECT_EQ(t.FlushInterface(2), 3u);
  EXPECT_EQ(t.FlushInterface(2), 0u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(Match(t, IP(10, 0, 1, 1)), "10.0.1.0/24");
  EXPECT_EQ(Match(t, IP(10, 0, 0, 5)), "none");
  ASSERT_EQ(changes.size(), 3u);
  for (const RouteChange& c : changes) {
    EXPECT_EQ(c.type, kRouteDelete);
    EXPECT_EQ(c.route.ifindex, 2u);
  }
  EXPECT_EQ(changes[0].route.prefix_len, 0);  // in walk order
  EXPECT_TRUE(changes[1].route.interface_route);
}

TEST(RouteTable, FlushIfPredicate) {
  RouteTable t;
  for (int i = 0; i < 100; ++i) {
    Route r = R(IP(10, i, 0, 0), 16);
    if (i % 3 == 0) r.flags |= RTF_STATIC;
    ASSERT_TRUE(t.Add(r).ok());
  }
  EXPECT_EQ(t.FlushIf([](const Route& r) { return (r.flags & RTF_STATIC) == 0; }), 66u);
  EXPECT_EQ(t.size(), 34u);
  t.Walk([](const Route& r) {
    EXPECT_NE(r.flags & RTF_STATIC, 0u);
    return true;
  });
}

TEST(RouteTable, GenerationCountsChanges) {
  RouteTable t;
  uint64_t g0 = t.generation();
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8)).ok());
  EXPECT_ERRNO(t.Add(R(IP(10, 0, 0, 0), 8)), EEXIST);  // failures change nothing
  ASSERT_TRUE(t.Change(R(IP(10, 0, 0, 0), 8, 2)).ok());
  ASSERT_TRUE(t.Delete(IP(10, 0, 0, 0), 8).ok());
  EXPECT_EQ(t.generation(), g0 + 3);
}

// ---- notifications ----

TEST(RouteNotify, AddChangeDeleteInOrder) {
  RouteTable t;
  std::vector<RouteChange> got;
  t.Subscribe([&](const RouteChange& c) { got.push_back(c); });
  Route a = R(IP(10, 0, 0, 0), 8, 1);
  Route b = R(IP(10, 0, 0, 0), 8, 2, IP(10, 0, 0, 1));
  ASSERT_TRUE(t.Add(a).ok());
  ASSERT_EQ(got.size(), 1u);  // delivered before Add returned
  ASSERT_TRUE(t.Change(b).ok());
  ASSERT_TRUE(t.Delete(IP(10, 0, 0, 0), 8).ok());
  EXPECT_ERRNO(t.Delete(IP(10, 0, 0, 0), 8), ESRCH);  // no notification for a failure
  EXPECT_ERRNO(t.Add(R(IP(10, 0, 0, 1), 8)), EINVAL);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].type, kRouteAdd);
  EXPECT_EQ(got[0].route, a);
  EXPECT_EQ(got[1].type, kRouteChange);
  EXPECT_EQ(got[1].route, b);
  EXPECT_EQ(got[2].type, kRouteDelete);
  EXPECT_EQ(got[2].route, b);  // the route as it was
}

TEST(RouteNotify, SeveralSubscribersAndUnsubscribe) {
  RouteTable t;
  int a = 0, b = 0;
  auto ida = t.Subscribe([&](const RouteChange&) { ++a; });
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8)).ok());
  auto idb = t.Subscribe([&](const RouteChange&) { ++b; });  // sees only later changes
  ASSERT_TRUE(t.Add(R(IP(11, 0, 0, 0), 8)).ok());
  t.Unsubscribe(ida);
  ASSERT_TRUE(t.Add(R(IP(12, 0, 0, 0), 8)).ok());
  t.Unsubscribe(idb);
  t.Unsubscribe(idb);  // unknown ids are ignored
  ASSERT_TRUE(t.Add(R(IP(13, 0, 0, 0), 8)).ok());
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 2);
}

TEST(RouteNotify, CallbackMayChangeTheTable) {
  RouteTable t;
  std::vector<std::pair<RouteMsgType, int>> got;
  t.Subscribe([&](const RouteChange& c) {
    got.emplace_back(c.type, c.route.prefix_len);
    // An interface route brings a host route with it, as IP would add for a local address.
    if (c.type == kRouteAdd && c.route.interface_route) {
      EXPECT_TRUE(t.Get(c.route.dst, c.route.prefix_len).ok());
      EXPECT_TRUE(t.Add(R(c.route.dst | 1, 32)).ok());
    }
  });
  Route ifr = R(IP(10, 0, 0, 0), 24);
  ifr.interface_route = true;
  ASSERT_TRUE(t.Add(ifr).ok());
  std::vector<std::pair<RouteMsgType, int>> want = {{kRouteAdd, 24}, {kRouteAdd, 32}};
  EXPECT_EQ(got, want);
}

TEST(RouteNotify, CallbacksChainingThroughTwoTables) {
  // A change in table a is mirrored into b, whose callback adds back into a: each call sees
  // every change once, in order, and nothing deadlocks.
  RouteTable a, b;
  std::vector<int> seen_a, seen_b;
  a.Subscribe([&](const RouteChange& c) {
    seen_a.push_back(c.route.prefix_len);
    if (c.route.prefix_len == 8) {
      EXPECT_TRUE(b.Add(c.route).ok());
    }
  });
  b.Subscribe([&](const RouteChange& c) {
    seen_b.push_back(c.route.prefix_len);
    EXPECT_TRUE(a.Add(R(c.route.dst, 16)).ok());
  });
  ASSERT_TRUE(a.Add(R(IP(10, 0, 0, 0), 8)).ok());
  EXPECT_EQ(seen_a, (std::vector<int>{8, 16}));
  EXPECT_EQ(seen_b, (std::vector<int>{8}));
}

TEST(RouteNotifyDeathTest, SubscribeFromACallbackAborts) {
  RouteTable t;
  t.Subscribe([&](const RouteChange&) { t.Subscribe([](const RouteChange&) {}); });
  EXPECT_DEATH((void)t.Add(R(IP(10, 0, 0, 0), 8)), "Subscribe from a callback");
}

TEST(RouteNotify, ConcurrentWritersEveryChangeDeliveredOnceInTableOrder) {
  RouteTable t;
  absl::flat_hash_map<uint64_t, int> state;  // key -> +1 added / 0 deleted, as notified
  int notified = 0;
  bool consistent = true;
  t.Subscribe([&](const RouteChange& c) {
    // Callbacks run one at a time: no lock needed here.
    ++notified;
    uint64_t key = (uint64_t{c.route.dst} << 8) | c.route.prefix_len;
    int& s = state[key];
    if (c.type == kRouteAdd) consistent &= (s == 0), s = 1;
    if (c.type == kRouteDelete) consistent &= (s == 1), s = 0;
  });
  constexpr int kThreads = 4, kOps = 2000;
  std::atomic<int> done_ops{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(w);
      for (int i = 0; i < kOps; ++i) {
        uint32_t dst = IP(10, rng() % 8, 0, 0);
        if (t.Add(R(dst, 16)).ok()) done_ops.fetch_add(1);
        if (t.Delete(dst, 16).ok()) done_ops.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(notified, done_ops.load());
  EXPECT_TRUE(consistent) << "an add or delete was delivered out of order";
}

// ---- 100 000 random routes against references ----

// The reference: one hash set per length, probed from the longest; and a plain linear scan.
struct Reference {
  absl::flat_hash_map<uint32_t, uint32_t> by_len[33];  // dst -> ifindex
  std::optional<std::pair<int, uint32_t>> Lookup(uint32_t addr) const {
    for (int len = 32; len >= 0; --len) {
      auto it = by_len[len].find(addr & PrefixMask(len));
      if (it != by_len[len].end()) return std::make_pair(len, it->second);
    }
    return std::nullopt;
  }
};

TEST(RouteLookup, HundredThousandRandomRoutesAgainstReferences) {
  RouteTable t;
  Reference ref;
  std::vector<Route> routes;
  std::mt19937 rng(12345);
  // Lengths: a spread over 0..32 with the weight of real tables on /16../24.
  std::discrete_distribution<int> len_dist({1, 1, 1, 1, 1, 1, 1, 1,  2, 2, 2, 2, 2, 2, 2, 2, 8,
                                            4, 4, 4, 6, 6, 8, 8, 40, 4, 4, 4, 4, 4, 4, 2, 6});
  uint32_t ifindex = 1;
  while (routes.size() < 100000) {
    int len = len_dist(rng);
    uint32_t dst = static_cast<uint32_t>(rng()) & PrefixMask(len);
    Route r = R(dst, len, ifindex);
    absl::Status s = t.Add(r);
    if (ref.by_len[len].contains(dst)) {
      ASSERT_EQ(StatusErrno(s), EEXIST);
      continue;
    }
    ASSERT_TRUE(s.ok()) << s;
    ref.by_len[len][dst] = ifindex++;
    routes.push_back(r);
  }
  ASSERT_EQ(t.size(), 100000u);

  auto check = [&](uint32_t addr) {
    std::optional<Route> got = t.Lookup(addr);
    auto want = ref.Lookup(addr);
    ASSERT_EQ(got.has_value(), want.has_value()) << addr;
    if (got) {
      ASSERT_EQ(got->prefix_len, want->first) << addr;
      ASSERT_EQ(got->ifindex, want->second) << addr;
    }
  };
  auto check_all = [&] {
    for (int i = 0; i < 100000; ++i) check(static_cast<uint32_t>(rng()));
    // The edges of every route: first and last address, and the neighbours outside.
    for (const Route& r : routes) {
      uint32_t last = r.dst | ~PrefixMask(r.prefix_len);
      check(r.dst);
      check(last);
      check(r.dst - 1);
      check(last + 1);
    }
  };
  check_all();
  if (HasFatalFailure()) return;

  // A plain linear scan over every route for some addresses: the reference checks itself.
  for (int i = 0; i < 200; ++i) {
    uint32_t addr =
        i < 100 ? routes[rng() % routes.size()].dst | (rng() & 0xff) : static_cast<uint32_t>(rng());
    int best = -1;
    uint32_t best_if = 0;
    for (const Route& r : routes) {
      if ((addr & PrefixMask(r.prefix_len)) == r.dst && r.prefix_len > best) {
        best = r.prefix_len;
        best_if = r.ifindex;
      }
    }
    std::optional<Route> got = t.Lookup(addr);
    ASSERT_EQ(got.has_value(), best >= 0);
    if (got) {
      ASSERT_EQ(got->prefix_len, best);
      ASSERT_EQ(got->ifindex, best_if);
    }
  }

  // Delete half, at random, and check again.
  std::shuffle(routes.begin(), routes.end(), rng);
  for (size_t i = 0; i < 50000; ++i) {
    ASSERT_TRUE(t.Delete(routes[i].dst, routes[i].prefix_len).ok());
    ref.by_len[routes[i].prefix_len].erase(routes[i].dst);
  }
  routes.erase(routes.begin(), routes.begin() + 50000);
  check_all();
  if (HasFatalFailure()) return;

  // Delete the rest: nothing is left behind in the trie.
  for (const Route& r : routes) ASSERT_TRUE(t.Delete(r.dst, r.prefix_len).ok());
  RouteTable::Stats st = t.GetStats();
  EXPECT_EQ(st.routes, 0u);
  EXPECT_EQ(st.trie_nodes, 0u);
  EXPECT_EQ(st.retired, 0u);  // no reader was running
}

TEST(RouteTable, StatsShowACompactTrie) {
  RouteTable t;
  std::mt19937 rng(7);
  while (t.size() < 10000) (void)t.Add(R(static_cast<uint32_t>(rng()) & PrefixMask(24), 24));
  RouteTable::Stats st = t.GetStats();
  EXPECT_EQ(st.trie_depth, 4u);  // /24s live at depth 3
  EXPECT_LT(st.trie_bytes, 10000u * 120);
}

// ---- concurrency: lookups while routes come and go ----

TEST(RouteConcurrency, LookupsDuringAddsAndDeletes) {
  RouteTable t;
  // Permanent routes: every lookup below 10.0.0.0/8 must match at least the /8.
  ASSERT_TRUE(t.Add(R(IP(10, 0, 0, 0), 8, 1)).ok());
  ASSERT_TRUE(t.Add(R(0, 0, 9)).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0};
  std::atomic<int> failures{0};
  auto reader = [&](int seed) {
    std::mt19937 rng(seed);
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      uint32_t addr = IP(10, 0, 0, 0) | (rng() & 0x00ffffff);
      std::optional<Route> r = t.Lookup(addr);
      // Whatever the writer is doing: a covering route, never the default one.
      if (!r || (addr & PrefixMask(r->prefix_len)) != r->dst || r->prefix_len < 8 ||
          r->ifindex == 9) {
        failures.fetch_add(1);
      }
      // Copies of churning routes are whole: ifindex encodes the prefix length.
      if (r && r->prefix_len > 8 && r->ifindex != 100u + r->prefix_len) failures.fetch_add(1);
      ++n;
    }
    lookups.fetch_add(n);
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(reader, i);
  std::mt19937 rng(99);
  std::vector<Route> live;
  for (int op = 0; op < 20000; ++op) {
    if (live.size() < 500 || rng() % 2 == 0) {
      int len = 9 + static_cast<int>(rng() % 24);
      Route r = R((IP(10, 0, 0, 0) | (rng() & 0x00ffffff)) & PrefixMask(len), len, 100 + len);
      if (t.Add(r).ok()) live.push_back(r);
    } else {
      size_t i = rng() % live.size();
      ASSERT_TRUE(t.Delete(live[i].dst, live[i].prefix_len).ok());
      live[i] = live.back();
      live.pop_back();
    }
    if (op % 1000 == 0) {
      Route c = *t.Get(IP(10, 0, 0, 0), 8);
      c.metric++;
      ASSERT_TRUE(t.Change(c).ok());
    }
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(lookups.load(), 0u);
  RcuSynchronize();
}

}  // namespace
}  // namespace ustreams::ip
