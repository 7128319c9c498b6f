// The STREAMS Administrative Driver, sad(4D): autopush administration over the domain's
// Autopush table (streams/autopush.h), following illumos io/sad.c.
//
// Theory of operation
// -------------------
// Two device names lead here, both clone opens: /dev/sad/admin (minor 1, euid 0 only) and
// /dev/sad/user (minor 0). Each open gets its own stream and a SadInstance in q_ptr that
// remembers which name it came through (SAD_SAP is the admin's alone: EPERM otherwise) and the
// domain whose table it edits.
//
// The ioctls are transparent only (an I_STR-wrapped one is refused with EINVAL, as illumos
// does): the M_IOCTL carries the caller's address, the driver asks the head to copy the
// argument in (M_COPYIN), acts on the M_IOCDATA that comes back, and for SAD_GAP asks for the
// answer to be copied out (M_COPYOUT) before it acks. cp_private carries the step (kGetStruct,
// kGetResult, kGetList, as illumos); the instance keeps what a later step needs (the caller's
// address, the list length). The head runs one ioctl at a time per stream, and the D_MTQPAIR
// perimeter keeps the instance consistent. A failed copy (cp_rval != 0) ends the ioctl: the head
// has already told the caller, so the message is freed and nothing is sent.
//
// Finding the domain: the table to edit belongs to the domain whose registry holds this
// registration of "sad". RegisterSad records that domain under the registration's fmodsw, and
// open looks it up through the stream's driver (q->q_stream->driver()). A domain that goes
// away leaves a stale entry behind (a few bytes); it is only ever read for a registration that
// is alive, and a new registration at the same address overwrites it.
//
// Majors: EINVAL for a major no driver has. ENOSTR (a major whose driver is not a STREAMS
// driver) cannot happen: every driver of a registry is a STREAMS driver. illumos checks the
// entry (count, names, range) before the major; this driver checks the major first, which only
// changes the errno when both are wrong.
#include "streams/drivers/sad.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "streams/ddi.h"
#include "streams/drivers/drivers.h"
#include "streams/queue.h"
#include "streams/stream.h"

namespace ustreams {
namespace {

static_assert(STRAPUSH_V0_LEN == 92 && STRAPUSH_V1_LEN == 96 && sizeof(strapush) == 96,
              "struct strapush must keep the illumos layout");
static_assert(::MAXAPUSH == ustreams::MAXAPUSH && ::SAP_CLEAR == ustreams::SAP_CLEAR &&
              ::SAP_ONE == ustreams::SAP_ONE && ::SAP_RANGE == ustreams::SAP_RANGE &&
              ::SAP_ALL == ustreams::SAP_ALL);

// Steps of an ioctl, carried in cq_private/cp_private (illumos sad.h).
constexpr intptr_t kGetStruct = 1;
constexpr intptr_t kGetResult = 2;
constexpr intptr_t kGetList = 3;

constexpr int SadVer(int cmd) { return (cmd >> 4) & 0x0f; }
constexpr int SadCmd(int cmd) { return cmd & ~0xf0; }
constexpr int kSapV0 = SADIOC | 01;
constexpr int kGapV0 = SADIOC | 02;
constexpr int kMaxVersion = 1;

// The longest module list SAD_VML copies in; longer lists name more modules than a registry
// holds and would have the head copy an unbounded amount.
constexpr int kMaxVmlMods = 1024;

struct SadInstance {
  Domain* domain;
  bool admin;
  char* user_addr = nullptr;  // SAD_GAP: where the answer goes
  int vml_nmods = 0;          // SAD_VML: names in the list being copied in
};

// ---- the domain of each registration ----

std::mutex g_domains_mu;
std::map<const fmodsw*, Domain*>& Domains() {
  static auto* m = new std::map<const fmodsw*, Domain*>;  // never destroyed: streams may outlive exit
  return *m;
}

Domain* DomainOf(queue_t* q) {
  const fmodsw* sw = q->q_stream != nullptr ? q->q_stream->driver() : nullptr;
  std::lock_guard<std::mutex> l(g_domains_mu);
  auto it = Domains().find(sw);
  return it == Domains().end() ? nullptr : it->second;
}

// ---- open and close ----

int SadOpen(queue_t* q, dev_t* devp, int /*oflag*/, int sflag, cred_t* crp) {
  if (sflag == MODOPEN) return ENXIO;
  int minor = Domain::MinorOf(*devp);
  if (minor != USRMIN && minor != ADMMIN) return EINVAL;
  if (minor == ADMMIN && (crp == nullptr || crp->cr_uid != 0)) return EPERM;  // secpolicy_sadopen
  if (q->q_ptr != nullptr) return 0;  // another open of a stream already set up
  Domain* d = DomainOf(q);
  if (d == nullptr) return ENXIO;  // registered without RegisterSad
  auto* sad = new SadInstance{d, minor == ADMMIN};
  q->q_ptr = WR(q)->q_ptr = sad;
  qprocson(q);
  return 0;
}

int SadClose(queue_t* q, int /*oflag*/, cred_t* /*crp*/) {
  qprocsoff(q);
  delete static_cast<SadInstance*>(q->q_ptr);
  q->q_ptr = WR(q)->q_ptr = nullptr;
  return 0;
}

// ---- helpers ----

// 0 if major names a STREAMS driver of the registry, else the errno of sad(4D).
int CheckMajor(const Registry& r, unsigned int major) {
  if (major > static_cast<unsigned int>(INT_MAX)) return EINVAL;
  if (r.FindDriverByMajor(static_cast<int>(major)) == nullptr) return EINVAL;
  return 0;
}

bool ValidMinor(unsigned int minor) { return minor <= static_cast<unsigned int>(INT_MAX); }

size_t StrapushLen(int cmd) { return SadVer(cmd) == 1 ? STRAPUSH_V1_LEN : STRAPUSH_V0_LEN; }

// The caller's argument of a transparent M_IOCTL (b_cont holds it by value).
char* TransparentArg(const mblk_t* mp) {
  char* addr = nullptr;
  if (mp->b_cont != nullptr && MBLKL(mp->b_cont) >= sizeof(addr)) {
    std::memcpy(&addr, mp->b_cont->b_rptr, sizeof(addr));
  }
  return addr;
}

// Makes the M_IOCDATA's data one block of at least n bytes; false if there is less.
bool PullData(mblk_t* mp, size_t n) {
  if (mp->b_cont == nullptr || msgdsize(mp->b_cont) < n) return false;
  return MBLKL(mp->b_cont) >= n || pullupmsg(mp->b_cont, static_cast<ssize_t>(n)) != 0;
}

// ---- SAD_SAP / SAD_GAP ----

void ApushIoctl(queue_t* wq, mblk_t* mp) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  auto* sad = static_cast<SadInstance*>(wq->q_ptr);
  if (ioc->ioc_count != TRANSPARENT || SadVer(ioc->ioc_cmd) > kMaxVersion) {
    miocnak(wq, mp, 0, EINVAL);
    return;
  }
  if (SadCmd(ioc->ioc_cmd) == kSapV0 && !sad->admin) {
    miocnak(wq, mp, 0, EPERM);
    return;
  }
  sad->user_addr = TransparentArg(mp);
  mcopyin(mp, reinterpret_cast<void*>(kGetStruct), StrapushLen(ioc->ioc_cmd), nullptr);
  qreply(wq, mp);
}

// SAD_SAP with the copied-in request: the errno for the caller, 0 on success.
int SetAutopush(Domain& d, const strapush& sap, int version) {
  Autopush::Entry e;
  e.cmd = sap.sap_cmd;
  if (e.cmd != SAP_CLEAR && e.cmd != SAP_ONE && e.cmd != SAP_RANGE && e.cmd != SAP_ALL) {
    return EINVAL;
  }
  if (int err = CheckMajor(d.registry(), sap.sap_major); err != 0) return err;
  e.major = static_cast<int>(sap.sap_major);
  bool range = e.cmd == SAP_RANGE;
  if (e.cmd != SAP_ALL && (!ValidMinor(sap.sap_minor) || (range && !ValidMinor(sap.sap_lastminor)))) {
    return EINVAL;
  }
  e.minor = e.cmd == SAP_ALL ? 0 : static_cast<int>(sap.sap_minor);
  e.lastminor = range ? static_cast<int>(sap.sap_lastminor) : e.minor;
  if (e.cmd != SAP_CLEAR) {
    if (sap.sap_npush < 1 || sap.sap_npush > static_cast<unsigned int>(MAXAPUSH)) return EINVAL;
    for (unsigned int i = 0; i < sap.sap_npush; i++) {
      // Names longer than FMNAMESZ are cut there, as illumos's strncpy does.
      e.modules.emplace_back(sap.sap_list[i], strnlen(sap.sap_list[i], FMNAMESZ));
    }
    unsigned int anchor = version > 0 ? sap.sap_anchor : 0;
    e.anchor = anchor > static_cast<unsigned int>(MAXAPUSH) ? INT_MAX : static_cast<int>(anchor);
  }
  return d.autopush().Set(e, d.registry());
}

// SAD_GAP: fills sap with the entry for its major and minor; the errno, 0 on success.
int GetAutopush(Domain& d, strapush* sap, int version) {
  if (int err = CheckMajor(d.registry(), sap->sap_major); err != 0) return err;
  if (!ValidMinor(sap->sap_minor)) return EINVAL;
  Autopush::Entry e;
  if (int err = d.autopush().Get(static_cast<int>(sap->sap_major),
                                 static_cast<int>(sap->sap_minor), &e);
      err != 0) {
    return err;
  }
  sap->sap_cmd = e.cmd;
  sap->sap_major = static_cast<unsigned int>(e.major);
  sap->sap_minor = static_cast<unsigned int>(e.minor);
  sap->sap_lastminor = static_cast<unsigned int>(e.lastminor);
  sap->sap_npush = static_cast<unsigned int>(e.modules.size());
  std::memset(sap->sap_list, 0, sizeof(sap->sap_list));  // unused names read as zeros
  for (size_t i = 0; i < e.modules.size() && i < static_cast<size_t>(MAXAPUSH); i++) {
    std::memcpy(sap->sap_list[i], e.modules[i].data(), std::min<size_t>(e.modules[i].size(), FMNAMESZ));
  }
  if (version > 0) sap->sap_anchor = static_cast<unsigned int>(e.anchor);
  return 0;
}

void ApushIocdata(queue_t* wq, mblk_t* mp) {
  auto* cp = reinterpret_cast<copyresp*>(mp->b_rptr);
  auto* sad = static_cast<SadInstance*>(wq->q_ptr);
  const intptr_t step = reinterpret_cast<intptr_t>(cp->cp_private);
  const bool sap_cmd_is_set = SadCmd(cp->cp_cmd) == kSapV0;
  const int version = SadVer(cp->cp_cmd);
  if (step == kGetResult && !sap_cmd_is_set) {
    miocack(wq, mp, 0, 0);  // the answer reached the caller
    return;
  }
  const size_t len = StrapushLen(cp->cp_cmd);
  if (step != kGetStruct || !PullData(mp, len)) {
    miocnak(wq, mp, 0, EINVAL);
    return;
  }
  strapush sap{};
  std::memcpy(&sap, mp->b_cont->b_rptr, len);
  if (sap_cmd_is_set) {
    int err = SetAutopush(*sad->domain, sap, version);
    if (err != 0) {
      miocnak(wq, mp, 0, err);
    } else {
      miocack(wq, mp, 0, 0);
    }
    return;
  }
  if (int err = GetAutopush(*sad->domain, &sap, version); err != 0) {
    miocnak(wq, mp, 0, err);
    return;
  }
  // The copied-in block is ours (the head allocated it): the answer goes out in it.
  std::memcpy(mp->b_cont->b_rptr, &sap, len);
  mp->b_cont->b_wptr = mp->b_cont->b_rptr + len;
  mcopyout(mp, reinterpret_cast<void*>(kGetResult), len, sad->user_addr, nullptr);
  qreply(wq, mp);
}

// ---- SAD_VML ----

void VmlIoctl(queue_t* wq, mblk_t* mp) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  if (ioc->ioc_count != TRANSPARENT) {
    miocnak(wq, mp, 0, EINVAL);
    return;
  }
  mcopyin(mp, reinterpret_cast<void*>(kGetStruct), sizeof(str_list), nullptr);
  qreply(wq, mp);
}

void VmlIocdata(queue_t* wq, mblk_t* mp) {
  auto* cp = reinterpret_cast<copyresp*>(mp->b_rptr);
  auto* sad = static_cast<SadInstance*>(wq->q_ptr);
  switch (reinterpret_cast<intptr_t>(cp->cp_private)) {
    case kGetStruct: {
      str_list sl;
      if (!PullData(mp, sizeof(sl))) break;
      std::memcpy(&sl, mp->b_cont->b_rptr, sizeof(sl));
      if (sl.sl_nmods <= 0 || sl.sl_nmods > kMaxVmlMods) break;
      sad->vml_nmods = sl.sl_nmods;
      // mcopyin would take a null address for "the ioctl's own argument": set it afterwards,
      // so a null sl_modlist reaches the head and fails with EFAULT there.
      mcopyin(mp, reinterpret_cast<void*>(kGetList),
              static_cast<size_t>(sl.sl_nmods) * sizeof(str_mlist), sl.sl_modlist);
      reinterpret_cast<copyreq*>(mp->b_rptr)->cq_addr = reinterpret_cast<char*>(sl.sl_modlist);
      qreply(wq, mp);
      return;
    }
    case kGetList: {
      const size_t n = static_cast<size_t>(sad->vml_nmods);
      if (!PullData(mp, n * sizeof(str_mlist))) break;
      auto* list = reinterpret_cast<str_mlist*>(mp->b_cont->b_rptr);
      int rval = 0;
      for (size_t i = 0; i < n && rval == 0; i++) {
        std::string name(list[i].l_name, strnlen(list[i].l_name, FMNAMESZ));
        if (sad->domain->registry().FindModule(name) == nullptr) rval = 1;
      }
      miocack(wq, mp, 0, rval);
      return;
    }
    default:
      break;
  }
  miocnak(wq, mp, 0, EINVAL);
}

// ---- put procedures ----

int SadWput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_FLUSH:
      FlushAsDriver(q, mp);
      break;
    case M_IOCTL: {
      int cmd = reinterpret_cast<iocblk*>(mp->b_rptr)->ioc_cmd;
      if (SadCmd(cmd) == kSapV0 || SadCmd(cmd) == kGapV0) {
        ApushIoctl(q, mp);
      } else if (SadCmd(cmd) == SAD_VML) {
        VmlIoctl(q, mp);
      } else {
        miocnak(q, mp, 0, EINVAL);
      }
      break;
    }
    case M_IOCDATA: {
      auto* cp = reinterpret_cast<copyresp*>(mp->b_rptr);
      if (cp->cp_rval != nullptr) {
        freemsg(mp);  // the copy failed; the head has answered the caller
      } else if (SadCmd(cp->cp_cmd) == kSapV0 || SadCmd(cp->cp_cmd) == kGapV0) {
        ApushIocdata(q, mp);
      } else if (SadCmd(cp->cp_cmd) == SAD_VML) {
        VmlIocdata(q, mp);
      } else {
        freemsg(mp);  // not a copy this driver asked for
      }
      break;
    }
    default:
      freemsg(mp);
      break;
  }
  return 0;
}

int SadRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

module_info sad_minfo{0x7361, "sad", 0, INFPSZ, 0, 0};
qinit sad_rinit{SadRput, nullptr, SadOpen, SadClose, nullptr, &sad_minfo, nullptr};
qinit sad_winit{SadWput, nullptr, nullptr, nullptr, nullptr, &sad_minfo, nullptr};
streamtab sad_tab{&sad_rinit, &sad_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterSad(Domain& d) {
  if (absl::Status s = d.registry().RegisterDriver("sad", &sad_tab, D_MTQPAIR, /*clone=*/true);
      !s.ok()) {
    return s;
  }
  {
    std::lock_guard<std::mutex> l(g_domains_mu);
    Domains()[d.registry().FindDriver("sad")] = &d;
  }
  d.AddDeviceName(ADMINDEV, "sad", ADMMIN, /*clone=*/true);
  d.AddDeviceName(USERDEV, "sad", USRMIN, /*clone=*/true);
  return absl::OkStatus();
}

absl::Status RegisterStandardDrivers(Domain& d) {
  if (absl::Status s = RegisterEcho(d.registry()); !s.ok()) return s;
  if (absl::Status s = RegisterNuls(d.registry()); !s.ok()) return s;
  if (absl::Status s = RegisterFifo(d); !s.ok()) return s;
  return RegisterSad(d);
}

}  // namespace ustreams
