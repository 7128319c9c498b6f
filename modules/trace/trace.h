/*
 * The application interface of the "trace" module: its ioctl commands (sent with I_STR) and the
 * records they return. Usable from C and C++.
 *
 * "trace" records every message that passes through it, in either direction, into a bounded
 * ring kept per pushed instance (oldest dropped first when full), and passes the message on
 * unchanged. Messages the module answers itself (its own ioctls) are not passing and are not
 * recorded.
 *
 *   struct strioctl sio = {TRACE_IOC_GET, 0, sizeof(buf), buf};
 *   us_ioctl(fd, I_STR, &sio);        // buf: struct trace_get_hdr, then tg_nrecs records
 *
 * Commands (errors come back as the ioctl's errno; a payload too short for the command, or an
 * ioctl that is not I_STR (transparent), fails with EINVAL):
 *   TRACE_IOC_GET      buffer of ic_len bytes (>= sizeof(struct trace_get_hdr)). Fills it with a
 *                      trace_get_hdr followed by as many whole records as fit, oldest first, and
 *                      removes those records from the ring. ic_len comes back as the bytes
 *                      filled; the ioctl's return value is the number of records (tg_nrecs).
 *   TRACE_IOC_CLEAR    no payload. Empties the ring and zeroes the drop counter (sequence
 *                      numbers go on counting).
 *   TRACE_IOC_SETSIZE  int: the ring's capacity in records, 1 .. TRACE_MAX_RECORDS (EINVAL
 *                      otherwise). Shrinking keeps the newest records; the ones that no longer
 *                      fit count as dropped.
 *   TRACE_IOC_LOG      int: nonzero writes one line per message to stderr from now on, 0 stops.
 *                      Returns the previous setting (0 or 1).
 */
#ifndef USTREAMS_MODULES_TRACE_TRACE_H_
#define USTREAMS_MODULES_TRACE_TRACE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "utr" in the top three bytes: unlikely to meet another module's command on the way down. */
#define TRACE_IOC 0x75747200
#define TRACE_IOC_GET (TRACE_IOC | 1)
#define TRACE_IOC_CLEAR (TRACE_IOC | 2)
#define TRACE_IOC_SETSIZE (TRACE_IOC | 3)
#define TRACE_IOC_LOG (TRACE_IOC | 4)

#define TRACE_DEFAULT_RECORDS 256
#define TRACE_MAX_RECORDS 65536
/* Bytes of each message's content kept in a record. */
#define TRACE_DATA_BYTES 16

/* tr_dir */
#define TRACE_DOWN 0 /* travelling down: seen by the write side */
#define TRACE_UP 1   /* travelling up: seen by the read side */

/* One message seen passing (48 bytes, no implicit padding). */
struct trace_rec {
  uint64_t tr_seq;    /* per instance, from 1, one per message seen (gaps: dropped records) */
  int64_t tr_time_ns; /* the stream scheduler's clock, nanoseconds since the Unix epoch */
  uint64_t tr_size;   /* msgsize(): bytes in all blocks of the message */
  uint16_t tr_flag;   /* b_flag of the first block */
  uint8_t tr_dir;     /* TRACE_DOWN or TRACE_UP */
  uint8_t tr_type;    /* db_type of the first block (M_DATA ...) */
  uint8_t tr_band;    /* b_band */
  uint8_t tr_datalen; /* bytes of tr_data that are valid: min(tr_size, TRACE_DATA_BYTES) */
  uint8_t tr_pad[2];  /* zero */
  uint8_t tr_data[TRACE_DATA_BYTES]; /* the first bytes of the message, across its blocks */
};

/* What TRACE_IOC_GET puts at the start of the buffer (16 bytes). */
struct trace_get_hdr {
  uint32_t tg_nrecs;   /* records that follow this header */
  uint32_t tg_left;    /* records still in the ring after this GET */
  uint64_t tg_dropped; /* records lost to a full ring (or to shrinking it) since the module was
                          pushed or last cleared */
};

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USTREAMS_MODULES_TRACE_TRACE_H_ */
