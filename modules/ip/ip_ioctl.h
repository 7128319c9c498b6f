/* The ioctls of the "ip" device: plumbing links into interfaces, addresses, flags, MTU, ARP
 * entries, forwarding. Issued with I_STR on any stream of the "ip" driver (ic_dp points at the
 * structure, ic_len its size; answers come back in the same buffer). C and C++.
 *
 * Plumbing an interface, as an application (or the config tool) does it:
 *   int ipfd = us_open("/dev/ip", O_RDWR);
 *   int link = us_open("/dev/loop", O_RDWR);
 *   int muxid = us_ioctl(ipfd, I_PLINK, link);  us_close(link);
 *   struct ip_plumb p = {"net0", muxid, 0};      I_STR IPIOC_PLUMB  -> p.ifindex
 *   struct ip_addrreq a = {"net0", htonl(0x0a000001), 24};   I_STR IPIOC_ADDADDR
 *   struct ip_ifreq f = {"net0"}; f.flags = IPIF_UP;         I_STR IPIOC_SETFLAGS
 *
 * IPIOC_PLUMB speaks DLPI to the link (DL_INFO_REQ, DL_ATTACH_REQ for style 2 providers with
 * dl_ppa = ppa, DL_BIND_REQ for SAP 0x0800, DL_PROMISCON_REQ DL_PROMISC_SAP so ARP frames reach
 * the same stream, DL_PHYS_ADDR_REQ, DLIOCRAW) and answers when the link has acknowledged all of
 * it. One lower stream per interface carries IPv4 and ARP as whole Ethernet frames both ways.
 *
 * Errors (the ioctl fails with errno): EINVAL a structure of the wrong size, a name that is empty
 * or not NUL-terminated within IPIF_NAMESZ, a prefix length outside 0..32, an address that is 0,
 * multicast or broadcast, an MTU outside 68..link MTU; ENXIO no interface by that name, or no
 * link with that mux id, or no such ARP entry (IPIOC_ARPGET, IPIOC_ARPDEL; as illumos and Linux
 * answer SIOCGARP); EEXIST a name or address already there (IPIOC_ADDADDR) / an ARP entry for an
 * address of the stack; ENETUNREACH an ARP entry for an address not on the interface's subnets;
 * ENOSPC a 65th address on an interface; EBUSY the link is already an interface; EADDRNOTAVAIL
 * deleting an address the interface does not have; a link's DLPI refusal as the errno it carries
 * (DL_SYSERR), ENXIO for DL_BADPPA, EBUSY for DL_BUSY, EPROTO otherwise.
 */
#ifndef USTREAMS_MODULES_IP_IP_IOCTL_H_
#define USTREAMS_MODULES_IP_IP_IOCTL_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IPIF_NAMESZ 16

#define IPIOC ('i' << 8)
#define IPIOC_PLUMB (IPIOC | 1)      /* struct ip_plumb */
#define IPIOC_ADDADDR (IPIOC | 2)    /* struct ip_addrreq */
#define IPIOC_DELADDR (IPIOC | 3)    /* struct ip_addrreq */
#define IPIOC_SETFLAGS (IPIOC | 4)   /* struct ip_ifreq: flags */
#define IPIOC_GETIF (IPIOC | 5)      /* struct ip_ifreq: by name, or by index with name "" */
#define IPIOC_SETMTU (IPIOC | 6)     /* struct ip_ifreq: mtu */
#define IPIOC_ARPSET (IPIOC | 7)     /* struct ip_arpreq: a static entry */
#define IPIOC_ARPDEL (IPIOC | 8)     /* struct ip_arpreq */
#define IPIOC_ARPGET (IPIOC | 9)     /* struct ip_arpreq: by address */
#define IPIOC_SETFORWARD (IPIOC | 10) /* int32_t: 0 or 1 */
#define IPIOC_GETFORWARD (IPIOC | 11) /* int32_t */

/* Interface flags. */
#define IPIF_UP 0x1
#define IPIF_BROADCAST 0x2   /* read only: the link has a broadcast address */
#define IPIF_RUNNING 0x40    /* read only: the link answered the plumbing */

struct ip_plumb {
  char ifname[IPIF_NAMESZ];
  int32_t muxid; /* from I_PLINK (or I_LINK) on an ip stream */
  int32_t ppa;   /* the link's dl_ppa for DL_ATTACH_REQ (style 2 links) */
  uint32_t ifindex; /* out */
};

struct ip_addrreq {
  char ifname[IPIF_NAMESZ];
  uint32_t addr; /* network byte order */
  int32_t prefixlen;
};

struct ip_ifreq {
  char ifname[IPIF_NAMESZ];
  uint32_t ifindex;
  uint32_t flags; /* IPIF_* */
  uint32_t mtu;
  uint8_t mac[6];
  uint16_t naddrs; /* out: addresses on the interface */
  uint32_t addrs[8]; /* out: the first eight, network order */
  uint8_t prefixlens[8];
};

#define IPARP_STATIC 0x1     /* set by IPIOC_ARPSET; never expires */
#define IPARP_COMPLETE 0x2   /* out: the hardware address is known */
#define IPARP_STALE 0x4      /* out */

struct ip_arpreq {
  char ifname[IPIF_NAMESZ]; /* IPIOC_ARPGET/ARPDEL: "" searches every interface */
  uint32_t addr;            /* network order */
  uint8_t mac[6];
  uint16_t pad;
  uint32_t flags;
};

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USTREAMS_MODULES_IP_IP_IOCTL_H_ */
