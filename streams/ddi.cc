#include "streams/ddi.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

namespace ustreams {

namespace {
cred_t* KernelCred() {
  static cred_t cr{0, 0};
  return &cr;
}

// Makes mp's first block hold exactly n bytes of a fresh header, freeing its continuation.
// False if it cannot (too small or shared): the caller must build a new message.
bool Reshape(mblk_t* mp, size_t n) {
  if (DB_REF(mp) != 1 || MBLKSIZE(mp) < n) return false;
  freemsg(mp->b_cont);
  mp->b_cont = nullptr;
  mp->b_rptr = mp->b_datap->db_base;
  mp->b_wptr = mp->b_rptr + n;
  return true;
}

char* TransparentAddr(const mblk_t* mp) {
  if (mp->b_cont == nullptr || MBLKL(mp->b_cont) < sizeof(char*)) return nullptr;
  char* addr;
  std::memcpy(&addr, mp->b_cont->b_rptr, sizeof(addr));
  return addr;
}
}  // namespace

unsigned int NextIocId() {
  static std::atomic<unsigned int> next{1};
  unsigned int id;
  do {
    id = next.fetch_add(1, std::memory_order_relaxed);
  } while (id == 0);
  return id;
}

mblk_t* mkiocb(unsigned int cmd) {
  mblk_t* mp = allocb(sizeof(ioctypes));
  if (mp == nullptr) return nullptr;
  DB_TYPE(mp) = M_IOCTL;
  std::memset(mp->b_wptr, 0, sizeof(ioctypes));
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_wptr);
  ioc->ioc_cmd = static_cast<int>(cmd);
  ioc->ioc_cr = KernelCred();
  ioc->ioc_id = NextIocId();
  mp->b_wptr += sizeof(iocblk);
  return mp;
}

void miocack(queue_t* wq, mblk_t* mp, int count, int rval) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  DB_TYPE(mp) = M_IOCACK;
  ioc->ioc_count = static_cast<size_t>(count);
  ioc->ioc_error = 0;
  ioc->ioc_rval = rval;
  qreply(wq, mp);
}

void miocnak(queue_t* wq, mblk_t* mp, int count, int error) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  DB_TYPE(mp) = M_IOCNAK;
  ioc->ioc_count = static_cast<size_t>(count);
  ioc->ioc_error = error;
  ioc->ioc_rval = 0;
  qreply(wq, mp);
}

void mcopyin(mblk_t* mp, void* private_mp, size_t size, void* user_addr) {
  char* addr = user_addr != nullptr ? static_cast<char*>(user_addr) : TransparentAddr(mp);
  auto* cq = reinterpret_cast<copyreq*>(mp->b_rptr);
  DB_TYPE(mp) = M_COPYIN;
  cq->cq_private = static_cast<mblk_t*>(private_mp);
  cq->cq_size = size;
  cq->cq_addr = addr;
  cq->cq_flag = 0;
  mp->b_wptr = mp->b_rptr + sizeof(copyreq);
  freemsg(mp->b_cont);
  mp->b_cont = nullptr;
}

void mcopyout(mblk_t* mp, void* private_mp, size_t size, void* user_addr, mblk_t* dp) {
  char* addr = user_addr != nullptr ? static_cast<char*>(user_addr) : TransparentAddr(mp);
  auto* cq = reinterpret_cast<copyreq*>(mp->b_rptr);
  DB_TYPE(mp) = M_COPYOUT;
  cq->cq_private = static_cast<mblk_t*>(private_mp);
  cq->cq_size = size;
  cq->cq_addr = addr;
  cq->cq_flag = 0;
  mp->b_wptr = mp->b_rptr + sizeof(copyreq);
  if (dp != nullptr) {
    freemsg(mp->b_cont);
    mp->b_cont = dp;
  }
}

int miocpullup(mblk_t* mp, size_t size) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  if (ioc->ioc_count == TRANSPARENT) return EINVAL;
  if (size == 0) return 0;
  if (mp->b_cont == nullptr || msgdsize(mp->b_cont) < size) return EINVAL;
  if (MBLKL(mp->b_cont) >= size) return 0;
  return pullupmsg(mp->b_cont, static_cast<ssize_t>(size)) ? 0 : ENOMEM;
}

void merror(queue_t* wq, mblk_t* mp, int error) {
  if (!Reshape(mp, 1)) {
    freemsg(mp);
    mp = allocb(1);
    if (mp == nullptr) return;
    mp->b_wptr += 1;
  }
  DB_TYPE(mp) = M_ERROR;
  mp->b_rptr[0] = static_cast<unsigned char>(error);
  qreply(wq, mp);
}

mblk_t* mexchange(queue_t* wq, mblk_t* mp, size_t size, int type, int32_t primtype) {
  (void)wq;
  if (mp == nullptr || !Reshape(mp, size)) {
    freemsg(mp);
    mp = allocb(size);
    if (mp == nullptr) return nullptr;
    mp->b_wptr += size;
  }
  DB_TYPE(mp) = static_cast<unsigned char>(type);
  mp->b_flag = 0;
  mp->b_band = 0;
  if (primtype >= 0 && size >= sizeof(int32_t)) std::memcpy(mp->b_rptr, &primtype, sizeof(primtype));
  return mp;
}

void mreply(queue_t* q, mblk_t* mp, int error) {
  if (!Reshape(mp, sizeof(strreply_t))) {
    freemsg(mp);
    mp = allocb(sizeof(strreply_t));
    if (mp == nullptr) return;  // the writer's wait ends with its timeout
    mp->b_wptr += sizeof(strreply_t);
  }
  DB_TYPE(mp) = M_REPLY;
  mp->b_flag = 0;
  mp->b_band = 0;
  strreply_t r{error};
  std::memcpy(mp->b_rptr, &r, sizeof(r));
  if (IsReadQ(q)) {
    putnext(q, mp);
  } else {
    qreply(q, mp);
  }
}

}  // namespace ustreams
