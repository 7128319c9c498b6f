#include "drivers/loop/net_core.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "streams/dlpi.h"

namespace ustreams::loop_internal {
namespace {

// Frames one delivery timer hands up before it yields the thread (and re-arms itself at once).
constexpr int kDeliveryBudget = 256;

// Each direction's random stream: seeded from the network seed, the port and the direction, so
// traffic on one direction never shifts the draws of another.
uint64_t DirSeed(uint64_t seed, int port, int dir) {
  uint64_t s = seed ^ ((static_cast<uint64_t>(port) << 1 | static_cast<uint64_t>(dir)) *
                       0xd1342543de82ef95ull);
  return Prng::SplitMix64(&s);
}

// Flips bit `bit` of the payload (the bytes after the Ethernet header). Returns the frame, which
// is a private copy if any block was shared (shared blocks are never written), or nullptr (frame
// freed) if no memory was left for that copy.
mblk_t* FlipPayloadBit(mblk_t* frame, uint64_t bit) {
  for (mblk_t* b = frame; b != nullptr; b = b->b_cont) {
    if (DB_REF(b) > 1) {
      mblk_t* copy = copymsg(frame);
      freemsg(frame);
      if (copy == nullptr) return nullptr;
      frame = copy;
      break;
    }
  }
  uint64_t skip = kEtherHeaderLen + bit / 8;
  for (mblk_t* b = frame; b != nullptr; b = b->b_cont) {
    const size_t n = MBLKL(b);
    if (skip < n) {
      b->b_rptr[skip] ^= static_cast<unsigned char>(0x80u >> (bit % 8));
      break;
    }
    skip -= n;
  }
  return frame;
}

}  // namespace

FrameHeader ParseHeader(const mblk_t* frame) {
  const unsigned char* p = frame->b_rptr;
  FrameHeader h;
  h.dst = MacAddr::FromBytes(p);
  h.src = MacAddr::FromBytes(p + 6);
  h.type = static_cast<uint16_t>(p[12] << 8 | p[13]);
  return h;
}

void WriteHeader(unsigned char* p, const FrameHeader& h) {
  std::memcpy(p, h.dst.octets.data(), 6);
  std::memcpy(p + 6, h.src.octets.data(), 6);
  p[12] = static_cast<unsigned char>(h.type >> 8);
  p[13] = static_cast<unsigned char>(h.type);
}

NetCore::NetCore(const LoopNetwork::Options& options) : options_(options) {}

NetCore::~NetCore() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& p : ports_) {
    for (auto& [at, f] : p->arrivals) freemsg(f);
    p->arrivals.clear();
  }
}

// ---- topology and configuration ----

bool NetCore::ValidPort(int port) const {
  return port >= 0 && static_cast<size_t>(port) < ports_.size();
}

std::vector<int> NetCore::AddSegment(Kind kind, int nports) {
  std::lock_guard<std::mutex> l(mu_);
  const int seg = static_cast<int>(segments_.size());
  Segment s{kind, {}, {}};
  for (int i = 0; i < nports; i++) {
    const int idx = static_cast<int>(ports_.size());
    auto p = std::make_unique<Port>();
    p->segment = seg;
    p->mac = MacAddr{{0x02, 0x00, static_cast<uint8_t>(options_.id >> 8),
                      static_cast<uint8_t>(options_.id), static_cast<uint8_t>(idx >> 8),
                      static_cast<uint8_t>(idx)}};
    p->factory_mac = p->mac;
    p->mtu = options_.mtu;
    p->out = DirectionModel(DirSeed(options_.seed, idx, 0));
    p->in = DirectionModel(DirSeed(options_.seed, idx, 1));
    ports_.push_back(std::move(p));
    s.ports.push_back(idx);
  }
  segments_.push_back(std::move(s));
  return segments_.back().ports;
}

int NetCore::ports() const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<int>(ports_.size());
}

absl::Status NetCore::SetImpairments(int port, LinkDir dir, const Impairments& imp) {
  if (absl::Status s = DirectionModel::Validate(imp); !s.ok()) return s;
  std::lock_guard<std::mutex> l(mu_);
  if (!ValidPort(port)) return absl::InvalidArgumentError("no such port");
  Port& p = *ports_[port];
  (dir == LinkDir::kOut ? p.out : p.in).Configure(imp);
  return absl::OkStatus();
}

absl::Status NetCore::SetMtu(int port, uint32_t mtu) {
  if (mtu < 68 || mtu > 65535) return absl::InvalidArgumentError("MTU must lie in 68..65535");
  std::lock_guard<std::mutex> l(mu_);
  if (!ValidPort(port)) return absl::InvalidArgumentError("no such port");
  ports_[port]->mtu = mtu;
  return absl::OkStatus();
}

PortStats NetCore::Stats(int port) const {
  std::lock_guard<std::mutex> l(mu_);
  if (!ValidPort(port)) return PortStats{};
  const Port& p = *ports_[port];
  PortStats s = p.counters;
  s.out = p.out.stats();
  s.in = p.in.stats();
  return s;
}

size_t NetCore::in_flight_frames() const {
  std::lock_guard<std::mutex> l(mu_);
  return in_flight_frames_;
}

// ---- the driver's side ----

uint32_t NetCore::Attach(int ppa, PortClient* client, Scheduler* home) {
  std::lock_guard<std::mutex> l(mu_);
  if (!ValidPort(ppa)) return DL_BADPPA;
  Port& p = *ports_[ppa];
  if (p.home != nullptr && p.home != home) return DL_BUSY;
  if (p.home == nullptr) {
    p.home = home;
    p.epoch++;
  }
  p.endpoints.push_back(Endpoint{client, 0});
  return 0;
}

void NetCore::Detach(int ppa, PortClient* client) {
  std::unique_lock<std::mutex> l(mu_);
  if (!ValidPort(ppa)) return;
  Port& p = *ports_[ppa];
  auto it = std::find_if(p.endpoints.begin(), p.endpoints.end(),
                         [client](const Endpoint& e) { return e.client == client; });
  if (it == p.endpoints.end()) return;
  // A delivery may be handing this stream a frame right now (it let go of mu_ to put()).
  idle_cv_.wait(l, [&] { return it->busy == 0; });
  p.endpoints.erase(it);
  if (p.endpoints.empty()) {
    p.home = nullptr;
    p.epoch++;
    p.armed.clear();
    DropArrivalsLocked(p);
  }
}

void NetCore::DropArrivalsLocked(Port& p) {
  for (auto& [at, f] : p.arrivals) {
    p.counters.rx_abandoned++;
    in_flight_bytes_ -= msgdsize(f);
    in_flight_frames_--;
    freemsg(f);
  }
  p.arrivals.clear();
}

bool NetCore::PortInfo(int ppa, MacAddr* current, MacAddr* factory, uint32_t* mtu) const {
  std::lock_guard<std::mutex> l(mu_);
  if (!ValidPort(ppa)) return false;
  const Port& p = *ports_[ppa];
  if (current != nullptr) *current = p.mac;
  if (factory != nullptr) *factory = p.factory_mac;
  if (mtu != nullptr) *mtu = p.mtu;
  return true;
}

void NetCore::SetPortMac(int ppa, const MacAddr& mac) {
  std::lock_guard<std::mutex> l(mu_);
  if (ValidPort(ppa)) ports_[ppa]->mac = mac;
}

absl::Time NetCore::TxReadyAt(int ppa, absl::Time now, size_t frame_bytes) {
  std::lock_guard<std::mutex> l(mu_);
  if (!ValidPort(ppa)) return now;
  return ports_[ppa]->out.ReadyAt(now, frame_bytes);
}

void NetCore::CountTxDrop(int ppa, TxDrop why) {
  std::lock_guard<std::mutex> l(mu_);
  if (!ValidPort(ppa)) return;
  PortStats& c = ports_[ppa]->counters;
  (why == TxDrop::kOversize ? c.tx_oversize : c.tx_malformed)++;
}

void NetCore::CountRxOverflow(int ppa) {
  std::lock_guard<std::mutex> l(mu_);
  if (ValidPort(ppa)) ports_[ppa]->counters.rx_overflow++;
}

// ---- sending ----

std::vector<int> NetCore::Targets(int from, const FrameHeader& h) {
  Segment& s = segments_[ports_[from]->segment];
  if (s.kind == Kind::kSwitch) {
    if (!h.src.IsGroup()) s.learned[h.src] = from;
    if (!h.dst.IsGroup()) {
      auto it = s.learned.find(h.dst);
      if (it != s.learned.end()) {
        if (it->second == from) return {};  // the destination is on the sender's side: filtered
        return {it->second};
      }
    }
  }
  std::vector<int> to;  // a wire's other end; a hub's (or a flooding switch's) other ports
  for (int p : s.ports) {
    if (p != from) to.push_back(p);
  }
  return to;
}

void NetCore::Apply(const Verdict& v, mblk_t* frame, DirStats& stats,
                    std::vector<std::pair<absl::Time, mblk_t*>>* out) {
  if (v.drop != Verdict::kNone) {
    freemsg(frame);
    return;
  }
  if (v.corrupt) {
    frame = FlipPayloadBit(frame, v.corrupt_bit);
    if (frame == nullptr) {
      stats.dropped_overflow++;
      return;
    }
  }
  out->emplace_back(v.arrival, frame);
  if (v.duplicate) {
    if (mblk_t* d = dupmsg(frame)) {
      out->emplace_back(v.arrival, d);
    } else {
      stats.dropped_overflow++;
    }
  }
}

void NetCore::Transmit(int ppa, Scheduler* sender, mblk_t* frame) {
  const size_t len = msgdsize(frame);
  std::lock_guard<std::mutex> l(mu_);
  if (!ValidPort(ppa)) {
    freemsg(frame);
    return;
  }
  Port& p = *ports_[ppa];
  p.counters.tx_frames++;
  p.counters.tx_bytes += len;
  const absl::Time now = sender->Now();
  Verdict v = p.out.Offer(now, len, len - kEtherHeaderLen, /*tail_drop=*/false);
  std::vector<std::pair<absl::Time, mblk_t*>> copies;
  Apply(v, frame, p.out.stats(), &copies);
  for (auto& [at, f] : copies) {
    const std::vector<int> to = Targets(ppa, ParseHeader(f));
    if (to.empty()) {
      freemsg(f);
      continue;
    }
    for (size_t i = 0; i < to.size(); i++) {
      mblk_t* c = i + 1 == to.size() ? f : dupmsg(f);
      if (c == nullptr) {
        ports_[to[i]]->in.stats().dropped_overflow++;
        continue;
      }
      Arrive(to[i], c, at);
    }
  }
}

void NetCore::Arrive(int to, mblk_t* frame, absl::Time at) {
  Port& q = *ports_[to];
  if (q.home == nullptr) {  // unplugged: nobody to time the arrival, nobody to take it
    q.counters.rx_no_receiver++;
    freemsg(frame);
    return;
  }
  const size_t len = msgdsize(frame);
  // One timeline for every clock of the network (see loop.h): the frame enters kIn at the time
  // it left kOut, whatever the receiver's clock says right now (in lockstep it may not have
  // been moved to this instant yet).
  Verdict v = q.in.Offer(at, len, len - kEtherHeaderLen, /*tail_drop=*/true);
  std::vector<std::pair<absl::Time, mblk_t*>> copies;
  Apply(v, frame, q.in.stats(), &copies);
  for (auto& [when, f] : copies) {
    const size_t n = msgdsize(f);
    if (in_flight_bytes_ + n > options_.max_in_flight_bytes) {
      q.in.stats().dropped_overflow++;
      freemsg(f);
      continue;
    }
    in_flight_bytes_ += n;
    in_flight_frames_++;
    q.arrivals.emplace(when, f);  // equal times keep their order (multimap inserts at the end)
    ArmLocked(to, when);
  }
}

// ---- delivering ----

void NetCore::ArmLocked(int port, absl::Time at) {
  Port& p = *ports_[port];
  if (p.home == nullptr) return;
  if (!p.armed.empty() && *p.armed.begin() <= at) return;  // an earlier timer will see it
  p.armed.insert(at);
  const uint64_t epoch = p.epoch;
  auto deliver = [self = shared_from_this(), port, epoch, at] { self->OnTimer(port, epoch, at); };
  // Due now (no delay on the way): deliver as soon as a thread is free, not at the timer wheel's
  // next millisecond tick.
  if (at <= p.home->Now()) {
    p.home->Defer(std::move(deliver));
  } else {
    p.home->AddTimer(at, std::move(deliver));
  }
}

void NetCore::ArmNextLocked(int port) {
  Port& p = *ports_[port];
  if (p.home != nullptr && !p.arrivals.empty()) ArmLocked(port, p.arrivals.begin()->first);
}

void NetCore::OnTimer(int port, uint64_t epoch, absl::Time at) {
  std::unique_lock<std::mutex> l(mu_);
  Port& p = *ports_[port];
  if (p.epoch != epoch) return;  // the port's streams went (and maybe others came) meanwhile
  if (auto it = p.armed.find(at); it != p.armed.end()) p.armed.erase(it);
  // One delivery per port at a time keeps arrival order with several scheduler threads; the
  // one running takes what became due meanwhile before it stops.
  if (p.draining || p.home == nullptr) return;
  p.draining = true;
  Scheduler* home = p.home;
  int budget = kDeliveryBudget;
  bool more = false;
  for (;;) {
    const absl::Time now = home->Now();
    std::vector<mblk_t*> batch;
    while (!p.arrivals.empty() && p.arrivals.begin()->first <= now) {
      if (budget == 0) {
        more = true;
        break;
      }
      budget--;
      mblk_t* f = p.arrivals.begin()->second;
      p.arrivals.erase(p.arrivals.begin());
      in_flight_bytes_ -= msgdsize(f);
      in_flight_frames_--;
      batch.push_back(f);
    }
    if (batch.empty()) break;
    std::vector<Endpoint*> eps;
    std::vector<PortClient*> clients;
    for (Endpoint& e : p.endpoints) {
      e.busy++;
      eps.push_back(&e);
      clients.push_back(e.client);
    }
    const MacAddr mac = p.mac;
    l.unlock();
    const Delivered d = DeliverBatch(batch, clients, mac);
    l.lock();
    for (Endpoint* e : eps) e->busy--;
    idle_cv_.notify_all();
    p.counters.rx_frames += d.frames;
    p.counters.rx_bytes += d.bytes;
    p.counters.rx_filtered += d.filtered;
    p.counters.rx_overflow += d.overflow;
    if (p.epoch != epoch || more) break;
  }
  p.draining = false;
  if (more && p.epoch == epoch) {
    ArmLocked(port, home->Now());  // budget spent: the rest after whatever else is runnable
  } else {
    ArmNextLocked(port);
  }
}

NetCore::Delivered NetCore::DeliverBatch(std::vector<mblk_t*>& batch,
                                         const std::vector<PortClient*>& clients,
                                         const MacAddr& mac) {
  Delivered d;
  std::vector<PortClient*> takers;
  for (mblk_t* f : batch) {
    const FrameHeader h = ParseHeader(f);
    takers.clear();
    for (PortClient* c : clients) {
      if (c->Wants(h, mac)) takers.push_back(c);
    }
    if (takers.empty()) {
      d.filtered++;
      freemsg(f);
      continue;
    }
    d.frames++;
    d.bytes += msgdsize(f);
    for (size_t i = 0; i < takers.size(); i++) {
      mblk_t* m = i + 1 == takers.size() ? f : dupmsg(f);
      if (m == nullptr) {
        d.overflow++;
        continue;
      }
      put(takers[i]->rq(), m);  // consumes m
    }
  }
  return d;
}

}  // namespace ustreams::loop_internal
