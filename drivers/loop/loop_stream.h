// A loop driver stream's state and the pieces of the driver shared between driver.cc (open,
// close, put and service procedures, the data path) and dlpi_proto.cc (control primitives and
// ioctls). Private to drivers/loop.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "drivers/loop/net_core.h"
#include "streams/dlpi.h"
#include "streams/mblk.h"
#include "streams/queue.h"

namespace ustreams::loop_internal {

// What the read side hands up (DLPI's unitdata mode, illumos dld's fast-path and raw modes).
enum class RxMode {
  kUnitdata,  // DL_UNITDATA_IND + payload
  kFastpath,  // M_DATA, payload only (after DL_IOC_HDR_INFO)
  kRaw,       // M_DATA, the whole frame (after DLIOCRAW)
};

// Bytes of a DLSAP address: the MAC and the 16-bit SAP.
inline constexpr size_t kDlsapLen = 8;
// The most multicast addresses one stream enables (beyond: DL_TOOMANY).
inline constexpr size_t kMaxMulticast = 64;
// Room for the largest acknowledgement the control path sends (DL_INFO_ACK with its addresses).
inline constexpr size_t kAckRoom = sizeof(dl_info_ack_t) + kDlsapLen + 6 + 16;

class LoopStream final : public PortClient {
 public:
  LoopStream(std::shared_ptr<NetCore> c, queue_t* rq) : core(std::move(c)), rq_(rq) {}

  bool Wants(const FrameHeader& h, const MacAddr& port_mac) override;
  queue_t* rq() override { return rq_; }

  struct Snapshot {
    uint32_t state;
    int ppa;
    uint16_t sap;
    RxMode mode;
    bool promisc_sap;
  };
  Snapshot Snap() {
    std::lock_guard<std::mutex> l(mu);
    return Snapshot{state, ppa, sap, mode, promisc_sap};
  }

  const std::shared_ptr<NetCore> core;

  // Set first thing in close: from then on nothing more goes up (what the write side still
  // holds and what the network still hands over are dropped).
  std::atomic<bool> closing{false};

  // The DLPI state. Only the write service procedure changes it (one run at a time, so control
  // primitives never race each other), and close once the service procedure is off; the
  // receive path reads it. Short sections only, never held across a putnext or a NetCore call.
  std::mutex mu;
  uint32_t state = DL_UNATTACHED;
  int ppa = -1;
  uint16_t sap = 0;
  RxMode mode = RxMode::kUnitdata;
  bool promisc_phys = false;
  bool promisc_sap = false;
  bool promisc_multi = false;
  std::vector<MacAddr> multicast;
  // The write side's wake-up after the port's transmit queue was full (a qtimeout).
  bool wake_pending = false;
  timeout_id_t wake_id = 0;

 private:
  queue_t* const rq_;
};

// Copies a primitive out of the first block if it is long enough (views that cannot crash: no
// alignment or length assumptions about what came from above).
template <typename T>
bool ReadPrim(const mblk_t* mp, T* out) {
  if (MBLKL(mp) < sizeof(T)) return false;
  std::memcpy(out, mp->b_rptr, sizeof(T));
  return true;
}
// True if [off, off + len) lies inside mp's first block.
inline bool InBlock(const mblk_t* mp, t_uscalar_t off, t_uscalar_t len) {
  const size_t n = MBLKL(mp);
  return off <= n && len <= n - off;
}
// The SAP of an Ethernet DLSAP address (host order, after the MAC).
inline uint16_t DlsapSap(const unsigned char* addr) {
  uint16_t sap;
  std::memcpy(&sap, addr + 6, sizeof(sap));
  return sap;
}
inline void PutDlsap(unsigned char* p, const MacAddr& mac, uint16_t sap) {
  std::memcpy(p, mac.octets.data(), 6);
  std::memcpy(p + 6, &sap, sizeof(sap));
}
// The type field a frame carries for a DLSAP SAP: the Ethertype, or for an 802.3 SAP (<= 1500)
// the payload length.
inline uint16_t TypeField(uint16_t sap, size_t payload) {
  return sap <= 1500 ? static_cast<uint16_t>(payload) : sap;
}

// Fills ack (a fresh block with kAckRoom bytes of room) as DL_OK_ACK / DL_ERROR_ACK.
void SetOkAck(mblk_t* ack, t_uscalar_t prim);
void SetErrorAck(mblk_t* ack, t_uscalar_t prim, t_uscalar_t dl_errno, t_uscalar_t unix_errno);

// A control primitive (anything but DL_UNITDATA_REQ) from the write service procedure: answers
// it in ack. Consumes nothing: the caller frees req and sends ack.
void HandleControl(LoopStream* s, Scheduler* sched, t_uscalar_t prim, mblk_t* req, mblk_t* ack);
// An M_IOCTL (DLIOCRAW, DL_IOC_HDR_INFO; others are refused): answered with qreply (consumes mp).
void HandleIoctl(queue_t* wq, LoopStream* s, mblk_t* mp);

// A network goes away: opens of the drivers registered for it fail from now on (driver.cc).
void ForgetNetwork(const NetCore* core);

}  // namespace ustreams::loop_internal
