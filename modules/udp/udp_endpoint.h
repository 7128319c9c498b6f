// A UDP endpoint (RFC 768): its binding, its socket options, output, and delivery to its upper
// face. Plain C++ with no STREAMS in it: the TPI driver (udp_driver.cc, tpi_dgram.h) is one upper
// face, a direct socket will be another (datagram.h has both interfaces).
//
// Theory of operation
// -------------------
// State is the binding (local address and port, or none) and the options, under mu_. Binding goes
// through the stack's classifier (modules/ip/classifier.h), which decides conflicts the Linux way
// (SO_REUSEADDR on both sides lets two endpoints share an address and port) and picks ephemeral
// ports (RFC 6056). Sending on an unbound endpoint first binds it to INADDR_ANY and an ephemeral
// port, as BSD and Linux do.
//
// Output builds the UDP header in the headroom the stream head left (SO_WROFF) or in a new block,
// with the checksum over the pseudo-header of the source address IP will use (the bound address,
// else IP's choice for the destination: Ip::SourceFor), and hands the datagram to Ip::Send. A
// destination of INADDR_ANY means this host (127.0.0.1), as on illumos.
//
// Input: the module (udp.h) finds the endpoint in the classifier and calls Deliver /
// DeliverError, holding a reference taken under the classifier's lock (std::shared_ptr via
// weak_from_this(): an endpoint being destroyed is skipped). Upcalls go through an UpcallGate
// (datagram.h), with no lock held: once Close() returns, the upper face is never called again, so
// the STREAMS face may free its queues. Lock order: mu_, then the classifier's locks; no lock of
// the endpoint is held across an upcall.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "absl/base/thread_annotations.h"
#include "modules/udp/datagram.h"
#include "streams/msg.h"

namespace ustreams::udp {

class UdpModule;

class UdpEndpoint final : public dgram::DatagramEndpoint,
                          public std::enable_shared_from_this<UdpEndpoint> {
 public:
  // Made by UdpModule::NewEndpoint(); the module outlives its endpoints.
  explicit UdpEndpoint(UdpModule& module);
  ~UdpEndpoint() override;
  UdpEndpoint(const UdpEndpoint&) = delete;
  UdpEndpoint& operator=(const UdpEndpoint&) = delete;

  // ---- DatagramEndpoint ----
  void Attach(dgram::DatagramUpper* upper) override;
  void Close() override;
  absl::StatusOr<sockaddr_in> Bind(const sockaddr_in& addr) override;
  absl::Status Unbind() override;
  std::optional<sockaddr_in> LocalAddress() const override;
  int SendTo(const sockaddr_in& dst, MsgPtr data) override;
  std::span<const dgram::OptionDesc> Options() const override;
  std::span<const int> OptionLevels() const override;
  int GetOption(int level, int name, int* value) const override;
  int SetOption(int level, int name, int value, bool check_only) override;

  // ---- from the module (IP's receive side) ----
  // A datagram from (src, sport) in host order; data is the UDP payload. Counts it delivered or
  // dropped (receive buffer full, or the endpoint is closed).
  void Deliver(uint32_t src, uint16_t sport, MsgPtr data);
  // An ICMP error about a datagram sent to (dst, dport).
  void DeliverError(uint32_t dst, uint16_t dport, int error);

  dgram::SocketOptions options() const;

 private:
  // Binds (laddr, lport) in the classifier; errors as datagram.h says.
  absl::Status BindLocked(uint32_t laddr, uint16_t lport) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnbindLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Prepends the UDP header to data for (src, sport) → (dst, dport); empty on no memory.
  static MsgPtr AddHeader(MsgPtr data, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport);

  UdpModule& module_;

  mutable std::mutex mu_;
  bool bound_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t laddr_ ABSL_GUARDED_BY(mu_) = 0;  // host order; 0 = INADDR_ANY
  uint16_t lport_ ABSL_GUARDED_BY(mu_) = 0;
  dgram::SocketOptions opts_ ABSL_GUARDED_BY(mu_);

  dgram::UpcallGate gate_;  // the upper face, and the upcalls in progress
};

}  // namespace ustreams::udp
