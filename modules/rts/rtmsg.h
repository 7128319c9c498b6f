/* Routing socket messages in the illumos (and 4.4BSD) binary layout: what a write() to an "rts"
 * stream carries and what its readers receive. C and C++.
 *
 * A message is a header (rt_msghdr for routes, ifa_msghdr for RTM_NEWADDR/RTM_DELADDR,
 * if_msghdr for RTM_IFINFO) followed by the socket addresses its bitmask (rtm_addrs) names, in
 * RTAX order (DST, GATEWAY, NETMASK, GENMASK, IFP, IFA, AUTHOR, BRD, SRC). Each address takes the
 * size its family gives it (no sa_len, as on illumos: AF_INET a sockaddr_in, AF_LINK a
 * sockaddr_dl), rounded up to a multiple of 8 (RT_ROUNDUP). rtm_msglen is the whole length.
 *
 * Values are illumos' <net/route.h>. The RTF_* flags are modules/ip/route.h's (same values); this
 * header does not repeat them for C++ users, and defines them for C when route.h is absent.
 */
#ifndef USTREAMS_MODULES_RTS_RTMSG_H_
#define USTREAMS_MODULES_RTS_RTMSG_H_

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTM_VERSION 3

/* Message types (rtm_type). */
#define RTM_ADD 0x1
#define RTM_DELETE 0x2
#define RTM_CHANGE 0x3
#define RTM_GET 0x4
#define RTM_LOSING 0x5
#define RTM_REDIRECT 0x6
#define RTM_MISS 0x7
#define RTM_LOCK 0x8
#define RTM_OLDADD 0x9
#define RTM_OLDDEL 0xa
#define RTM_RESOLVE 0xb
#define RTM_NEWADDR 0xc
#define RTM_DELADDR 0xd
#define RTM_IFINFO 0xe
#define RTM_CHGADDR 0xf
#define RTM_FREEADDR 0x10

/* Address bits (rtm_addrs) and their indexes. */
#define RTA_DST 0x1
#define RTA_GATEWAY 0x2
#define RTA_NETMASK 0x4
#define RTA_GENMASK 0x8
#define RTA_IFP 0x10
#define RTA_IFA 0x20
#define RTA_AUTHOR 0x40
#define RTA_BRD 0x80
#define RTA_SRC 0x100
#define RTA_NUMBITS 9

#define RTAX_DST 0
#define RTAX_GATEWAY 1
#define RTAX_NETMASK 2
#define RTAX_GENMASK 3
#define RTAX_IFP 4
#define RTAX_IFA 5
#define RTAX_AUTHOR 6
#define RTAX_BRD 7
#define RTAX_SRC 8
#define RTAX_MAX 9

/* Metrics bits (rtm_inits, rmx_locks). */
#define RTV_MTU 0x1
#define RTV_HOPCOUNT 0x2
#define RTV_EXPIRE 0x4
#define RTV_RPIPE 0x8
#define RTV_SPIPE 0x10
#define RTV_SSTHRESH 0x20
#define RTV_RTT 0x40
#define RTV_RTTVAR 0x80

#ifndef __cplusplus
/* Route flags for C callers (C++ has them in modules/ip/route.h, ustreams::ip). */
#define RTF_UP 0x1
#define RTF_GATEWAY 0x2
#define RTF_HOST 0x4
#define RTF_REJECT 0x8
#define RTF_DYNAMIC 0x10
#define RTF_MODIFIED 0x20
#define RTF_DONE 0x40
#define RTF_MASK 0x80
#define RTF_CLONING 0x100
#define RTF_XRESOLVE 0x200
#define RTF_LLINFO 0x400
#define RTF_STATIC 0x800
#define RTF_BLACKHOLE 0x1000
#define RTF_PRIVATE 0x2000
#define RTF_PROTO2 0x4000
#define RTF_PROTO1 0x8000
#define RTF_MULTIRT 0x10000
#define RTF_SETSRC 0x20000
#define RTF_INDIRECT 0x40000
#define RTF_KERNEL 0x80000
#endif

/* illumos' AF_LINK (Linux has no such family). */
#ifndef AF_LINK
#define AF_LINK 25
#endif

/* Socket option (level SOL_SOCKET) deciding whether a routing socket reads the echoes of its own
 * requests: on by default, as SO_USELOOPBACK is on illumos routing sockets. An rts stream sets it
 * with the RTS_IOC_USELOOPBACK ioctl. */
#ifndef SO_USELOOPBACK
#define SO_USELOOPBACK 0x0040 /* illumos' value */
#endif
#define RTS_IOC (('r' << 8))
#define RTS_IOC_USELOOPBACK (RTS_IOC | 1) /* I_STR, int32_t 0 or 1 */

struct rt_metrics {
  uint32_t rmx_locks;
  uint32_t rmx_mtu;
  uint32_t rmx_hopcount;
  uint32_t rmx_expire;
  uint32_t rmx_recvpipe;
  uint32_t rmx_sendpipe;
  uint32_t rmx_ssthresh;
  uint32_t rmx_rtt;
  uint32_t rmx_rttvar;
  uint32_t rmx_pksent;
};

typedef struct rt_msghdr {
  uint16_t rtm_msglen; /* the whole message, addresses included */
  uint8_t rtm_version; /* RTM_VERSION */
  uint8_t rtm_type;    /* RTM_* */
  uint16_t rtm_index;  /* interface index */
  int rtm_flags;       /* RTF_* */
  int rtm_addrs;       /* RTA_* */
  pid_t rtm_pid;       /* the writer's process, on echoes */
  int rtm_seq;         /* the writer's sequence number, echoed */
  int rtm_errno;       /* on an echo of a failed request */
  int rtm_use;
  uint32_t rtm_inits;  /* RTV_* given in rtm_rmx */
  struct rt_metrics rtm_rmx;
} rt_msghdr_t;

typedef struct ifa_msghdr {
  uint16_t ifam_msglen;
  uint8_t ifam_version;
  uint8_t ifam_type; /* RTM_NEWADDR, RTM_DELADDR */
  int ifam_addrs;    /* RTA_IFA, RTA_NETMASK, RTA_BRD, RTA_IFP */
  int ifam_flags;
  uint16_t ifam_index;
  int ifam_metric;
} ifa_msghdr_t;

struct if_data {
  uint8_t ifi_type;
  uint8_t ifi_addrlen;
  uint8_t ifi_hdrlen;
  uint32_t ifi_mtu;
  uint32_t ifi_metric;
  uint32_t ifi_baudrate;
  uint32_t ifi_ipackets, ifi_ierrors, ifi_opackets, ifi_oerrors, ifi_collisions;
  uint32_t ifi_ibytes, ifi_obytes, ifi_imcasts, ifi_omcasts, ifi_iqdrops, ifi_noproto;
  struct {
    int32_t tv_sec, tv_usec;
  } ifi_lastchange;
};

typedef struct if_msghdr {
  uint16_t ifm_msglen;
  uint8_t ifm_version;
  uint8_t ifm_type; /* RTM_IFINFO */
  int ifm_addrs;    /* RTA_IFP */
  int ifm_flags;    /* IFF_UP (0x1) and IFF_RUNNING (0x40) */
  uint16_t ifm_index;
  struct if_data ifm_data;
} if_msghdr_t;

/* illumos' link-level address (RTA_IFP): the interface's index, name and hardware address. */
struct sockaddr_dl {
  sa_family_t sdl_family; /* AF_LINK */
  uint16_t sdl_index;
  uint8_t sdl_type;
  uint8_t sdl_nlen; /* name length, no trailing NUL */
  uint8_t sdl_alen; /* link address length */
  uint8_t sdl_slen;
  char sdl_data[244]; /* the name, then the link address */
};

/* The space an address of family f takes in a message (0 for a family routing sockets do not
 * carry), rounded as RT_ROUNDUP does. */
#define RT_ROUNDUP(n) (((n) + 7) & ~(size_t)7)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USTREAMS_MODULES_RTS_RTMSG_H_ */
