#include "streams/testing/harness.h"

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace ustreams::testing {

// The fake head and driver are ordinary queue pairs with their own qinit; module_info values
// come from Options, so each harness has its own copies.
struct Harness::Fakes {
  module_info head_minfo{0, "fakehead", 0, INFPSZ, 0, 0};
  module_info drv_minfo{0, "fakedrv", 0, INFPSZ, 0, 0};
  qinit head_rinit{&Harness::HeadRput, nullptr, nullptr, nullptr, nullptr, &head_minfo, nullptr};
  qinit head_winit{&Harness::HeadWput, &Harness::HeadWsrv, nullptr, nullptr, nullptr,
                   &head_minfo, nullptr};
  qinit drv_rinit{&Harness::DrvRput, nullptr, nullptr, nullptr, nullptr, &drv_minfo, nullptr};
  qinit drv_winit{&Harness::DrvWput, nullptr, nullptr, nullptr, nullptr, &drv_minfo, nullptr};
  streamtab head_tab{&head_rinit, &head_winit, nullptr, nullptr};
  streamtab drv_tab{&drv_rinit, &drv_winit, nullptr, nullptr};
  Registry drv_registry;
};

Harness::Harness(Registry* registry) : Harness(registry, Options()) {}

Harness::Harness(Registry* registry, Options options)
    : options_(options), fakes_(std::make_unique<Fakes>()) {
  if (registry == nullptr) {
    own_registry_ = std::make_unique<Registry>();
    registry = own_registry_.get();
  }
  registry_ = registry;
  fakes_->head_minfo.mi_hiwat = options.head_hiwat;
  fakes_->head_minfo.mi_lowat = options.head_lowat;
  fakes_->drv_minfo.mi_hiwat = options.driver_hiwat;
  fakes_->drv_minfo.mi_lowat = options.driver_lowat;
  fakes_->drv_minfo.mi_maxpsz = options.driver_maxpsz;
  scheduler_ = options.threaded ? Scheduler::Threaded(options.workers) : Scheduler::Deterministic();
  stream_ = std::make_unique<Stream>(scheduler_.get(), &fakes_->head_tab, this);
  // D_MP: the fake driver needs no perimeter.
  (void)fakes_->drv_registry.RegisterDriver("fakedrv", &fakes_->drv_tab, D_MP);
  dev_t dev = 0;
  cred_t cr{0, 0};
  stream_->OpenDriver(fakes_->drv_registry.FindDriver("fakedrv"), &dev, 0, 0, &cr);
  RD(stream_->driver_wq())->q_ptr = this;
  stream_->driver_wq()->q_ptr = this;
}

Harness::~Harness() {
  if (!scheduler_->deterministic()) scheduler_->WaitIdle();
  stream_.reset();
  if (scheduler_->deterministic()) scheduler_->RunUntilIdle();
  scheduler_.reset();
}

int Harness::PushErrno(std::string_view module) {
  const fmodsw* sw = registry_->FindModule(module);
  if (sw == nullptr) return EINVAL;
  cred_t cr{0, 0};
  int err = stream_->Push(sw, 0, &cr);
  if (scheduler_->deterministic()) scheduler_->RunUntilIdle();
  return err;
}

absl::Status Harness::Push(std::string_view module) {
  if (registry_->FindModule(module) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no module named \"", std::string(module), "\""));
  }
  int err = PushErrno(module);
  if (err != 0) return absl::UnknownError(absl::StrCat("errno ", err));
  return absl::OkStatus();
}

absl::Status Harness::Pop() {
  cred_t cr{0, 0};
  int err = stream_->Pop(0, &cr);
  if (err != 0) return absl::FailedPreconditionError(absl::StrCat("errno ", err));
  return absl::OkStatus();
}

void Harness::SendDown(MsgPtr mp) {
  StreamClaim claim(stream_.get());
  putnext(stream_->head_wq(), mp.release());
}

void Harness::SendUp(MsgPtr mp) {
  StreamClaim claim(stream_.get());
  putnext(driver_rq(), mp.release());
}

void Harness::RunUntilIdle() {
  if (scheduler_->deterministic()) {
    scheduler_->RunUntilIdle();
  } else {
    scheduler_->WaitIdle();
  }
}

void Harness::Advance(absl::Duration d) { scheduler_->AdvanceBy(d); }

std::vector<MsgPtr> Harness::Drain(queue_t* q) {
  std::vector<MsgPtr> out;
  StreamClaim claim(stream_.get());
  while (mblk_t* mp = getq(q)) out.emplace_back(mp);
  return out;
}

std::vector<MsgPtr> Harness::TakeUp() { return Drain(stream_->head_rq()); }
std::vector<MsgPtr> Harness::TakeDown() { return Drain(driver_wq()); }

MsgPtr Harness::TakeOneUp() {
  StreamClaim claim(stream_.get());
  return MsgPtr(getq(stream_->head_rq()));
}

MsgPtr Harness::TakeOneDown() {
  StreamClaim claim(stream_.get());
  return MsgPtr(getq(driver_wq()));
}

queue_t* Harness::module_wq(int index) const {
  std::vector<queue_t*> qs = stream_->WriteQueues();
  // [head, modules..., driver]
  if (index < 0 || index + 2 >= static_cast<int>(qs.size())) return nullptr;
  return qs[index + 1];
}

queue_t* Harness::module_rq(int index) const {
  queue_t* wq = module_wq(index);
  return wq != nullptr ? RD(wq) : nullptr;
}

QueueState Harness::State(queue_t* q) {
  int n = qsize(q);
  std::lock_guard<Mutex> l(q->q_lock);
  return QueueState{q->q_count, q->q_mblkcnt, n, q->q_flag, q->q_hiwat, q->q_lowat};
}

int Harness::HeadRput(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    // As the stream head does: flush the read side, then send FLUSHW back down.
    unsigned char& flags = *mp->b_rptr;
    if (flags & FLUSHR) flushq(q, FLUSHDATA);
    if (flags & FLUSHW) {
      flags &= ~FLUSHR;
      qreply(q, mp);
      return 0;
    }
    freemsg(mp);
    return 0;
  }
  putq(q, mp);
  return 0;
}

int Harness::HeadWput(queue_t* q, mblk_t* mp) {
  // Messages turned around below come back here; send them on down.
  putnext(q, mp);
  return 0;
}

int Harness::HeadWsrv(queue_t* q) {
  static_cast<Harness*>(q->q_ptr)->head_backenables_++;
  return 0;
}

int Harness::DrvWput(queue_t* q, mblk_t* mp) {
  auto* h = static_cast<Harness*>(q->q_ptr);
  if (h != nullptr && h->turn_flush_ && DB_TYPE(mp) == M_FLUSH) {
    FlushAsDriver(q, mp);
    return 0;
  }
  putq(q, mp);
  return 0;
}

int Harness::DrvRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

}  // namespace ustreams::testing
