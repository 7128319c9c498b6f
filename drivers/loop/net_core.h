// The loop network's shared state (private to drivers/loop): ports, segments, impairment models,
// the frames in flight and their delivery. loop.h has the theory of operation.
//
// Locking: one mutex (mu_) over everything here. It is held while a frame is sent through the
// segment (impairments, copies, scheduling) and never while a stream's put procedure runs: a
// delivery takes the frames due and the port's streams under mu_, marks the streams busy, lets go,
// and put()s. A stream's own locks are never taken under mu_ (PortClient::Wants is called without
// it). Order: a stream's locks, then mu_, then a scheduler's lock (AddTimer, Now).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "drivers/loop/impair.h"
#include "drivers/loop/loop.h"
#include "streams/mblk.h"
#include "streams/queue.h"
#include "streams/scheduler.h"

namespace ustreams::loop_internal {

struct FrameHeader {
  MacAddr dst, src;
  uint16_t type = 0;  // host order
};
// The header of a frame whose first block holds at least kEtherHeaderLen bytes.
FrameHeader ParseHeader(const mblk_t* frame);
void WriteHeader(unsigned char* p, const FrameHeader& h);

// What the network needs of a stream attached to a port (the driver's per-stream state).
class PortClient {
 public:
  virtual ~PortClient() = default;
  // Whether the stream takes a frame with this header, the port's address being `port_mac`.
  // Called without the network's lock, on the delivering thread.
  virtual bool Wants(const FrameHeader& h, const MacAddr& port_mac) = 0;
  // The stream's driver read queue: frames are put() there (as M_DATA holding the whole frame).
  virtual queue_t* rq() = 0;
};

// Port-level drop reasons the driver reports.
enum class TxDrop { kOversize, kMalformed };

class NetCore : public std::enable_shared_from_this<NetCore> {
 public:
  explicit NetCore(const LoopNetwork::Options& options);
  ~NetCore();  // frees the frames still in flight
  NetCore(const NetCore&) = delete;
  NetCore& operator=(const NetCore&) = delete;

  // ---- topology and configuration (LoopNetwork) ----
  enum class Kind { kWire, kHub, kSwitch };
  std::vector<int> AddSegment(Kind kind, int nports);
  int ports() const;
  absl::Status SetImpairments(int port, LinkDir dir, const Impairments& imp);
  absl::Status SetMtu(int port, uint32_t mtu);
  PortStats Stats(int port) const;
  size_t in_flight_frames() const;
  uint32_t default_mtu() const { return options_.mtu; }

  // ---- the driver ----
  // Attaches client (a stream of the domain whose scheduler is `home`) to port ppa. Returns 0,
  // DL_BADPPA (no such port) or DL_BUSY (the port's streams belong to another domain).
  uint32_t Attach(int ppa, PortClient* client, Scheduler* home);
  // Detaches client; returns once no delivery is using it. With the port's last stream the port
  // loses its home and the frames in flight to it are dropped (rx_abandoned).
  void Detach(int ppa, PortClient* client);
  // Current and factory address and MTU of a port; false for an unknown port.
  bool PortInfo(int ppa, MacAddr* current, MacAddr* factory, uint32_t* mtu) const;
  // DL_SET_PHYS_ADDR_REQ: the port's new current address.
  void SetPortMac(int ppa, const MacAddr& mac);
  // When a frame of frame_bytes may be sent on port ppa (the kOut rate limit); `now` if now.
  absl::Time TxReadyAt(int ppa, absl::Time now, size_t frame_bytes);
  // Sends a frame (consumes it). Its first block holds the whole Ethernet header; `sender` is the
  // sending stream's scheduler (its clock times the kOut direction).
  void Transmit(int ppa, Scheduler* sender, mblk_t* frame);
  void CountTxDrop(int ppa, TxDrop why);
  void CountRxOverflow(int ppa);

 private:
  struct Endpoint {
    PortClient* client;
    int busy = 0;  // deliveries using it now
  };
  struct Port {
    int segment = 0;
    MacAddr factory_mac, mac;
    uint32_t mtu = 1500;
    DirectionModel out, in;
    PortStats counters;  // the port-level fields (out/in live in the models)
    std::list<Endpoint> endpoints;  // stable addresses: deliveries hold them while busy
    Scheduler* home = nullptr;  // the scheduler of the domain its streams belong to
    uint64_t epoch = 0;         // bumped when the home changes: stale timers do nothing
    std::multimap<absl::Time, mblk_t*> arrivals;  // in flight to this port, by arrival time
    std::multiset<absl::Time> armed;              // delivery timers pending on `home`
    bool draining = false;                        // a delivery is handing frames up
  };
  struct Segment {
    Kind kind;
    std::vector<int> ports;
    absl::flat_hash_map<MacAddr, int> learned;  // kSwitch: address -> port
  };
  struct Delivered {  // a delivery's counts, added to the port afterwards
    uint64_t frames = 0, bytes = 0, filtered = 0, overflow = 0;
  };

  bool ValidPort(int port) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ports a frame entering segment `seg` from port `from` goes to.
  std::vector<int> Targets(int from, const FrameHeader& h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies v to frame (consumed): appends the copies that survive, with their arrival times.
  void Apply(const Verdict& v, mblk_t* frame, DirStats& stats,
             std::vector<std::pair<absl::Time, mblk_t*>>* out);
  // A copy that left the sender's kOut direction at `at` enters port `to`'s kIn direction.
  void Arrive(int to, mblk_t* frame, absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmLocked(int port, absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmNextLocked(int port) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropArrivalsLocked(Port& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A delivery timer of port `port` (set for `at` in epoch `epoch`) fired on its home.
  void OnTimer(int port, uint64_t epoch, absl::Time at);
  // Hands frames (consumed) to the clients that want them; no lock held.
  static Delivered DeliverBatch(std::vector<mblk_t*>& batch,
                                const std::vector<PortClient*>& clients, const MacAddr& mac);

  const LoopNetwork::Options options_;
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;  // a delivery released its endpoints (Detach waits)
  std::vector<std::unique_ptr<Port>> ports_ ABSL_GUARDED_BY(mu_);
  std::vector<Segment> segments_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_flight_frames_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ustreams::loop_internal
