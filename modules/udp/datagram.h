// The two faces of a datagram endpoint (a UDP endpoint, a raw ICMP endpoint), as illumos splits a
// transport into sock_downcalls and sock_upcalls: what an upper face (the TPI STREAMS driver of
// tpi_dgram.h, later a direct socket) calls, and what the endpoint calls back.
//
// Addresses are struct sockaddr_in with the port and address in network byte order, as an
// application writes them; the endpoints convert at this boundary and keep host order inside.
//
// Errors: control calls return absl::Status carrying an errno (modules/ip/errno_status.h), data
// calls return the errno itself (0 for success), so each face maps them its own way: the TPI face
// to T_ERROR_ACK / T_UDERROR_IND, a socket face to errno. Bind's errno values are chosen so the TPI
// face can tell illumos' cases apart:
//   EINVAL        already bound (TOUTSTATE)
//   EADDRINUSE    the address and port are taken (TADDRBUSY)
//   EAGAIN        no ephemeral port is left (TNOADDR; a socket face reports EADDRINUSE, as Linux)
//   EADDRNOTAVAIL the address is not one of the stack's (TSYSERR, EADDRNOTAVAIL)
//   EAFNOSUPPORT  sin_family is not AF_INET
#pragma once

#include <netinet/in.h>

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "streams/msg.h"

namespace ustreams::dgram {

// One socket option an endpoint supports. Every option value is an int (4 bytes), as the
// option's getsockopt() returns it on Linux; levels and names are Linux's numbers.
struct OptionDesc {
  int level;
  int name;
  int default_value;
  bool read_only = false;  // SO_TYPE
};

// Upcalls: implemented by the face above. Called from any thread (IP's receive side, the sender's
// thread for SetReceiveBuffer), never with the endpoint's state lock held, and never after
// DatagramEndpoint::Close() has returned.
class DatagramUpper {
 public:
  virtual ~DatagramUpper() = default;
  // A datagram from `from`; `data` (M_DATA, possibly empty) is consumed. Returns false when the
  // receive buffer is full and the datagram was dropped.
  virtual bool Deliver(const sockaddr_in& from, MsgPtr data) = 0;
  // An asynchronous error (ICMP) about a datagram this endpoint sent to `dst`.
  virtual void DeliverError(const sockaddr_in& dst, int error) = 0;
  // SO_RCVBUF is now `bytes`: bound what waits to be read to about that much.
  virtual void SetReceiveBuffer(size_t bytes) = 0;
};

// How a protocol endpoint calls its upper face, which may close at any moment: an upcall enters
// the gate (getting the upper, or nullptr once closed), runs with no lock held (it does a putnext
// into the upper's stream, which may wait for that stream's plumbing, which may wait for a thread
// that is itself waiting on a lock of ours), and leaves. Close() stops new upcalls and waits for
// those in progress, so the upper face may be freed when it returns.
class UpcallGate {
 public:
  void Attach(DatagramUpper* upper) {
    std::lock_guard<std::mutex> l(mu_);
    if (!closed_) upper_ = upper;
  }
  void Close() {
    std::unique_lock<std::mutex> l(mu_);
    upper_ = nullptr;
    closed_ = true;
    idle_.wait(l, [this] { return active_ == 0; });
  }
  // One upcall: `upper()` is the upper face, or nullptr when there is none (closed).
  class Upcall {
   public:
    explicit Upcall(UpcallGate& g) : g_(g) {
      std::lock_guard<std::mutex> l(g_.mu_);
      upper_ = g_.upper_;
      if (upper_ != nullptr) g_.active_++;
    }
    ~Upcall() {
      if (upper_ == nullptr) return;
      std::lock_guard<std::mutex> l(g_.mu_);
      if (--g_.active_ == 0) g_.idle_.notify_all();
    }
    Upcall(const Upcall&) = delete;
    Upcall& operator=(const Upcall&) = delete;
    DatagramUpper* upper() const { return upper_; }

   private:
    UpcallGate& g_;
    DatagramUpper* upper_;
  };

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  DatagramUpper* upper_ = nullptr;
  bool closed_ = false;
  int active_ = 0;
};

// Downcalls: implemented by the protocol. Every method may be called from any thread.
class DatagramEndpoint {
 public:
  virtual ~DatagramEndpoint() = default;

  // Connects the upper face (before the endpoint is bound, so before anything can arrive).
  virtual void Attach(DatagramUpper* upper) = 0;
  // Unbinds and detaches the upper face; waits for an upcall in progress. Nothing is delivered
  // after it returns. Idempotent.
  virtual void Close() = 0;

  // Binds to addr (INADDR_ANY: every address; port 0: an ephemeral port; protocols without
  // ports ignore it). Returns the address bound. Errors: see the top of this file.
  virtual absl::StatusOr<sockaddr_in> Bind(const sockaddr_in& addr) = 0;
  // EINVAL if not bound.
  virtual absl::Status Unbind() = 0;
  // The bound address, or nullopt when unbound.
  virtual std::optional<sockaddr_in> LocalAddress() const = 0;

  // Sends data (M_DATA, consumed whatever happens) to dst. Returns 0 or the errno.
  virtual int SendTo(const sockaddr_in& dst, MsgPtr data) = 0;

  // Options: the ones supported and the levels they live at (an option of a known level that is
  // not supported is "not supported"; one of an unknown level is a bad option).
  virtual std::span<const OptionDesc> Options() const = 0;
  virtual std::span<const int> OptionLevels() const = 0;
  // 0 or ENOPROTOOPT (unknown option).
  virtual int GetOption(int level, int name, int* value) const = 0;
  // 0 or the errno (ENOPROTOOPT, EINVAL for a value out of range, ENOBUFS for a buffer size
  // above the limit, EACCES for a read-only option). check_only validates without changing.
  virtual int SetOption(int level, int name, int value, bool check_only) = 0;
};

// The socket options a datagram endpoint may support, with Linux's defaults. Which of them an
// endpoint offers is its Options() table.
struct SocketOptions {
  bool broadcast = false;   // SO_BROADCAST
  bool reuse_addr = false;  // SO_REUSEADDR
  bool dont_route = false;  // SO_DONTROUTE
  int sndbuf = 212992;      // SO_SNDBUF (recorded: datagrams go out at once, nothing queues)
  int rcvbuf = 212992;      // SO_RCVBUF: what may wait to be read (208 KiB, as Linux)
  int ttl = 64;             // IP_TTL
  int tos = 0;              // IP_TOS
};
// The largest SO_SNDBUF / SO_RCVBUF (illumos udp_max_buf); above it: ENOBUFS.
inline constexpr int kMaxSocketBuffer = 2 * 1024 * 1024;

// GetOption / SetOption over a SocketOptions for the options in `supported` (DatagramEndpoint
// semantics). Values as setsockopt(2) takes them: booleans any int (stored 0/1), buffer sizes
// 1..kMaxSocketBuffer (no doubling, as illumos), IP_TTL 1..255 or -1 for the default (64), IP_TOS
// 0..255; SO_TYPE reads the table's default and refuses writes (EACCES).
int GetSocketOption(const SocketOptions& o, std::span<const OptionDesc> supported, int level,
                    int name, int* value);
int SetSocketOption(SocketOptions* o, std::span<const OptionDesc> supported, int level, int name,
                    int value, bool check_only);
// An endpoint's SetOption: SetSocketOption on *o under mu, then, if SO_RCVBUF changed, the new
// size to the upper face through gate (with mu let go).
int SetSocketOptionAndTell(std::mutex& mu, SocketOptions* o, std::span<const OptionDesc> supported,
                           int level, int name, int value, bool check_only, UpcallGate& gate);

// sockaddr_in helpers (host-order arguments).
sockaddr_in MakeSockaddr(uint32_t addr, uint16_t port);
inline uint32_t AddrOf(const sockaddr_in& sin) { return ntohl(sin.sin_addr.s_addr); }
inline uint16_t PortOf(const sockaddr_in& sin) { return ntohs(sin.sin_port); }

// The option descriptor for (level, name), or nullptr.
const OptionDesc* FindOption(std::span<const OptionDesc> options, int level, int name);

}  // namespace ustreams::dgram
