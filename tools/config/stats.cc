#include "tools/config/stats.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "modules/icmp/icmp.h"
#include "modules/ip/ip_stats.h"
#include "modules/ip/route.h"
#include "modules/rts/rts.h"
#include "modules/udp/udp.h"

namespace ustreams::config {
namespace {

std::string Mac(const ip::MacAddress& m) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

// ICMP types by number (RFC 792, RFC 950; 9 and 10 RFC 1256).
std::string IcmpTypeName(size_t t) {
  static constexpr const char* kNames[] = {
      "echo_reply",        nullptr,         nullptr,           "unreachable",
      "source_quench",     "redirect",      nullptr,           nullptr,
      "echo_request",      "router_advert", "router_solicit",  "time_exceeded",
      "parameter_problem", "timestamp",     "timestamp_reply", "info_request",
      "info_reply",        "mask_request",  "mask_reply",
  };
  if (t < std::size(kNames) && kNames[t] != nullptr) return kNames[t];
  return absl::StrCat("type_", t);
}

template <typename Array, typename NameFn>
void Named(const Array& counters, NameFn name,
           google::protobuf::RepeatedPtrField<pb::NamedCounter>* out) {
  for (size_t i = 0; i < counters.size(); i++) {
    uint64_t v = counters[i].load(std::memory_order_relaxed);
    if (v == 0) continue;
    pb::NamedCounter* c = out->Add();
    c->set_name(name(i));
    c->set_count(v);
  }
}

void FillIp(Stack& s, pb::StackStats* out) {
  const ip::IpStats& st = s.ip().stats();
  pb::IpCounters* ip = out->mutable_ip();
  ip->set_in_receives(st.in_receives.load());
  ip->set_in_delivers(st.in_delivers.load());
  ip->set_forw_datagrams(st.forw_datagrams.load());
  ip->set_out_requests(st.out_requests.load());
  ip->set_out_transmits(st.out_transmits.load());
  ip->set_out_no_routes(st.out_no_routes.load());
  ip->set_out_discards(st.out_discards.load());
  ip->set_frag_oks(st.frag_oks.load());
  ip->set_frag_fails(st.frag_fails.load());
  ip->set_frag_creates(st.frag_creates.load());
  ip->set_reasm_reqds(st.reasm_reqds.load());
  ip->set_reasm_oks(st.reasm_oks.load());
  ip->set_reasm_fails(st.reasm_fails.load());
  ip->set_loopback(st.loopback.load());
  Named(
      st.drops, [](size_t i) { return ip::IpDropName(static_cast<ip::IpDrop>(i)); },
      ip->mutable_drops());
  Named(
      st.wire_errors, [](size_t i) { return ip::WireErrorName(static_cast<ip::WireError>(i)); },
      ip->mutable_wire_errors());
  ip::Ip::ReassemblyLoad load = s.ip().reassembly_load();
  ip->set_reassembly_datagrams(load.datagrams);
  ip->set_reassembly_bytes(load.bytes);

  pb::IcmpCounters* icmp = out->mutable_icmp();
  icmp->set_in_msgs(st.icmp_in.load());
  icmp->set_out_msgs(st.icmp_out.load());
  Named(st.icmp_in_type, IcmpTypeName, icmp->mutable_in_types());
  Named(st.icmp_out_type, IcmpTypeName, icmp->mutable_out_types());
  icmp->set_ratelimited(st.icmp_ratelimited.load());
  icmp->set_pmtu_updates(st.pmtu_updates.load());
  if (icmp::IcmpModule* m = s.icmp()) {
    icmp::IcmpStats raw = m->stats();
    icmp->set_raw_in_messages(raw.in_messages);
    icmp->set_raw_buffer_drops(raw.buffer_drops);
    icmp->set_raw_out_messages(raw.out_messages);
    icmp->set_raw_out_errors(raw.out_errors);
  }

  pb::ArpCounters* arp = out->mutable_arp();
  arp->set_requests_in(st.arp_requests_in.load());
  arp->set_replies_in(st.arp_replies_in.load());
  arp->set_requests_out(st.arp_requests_out.load());
  arp->set_replies_out(st.arp_replies_out.load());
  arp->set_resolved(st.arp_resolved.load());
  arp->set_failed(st.arp_failed.load());
  arp->set_expired(st.arp_expired.load());
  arp->set_duplicate_address(st.arp_duplicate_address.load());
}

void FillTransports(Stack& s, pb::StackStats* out) {
  if (udp::UdpModule* m = s.udp()) {
    udp::UdpStats u = m->stats();
    pb::UdpCounters* c = out->mutable_udp();
    c->set_in_datagrams(u.in_datagrams);
    c->set_out_datagrams(u.out_datagrams);
    c->set_out_errors(u.out_errors);
    c->set_no_ports(u.no_ports);
    c->set_ignored_broadcast(u.ignored_broadcast);
    c->set_header_errors(u.header_errors);
    c->set_checksum_errors(u.checksum_errors);
    c->set_buffer_drops(u.buffer_drops);
    c->set_endpoints(m->endpoints());
  }
  if (rts::RtsModule* m = s.rts()) {
    rts::RtsStats r = m->stats();
    pb::RtsCounters* c = out->mutable_rts();
    c->set_requests(r.requests);
    c->set_request_errors(r.request_errors);
    c->set_messages_out(r.messages_out);
    c->set_reader_drops(r.reader_drops);
  }
}

std::string RouteFlags(const ip::Route& r) {
  std::string f;
  if (r.flags & ip::RTF_UP) f += 'U';
  if (r.flags & ip::RTF_GATEWAY) f += 'G';
  if (r.flags & ip::RTF_HOST) f += 'H';
  if (r.flags & ip::RTF_STATIC) f += 'S';
  if (r.flags & ip::RTF_REJECT) f += 'R';
  if (r.flags & ip::RTF_BLACKHOLE) f += 'B';
  if (r.flags & ip::RTF_DYNAMIC) f += 'D';
  if (r.flags & ip::RTF_MODIFIED) f += 'M';
  if (r.interface_route) f += 'C';
  return f;
}

void FillTables(Stack& s, pb::StackStats* out) {
  std::map<uint32_t, std::string> names;
  for (const ip::InterfaceInfo& i : s.ip().Interfaces()) {
    names[i.index] = i.name;
    pb::InterfaceEntry* e = out->add_interfaces();
    e->set_name(i.name);
    e->set_index(i.index);
    e->set_mac(Mac(i.mac));
    e->set_mtu(i.mtu);
    e->set_up(i.up);
    e->set_running(i.running);
    for (const ip::InterfaceInfo::Address& a : i.addrs) {
      e->add_addresses(Cidr{a.addr, a.prefix_len}.ToString());
    }
  }
  auto ifname = [&](uint32_t index) {
    auto it = names.find(index);
    return it != names.end() ? it->second : absl::StrCat("#", index);
  };
  s.ip().routes().Walk([&](const ip::Route& r) {
    pb::RouteEntry* e = out->add_routes();
    e->set_destination(Cidr{r.dst, r.prefix_len}.ToString());
    if (r.gateway != 0) e->set_gateway(FormatAddress(r.gateway));
    e->set_interface(ifname(r.ifindex));
    e->set_flags(RouteFlags(r));
    e->set_metric(r.metric);
    e->set_mtu(r.mtu);
    return true;
  });
  for (const ip::ArpInfo& a : s.ip().ArpEntries()) {
    pb::ArpEntry* e = out->add_arp_cache();
    e->set_interface(ifname(a.ifindex));
    e->set_address(FormatAddress(a.addr));
    switch (a.state) {
      case ip::ArpInfo::kIncomplete:
        e->set_state("incomplete");
        break;
      case ip::ArpInfo::kReachable:
        e->set_state("reachable");
        break;
      case ip::ArpInfo::kStale:
        e->set_state("stale");
        break;
      case ip::ArpInfo::kStatic:
        e->set_state("static");
        break;
    }
    if (a.state != ip::ArpInfo::kIncomplete) e->set_mac(Mac(a.mac));
    e->set_pending(static_cast<uint32_t>(a.waiting));
  }
}

void FillDir(const DirStats& d, pb::DirCounters* out) {
  out->set_offered_frames(d.offered_frames);
  out->set_offered_bytes(d.offered_bytes);
  out->set_passed_frames(d.passed_frames);
  out->set_passed_bytes(d.passed_bytes);
  out->set_dropped_loss(d.dropped_loss);
  out->set_dropped_mtu(d.dropped_mtu);
  out->set_dropped_queue(d.dropped_queue);
  out->set_dropped_overflow(d.dropped_overflow);
  out->set_duplicated(d.duplicated);
  out->set_corrupted(d.corrupted);
  out->set_reordered(d.reordered);
}

void FillPort(Network& n, int port, pb::PortStats* out) {
  const Network::PortOwner& o = n.ports()[port];
  PortStats p = n.loop().Stats(port);
  out->set_link(n.config().links[o.link].name);
  out->set_port(static_cast<uint32_t>(port));
  out->set_link_port(static_cast<uint32_t>(o.link_port));
  out->set_stack(o.stack);
  out->set_interface(o.ifname);
  out->set_mac(n.loop().Mac(port).ToString());
  FillDir(p.out, out->mutable_out());
  FillDir(p.in, out->mutable_in());
  out->set_tx_frames(p.tx_frames);
  out->set_tx_bytes(p.tx_bytes);
  out->set_tx_oversize(p.tx_oversize);
  out->set_tx_malformed(p.tx_malformed);
  out->set_rx_frames(p.rx_frames);
  out->set_rx_bytes(p.rx_bytes);
  out->set_rx_filtered(p.rx_filtered);
  out->set_rx_no_receiver(p.rx_no_receiver);
  out->set_rx_abandoned(p.rx_abandoned);
  out->set_rx_overflow(p.rx_overflow);
}

}  // namespace

pb::NetworkStats CollectStats(Network& n) {
  pb::NetworkStats out;
  for (const Network::StackState& st : n.stacks()) {
    pb::StackStats* s = out.add_stacks();
    s->set_name(st.name);
    FillIp(*st.stack, s);
    FillTransports(*st.stack, s);
    FillTables(*st.stack, s);
  }
  for (size_t port = 0; port < n.ports().size(); port++) {
    FillPort(n, static_cast<int>(port), out.add_ports());
  }
  return out;
}

std::string StatsText(const pb::NetworkStats& s) {
  std::string out;
  google::protobuf::TextFormat::PrintToString(s, &out);
  return out;
}

absl::StatusOr<std::string> StatsJson(const pb::NetworkStats& s) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  if (auto st = google::protobuf::util::MessageToJsonString(s, &out, o); !st.ok()) {
    return absl::InternalError(absl::StrCat("JSON: ", st.ToString()));
  }
  return out;
}

std::string RoutesText(const pb::NetworkStats& s) {
  std::string out;
  for (const pb::StackStats& st : s.stacks()) {
    absl::StrAppend(
        &out, "stack \"", st.name(), "\" routing table\n",
        absl::StrFormat("  %-18s %-15s %-6s %s\n", "Destination", "Gateway", "Flags", "Interface"));
    for (const pb::RouteEntry& r : st.routes()) {
      absl::StrAppend(
          &out, absl::StrFormat("  %-18s %-15s %-6s %s\n", r.destination(),
                                r.gateway().empty() ? "-" : r.gateway(), r.flags(), r.interface()));
    }
  }
  return out;
}

std::string ArpText(const pb::NetworkStats& s) {
  std::string out;
  for (const pb::StackStats& st : s.stacks()) {
    absl::StrAppend(
        &out, "stack \"", st.name(), "\" ARP cache\n",
        absl::StrFormat("  %-10s %-15s %-17s %s\n", "Interface", "Address", "MAC", "State"));
    for (const pb::ArpEntry& a : st.arp_cache()) {
      absl::StrAppend(&out, absl::StrFormat("  %-10s %-15s %-17s %s\n", a.interface(), a.address(),
                                            a.mac().empty() ? "(incomplete)" : a.mac(), a.state()));
    }
  }
  return out;
}

}  // namespace ustreams::config
