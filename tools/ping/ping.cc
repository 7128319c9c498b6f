#include "tools/ping/ping.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "modules/ip/checksum.h"
#include "modules/ip/wire.h"
#include "modules/udp/tpi_util.h"
#include "streams/stropts.h"
#include "streams/tihdr.h"

namespace ustreams::ping {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxPayload = 65507;  // 65535 less the IP and ICMP headers
constexpr int kOptionWaitMs = 1000;

std::string Format(const char* fmt, double a, double b, double c) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), fmt, a, b, c);
  return buf;
}
double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Linux ping's wording for the errors it reports.
std::string ErrorText(const ip::IcmpMessage& m) {
  static const char* const kUnreachable[] = {"Destination Net Unreachable",
                                             "Destination Host Unreachable",
                                             "Destination Protocol Unreachable",
                                             "Destination Port Unreachable",
                                             "Frag needed and DF set",
                                             "Source Route Failed",
                                             "Destination Net Unknown",
                                             "Destination Host Unknown",
                                             "Source Host Isolated",
                                             "Destination Net Prohibited",
                                             "Destination Host Prohibited",
                                             "Destination Net Unreachable for Type of Service",
                                             "Destination Host Unreachable for Type of Service",
                                             "Packet filtered",
                                             "Precedence Violation",
                                             "Precedence Cutoff"};
  switch (m.type) {
    case ip::kIcmpUnreachable:
      if (m.code == ip::kIcmpFragmentationNeeded) {
        return "Frag needed and DF set (mtu = " + std::to_string(m.next_hop_mtu) + ")";
      }
      return m.code < std::size(kUnreachable)
                 ? kUnreachable[m.code]
                 : "Dest Unreachable, Bad Code: " + std::to_string(m.code);
    case ip::kIcmpTimeExceeded:
      return m.code == ip::kIcmpTtlExceeded ? "Time to live exceeded"
                                            : "Frag reassembly time exceeded";
    case ip::kIcmpParameterProblem:
      return "Parameter problem: pointer = " + std::to_string(m.pointer);
    case ip::kIcmpSourceQuench:
      return "Source Quench";
    default:
      return "ICMP type " + std::to_string(m.type);
  }
}

std::string AddrText(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

uint16_t NextId() {
  static std::atomic<uint16_t> counter{0};
  const uint16_t n = counter.fetch_add(1, std::memory_order_relaxed);
  return static_cast<uint16_t>(static_cast<uint16_t>(getpid()) ^
                               static_cast<uint16_t>(n * 0x9e37u));
}

class Pinger {
 public:
  Pinger(const PingOptions& opts, std::ostream& out) : opts_(opts), out_(out), id_(NextId()) {}
  ~Pinger() {
    if (fd_ >= 0) us_close(fd_);
  }

  PingReport Run() {
    if (!Setup()) return report_;
    out_ << "PING " << opts_.dst << " (" << AddrText(dst_) << ") " << opts_.payload << "("
         << opts_.payload + ip::kIcmpHeaderLength + ip::kIpv4MinHeaderLength
         << ") bytes of data.\n";
    Loop();
    Summary();
    return report_;
  }

 private:
  bool Fail(int err, const std::string& what) {
    report_.setup_error = err;
    out_ << "ping: " << what << ": " << std::strerror(err) << "\n";
    return false;
  }

  bool Setup() {
    in_addr a;
    if (inet_pton(AF_INET, opts_.dst.c_str(), &a) != 1) return Fail(EINVAL, opts_.dst);
    dst_ = ntohl(a.s_addr);
    if (opts_.count < 0 || opts_.count > 65535) return Fail(EINVAL, "count");
    if (opts_.payload > kMaxPayload) return Fail(EMSGSIZE, "packet size");
    fd_ = us_open("/dev/icmp", O_RDWR | O_NONBLOCK);
    if (fd_ < 0) return Fail(errno, "/dev/icmp");
    sent_at_.assign(static_cast<size_t>(opts_.count) + 1, std::nullopt);
    answered_.assign(static_cast<size_t>(opts_.count) + 1, false);
    return SetTtl();
  }

  // IP_TTL through T_SVR4_OPTMGMT_REQ, and its T_OPTMGMT_ACK.
  bool SetTtl() {
    struct {
      T_optmgmt_req req;
      opthdr hdr;
      int value;
    } m{{T_SVR4_OPTMGMT_REQ, sizeof(opthdr) + sizeof(int), sizeof(T_optmgmt_req), T_NEGOTIATE},
        {IPPROTO_IP, IP_TTL, sizeof(int)},
        opts_.ttl};
    strbuf ctl{0, sizeof(m), reinterpret_cast<char*>(&m)};
    if (us_putmsg(fd_, &ctl, nullptr, 0) < 0) return Fail(errno, "setting IP_TTL");
    const Clock::time_point until = Clock::now() + std::chrono::milliseconds(kOptionWaitMs);
    for (;;) {
      const int left = static_cast<int>(
          std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count());
      if (left <= 0) return Fail(ETIME, "setting IP_TTL");
      pollfd p{fd_, POLLIN | POLLPRI, 0};
      if (us_poll(&p, 1, left) <= 0) continue;
      Message msg;
      while (Read(&msg)) {
        if (msg.prim == T_OPTMGMT_ACK) return true;
        if (msg.prim == T_ERROR_ACK) {
          T_error_ack e{};
          std::memcpy(&e, msg.ctl.data(), std::min(sizeof(e), msg.ctl.size()));
          return Fail(e.TLI_error == TSYSERR ? e.UNIX_error : EINVAL, "setting IP_TTL");
        }
        Handle(msg);  // an early ICMP message: not ours to ignore
      }
    }
  }

  struct Message {
    t_scalar_t prim = -1;
    std::string ctl, data;
  };
  // One message, without waiting. False when there is none.
  bool Read(Message* m) {
    char cbuf[256];
    data_buf_.resize(kMaxPayload + 128);
    strbuf c{sizeof(cbuf), 0, cbuf};
    strbuf d{static_cast<int>(data_buf_.size()), 0, data_buf_.data()};
    int flags = 0;
    if (us_getmsg(fd_, &c, &d, &flags) < 0) return false;
    m->ctl.assign(cbuf, c.len > 0 ? static_cast<size_t>(c.len) : 0);
    m->data.assign(data_buf_.data(), d.len > 0 ? static_cast<size_t>(d.len) : 0);
    m->prim = -1;
    if (m->ctl.size() >= sizeof(t_scalar_t)) std::memcpy(&m->prim, m->ctl.data(), sizeof(m->prim));
    return true;
  }

  void Send(uint16_t seq) {
    std::string msg(ip::kIcmpHeaderLength + opts_.payload, '\0');
    for (size_t i = 0; i < opts_.payload; i++)
      msg[ip::kIcmpHeaderLength + i] = static_cast<char>(i);
    const Clock::time_point now = Clock::now();
    if (opts_.payload >= sizeof(int64_t)) {
      const int64_t ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
      std::memcpy(msg.data() + ip::kIcmpHeaderLength, &ns, sizeof(ns));
    }
    ip::IcmpMessage h;
    h.type = ip::kIcmpEchoRequest;
    h.echo_id = id_;
    h.echo_seq = seq;
    uint8_t* p = reinterpret_cast<uint8_t*>(msg.data());
    ip::WriteIcmpHeader(h, std::span<uint8_t>(p, ip::kIcmpHeaderLength),
                        ip::PacketView(p + ip::kIcmpHeaderLength, opts_.payload));
    struct {
      T_unitdata_req req;
      sockaddr_in to;
    } ctl_part{{T_UNITDATA_REQ, sizeof(sockaddr_in), sizeof(T_unitdata_req), 0, 0}, {}};
    ctl_part.to.sin_family = AF_INET;
    ctl_part.to.sin_addr.s_addr = htonl(dst_);
    strbuf ctl{0, sizeof(ctl_part), reinterpret_cast<char*>(&ctl_part)};
    strbuf data{0, static_cast<int>(msg.size()), msg.data()};
    report_.transmitted++;
    sent_at_[seq] = now;
    if (us_putmsg(fd_, &ctl, &data, 0) < 0) {
      out_ << "ping: sendmsg: " << std::strerror(errno) << "\n";
      report_.errors++;
      MarkAnswered(seq);
      return;
    }
    // A send IP refuses (no route ...) is answered by a T_UDERROR_IND before putmsg returns:
    // read it now, so it is charged to this request.
    sending_ = seq;
    Message m;
    while (Read(&m)) Handle(m);
    sending_ = 0;
  }

  void Loop() {
    const auto interval = absl::ToChronoNanoseconds(opts_.interval);
    const auto timeout = absl::ToChronoNanoseconds(opts_.timeout);
    Clock::time_point next_send = Clock::now();
    Clock::time_point end = Clock::time_point::max();
    int seq = 0;
    for (;;) {
      Clock::time_point now = Clock::now();
      if (seq < opts_.count && now >= next_send) {
        Send(static_cast<uint16_t>(++seq));
        next_send += interval;
        if (seq == opts_.count) end = Clock::now() + timeout;
        continue;
      }
      if (seq == opts_.count && (answered_count_ >= opts_.count || now >= end)) return;
      const Clock::time_point wake = seq < opts_.count ? next_send : end;
      const int ms = static_cast<int>(
          std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(wake - now).count()));
      pollfd p{fd_, POLLIN | POLLPRI, 0};
      if (us_poll(&p, 1, ms) > 0) {
        Message m;
        while (Read(&m)) Handle(m);
      }
    }
  }

  void Handle(const Message& m) {
    if (m.prim == T_UDERROR_IND) {
      T_uderror_ind u{};
      std::memcpy(&u, m.ctl.data(), std::min(sizeof(u), m.ctl.size()));
      out_ << "ping: sendmsg: " << std::strerror(u.ERROR_type) << "\n";
      report_.errors++;
      if (sending_ != 0) MarkAnswered(sending_);
      return;
    }
    if (m.prim != T_UNITDATA_IND) return;
    ip::Parsed<ip::Ipv4Header> h = ip::ParseIpv4(ip::PacketView(m.data.data(), m.data.size()));
    if (!h.ok() || h->protocol != ip::kProtoIcmp) return;
    ip::Parsed<ip::IcmpMessage> icmp = ip::ParseIcmp(h->payload);
    if (!icmp.ok()) return;
    if (icmp->type == ip::kIcmpEchoReply) {
      Reply(*h, *icmp);
    } else if (icmp->is_error() && icmp->type != ip::kIcmpRedirect) {
      Error(*h, *icmp);
    }
  }

  bool Ours(uint16_t seq) const {
    return seq >= 1 && seq < sent_at_.size() && sent_at_[seq].has_value();
  }

  void Reply(const ip::Ipv4Header& h, const ip::IcmpMessage& m) {
    if (m.echo_id != id_ || h.src != dst_ || !Ours(m.echo_seq)) return;
    const uint16_t seq = m.echo_seq;
    const absl::Duration rtt = absl::FromChrono(Clock::now() - *sent_at_[seq]);
    const bool dup = replied_.size() > seq && replied_[seq];
    if (replied_.size() <= seq) replied_.resize(seq + 1u, false);
    out_ << h.payload.size() << " bytes from " << AddrText(h.src) << ": icmp_seq=" << seq
         << " ttl=" << static_cast<int>(h.ttl) << Format(" time=%.3f ms", Ms(rtt), 0, 0)
         << (dup ? " (DUP!)" : "") << "\n";
    if (dup) {
      report_.duplicates++;
      return;
    }
    replied_[seq] = true;
    report_.received++;
    rtt_sum_ += rtt;
    if (report_.received == 1 || rtt < report_.rtt_min) report_.rtt_min = rtt;
    if (rtt > report_.rtt_max) report_.rtt_max = rtt;
    MarkAnswered(seq);
  }

  void Error(const ip::Ipv4Header& h, const ip::IcmpMessage& m) {
    const ip::IcmpQuote& q = m.quote;
    // The quoted datagram must be one of our requests: ICMP echo request, our id, to dst.
    if (q.protocol != ip::kProtoIcmp || q.transport[0] != ip::kIcmpEchoRequest || q.dst != dst_) {
      return;
    }
    const uint16_t id = static_cast<uint16_t>(q.transport[4] << 8 | q.transport[5]);
    const uint16_t seq = static_cast<uint16_t>(q.transport[6] << 8 | q.transport[7]);
    if (id != id_ || !Ours(seq)) return;
    out_ << "From " << AddrText(h.src) << " icmp_seq=" << seq << " " << ErrorText(m) << "\n";
    report_.errors++;
    MarkAnswered(seq);
  }

  void MarkAnswered(uint16_t seq) {
    if (!answered_[seq]) {
      answered_[seq] = true;
      answered_count_++;
    }
  }

  void Summary() {
    out_ << "\n--- " << opts_.dst << " ping statistics ---\n";
    out_ << report_.transmitted << " packets transmitted, " << report_.received << " received";
    if (report_.duplicates > 0) out_ << ", +" << report_.duplicates << " duplicates";
    if (report_.errors > 0) out_ << ", +" << report_.errors << " errors";
    out_ << ", " << report_.loss_percent() << "% packet loss";
    if (report_.received > 0) {
      report_.rtt_avg = rtt_sum_ / report_.received;
      out_ << Format(", rtt min/avg/max = %.3f/%.3f/%.3f ms", Ms(report_.rtt_min),
                     Ms(report_.rtt_avg), Ms(report_.rtt_max));
    }
    out_ << "\n";
  }

  const PingOptions& opts_;
  std::ostream& out_;
  const uint16_t id_;
  uint32_t dst_ = 0;
  int fd_ = -1;
  PingReport report_;
  std::vector<std::optional<Clock::time_point>> sent_at_;  // by sequence number
  std::vector<bool> answered_;  // a reply or an error came (or the send failed)
  std::vector<bool> replied_;
  int answered_count_ = 0;
  uint16_t sending_ = 0;  // the request being sent, while its local errors are read
  absl::Duration rtt_sum_ = absl::ZeroDuration();
  std::vector<char> data_buf_;
};

}  // namespace

PingReport Ping(const PingOptions& opts, std::ostream& out) { return Pinger(opts, out).Run(); }

}  // namespace ustreams::ping
