// The DDI structures a module exchanges with the stream head (illumos sys/stream.h): iocblk,
// copyreq and copyresp (ioctls, transparent ioctls), linkblk (multiplexor links), stroptions
// (M_SETOPTS), strreply_t (M_REPLY), and the helpers that build and answer those messages:
// mkiocb(9F), miocack(9F), miocnak(9F), mcopyin(9F), mcopyout(9F), miocpullup(9F), merror(9F),
// mexchange(9F) and mreply().
//
// Ownership: every helper that takes an mblk_t consumes it (it is answered in place and sent on,
// or freed), except miocpullup and mexchange, which return the message to keep using.
#pragma once

#include <cstddef>
#include <cstdint>

#include "streams/mblk.h"
#include "streams/queue.h"
#include "streams/stropts.h"

namespace ustreams {

// ---- ioctls ----

// The M_IOCTL/M_IOCACK/M_IOCNAK header. ioc_count is TRANSPARENT for an ioctl the head could not
// size (the argument's address is then in b_cont, as an intptr_t).
struct iocblk {  // illumos LP64 layout
  int ioc_cmd;
  cred_t* ioc_cr;
  unsigned int ioc_id;  // unique among the ioctls in flight; acks are matched on it
  unsigned int ioc_flag;
  size_t ioc_count;     // bytes in b_cont, or TRANSPARENT
  int ioc_rval;         // the ioctl's return value
  int ioc_error;        // M_IOCNAK: the errno (0 means EINVAL); M_IOCACK: 0 or an errno
};

// M_COPYIN / M_COPYOUT: a module asks the head to copy to or from the caller's memory.
struct copyreq {
  int cq_cmd;
  cred_t* cq_cr;
  unsigned int cq_id;
  unsigned int cq_flag;  // must be 0
  mblk_t* cq_private;    // the module's state, returned in cp_private
  char* cq_addr;         // the caller's address
  size_t cq_size;
};

// M_IOCDATA: the head's answer to M_COPYIN/M_COPYOUT. cp_rval is 0 on success; otherwise the
// copy failed and the module frees the message and sends no ack.
struct copyresp {
  int cp_cmd;
  cred_t* cp_cr;
  unsigned int cp_id;
  unsigned int cp_flag;
  mblk_t* cp_private;
  char* cp_rval;
};

// The three overlay one another: a module turns one into the other in place.
union ioctypes {
  struct iocblk iocblk;
  struct copyreq copyreq;
  struct copyresp copyresp;
};
static_assert(offsetof(iocblk, ioc_id) == offsetof(copyreq, cq_id));
static_assert(offsetof(iocblk, ioc_id) == offsetof(copyresp, cp_id));

// ---- multiplexor links (I_LINK, I_PLINK, I_UNLINK, I_PUNLINK) ----
struct linkblk {
  queue_t* l_qtop;  // the mux's upper write queue; nullptr for a persistent link
  queue_t* l_qbot;  // the lower stream's write queue the mux now owns
  int l_index;      // the mux id
};

// ---- M_SETOPTS ----
struct stroptions {
  unsigned int so_flags;
  short so_readopt;
  unsigned short so_wroff;
  ssize_t so_minpsz;
  ssize_t so_maxpsz;
  size_t so_hiwat;
  size_t so_lowat;
  unsigned char so_band;
  unsigned short so_erropt;
  ssize_t so_maxblk;
  unsigned short so_copyopt;
  unsigned short so_tail;
};

inline constexpr unsigned int SO_ALL = 0x003f;
inline constexpr unsigned int SO_READOPT = 0x0001;
inline constexpr unsigned int SO_WROFF = 0x0002;
inline constexpr unsigned int SO_MINPSZ = 0x0004;
inline constexpr unsigned int SO_MAXPSZ = 0x0008;
inline constexpr unsigned int SO_HIWAT = 0x0010;
inline constexpr unsigned int SO_LOWAT = 0x0020;
inline constexpr unsigned int SO_MREADON = 0x0040;
inline constexpr unsigned int SO_MREADOFF = 0x0080;
inline constexpr unsigned int SO_NDELON = 0x0100;
inline constexpr unsigned int SO_NDELOFF = 0x0200;
inline constexpr unsigned int SO_ISTTY = 0x0400;
inline constexpr unsigned int SO_ISNTTY = 0x0800;
inline constexpr unsigned int SO_TOSTOP = 0x1000;
inline constexpr unsigned int SO_TONSTOP = 0x2000;
inline constexpr unsigned int SO_BAND = 0x4000;
inline constexpr unsigned int SO_DELIM = 0x8000;
inline constexpr unsigned int SO_NODELIM = 0x010000;
inline constexpr unsigned int SO_STRHOLD = 0x020000;
inline constexpr unsigned int SO_ERROPT = 0x040000;
inline constexpr unsigned int SO_COPYOPT = 0x080000;
inline constexpr unsigned int SO_MAXBLK = 0x100000;
inline constexpr unsigned int SO_TAIL = 0x200000;
// This project's addition (PSARC SO_REPLY case): the head waits for an M_REPLY after each M_DATA
// it sends. Once on, it stays on for the life of the stream.
inline constexpr unsigned int SO_REPLY = 0x400000;
// This project's addition: the stream is a FIFO (its driver turns what is written around, up its
// own read side). The head gives it what illumos gives a FIFO's head: SIGPIPE and EPIPE for a
// write(2) to a hung-up stream (SNDPIPE, which I_SWROPT may clear), zero-byte writes that send
// nothing unless SNDZERO, and I_SENDFD delivering to its own read side. Stays on once set.
inline constexpr unsigned int SO_FIFO = 0x800000;

// so_copyopt values (accepted and recorded; copies are always made here).
inline constexpr unsigned short ZCVMSAFE = 0x0001;
inline constexpr unsigned short ZCVMUNSAFE = 0x0002;
inline constexpr unsigned short COPYCACHED = 0x0004;

// M_ERROR: a byte that leaves that side's error alone.
inline constexpr unsigned char NOERROR = 0xff;

// ---- M_REPLY ----
struct strreply_t {
  int sr_errno;  // 0, or the errno write() returns
};

// ---- helpers ----

// A new M_IOCTL for cmd with a fresh ioc_id (for modules that issue ioctls of their own), or
// nullptr on no memory.
mblk_t* mkiocb(unsigned int cmd);
// Turns an M_IOCTL (or M_IOCDATA) into M_IOCACK with count bytes of data in b_cont and rval, and
// qreplies it from the write queue wq (consumes mp).
void miocack(queue_t* wq, mblk_t* mp, int count, int rval);
// Turns it into M_IOCNAK with error (0 tells the caller EINVAL) and qreplies it (consumes mp).
void miocnak(queue_t* wq, mblk_t* mp, int count, int error);
// Transparent ioctls: turn an M_IOCTL or M_IOCDATA into a request that the head copy size bytes
// in from user_addr (nullptr: the address the transparent M_IOCTL carried), or out to it from
// dp (linked in as b_cont; nullptr keeps b_cont). private_mp comes back in cp_private. The
// caller sends the message with qreply().
void mcopyin(mblk_t* mp, void* private_mp, size_t size, void* user_addr);
void mcopyout(mblk_t* mp, void* private_mp, size_t size, void* user_addr, mblk_t* dp);
// Makes b_cont of an M_IOCTL one block of at least size bytes. Returns 0, EINVAL (transparent,
// or less data than size) or ENOMEM. Does not consume mp.
int miocpullup(mblk_t* mp, size_t size);
// Turns mp into a one-byte M_ERROR carrying error (both sides) and qreplies it (consumes mp).
void merror(queue_t* wq, mblk_t* mp, int error);
// Reuses mp for a message of type and size if it can (one block, unshared, large enough), else
// frees it and allocates. With primtype >= 0 the first 4 bytes are set to it (a TPI/DLPI
// primitive). Returns the message, or nullptr (mp freed) on no memory.
mblk_t* mexchange(queue_t* wq, mblk_t* mp, size_t size, int type, int32_t primtype);

// SO_REPLY: turns mp into an M_REPLY carrying error and sends it up: with qreply() from a write
// queue, with putnext() from a read queue (consumes mp; freed if it cannot hold the reply and no
// memory is left).
void mreply(queue_t* q, mblk_t* mp, int error);

// A fresh ioc_id (process-wide, never 0).
unsigned int NextIocId();

}  // namespace ustreams
