// LoopNetwork: the C++ face of a loop network (loop.h) over its shared core (net_core.h).
#include <cstdio>

#include "drivers/loop/loop.h"
#include "drivers/loop/loop_stream.h"
#include "drivers/loop/net_core.h"

namespace ustreams {

using loop_internal::NetCore;

std::string MacAddr::ToString() const {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", octets[0], octets[1],
                octets[2], octets[3], octets[4], octets[5]);
  return buf;
}

LoopNetwork::LoopNetwork() : LoopNetwork(Options{}) {}

// Not make_shared: a stale registration's weak_ptr then keeps only the control block alive.
LoopNetwork::LoopNetwork(Options options) : core_(new NetCore(options)) {}

LoopNetwork::~LoopNetwork() { loop_internal::ForgetNetwork(core_.get()); }

std::pair<int, int> LoopNetwork::AddWire() {
  const std::vector<int> p = core_->AddSegment(NetCore::Kind::kWire, 2);
  return {p[0], p[1]};
}

std::vector<int> LoopNetwork::AddHub(int n) {
  if (n < 1) return {};
  return core_->AddSegment(NetCore::Kind::kHub, n);
}

std::vector<int> LoopNetwork::AddSwitch(int n) {
  if (n < 1) return {};
  return core_->AddSegment(NetCore::Kind::kSwitch, n);
}

int LoopNetwork::ports() const { return core_->ports(); }

absl::Status LoopNetwork::SetImpairments(int port, LinkDir dir, const Impairments& imp) {
  return core_->SetImpairments(port, dir, imp);
}

absl::Status LoopNetwork::SetImpairments(int port, const Impairments& imp) {
  if (absl::Status s = core_->SetImpairments(port, LinkDir::kOut, imp); !s.ok()) return s;
  return core_->SetImpairments(port, LinkDir::kIn, imp);
}

absl::Status LoopNetwork::SetMtu(int port, uint32_t mtu) { return core_->SetMtu(port, mtu); }

MacAddr LoopNetwork::Mac(int port) const {
  MacAddr m;
  core_->PortInfo(port, &m, nullptr, nullptr);
  return m;
}

PortStats LoopNetwork::Stats(int port) const { return core_->Stats(port); }

size_t LoopNetwork::in_flight_frames() const { return core_->in_flight_frames(); }

}  // namespace ustreams
