/*
 * The application interface of the "pcap" module: its ioctl commands (sent with I_STR) and
 * the statistics they return. Usable from C and C++.
 *
 * "pcap" writes every M_DATA message passing through it, in both directions, as a packet record
 * to a capture file in the classic libpcap format that tcpdump and Wireshark read: a 24-byte
 * global header (magic 0xa1b2c3d4 in the writer's byte order, version 2.4, thiszone 0,
 * sigfigs 0, snaplen 65535, the link type), then per packet ts_sec, ts_usec (the stream
 * scheduler's clock: virtual time in tests), incl_len (at most the snaplen) and orig_len, each a
 * uint32, followed by incl_len bytes. Of an M_PROTO or M_PCPROTO message only the M_DATA blocks
 * are written, and only if they hold at least one byte; every M_DATA message is written, even an
 * empty one. Other messages are not captured. Every message passes on unchanged. Classic pcap
 * has no direction field: both directions go to the same file in the order they were seen.
 *
 * Writes are buffered (stdio); the file is complete after PCAP_IOC_CLOSE or when the module is
 * popped or its stream closed. A failed write is counted (ps_write_errors) and never stops the
 * traffic.
 *
 * Commands (errno of the ioctl in brackets; an ioctl that is not I_STR (transparent) fails with
 * EINVAL):
 *   PCAP_IOC_OPEN      payload: a NUL-terminated path within ic_len. Creates or truncates the
 *                      file, writes the global header and zeroes the statistics. [EINVAL: a
 *                      capture is already open, or no NUL within ic_len; else fopen's errno]
 *   PCAP_IOC_LINKTYPE  payload: int, PCAP_LINKTYPE_ETHERNET (the default) or PCAP_LINKTYPE_RAW.
 *                      Before OPEN it sets the link type of the next file; while open it is
 *                      allowed until the first packet is written (the global header is
 *                      rewritten). [EINVAL: another value, or payload shorter than an int;
 *                      EBUSY: packets already written; the errno of rewinding the file (ESPIPE
 *                      for a FIFO) if it cannot be rewound]
 *   PCAP_IOC_CLOSE     no payload. Flushes and closes the file. [EINVAL: none open]
 *   PCAP_IOC_STATS     buffer of at least sizeof(struct pcap_ioc_stats): filled in (ic_len comes
 *                      back as its size). [EINVAL: buffer too small]
 */
#ifndef USTREAMS_MODULES_PCAP_PCAP_H_
#define USTREAMS_MODULES_PCAP_PCAP_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "upc" in the top three bytes: unlikely to meet another module's command on the way down. */
#define PCAP_IOC 0x75706300
#define PCAP_IOC_OPEN (PCAP_IOC | 1)
#define PCAP_IOC_LINKTYPE (PCAP_IOC | 2)
#define PCAP_IOC_CLOSE (PCAP_IOC | 3)
#define PCAP_IOC_STATS (PCAP_IOC | 4)

/* Link types (tcpdump.org LINKTYPE_ETHERNET and LINKTYPE_RAW). */
#define PCAP_LINKTYPE_ETHERNET 1
#define PCAP_LINKTYPE_RAW 101

/* The file format's constants. */
#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_VERSION_MAJOR 2
#define PCAP_VERSION_MINOR 4
#define PCAP_SNAPLEN 65535

struct pcap_ioc_stats {
  uint64_t ps_packets;      /* records written since the last OPEN */
  uint64_t ps_bytes;        /* packet bytes written since the last OPEN (sum of incl_len) */
  uint64_t ps_write_errors; /* failed writes since the last OPEN: records, the global header,
                               the final flush at close */
  uint32_t ps_open;         /* 1 while a capture file is open, else 0 */
  uint32_t ps_linktype;     /* the link type of the open (or next) file */
};

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USTREAMS_MODULES_PCAP_PCAP_H_ */
