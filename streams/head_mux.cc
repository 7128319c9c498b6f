// The stream head's ioctls that involve another descriptor: multiplexor links (I_LINK, I_PLINK,
// I_UNLINK, I_PUNLINK), passing descriptors over a pipe (I_SENDFD, I_RECVFD) and I_FDINSERT.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "streams/domain.h"
#include "streams/file.h"
#include "streams/head.h"
#include "streams/user_addr.h"
#include "streams/msg.h"

namespace ustreams {

namespace {
bool NonBlocking(int fflag) { return (fflag & (O_NONBLOCK | O_NDELAY)) != 0; }

// EBADF for a number that is no descriptor at all, EINVAL for one that is not a stream.
int NotAStream(int fd) { return fcntl(fd, F_GETFD) < 0 ? EBADF : EINVAL; }
}  // namespace

// What an M_PASSFP carries: a stream file, or a plain descriptor of the process (dup'ed), with
// the sender's credentials. The message's data block is esballoc'ed over it, so however the
// message goes (read, flushed, or freed with its stream) the reference is dropped exactly once.
struct StreamHead::PassedFile {
  std::shared_ptr<File> file;
  int kfd = -1;
  uid_t uid;
  gid_t gid;
  frtn_t frtn;
};

void StreamHead::FreePassedFile(char* arg) {
  auto* pf = reinterpret_cast<PassedFile*>(arg);
  if (pf->kfd >= 0) close(pf->kfd);
  delete pf;  // drops the file: possibly that stream's last close
}

void StreamHead::ReleasePassedFile(mblk_t* mp) { freemsg(mp); }

// ---- I_LINK / I_PLINK ----

int StreamHead::IoctlLink(int fd, bool persistent, int* rval) {
  if (is_pipe_) return EINVAL;
  const fmodsw* drv = stream_->driver();
  if (drv == nullptr || drv->str->st_muxrinit == nullptr || drv->str->st_muxwinit == nullptr) {
    return EINVAL;  // the driver does not multiplex
  }
  std::shared_ptr<File> f = fdtable::Lookup(fd);
  if (f == nullptr) return NotAStream(fd);
  std::shared_ptr<StreamHead> lower = f->head_ptr();
  if (lower.get() == this || lower->closed()) return EINVAL;
  {
    std::lock_guard<Mutex> l(lower->mu_);
    if (lower->linked_ || lower->strhup_ || lower->strderr_ || lower->stwrerr_ ||
        lower->ioc_busy_ || lower->plumbing_) {
      return EINVAL;
    }
  }
  int upper_major = Domain::MajorOf(dev_);
  int lower_major = Domain::MajorOf(lower->dev_);
  if (domain_->WouldCycle(upper_major, lower_major)) return EINVAL;
  if (int e = BeginPlumb(0); e != 0) return e;
  int muxid = domain_->NewMuxId();
  // The lower head becomes the multiplexor's lower queue pair before the mux hears of it.
  lower->SetLinked(true);
  lower->stream().MuxUnder(drv);
  mblk_t* data = allocb(sizeof(linkblk));
  if (data == nullptr) {
    lower->stream().Unmux();
    lower->SetLinked(false);
    EndPlumb();
    return ENOSR;
  }
  linkblk lb{persistent ? nullptr : stream_->driver_wq(), lower->stream().head_wq(), muxid};
  std::memcpy(data->b_wptr, &lb, sizeof(lb));
  data->b_wptr += sizeof(lb);
  IocResult res;
  int e = DoIoctl(IocRequest{persistent ? I_PLINK : I_LINK, data, sizeof(linkblk), -1, false},
                  &res);
  freemsg(res.reply);
  if (e != 0) {
    lower->stream().Unmux();
    lower->SetLinked(false);
    EndPlumb();
    return e;
  }
  lower->AddHold();  // the link keeps the lower stream open after its descriptor closes
  domain_->AddLinkEdge(upper_major, lower_major, muxid);
  if (persistent) {
    domain_->AddPersistentLink(Domain::PersistentLink{drv->major, muxid, lower});
  } else {
    std::lock_guard<Mutex> l(mu_);
    links_.push_back(Link{muxid, lower});
  }
  EndPlumb();
  *rval = muxid;
  return 0;
}

// ---- I_UNLINK / I_PUNLINK ----

int StreamHead::UnlinkOne(const Link& link, bool persistent) {
  mblk_t* data = allocb(sizeof(linkblk));
  if (data == nullptr) return ENOSR;
  linkblk lb{persistent ? nullptr : stream_->driver_wq(), link.lower->stream().head_wq(),
             link.muxid};
  std::memcpy(data->b_wptr, &lb, sizeof(lb));
  data->b_wptr += sizeof(lb);
  IocResult res;
  int e = DoIoctl(IocRequest{persistent ? I_PUNLINK : I_UNLINK, data, sizeof(linkblk), -1, true},
                  &res);
  freemsg(res.reply);
  return e;
}

void StreamHead::Dismantle(const Link& link) {
  link.lower->stream().Unmux();
  link.lower->SetLinked(false);
  domain_->RemoveLinkEdge(link.muxid);
  domain_->Release(link.lower, O_NONBLOCK);
}

int StreamHead::IoctlUnlink(int muxid, bool persistent) {
  if (is_pipe_) return EINVAL;
  if (muxid == 0 || (muxid < 0 && muxid != MUXID_ALL)) return EINVAL;
  const fmodsw* drv = stream_->driver();
  if (drv == nullptr) return EINVAL;
  std::vector<Link> todo;
  if (persistent) {
    for (Domain::PersistentLink& pl : domain_->TakePersistentLinks(drv->major, muxid)) {
      todo.push_back(Link{pl.muxid, std::move(pl.lower)});
    }
  } else {
    std::lock_guard<Mutex> l(mu_);
    for (auto it = links_.begin(); it != links_.end();) {
      if (muxid == MUXID_ALL || it->muxid == muxid) {
        todo.push_back(std::move(*it));
        it = links_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (todo.empty()) return muxid == MUXID_ALL ? 0 : EINVAL;
  if (int e = BeginPlumb(0); e != 0) {
    Relink(todo, persistent, drv->major);
    return e;
  }
  int err = 0;
  size_t i = 0;
  for (; i < todo.size(); i++) {
    err = UnlinkOne(todo[i], persistent);
    if (err != 0) break;
    Dismantle(todo[i]);
  }
  // The links the multiplexor refused stay as they were.
  std::vector<Link> kept(todo.begin() + static_cast<long>(i), todo.end());
  Relink(kept, persistent, drv->major);
  EndPlumb();
  return err;
}

void StreamHead::Relink(std::vector<Link>& kept, bool persistent, int major) {
  for (Link& k : kept) {
    if (persistent) {
      domain_->AddPersistentLink(Domain::PersistentLink{major, k.muxid, std::move(k.lower)});
    } else {
      std::lock_guard<Mutex> l(mu_);
      links_.push_back(std::move(k));
    }
  }
}

void StreamHead::UnlinkAllOnClose() {
  std::vector<Link> todo;
  {
    std::lock_guard<Mutex> l(mu_);
    todo.swap(links_);
  }
  // The multiplexor hears of each; whatever it answers, the link goes with the stream.
  for (const Link& link : todo) {
    (void)UnlinkOne(link, false);
    Dismantle(link);
  }
}

// ---- I_SENDFD / I_RECVFD ----

int StreamHead::IoctlSendfd(int fd) {
  std::shared_ptr<File> f = fdtable::Lookup(fd);
  int kfd = -1;
  if (f == nullptr) {
    // A plain descriptor of the process travels as a duplicate.
    if (fcntl(fd, F_GETFD) < 0) return EBADF;
  }
  bool fifo;
  {
    std::lock_guard<Mutex> l(mu_);
    if (strhup_) return ENXIO;
    fifo = fifo_;
  }
  // The head that receives: the other end of a pipe, or a FIFO's own (its writes come back).
  Stream* peer = fifo ? stream_.get() : stream_->peer();
  if (peer == nullptr) return EINVAL;  // only pipes and FIFOs have a head to send to
  queue_t* prq = peer->head_rq();
  {
    std::lock_guard<Mutex> ql(prq->q_lock);
    if (prq->q_flag & QFULL) return EAGAIN;
  }
  if (f == nullptr) {
    kfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (kfd < 0) return errno == EMFILE ? EMFILE : EAGAIN;
  }
  auto* pf = new PassedFile{std::move(f), kfd, geteuid(), getegid(), {}};
  pf->frtn.free_func = &StreamHead::FreePassedFile;
  pf->frtn.free_arg = reinterpret_cast<char*>(pf);
  mblk_t* mp = esballoc(reinterpret_cast<unsigned char*>(pf), sizeof(*pf), BPRI_MED, &pf->frtn);
  if (mp == nullptr) {
    FreePassedFile(reinterpret_cast<char*>(pf));
    return EAGAIN;
  }
  mp->b_wptr += sizeof(*pf);
  DB_TYPE(mp) = M_PASSFP;
  put(prq, mp);  // straight onto the other head's read queue
  return 0;
}

int StreamHead::IoctlRecvfd(strrecvfd* rf, int fflag) {
  Call call(this, fflag);
  std::unique_lock<Mutex> l(mu_);
  mblk_t* first;
  for (;;) {
    first = FirstLocked();
    if (first != nullptr) break;
    if (strhup_) return ENXIO;
    if (NonBlocking(fflag)) return EAGAIN;
    int e = WaitLocked(l, call, absl::InfiniteFuture());
    if (e == 0) e = GetErrLocked(kErrRead | kErrPlex, false);
    if (e != 0) return e;
  }
  if (DB_TYPE(first) != M_PASSFP) return EBADMSG;
  if (rf == nullptr) return EFAULT;
  // Off the queue while a descriptor is made (the table is not touched under mu_).
  MsgPtr mp(TakeFirstLocked());
  l.unlock();
  auto* pf = reinterpret_cast<PassedFile*>(mp->b_rptr);
  int newfd;
  if (pf->file != nullptr) {
    newfd = fdtable::Install(pf->file);
  } else {
    newfd = fcntl(pf->kfd, F_DUPFD_CLOEXEC, 0);
    if (newfd < 0) newfd = -errno;
  }
  if (newfd < 0) {
    l.lock();
    PutBackLocked(mp.release());
    return -newfd;  // EMFILE ...
  }
  rf->fd = newfd;
  rf->uid = pf->uid;
  rf->gid = pf->gid;
  std::memset(rf->fill, 0, sizeof(rf->fill));
  return 0;  // the message goes; the new descriptor holds the file now
}

// ---- I_FDINSERT ----

int StreamHead::IoctlFdinsert(strfdinsert* fi, int fflag) {
  if (fi->offset < 0 || fi->offset % static_cast<int>(sizeof(uint32_t)) != 0) return EINVAL;
  std::shared_ptr<File> f = fdtable::Lookup(fi->fildes);
  if (f == nullptr) return EINVAL;
  StreamHead* target = f->head();
  {
    std::lock_guard<Mutex> l(target->mu_);
    int e = target->GetErrLocked(kErrRead | kErrWrite | kErrHup | kErrPlex, false);
    if (e != 0) return e;
  }
  if (fi->ctlbuf.len < fi->offset + static_cast<int>(sizeof(uint32_t))) return EINVAL;
  if (fi->flags & ~static_cast<uint32_t>(RS_HIPRI)) return EINVAL;
  if (fi->ctlbuf.buf == nullptr ||
      internal::BadAddress(fi->ctlbuf.buf, static_cast<size_t>(fi->ctlbuf.len))) {
    return EFAULT;
  }
  Call call(this, fflag);
  std::unique_lock<Mutex> l(mu_);
  ssize_t rmin, rmax;
  PacketSizes(&rmin, &rmax);
  if (rmax == 0) return ERANGE;
  ssize_t size = fi->databuf.len < 0 ? 0 : fi->databuf.len;
  if (size < rmin || (rmax != INFPSZ && size > rmax) || fi->ctlbuf.len > kStrCtlSz) return ERANGE;
  if (internal::BadAddress(fi->databuf.buf, static_cast<size_t>(size))) return EFAULT;
  bool hipri = (fi->flags & RS_HIPRI) != 0;
  if (!hipri) {
    if (int e = WaitWritableLocked(l, call, 0, fflag); e != 0) return e;
  }
  MsgPtr mp(allocb(static_cast<size_t>(std::max(fi->ctlbuf.len, 64))));
  if (!mp) return ENOSR;
  DB_TYPE(mp.get()) = hipri ? M_PCPROTO : M_PROTO;
  std::memcpy(mp->b_wptr, fi->ctlbuf.buf, static_cast<size_t>(fi->ctlbuf.len));
  // What identifies the target stream: its minor number, as on an LP64 illumos kernel.
  uint32_t ident = static_cast<uint32_t>(Domain::MinorOf(target->dev()));
  std::memcpy(mp->b_wptr + fi->offset, &ident, sizeof(ident));
  mp->b_wptr += fi->ctlbuf.len;
  iovec v{fi->databuf.buf, static_cast<size_t>(size)};
  const iovec* vp = &v;
  int cnt = 1;
  size_t off = 0;
  mblk_t* dp = MakeData(vp, cnt, off, static_cast<size_t>(size));
  if (dp == nullptr) return ENOSR;
  mp->b_cont = dp;
  return SendDownLocked(l, call, mp.release(), /*last=*/true);
}

// ---- opening ----

int StreamHead::PushForOpen(const std::string& module, int oflag, cred_t* cr) {
  const fmodsw* sw = domain_->registry().FindModule(module);
  if (sw == nullptr) return EINVAL;
  if (stream_->module_count() >= kNStrPush) return EINVAL;
  return stream_->Push(sw, oflag, cr);
}

void StreamHead::AnchorHere() {
  std::lock_guard<Mutex> l(mu_);
  anchor_ = stream_->module_count();
}

int StreamHead::Reopen(int oflag, cred_t* cr) {
  if (!stream_->BeginOpen()) return kOpenAgain;
  {
    std::lock_guard<Mutex> l(mu_);
    if (strderr_ || stwrerr_) {
      stream_->EndOpen();
      return EIO;
    }
    // A reopen heals a hangup and errors (illumos stropen, whatever the opens answer). Before
    // the opens: a hangup a driver sends from its open or soon after (a FIFO without a writer
    // hangs up again) is not undone.
    strhup_ = peer_gone_ = strderr_ = stwrerr_ = false;
    rerror_ = werror_ = 0;
  }
  dev_t dev = dev_;
  int e = stream_->Reopen(&dev, oflag, cr);
  stream_->EndOpen();
  return e;
}

void StreamHead::FileClosed(int fflag) {
  {
    std::lock_guard<Mutex> l(mu_);
    if (closing_) return;  // closed with its domain already
  }
  cred_t cr{geteuid(), getegid()};
  stream_->FileClosed(fflag, &cr);
}

}  // namespace ustreams
