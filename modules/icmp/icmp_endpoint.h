// A raw ICMP endpoint (illumos /dev/icmp, a BSD or Linux SOCK_RAW IPPROTO_ICMP socket): it sees
// every ICMP message the stack receives and sends ICMP messages the application built.
//
// Theory of operation
// -------------------
// Receiving needs no binding: every open endpoint gets a copy of every ICMP message (after IP
// has answered echo requests and acted on errors), as the whole datagram from the IP header on,
// with the sender as source — what recvfrom() on a BSD or Linux raw IPv4 socket returns. Binding
// only names a local address (ports mean nothing to ICMP and are ignored): a bound endpoint then
// sees only messages sent to that address and sends from it.
//
// Sending: the data is the ICMP message, header included, and the application computes its
// checksum, as with Linux and BSD raw sockets (this endpoint neither checks nor fills it). IP adds
// the IP header (there is no IP_HDRINCL). The source is the bound address, else IP's choice.
//
// Threads and lifetime are as for UDP endpoints (modules/udp/udp_endpoint.h): state under mu_,
// upcalls through an UpcallGate with no lock held, Close() waits out an upcall in progress.
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

namespace ustreams::icmp {

class IcmpModule;

class IcmpEndpoint final : public dgram::DatagramEndpoint,
                           public std::enable_shared_from_this<IcmpEndpoint> {
 public:
  // Made by IcmpModule::NewEndpoint(), which lists it for input; the module outlives it.
  explicit IcmpEndpoint(IcmpModule& module);
  ~IcmpEndpoint() override;
  IcmpEndpoint(const IcmpEndpoint&) = delete;
  IcmpEndpoint& operator=(const IcmpEndpoint&) = delete;

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

  // ---- from the module ----
  // Whether a message sent to dst is for this endpoint (unbound, or bound to dst).
  bool Wants(uint32_t dst) const;
  // A datagram (IP header on) from src. Counts it delivered or dropped.
  void Deliver(uint32_t src, MsgPtr datagram);

 private:
  IcmpModule& module_;

  mutable std::mutex mu_;
  bool bound_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t laddr_ ABSL_GUARDED_BY(mu_) = 0;  // host order
  dgram::SocketOptions opts_ ABSL_GUARDED_BY(mu_);

  dgram::UpcallGate gate_;  // the upper face, and the upcalls in progress
};

}  // namespace ustreams::icmp
