// Test helpers for the loop driver: a "world" of one LoopNetwork and several domains (stacks)
// with the driver registered, DLPI conversations through the C API (putmsg/getmsg), and a
// fixture that checks for leaked message blocks, descriptors and frames at the end.
#pragma once

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "drivers/loop/lockstep.h"
#include "drivers/loop/loop.h"
#include "gtest/gtest.h"
#include "streams/alloc.h"
#include "streams/dlpi.h"
#include "streams/domain.h"
#include "streams/file.h"
#include "streams/stropts.h"

namespace ustreams::loop_testing {

// One message read with getmsg.
struct Msg {
  int rc = -1;
  int err = 0;
  int flags = 0;
  bool has_ctl = false, has_data = false;
  std::string ctl, data;

  t_uscalar_t prim() const {
    t_uscalar_t p = DL_PRIM_INVAL;
    if (ctl.size() >= sizeof(p)) std::memcpy(&p, ctl.data(), sizeof(p));
    return p;
  }
  template <typename T>
  T As() const {
    T t{};
    std::memcpy(&t, ctl.data(), std::min(sizeof(T), ctl.size()));
    return t;
  }
  // Bytes of the control part at (off, len), "" if outside.
  std::string At(t_uscalar_t off, t_uscalar_t len) const {
    if (off > ctl.size() || len > ctl.size() - off) return "";
    return ctl.substr(off, len);
  }
};

inline std::string Bytes(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}
template <typename T>
std::string Bytes(const T& t) {
  return Bytes(&t, sizeof(t));
}
inline std::string MacBytes(const MacAddr& m) { return Bytes(m.octets.data(), 6); }
// An Ethernet DLSAP address: MAC and SAP (host order).
inline std::string Dlsap(const MacAddr& m, uint16_t sap) { return MacBytes(m) + Bytes(sap); }

// putmsg: a control part (nullptr: none) and a data part (nullptr: none). 0 or -1/errno.
inline int Put(int fd, const std::string* ctl, const std::string* data, int flags = 0) {
  strbuf c{0, ctl != nullptr ? static_cast<int>(ctl->size()) : -1,
           ctl != nullptr ? const_cast<char*>(ctl->data()) : nullptr};
  strbuf d{0, data != nullptr ? static_cast<int>(data->size()) : -1,
           data != nullptr ? const_cast<char*>(data->data()) : nullptr};
  return us_putmsg(fd, ctl != nullptr ? &c : nullptr, data != nullptr ? &d : nullptr, flags);
}
inline int PutCtl(int fd, const std::string& ctl, int flags = 0) {
  return Put(fd, &ctl, nullptr, flags);
}
template <typename T>
int PutPrim(int fd, const T& prim, int flags = 0) {
  return PutCtl(fd, Bytes(prim), flags);
}

// DL_UNITDATA_REQ to dst/sap carrying payload.
inline int SendUnitdata(int fd, const MacAddr& dst, uint16_t sap, const std::string& payload) {
  dl_unitdata_req_t r{};
  r.dl_primitive = DL_UNITDATA_REQ;
  r.dl_dest_addr_length = 8;
  r.dl_dest_addr_offset = sizeof(r);
  std::string ctl = Bytes(r) + Dlsap(dst, sap);
  return Put(fd, &ctl, &payload);
}

// A whole Ethernet frame.
inline std::string Frame(const MacAddr& dst, const MacAddr& src, uint16_t type,
                         const std::string& payload) {
  std::string f = MacBytes(dst) + MacBytes(src);
  f.push_back(static_cast<char>(type >> 8));
  f.push_back(static_cast<char>(type & 0xff));
  return f + payload;
}

// One non-blocking getmsg into 64 KiB buffers.
inline Msg Get(int fd) {
  Msg m;
  std::string cbuf(65536, '\0'), dbuf(65536, '\0');
  strbuf c{static_cast<int>(cbuf.size()), -1, cbuf.data()};
  strbuf d{static_cast<int>(dbuf.size()), -1, dbuf.data()};
  int flags = 0;
  errno = 0;
  m.rc = us_getmsg(fd, &c, &d, &flags);
  m.err = errno;
  m.flags = flags;
  if (m.rc >= 0) {
    m.has_ctl = c.len >= 0;
    m.has_data = d.len >= 0;
    if (c.len > 0) m.ctl.assign(cbuf.data(), static_cast<size_t>(c.len));
    if (d.len > 0) m.data.assign(dbuf.data(), static_cast<size_t>(d.len));
  }
  return m;
}

// A network and n domains (deterministic and stepped in lockstep, or threaded), each with the
// loop driver registered as "loop".
class World {
 public:
  World(int n, bool deterministic, LoopNetwork::Options options = {})
      : deterministic_(deterministic), net_(std::make_unique<LoopNetwork>(options)) {
    for (int i = 0; i < n; i++) {
      Domain::Options o;
      o.deterministic = deterministic;
      domains_.push_back(std::make_unique<Domain>(o));
      EXPECT_TRUE(RegisterLoopDriver(*domains_.back(), *net_).ok());
    }
    if (deterministic) {
      std::vector<Scheduler*> s;
      for (auto& d : domains_) s.push_back(&d->scheduler());
      lockstep_ = std::make_unique<Lockstep>(s);
    }
  }
  ~World() { Shutdown(); }

  // Closes what Open() opened, then the domains, then the network.
  void Shutdown() {
    for (int fd : fds_) us_close(fd);
    fds_.clear();
    lockstep_.reset();
    domains_.clear();
    net_.reset();
  }

  // Destroys domain i (streams still open in it are closed by the domain). Descriptors opened in
  // it with Open() must have been closed first.
  void DestroyDomain(int i) {
    lockstep_.reset();
    domains_[static_cast<size_t>(i)].reset();
    if (deterministic_) {
      std::vector<Scheduler*> s;
      for (auto& d : domains_) {
        if (d != nullptr) s.push_back(&d->scheduler());
      }
      lockstep_ = std::make_unique<Lockstep>(s);
    }
  }
  // Destroys the LoopNetwork object (its core lives on while streams or timers hold it).
  void DropNetwork() { net_.reset(); }

  bool deterministic() const { return deterministic_; }
  Domain& domain(int i) { return *domains_[static_cast<size_t>(i)]; }
  LoopNetwork& net() { return *net_; }
  Lockstep& lockstep() { return *lockstep_; }

  // Opens /dev/loop in domain i (O_RDWR | O_NONBLOCK); closed by Shutdown unless Close()d.
  int Open(int i, const char* path = "/dev/loop") {
    DomainScope scope(domains_[static_cast<size_t>(i)].get());
    int fd = us_open(path, O_RDWR | O_NONBLOCK);
    EXPECT_GE(fd, 0) << path << ": " << strerror(errno);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  int Close(int fd) {
    std::erase(fds_, fd);
    return us_close(fd);
  }

  // Everything runnable now (deterministic), or every scheduler idle for a moment (threaded).
  void Settle() {
    if (deterministic_) {
      lockstep_->RunUntilIdle();
      return;
    }
    // Frames in flight sit in the network until a receiver's timer (rounded up to the next
    // millisecond) fires: wait for them too.
    const absl::Time end = absl::Now() + absl::Seconds(10);
    for (;;) {
      for (int round = 0; round < 2; round++) {
        for (auto& d : domains_) {
          if (d != nullptr) d->scheduler().WaitIdle();
        }
      }
      if (net_ == nullptr || net_->in_flight_frames() == 0 || absl::Now() > end) return;
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  void Advance(absl::Duration d) {
    if (deterministic_) {
      lockstep_->AdvanceBy(d);
    } else {
      absl::SleepFor(d);
      Settle();
    }
  }

  // The next message on fd: deterministic, after Settle() (and, if none, after virtual time up
  // to `patience`); threaded, waiting up to `patience` of real time.
  Msg Await(int fd, absl::Duration patience = absl::Seconds(10)) {
    if (deterministic_) {
      Settle();
      Msg m = Get(fd);
      if (m.rc < 0 && m.err == EAGAIN) {
        const absl::Time end = lockstep_->Now() + patience;
        while (m.rc < 0 && m.err == EAGAIN && lockstep_->NextDeadline() <= end) {
          lockstep_->AdvanceTo(lockstep_->NextDeadline());
          m = Get(fd);
        }
      }
      return m;
    }
    const absl::Time end = absl::Now() + patience;
    for (;;) {
      Msg m = Get(fd);
      if (!(m.rc < 0 && m.err == EAGAIN) || absl::Now() >= end) return m;
      pollfd p{fd, POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND, 0};
      us_poll(&p, 1, 50);
    }
  }

  // The next answer to a request on fd, passing over received frames (DL_UNITDATA_IND or
  // M_DATA): a frame may overtake an acknowledgement, e.g. one that arrives between the state
  // change of a DL_BIND_REQ and its DL_BIND_ACK.
  Msg AwaitAnswer(int fd) {
    Msg m = Await(fd);
    while (m.rc >= 0 && (m.prim() == DL_UNITDATA_IND || !m.has_ctl)) m = Await(fd);
    return m;
  }
  // Sends a DLPI primitive (a structure, or the bytes of the control part) and returns the
  // answer.
  template <typename T>
  Msg Request(int fd, const T& prim, int flags = 0) {
    EXPECT_EQ(PutPrim(fd, prim, flags), 0) << strerror(errno);
    return AwaitAnswer(fd);
  }
  Msg Request(int fd, const std::string& ctl, int flags = 0) {
    EXPECT_EQ(PutCtl(fd, ctl, flags), 0) << strerror(errno);
    return AwaitAnswer(fd);
  }
  void ExpectOk(int fd, const Msg& m, t_uscalar_t prim) {
    ASSERT_EQ(m.rc, 0) << "fd " << fd << ": errno " << m.err;
    ASSERT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_OK_ACK))
        << "dl_errno " << m.As<dl_error_ack_t>().dl_errno;
    EXPECT_EQ(m.As<dl_ok_ack_t>().dl_correct_primitive, prim);
    EXPECT_EQ(m.flags, RS_HIPRI);
  }
  void ExpectError(const Msg& m, t_uscalar_t prim, t_uscalar_t dl_errno) {
    ASSERT_EQ(m.rc, 0) << "errno " << m.err;
    ASSERT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_ERROR_ACK)) << "primitive " << m.prim();
    const auto e = m.As<dl_error_ack_t>();
    EXPECT_EQ(e.dl_error_primitive, prim);
    EXPECT_EQ(e.dl_errno, dl_errno);
    EXPECT_EQ(m.flags, RS_HIPRI);
  }

  void Attach(int fd, int ppa) {
    dl_attach_req_t r{DL_ATTACH_REQ, static_cast<t_uscalar_t>(ppa)};
    ExpectOk(fd, Request(fd, r), DL_ATTACH_REQ);
  }
  void Bind(int fd, uint16_t sap) {
    dl_bind_req_t r{};
    r.dl_primitive = DL_BIND_REQ;
    r.dl_sap = sap;
    r.dl_service_mode = DL_CLDLS;
    Msg m = Request(fd, r);
    ASSERT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_BIND_ACK))
        << "dl_errno " << m.As<dl_error_ack_t>().dl_errno;
  }
  // Opens a stream in domain i attached to ppa and bound to sap.
  int Plumb(int i, int ppa, uint16_t sap) {
    int fd = Open(i);
    Attach(fd, ppa);
    Bind(fd, sap);
    return fd;
  }

 private:
  bool deterministic_;
  std::unique_ptr<LoopNetwork> net_;
  std::vector<std::unique_ptr<Domain>> domains_;
  std::unique_ptr<Lockstep> lockstep_;
  std::vector<int> fds_;
};

// Leak checks around each test: message blocks, data blocks and stream descriptors.
class LeakChecked {
 public:
  LeakChecked() : before_(GetAllocStats()), fds_(fdtable::Count()) {}
  void Check() const {
    EXPECT_EQ(fdtable::Count(), fds_) << "stream descriptors left open";
    const AllocStats after = GetAllocStats();
    EXPECT_EQ(after.live_mblks, before_.live_mblks) << "message blocks leaked";
    EXPECT_EQ(after.live_dblks, before_.live_dblks) << "data blocks leaked";
  }

 private:
  AllocStats before_;
  int fds_;
};

enum class Mode { kDeterministic, kThreaded };
inline std::string ModeName(const ::testing::TestParamInfo<Mode>& info) {
  return info.param == Mode::kDeterministic ? "Deterministic" : "Threaded";
}

// A test with a world of `n` domains in the parameter's mode; leak checks after it is gone.
class LoopTest : public ::testing::TestWithParam<Mode> {
 protected:
  void TearDown() override {
    world_.reset();
    leaks_.Check();
  }
  World& MakeWorld(int n, LoopNetwork::Options options = {}) {
    world_ = std::make_unique<World>(n, GetParam() == Mode::kDeterministic, options);
    return *world_;
  }
  World& world() { return *world_; }
  bool deterministic() const { return GetParam() == Mode::kDeterministic; }

 private:
  LeakChecked leaks_;
  std::unique_ptr<World> world_;
};

}  // namespace ustreams::loop_testing
