// ping(8) over the C API: ICMP echo requests through a raw ICMP stream ("/dev/icmp") of the
// calling thread's current STREAMS domain (a Stack's domain made current with DomainScope), the
// replies matched and timed, the usual lines printed.
//
//   PingOptions o;
//   o.dst = "10.0.0.2";
//   PingReport r = Ping(o, std::cout);
//   // PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.
//   // 64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.123 ms
//   // ...
//   // --- 10.0.0.2 ping statistics ---
//   // 3 packets transmitted, 3 received, 0% packet loss, rtt min/avg/max = 0.101/0.117/0.123 ms
//
// Theory of operation
// -------------------
// One thread, one stream, only the calls an application has: us_open, us_putmsg (T_SVR4_OPTMGMT_REQ
// for IP_TTL, T_UNITDATA_REQ for each request), us_poll with a timeout until the next request is
// due, us_getmsg for what came. Each request carries an identifier (the process id mixed with a
// per-process counter, so concurrent pings in one process stay apart), a sequence number from 1,
// and the send time (steady clock) at the start of its data; the checksum is computed here, as
// with any raw socket. A raw endpoint sees every ICMP message the stack receives, so what comes in
// is parsed with IP's validating parsers (modules/ip/wire.h) and kept only if it is an echo reply
// with our identifier, or an error (destination unreachable, time exceeded, parameter problem)
// quoting one of our requests — those are printed ("From 10.0.0.2 icmp_seq=1 Destination Net
// Unreachable") and counted as errors, as Linux's ping does. A send that fails locally (a
// T_UDERROR_IND: no route ...) is printed and counted as an error too. Replies seen twice are
// marked DUP! and not counted again.
//
// Timing: requests go out every `interval`; after the last one, ping waits for outstanding replies
// up to `timeout` (Linux's -W), then prints the summary. The round-trip time is measured from the
// send time recorded for each sequence number (not trusted from the reply's data).
#pragma once

#include <cstddef>
#include <ostream>
#include <string>

#include "absl/time/time.h"

namespace ustreams::ping {

struct PingOptions {
  std::string dst;                             // a dotted-quad IPv4 address
  int count = 3;                               // echo requests to send
  absl::Duration interval = absl::Seconds(1);  // between requests
  absl::Duration timeout = absl::Seconds(2);   // to wait for replies after the last request
  size_t payload = 56;                         // data bytes after the 8-byte ICMP header
  int ttl = 64;                                // IP_TTL of the requests
};

struct PingReport {
  int transmitted = 0;
  int received = 0;  // distinct replies
  int duplicates = 0;
  int errors = 0;  // ICMP errors about our requests, and sends that failed
  absl::Duration rtt_min = absl::ZeroDuration();
  absl::Duration rtt_avg = absl::ZeroDuration();
  absl::Duration rtt_max = absl::ZeroDuration();
  // Set when ping could not run at all (bad address, no /dev/icmp ...): the errno.
  int setup_error = 0;

  int loss_percent() const {
    return transmitted == 0 ? 0 : (transmitted - received) * 100 / transmitted;
  }
};

// Pings opts.dst from the calling thread's current domain, printing to out. Returns what
// happened; it never throws and never blocks longer than count * interval + timeout (plus the
// option exchange's second, at most).
PingReport Ping(const PingOptions& opts, std::ostream& out);

}  // namespace ustreams::ping
