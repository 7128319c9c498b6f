// Message blocks: mblk_t over a reference-counted dblk_t, the allocator, and the message
// utilities of the DDI/DKI (allocb(9F), esballoc(9F), dupb(9F), pullupmsg(9F) ...).
//
// Theory of operation
// -------------------
// A message is a chain of mblk_t linked by b_cont; messages on a queue are linked by b_next and
// b_prev. Each mblk_t points at a dblk_t describing the buffer [db_base, db_lim) and carrying the
// message type. Several mblk_t may share one dblk_t (dupb); db_ref counts them, and a data block
// with db_ref > 1 is read-only: code that must write copies first (copyb). Debug builds catch a
// write through a shared block in the helpers that write (see STREAMS_ASSERT_WRITABLE).
//
// allocb() takes one chunk from a size class holding the mblk_t, the dblk_t and the payload
// together, so the common message costs one allocation, and chunks are recycled through a
// per-thread cache (alloc.cc). dupb() takes a bare mblk_t from the same kind of cache. The chunk
// goes back when its last reference is freed, whichever mblk_t that reference was held through.
// esballoc() wraps memory the caller owns; its frtn_t free routine runs exactly once, in the
// thread that drops the last reference (esballoc and desballoc behave alike: this library has no
// interrupt context to escape from, so the deferral illumos does for esballoc buys nothing).
//
// Allocation failure can be injected (alloc.h) so bufcall(9F) recovery paths get exercised.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ustreams {

// ---- Message types (sys/stream.h). Types at or above QPCTL are high priority. ----
inline constexpr unsigned char QNORM = 0x00;
inline constexpr unsigned char QPCTL = 0x80;

inline constexpr unsigned char M_DATA = 0x00;
inline constexpr unsigned char M_PROTO = 0x01;
inline constexpr unsigned char M_MULTIDATA = 0x02;
inline constexpr unsigned char M_BREAK = 0x08;
inline constexpr unsigned char M_PASSFP = 0x09;
inline constexpr unsigned char M_EVENT = 0x0a;
inline constexpr unsigned char M_SIG = 0x0b;
inline constexpr unsigned char M_DELAY = 0x0c;
inline constexpr unsigned char M_CTL = 0x0d;
inline constexpr unsigned char M_IOCTL = 0x0e;
inline constexpr unsigned char M_SETOPTS = 0x10;
inline constexpr unsigned char M_RSE = 0x11;

inline constexpr unsigned char M_IOCACK = 0x81;
inline constexpr unsigned char M_IOCNAK = 0x82;
inline constexpr unsigned char M_PCPROTO = 0x83;
inline constexpr unsigned char M_PCSIG = 0x84;
inline constexpr unsigned char M_READ = 0x85;
inline constexpr unsigned char M_FLUSH = 0x86;
inline constexpr unsigned char M_STOP = 0x87;
inline constexpr unsigned char M_START = 0x88;
inline constexpr unsigned char M_HANGUP = 0x89;
inline constexpr unsigned char M_ERROR = 0x8a;
inline constexpr unsigned char M_COPYIN = 0x8b;
inline constexpr unsigned char M_COPYOUT = 0x8c;
inline constexpr unsigned char M_IOCDATA = 0x8d;
inline constexpr unsigned char M_PCRSE = 0x8e;
inline constexpr unsigned char M_STOPI = 0x8f;
inline constexpr unsigned char M_STARTI = 0x90;
inline constexpr unsigned char M_PCEVENT = 0x91;
inline constexpr unsigned char M_UNHANGUP = 0x92;
inline constexpr unsigned char M_CMD = 0x93;
// This project's high-priority reply to a write on an SO_REPLY stream (PSARC SO_REPLY case).
inline constexpr unsigned char M_REPLY = 0x94;

// The name of a message type ("M_DATA"), or "M_<unknown>".
const char* MessageTypeName(unsigned char type);

// ---- b_flag bits ----
inline constexpr unsigned short MSGMARK = 0x01;     // last byte of message is "marked"
inline constexpr unsigned short MSGNOLOOP = 0x02;   // don't loop message to write side
inline constexpr unsigned short MSGDELIM = 0x04;    // message is delimited
inline constexpr unsigned short MSGNOGET = 0x08;    // getq does not return message
inline constexpr unsigned short MSGMARKNEXT = 0x10;     // private: first byte of next is marked
inline constexpr unsigned short MSGNOTMARKNEXT = 0x20;  // private: ... is not marked
// Private: an M_HANGUP from the framework's pipe or FIFO saying the other side (the reader) is
// gone, so write(2) fails with EPIPE and SIGPIPE whatever I_SWROPT set (illumos fifo_write). A
// hangup sent by a module lacks it and fails writes as any hung-up stream's do.
inline constexpr unsigned short MSGPEERGONE = 0x8000;

// Allocation priorities: accepted for compatibility and ignored, as on illumos.
inline constexpr unsigned int BPRI_LO = 1;
inline constexpr unsigned int BPRI_MED = 2;
inline constexpr unsigned int BPRI_HI = 3;

// The free routine of an esballoc'ed buffer.
struct frtn_t {
  void (*free_func)(char* arg);
  char* free_arg;
};

struct mblk_t;

struct dblk_t {
  unsigned char* db_base;  // first byte of the buffer
  unsigned char* db_lim;   // one past the last byte
  std::atomic<uint32_t> db_ref;  // mblk_t sharing this block; > 1 means read-only
  unsigned char db_type;   // message type
  unsigned char db_flags;  // private (DBLK_*)
  unsigned char db_class;  // private: size class of the chunk, or kExternalClass
  frtn_t* db_frtnp;        // free routine of an esballoc'ed buffer, else nullptr
  mblk_t* db_mblk;         // private: the mblk_t allocated in the same chunk
};

// The maximum db_ref: dupb() fails past it, as on illumos (DBLK_REFMAX).
inline constexpr uint32_t DBLK_REFMAX = 255;

struct queue_t;

struct mblk_t {
  mblk_t* b_next;   // next message on a queue
  mblk_t* b_prev;   // previous message on a queue
  mblk_t* b_cont;   // next block of this message
  unsigned char* b_rptr;  // first unread byte
  unsigned char* b_wptr;  // first unwritten byte
  dblk_t* b_datap;
  unsigned char b_band;   // priority band
  unsigned char b_state;  // private: debug state (free, on a queue) for misuse checks
  unsigned short b_flag;
  queue_t* b_queue;  // private: the queue this message sits on, or nullptr
};

// ---- strsun.h-style helpers ----
inline size_t MBLKL(const mblk_t* mp) { return static_cast<size_t>(mp->b_wptr - mp->b_rptr); }
inline size_t MBLKSIZE(const mblk_t* mp) {
  return static_cast<size_t>(mp->b_datap->db_lim - mp->b_datap->db_base);
}
inline size_t MBLKHEAD(const mblk_t* mp) {
  return static_cast<size_t>(mp->b_rptr - mp->b_datap->db_base);
}
inline size_t MBLKTAIL(const mblk_t* mp) {
  return static_cast<size_t>(mp->b_datap->db_lim - mp->b_wptr);
}
inline unsigned char& DB_TYPE(mblk_t* mp) { return mp->b_datap->db_type; }
inline unsigned char DB_TYPE(const mblk_t* mp) { return mp->b_datap->db_type; }
inline uint32_t DB_REF(const mblk_t* mp) {
  return mp->b_datap->db_ref.load(std::memory_order_relaxed);
}
inline bool queclass_is_hipri(const mblk_t* mp) { return mp->b_datap->db_type >= QPCTL; }
// 1 for high-priority messages, 0 otherwise (the class putq orders by).
inline int queclass(const mblk_t* mp) { return mp->b_datap->db_type >= QPCTL ? QPCTL : QNORM; }

// ---- Allocation ----
mblk_t* allocb(size_t size, unsigned int pri = BPRI_MED);
mblk_t* esballoc(unsigned char* base, size_t size, unsigned int pri, frtn_t* fr_rtnp);
mblk_t* desballoc(unsigned char* base, size_t size, unsigned int pri, frtn_t* fr_rtnp);
void freeb(mblk_t* bp);
void freemsg(mblk_t* mp);
// True if allocb(size) would succeed now (illumos testb(9F)).
int testb(size_t size, unsigned int pri = BPRI_MED);

// ---- Copy and share ----
mblk_t* dupb(mblk_t* bp);
mblk_t* dupmsg(mblk_t* mp);
mblk_t* copyb(mblk_t* bp);
mblk_t* copymsg(mblk_t* mp);

// ---- Reshape ----
void linkb(mblk_t* mp, mblk_t* bp);
mblk_t* unlinkb(mblk_t* mp);
mblk_t* rmvb(mblk_t* mp, mblk_t* bp);  // (mblk_t*)-1 if bp is not in mp
int pullupmsg(mblk_t* mp, ssize_t len);
mblk_t* msgpullup(mblk_t* mp, ssize_t len);
int adjmsg(mblk_t* mp, ssize_t len);

// ---- Inspect ----
size_t msgdsize(const mblk_t* mp);  // bytes in M_DATA blocks
size_t msgsize(const mblk_t* mp);   // bytes in all blocks
int datamsg(unsigned char type);    // M_DATA, M_PROTO, M_PCPROTO, M_DELAY, M_MULTIDATA

// ---- Recovery when allocation fails (bufcall(9F)) ----
using bufcall_id_t = uintptr_t;
bufcall_id_t bufcall(size_t size, unsigned int pri, void (*func)(void*), void* arg);
bufcall_id_t esbbcall(unsigned int pri, void (*func)(void*), void* arg);
void unbufcall(bufcall_id_t id);

}  // namespace ustreams
