// The module test harness: push any registered module between a fake stream head and a fake
// driver, send messages down from the top or up from the bottom, run the scheduler, advance
// virtual time, and look at what came out on each side and at each queue's state.
//
//   Registry reg;
//   RegisterMyModule(reg);
//   Harness h(&reg);
//   ASSERT_TRUE(h.Push("mymod").ok());
//   h.SendDown(MsgPtr::Data("hello"));
//   h.RunUntilIdle();
//   std::vector<MsgPtr> out = h.TakeDown();     // what reached the driver
//
// The fake head queues what arrives on its read side (so a full head holds modules back, and
// TakeUp() drains it and back-enables them, as read() does). Its write side has a service
// procedure that only counts back-enables, which is where flow control from below ends. The fake
// driver queues what arrives on its write side (flow control at the bottom works the same way);
// with TurnFlushAround() it answers M_FLUSH as a real driver must.
//
// Deterministic by default (no threads, virtual time); Options.threaded runs real workers.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "streams/msg.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/scheduler.h"
#include "streams/stream.h"

namespace ustreams::testing {

struct QueueState {
  size_t count;      // q_count
  size_t mblkcnt;    // blocks on the queue
  int messages;      // qsize
  uint32_t flags;    // q_flag
  size_t hiwat;
  size_t lowat;
};

class Harness {
 public:
  struct Options {
    bool threaded = false;
    int workers = 2;
    // The fake driver's write queue and the fake head's read queue marks.
    size_t driver_hiwat = 1 << 20;
    size_t driver_lowat = 1 << 10;
    size_t head_hiwat = 1 << 20;
    size_t head_lowat = 1 << 10;
    ssize_t driver_maxpsz = INFPSZ;
  };

  // registry: where Push() finds modules (not owned); nullptr gives the harness its own, empty.
  explicit Harness(Registry* registry = nullptr);
  Harness(Registry* registry, Options options);
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Pushes a module just below the head (the last pushed is the top). Its open's errno comes
  // back as the status message "errno N"; NotFound for an unknown name.
  absl::Status Push(std::string_view module);
  absl::Status Pop();
  int PushErrno(std::string_view module);  // 0 or the errno (ENXIO... for unknown: EINVAL)

  // Inject: as the stream head would (putnext from the head's write queue), and as the driver
  // would (putnext from the driver's read queue). Both consume the message.
  void SendDown(MsgPtr mp);
  void SendUp(MsgPtr mp);
  void SendDown(mblk_t* mp) { SendDown(MsgPtr(mp)); }
  void SendUp(mblk_t* mp) { SendUp(MsgPtr(mp)); }

  // Run.
  void RunUntilIdle();
  void Advance(absl::Duration d);
  absl::Time Now() const { return scheduler_->Now(); }

  // Inspect. Take* dequeue (getq, so flow control back-enables as a reader would).
  std::vector<MsgPtr> TakeUp();
  std::vector<MsgPtr> TakeDown();
  MsgPtr TakeOneUp();
  MsgPtr TakeOneDown();
  int up_count() { return qsize(stream_->head_rq()); }
  int down_count() { return qsize(driver_wq()); }
  // How often flow control back-enabled the head's write side.
  int head_backenables() const { return head_backenables_.load(); }

  // Queues of pushed module `index` (0 is the top, just below the head).
  queue_t* module_wq(int index) const;
  queue_t* module_rq(int index) const;
  queue_t* head_wq() const { return stream_->head_wq(); }
  queue_t* head_rq() const { return stream_->head_rq(); }
  queue_t* driver_wq() const { return stream_->driver_wq(); }
  queue_t* driver_rq() const { return RD(stream_->driver_wq()); }
  static QueueState State(queue_t* q);

  // The fake driver answers M_FLUSH (flush, clear FLUSHW, turn FLUSHR back up) instead of
  // queueing it.
  void TurnFlushAround(bool on) { turn_flush_ = on; }

  Scheduler& scheduler() { return *scheduler_; }
  Stream& stream() { return *stream_; }
  Registry& registry() { return *registry_; }

 private:
  struct Fakes;
  static int HeadRput(queue_t* q, mblk_t* mp);
  static int HeadWput(queue_t* q, mblk_t* mp);
  static int HeadWsrv(queue_t* q);
  static int DrvWput(queue_t* q, mblk_t* mp);
  static int DrvRput(queue_t* q, mblk_t* mp);
  std::vector<MsgPtr> Drain(queue_t* q);

  Options options_;
  std::unique_ptr<Registry> own_registry_;
  Registry* registry_;
  std::unique_ptr<Fakes> fakes_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Stream> stream_;
  std::atomic<int> head_backenables_{0};
  bool turn_flush_ = false;
};

}  // namespace ustreams::testing
