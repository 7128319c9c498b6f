/*
 * The application interface to STREAMS: the calls of the SVR4/XSI STREAMS manual pages under a
 * "us_" prefix, with the constants and structures of illumos <stropts.h> (same names, same
 * values, same layouts). A program written against the manual pages ports by including this
 * header and renaming its calls (or with one #define per call).
 *
 * Descriptors are real file descriptors of the process (each stream descriptor is backed by an
 * eventfd), so they mix with ordinary ones: us_poll() takes both, and a us_* call on a descriptor
 * that is not a stream does what the plain system call does. The eventfd is readable whenever
 * something happened on the stream since the application last looked (data arrived, the stream
 * became writable, an error or hangup): an application's own poll/epoll loop may wait on it and
 * then call us_poll() with a zero timeout, or just retry its non-blocking calls.
 *
 * Devices are named "/dev/NAME" or "NAME" for a registered driver: a clone device gives a new
 * stream on each open, another driver opens minor 0 (shared by every open of it);
 * "/dev/NAME/MINOR" opens a given minor and "/dev/clone/NAME" clone-opens any driver. Calls act on
 * the calling thread's current STREAMS domain (see streams/domain.h), the process default unless
 * the thread chose another.
 *
 * Usable from C and C++.
 */
#ifndef USTREAMS_STREAMS_STROPTS_H_
#define USTREAMS_STREAMS_STROPTS_H_

#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h> /* FIONREAD, FIONBIO, FIOASYNC: the system's numbers */
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ioctl commands (illumos sys/stropts.h) ---- */
/* The file ioctls a stream head answers itself (illumos strioctl): FIONREAD (the bytes of data
 * in all messages queued, into an int), FIONBIO (an int: non-blocking on or off for the open
 * file), FIOASYNC (accepted), and FIORDCHK (illumos filio.h: that byte count as the result). */
#ifndef FIORDCHK
#define FIORDCHK (('f' << 8) | 3)
#endif
#define STR ('S' << 8)
#define I_NREAD (STR | 01)
#define I_PUSH (STR | 02)
#define I_POP (STR | 03)
#define I_LOOK (STR | 04)
#define I_FLUSH (STR | 05)
#define I_SRDOPT (STR | 06)
#define I_GRDOPT (STR | 07)
#define I_STR (STR | 010)
#define I_SETSIG (STR | 011)
#define I_GETSIG (STR | 012)
#define I_FIND (STR | 013)
#define I_LINK (STR | 014)
#define I_UNLINK (STR | 015)
#define I_RECVFD (STR | 016)
#define I_PEEK (STR | 017)
#define I_FDINSERT (STR | 020)
#define I_SENDFD (STR | 021)
#define I_SWROPT (STR | 023)
#define I_GWROPT (STR | 024)
#define I_LIST (STR | 025)
#define I_PLINK (STR | 026)
#define I_PUNLINK (STR | 027)
#define I_ANCHOR (STR | 030)
#define I_FLUSHBAND (STR | 034)
#define I_CKBAND (STR | 035)
#define I_GETBAND (STR | 036)
#define I_ATMARK (STR | 037)
#define I_SETCLTIME (STR | 040)
#define I_GETCLTIME (STR | 041)
#define I_CANPUT (STR | 042)
#define I_SERROPT (STR | 043)
#define I_GERROPT (STR | 044)
#define I_ESETSIG (STR | 045)
#define I_EGETSIG (STR | 046)

/* The longest module name (without the terminating NUL). */
#define FMNAMESZ 8

/* I_FLUSH / M_FLUSH flags. */
#define FLUSHR 0x01
#define FLUSHW 0x02
#define FLUSHRW 0x03
#define FLUSHBAND 0x04

/* I_SETSIG events. */
#define S_INPUT 0x0001
#define S_HIPRI 0x0002
#define S_OUTPUT 0x0004
#define S_MSG 0x0008
#define S_ERROR 0x0010
#define S_HANGUP 0x0020
#define S_RDNORM 0x0040
#define S_WRNORM S_OUTPUT
#define S_RDBAND 0x0080
#define S_WRBAND 0x0100
#define S_BANDURG 0x0200

/* I_PEEK flag. */
#define RS_HIPRI 0x01

/* getpmsg/putpmsg flags. */
#define MSG_HIPRI 0x01
#define MSG_ANY 0x02
#define MSG_BAND 0x04

/* getmsg return bits. */
#define MORECTL 1
#define MOREDATA 2

/* I_UNLINK / I_PUNLINK: every link. */
#define MUXID_ALL (-1)

/* I_ATMARK. */
#define ANYMARK 0x01
#define LASTMARK 0x02

/* I_CANPUT: any band. */
#define ANYBAND (-1)

/* Read options (I_SRDOPT, SO_READOPT). */
#define RNORM 0x0000
#define RMSGD 0x0001
#define RMSGN 0x0002
#define RMODEMASK 0x0003
#define RPROTDAT 0x0004
#define RPROTDIS 0x0008
#define RPROTNORM 0x0010
#define RPROTMASK 0x001c
#define RFLUSHMASK 0x0020
#define RFLUSHPCPROT 0x0020

/* Write options (I_SWROPT). */
#define SNDZERO 0x001
#define SNDPIPE 0x002
#define SNDHOLD 0x004

/* Error options (I_SERROPT, SO_ERROPT). */
#define RERRNORM 0x001
#define RERRNONPERSIST 0x002
#define RERRMASK (RERRNORM | RERRNONPERSIST)
#define WERRNORM 0x004
#define WERRNONPERSIST 0x008
#define WERRMASK (WERRNORM | WERRNONPERSIST)

/* I_STR: ic_timout of INFTIM waits for ever, 0 means the default (STRTIMOUT seconds). */
#define INFTIM (-1)
#define STRTIMOUT 15

/* Transparent ioctls: ioc_count of an M_IOCTL the head could not size. */
#define TRANSPARENT ((unsigned int)-1)

/* SIGPOLL is SIGIO on Linux. */
#ifndef SIGPOLL
#define SIGPOLL 29
#endif

/* poll(2) events this header's users may miss on a minimal libc. */
#ifndef POLLMSG
#define POLLMSG 0x400
#endif

/* ---- structures (SVR4 layouts) ---- */
struct strbuf {
  int maxlen; /* no. of bytes in buffer */
  int len;    /* no. of bytes returned */
  char *buf;  /* pointer to data */
};

struct strpeek {
  struct strbuf ctlbuf;
  struct strbuf databuf;
  uint32_t flags; /* RS_HIPRI or 0 */
};

struct strfdinsert {
  struct strbuf ctlbuf;
  struct strbuf databuf;
  uint32_t flags;
  int fildes;
  int offset;
};

struct strioctl {
  int ic_cmd;
  int ic_timout; /* seconds; INFTIM, or 0 for the default */
  int ic_len;
  char *ic_dp;
};

struct strrecvfd {
  int fd;
  uid_t uid;
  gid_t gid;
  char fill[8];
};

struct str_mlist {
  char l_name[FMNAMESZ + 1];
};

struct str_list {
  int sl_nmods;
  struct str_mlist *sl_modlist;
};

struct bandinfo {
  unsigned char bi_pri;
  int bi_flag;
};

/* I_ESETSIG / I_EGETSIG. */
struct strsigset {
  pid_t ss_pid;
  int ss_events;
};

/* ---- the calls ---- */
int us_open(const char *path, int oflag, ...);
int us_close(int fd);
ssize_t us_read(int fd, void *buf, size_t nbyte);
ssize_t us_write(int fd, const void *buf, size_t nbyte);
ssize_t us_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t us_writev(int fd, const struct iovec *iov, int iovcnt);
int us_ioctl(int fd, int request, ... /* arg */);
int us_fcntl(int fd, int cmd, ... /* arg */);
int us_poll(struct pollfd *fds, nfds_t nfds, int timeout);
int us_pipe(int fildes[2]);
int us_isastream(int fd);
int us_getmsg(int fd, struct strbuf *ctlptr, struct strbuf *dataptr, int *flagsp);
int us_getpmsg(int fd, struct strbuf *ctlptr, struct strbuf *dataptr, int *bandp, int *flagsp);
int us_putmsg(int fd, const struct strbuf *ctlptr, const struct strbuf *dataptr, int flags);
int us_putpmsg(int fd, const struct strbuf *ctlptr, const struct strbuf *dataptr, int band,
               int flags);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USTREAMS_STREAMS_STROPTS_H_ */
