// netstat for a built network: every stack's counters (IP with its drops by reason, ICMP, ARP,
// UDP, the routing socket), interfaces, routing table and ARP cache, and every loop port's link
// counters, gathered into the NetworkStats message of stats.proto and printed as protobuf text,
// JSON, or the tables of `netstat -rn` and `arp -an`.
//
// Counters are read while the stacks may be running: each is exact, a set of them is not a
// snapshot (ip_stats.h). In a deterministic network nothing moves between Run() calls.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "tools/config/network.h"
#include "tools/config/stats.pb.h"

namespace ustreams::config {

pb::NetworkStats CollectStats(Network& n);

// Protobuf text format: proto3 leaves zero counters out, so a quiet stack prints short.
std::string StatsText(const pb::NetworkStats& s);
// Field names as in stats.proto; zero counters included, so every field is always there.
absl::StatusOr<std::string> StatsJson(const pb::NetworkStats& s);

// "Destination Gateway Flags Interface" per stack; flags as netstat prints them (U up,
// G gateway, H host, S static, R reject, B blackhole, D dynamic, M modified, C connected: the
// route IP added for an interface's subnet).
std::string RoutesText(const pb::NetworkStats& s);
// "Interface Address MAC State" per stack.
std::string ArpText(const pb::NetworkStats& s);

}  // namespace ustreams::config
