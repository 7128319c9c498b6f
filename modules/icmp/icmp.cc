// Raw ICMP input: a copy of every ICMP message to every endpoint that wants it. See icmp.h.
#include "modules/icmp/icmp.h"

#include <algorithm>
#include <utility>

#include "modules/ip/wire.h"

namespace ustreams::icmp {

IcmpModule::IcmpModule(ip::Ip& ip) : ip_(ip) { ip_.RegisterTransport(ip::kProtoIcmp, this); }

IcmpModule::~IcmpModule() {
  if (ip_.transport(ip::kProtoIcmp) == this) ip_.RegisterTransport(ip::kProtoIcmp, nullptr);
}

IcmpModule* IcmpModule::Of(queue_t* q) {
  ip::Ip* ip = ip::Ip::Of(q);
  if (ip == nullptr) return nullptr;
  return dynamic_cast<IcmpModule*>(ip->transport(ip::kProtoIcmp));
}

std::shared_ptr<IcmpEndpoint> IcmpModule::NewEndpoint() {
  auto ep = std::make_shared<IcmpEndpoint>(*this);
  Add(ep.get());  // published once whole (Receive takes references with weak_from_this)
  return ep;
}

void IcmpModule::Add(IcmpEndpoint* ep) {
  std::lock_guard<std::mutex> l(mu_);
  endpoints_.push_back(ep);
}

void IcmpModule::Remove(IcmpEndpoint* ep) {
  std::lock_guard<std::mutex> l(mu_);
  endpoints_.erase(std::remove(endpoints_.begin(), endpoints_.end(), ep), endpoints_.end());
}

size_t IcmpModule::endpoints() const {
  std::lock_guard<std::mutex> l(mu_);
  return endpoints_.size();
}

IcmpStats IcmpModule::stats() const {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  return IcmpStats{get(in_messages_), get(buffer_drops_), get(out_messages_), get(out_errors_)};
}

void IcmpModule::Receive(const ip::Ipv4Header& h, MsgPtr mp, uint32_t /*ifindex*/,
                         bool /*broadcast*/) {
  const uint32_t src = h.src;
  const uint32_t dst = h.dst;
  // The datagram exactly: from the IP header to its total length (no link padding).
  const size_t have = msgdsize(mp.get());
  if (have < h.total_length) return;
  if (have > h.total_length &&
      adjmsg(mp.get(), -static_cast<ssize_t>(have - h.total_length)) == 0) {
    return;
  }
  std::vector<std::shared_ptr<IcmpEndpoint>> eps;
  {
    std::lock_guard<std::mutex> l(mu_);
    eps.reserve(endpoints_.size());
    for (IcmpEndpoint* ep : endpoints_) {
      if (auto held = ep->weak_from_this().lock()) eps.push_back(std::move(held));
    }
  }
  std::erase_if(eps, [&](const std::shared_ptr<IcmpEndpoint>& ep) { return !ep->Wants(dst); });
  for (size_t i = 0; i < eps.size(); i++) {
    MsgPtr copy;
    if (i + 1 == eps.size()) {
      copy = std::move(mp);
    } else {
      // Copies share the data blocks: nobody writes them.
      copy.reset(dupmsg(mp.get()));
      if (!copy) copy.reset(copymsg(mp.get()));
      if (!copy) {
        Bump(buffer_drops_);
        continue;
      }
    }
    eps[i]->Deliver(src, std::move(copy));
  }
}

void IcmpModule::ReceiveIcmpError(const ip::IcmpMessage& /*m*/, uint32_t /*from*/) {}

}  // namespace ustreams::icmp
