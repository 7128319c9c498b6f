// UDP input (from IP), ICMP errors, counters. See udp.h for the theory of operation.
#include "modules/udp/udp.h"

#include <cerrno>
#include <utility>
#include <vector>

#include "modules/ip/wire.h"

namespace ustreams::udp {
namespace {

// The endpoint behind a classifier entry, if it is still alive (an endpoint being destroyed has
// an expired weak reference and is skipped). Runs under the classifier's reader lock.
std::shared_ptr<UdpEndpoint> Hold(ip::Endpoint ep) {
  return static_cast<UdpEndpoint*>(ep)->weak_from_this().lock();
}

// Cuts mp (a datagram from its IP header on) down to the `len` bytes of UDP payload that start
// `skip` bytes in. False if it is shorter than that.
bool TrimToPayload(mblk_t* mp, size_t skip, size_t len) {
  if (adjmsg(mp, static_cast<ssize_t>(skip)) == 0) return false;
  const size_t have = msgdsize(mp);
  if (have < len) return false;
  return have == len || adjmsg(mp, -static_cast<ssize_t>(have - len)) != 0;
}

}  // namespace

UdpModule::UdpModule(ip::Ip& ip) : ip_(ip) { ip_.RegisterTransport(ip::kProtoUdp, this); }

UdpModule::~UdpModule() {
  if (ip_.transport(ip::kProtoUdp) == this) ip_.RegisterTransport(ip::kProtoUdp, nullptr);
}

UdpModule* UdpModule::Of(queue_t* q) {
  ip::Ip* ip = ip::Ip::Of(q);
  if (ip == nullptr) return nullptr;
  return dynamic_cast<UdpModule*>(ip->transport(ip::kProtoUdp));
}

std::shared_ptr<UdpEndpoint> UdpModule::NewEndpoint() {
  return std::make_shared<UdpEndpoint>(*this);
}

UdpStats UdpModule::stats() const {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  UdpStats s;
  s.in_datagrams = get(counters_.in_datagrams);
  s.out_datagrams = get(counters_.out_datagrams);
  s.out_errors = get(counters_.out_errors);
  s.no_ports = get(counters_.no_ports);
  s.ignored_broadcast = get(counters_.ignored_broadcast);
  s.header_errors = get(counters_.header_errors);
  s.checksum_errors = get(counters_.checksum_errors);
  s.buffer_drops = get(counters_.buffer_drops);
  return s;
}

void UdpModule::Receive(const ip::Ipv4Header& h, MsgPtr mp, uint32_t /*ifindex*/, bool broadcast) {
  ip::Parsed<ip::UdpHeader> u = ip::ParseUdp(h.payload, h.src, h.dst);
  if (!u.ok()) {
    Bump(u.error() == ip::WireError::kUdpChecksum ? counters_.checksum_errors
                                                  : counters_.header_errors);
    return;
  }
  const ip::FiveTuple t{ip::kProtoUdp, h.dst, u->dst_port, h.src, u->src_port};
  const size_t skip = h.header_length + ip::kUdpHeaderLength;
  const size_t len = u->length - ip::kUdpHeaderLength;
  if (broadcast) {
    if (!TrimToPayload(mp.get(), skip, len)) {
      Bump(counters_.header_errors);
      return;
    }
    Broadcast(t, h.src, u->src_port, std::move(mp));
    return;
  }
  std::shared_ptr<UdpEndpoint> ep;
  ip_.classifier().Lookup(t, [&](ip::Endpoint e) { ep = Hold(e); });
  if (ep == nullptr) {
    Bump(counters_.no_ports);
    ip_.SendUnreachable(std::move(mp), ip::kIcmpPortUnreachable);
    return;
  }
  if (!TrimToPayload(mp.get(), skip, len)) {
    Bump(counters_.header_errors);
    return;
  }
  ep->Deliver(h.src, u->src_port, std::move(mp));
}

// A copy to every endpoint bound to the port (RFC 1122 §4.1.3.5 leaves which to the host; BSD and
// Linux give all of them one). Copies share the data blocks (dupmsg): nobody writes them.
void UdpModule::Broadcast(const ip::FiveTuple& t, uint32_t src, uint16_t sport, MsgPtr data) {
  std::vector<std::shared_ptr<UdpEndpoint>> eps;
  ip_.classifier().LookupAll(t, [&](ip::Endpoint e) {
    if (auto ep = Hold(e)) eps.push_back(std::move(ep));
  });
  if (eps.empty()) {
    Bump(counters_.ignored_broadcast);
    return;
  }
  for (size_t i = 0; i < eps.size(); i++) {
    MsgPtr copy;
    if (i + 1 == eps.size()) {
      copy = std::move(data);
    } else {
      copy.reset(dupmsg(data.get()));
      if (!copy) copy.reset(copymsg(data.get()));
      if (!copy) {
        Bump(counters_.buffer_drops);
        continue;
      }
    }
    eps[i]->Deliver(src, sport, std::move(copy));
  }
}

int IcmpErrno(uint8_t type, uint8_t code) {
  switch (type) {
    case ip::kIcmpUnreachable:
      switch (code) {
        case ip::kIcmpPortUnreachable:
        case ip::kIcmpProtocolUnreachable:
          return ECONNREFUSED;  // illumos udp_icmp_input
        case ip::kIcmpFragmentationNeeded:
          return EMSGSIZE;
        case ip::kIcmpNetUnreachable:
        case 6:   // destination network unknown
        case 9:   // network administratively prohibited
        case 11:  // network unreachable for TOS
          return ENETUNREACH;
        default:  // host unreachable, unknown, isolated, prohibited; source route failed ...
          return EHOSTUNREACH;
      }
    case ip::kIcmpTimeExceeded:
      return EHOSTUNREACH;  // Linux icmp_err_convert
    case ip::kIcmpParameterProblem:
      return EPROTO;
    default:
      return 0;  // source quench, redirect: not errors an application hears of
  }
}

void UdpModule::ReceiveIcmpError(const ip::IcmpMessage& m, uint32_t /*from*/) {
  const int err = IcmpErrno(m.type, m.code);
  const ip::IcmpQuote& q = m.quote;
  if (err == 0 || q.protocol != ip::kProtoUdp || q.fragment_offset != 0) return;
  const uint16_t sport = static_cast<uint16_t>(q.transport[0] << 8 | q.transport[1]);
  const uint16_t dport = static_cast<uint16_t>(q.transport[2] << 8 | q.transport[3]);
  // The sender, from its own side: it sent from (q.src, sport) to (q.dst, dport).
  const ip::FiveTuple t{ip::kProtoUdp, q.src, sport, q.dst, dport};
  std::shared_ptr<UdpEndpoint> ep;
  ip_.classifier().Lookup(t, [&](ip::Endpoint e) { ep = Hold(e); });
  if (ep != nullptr) ep->DeliverError(q.dst, dport, err);
}

}  // namespace ustreams::udp
