/*
 * The Data Link Provider Interface, version 2: primitive numbers, states, error codes, media
 * types, the primitives' structures and the Solaris/illumos additions (the DLIOC ioctls, notify,
 * capability), with the names, values and layouts of illumos <sys/dlpi.h>. A DLPI user or
 * provider written for illumos compiles against this header unchanged. Usable from C and C++.
 *
 * Every primitive travels as one M_PROTO or M_PCPROTO block whose first four bytes are the
 * primitive number; addresses and other variable parts follow in the same block at the offsets
 * the structure gives (from the start of the block). An Ethernet DLSAP address, as this
 * project's loop driver and illumos' Ethernet drivers use it, is the 6-byte physical address
 * followed by the 16-bit SAP in host byte order (dl_sap_length -2).
 *
 * Only the kernel-private parts of the illumos header are left out (the DL_CAPAB_DLD/VRRP
 * structures and the dlokack(9F)-style routine declarations).
 */
#ifndef USTREAMS_STREAMS_DLPI_H_
#define USTREAMS_STREAMS_DLPI_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t t_uscalar_t;
typedef int32_t t_scalar_t;

/* ---- ioctls (Sun additions) ---- */
#define DLIOC ('D' << 8)
#define DLIOCRAW (DLIOC | 1)
#define DLIOCNATIVE (DLIOC | 2)
#define DLIOCMARGININFO (DLIOC | 3)
#define DLIOCIPNETINFO (DLIOC | 4)
#define DLIOCLOWLINK (DLIOC | 5)
#define DLIOCHDRINFO (DLIOC | 10)
#define DL_IOC_HDR_INFO DLIOCHDRINFO

#define DL_IPNETINFO_VERSION 0x1

typedef struct dl_ipnetinfo {
  uint8_t dli_version;
  uint8_t dli_family;
  uint16_t dli_htype;
  uint32_t dli_pktlen;
  uint32_t dli_ifindex;
  uint32_t dli_grifindex;
  uint32_t dli_zsrc;
  uint32_t dli_zdst;
} dl_ipnetinfo_t;

/* ---- versions ---- */
#define DL_CURRENT_VERSION 0x02
#define DL_VERSION_2 0x02

/* ---- primitives: local management ---- */
#define DL_INFO_REQ 0x00
#define DL_INFO_ACK 0x03
#define DL_ATTACH_REQ 0x0b
#define DL_DETACH_REQ 0x0c
#define DL_BIND_REQ 0x01
#define DL_BIND_ACK 0x04
#define DL_UNBIND_REQ 0x02
#define DL_OK_ACK 0x06
#define DL_ERROR_ACK 0x05
#define DL_SUBS_BIND_REQ 0x1b
#define DL_SUBS_BIND_ACK 0x1c
#define DL_SUBS_UNBIND_REQ 0x15
#define DL_ENABMULTI_REQ 0x1d
#define DL_DISABMULTI_REQ 0x1e
#define DL_PROMISCON_REQ 0x1f
#define DL_PROMISCOFF_REQ 0x20

/* ---- primitives: Solaris local management ---- */
#define DL_NOTIFY_REQ 0x100
#define DL_NOTIFY_ACK 0x101
#define DL_NOTIFY_IND 0x102
#define DL_AGGR_REQ 0x103
#define DL_AGGR_IND 0x104
#define DL_UNAGGR_REQ 0x105
#define DL_CAPABILITY_REQ 0x110
#define DL_CAPABILITY_ACK 0x111
#define DL_CONTROL_REQ 0x112
#define DL_CONTROL_ACK 0x113
#define DL_PASSIVE_REQ 0x114
#define DL_INTR_MODE_REQ 0x115
#define DL_NOTIFY_CONF 0x116

/* ---- primitives: connectionless ---- */
#define DL_UNITDATA_REQ 0x07
#define DL_UNITDATA_IND 0x08
#define DL_UDERROR_IND 0x09
#define DL_UDQOS_REQ 0x0a

/* ---- primitives: connection-oriented ---- */
#define DL_CONNECT_REQ 0x0d
#define DL_CONNECT_IND 0x0e
#define DL_CONNECT_RES 0x0f
#define DL_CONNECT_CON 0x10
#define DL_TOKEN_REQ 0x11
#define DL_TOKEN_ACK 0x12
#define DL_DISCONNECT_REQ 0x13
#define DL_DISCONNECT_IND 0x14
#define DL_RESET_REQ 0x17
#define DL_RESET_IND 0x18
#define DL_RESET_RES 0x19
#define DL_RESET_CON 0x1a

/* ---- primitives: acknowledged connectionless ---- */
#define DL_DATA_ACK_REQ 0x21
#define DL_DATA_ACK_IND 0x22
#define DL_DATA_ACK_STATUS_IND 0x23
#define DL_REPLY_REQ 0x24
#define DL_REPLY_IND 0x25
#define DL_REPLY_STATUS_IND 0x26
#define DL_REPLY_UPDATE_REQ 0x27
#define DL_REPLY_UPDATE_STATUS_IND 0x28

/* ---- primitives: XID and TEST ---- */
#define DL_XID_REQ 0x29
#define DL_XID_IND 0x2a
#define DL_XID_RES 0x2b
#define DL_XID_CON 0x2c
#define DL_TEST_REQ 0x2d
#define DL_TEST_IND 0x2e
#define DL_TEST_RES 0x2f
#define DL_TEST_CON 0x30

/* ---- primitives: physical address and statistics ---- */
#define DL_PHYS_ADDR_REQ 0x31
#define DL_PHYS_ADDR_ACK 0x32
#define DL_SET_PHYS_ADDR_REQ 0x33
#define DL_GET_STATISTICS_REQ 0x34
#define DL_GET_STATISTICS_ACK 0x35

#define DL_PRIM_INVAL 0xffff

/* ---- interface states ---- */
#define DL_UNATTACHED 0x04
#define DL_ATTACH_PENDING 0x05
#define DL_DETACH_PENDING 0x06
#define DL_UNBOUND 0x00
#define DL_BIND_PENDING 0x01
#define DL_UNBIND_PENDING 0x02
#define DL_IDLE 0x03
#define DL_UDQOS_PENDING 0x07
#define DL_OUTCON_PENDING 0x08
#define DL_INCON_PENDING 0x09
#define DL_CONN_RES_PENDING 0x0a
#define DL_DATAXFER 0x0b
#define DL_USER_RESET_PENDING 0x0c
#define DL_PROV_RESET_PENDING 0x0d
#define DL_RESET_RES_PENDING 0x0e
#define DL_DISCON8_PENDING 0x0f
#define DL_DISCON9_PENDING 0x10
#define DL_DISCON11_PENDING 0x11
#define DL_DISCON12_PENDING 0x12
#define DL_DISCON13_PENDING 0x13
#define DL_SUBS_BIND_PND 0x14
#define DL_SUBS_UNBIND_PND 0x15

/* ---- dl_errno of DL_ERROR_ACK and DL_UDERROR_IND ---- */
#define DL_ACCESS 0x02
#define DL_BADADDR 0x01
#define DL_BADCORR 0x05
#define DL_BADDATA 0x06
#define DL_BADPPA 0x08
#define DL_BADPRIM 0x09
#define DL_BADQOSPARAM 0x0a
#define DL_BADQOSTYPE 0x0b
#define DL_BADSAP 0x00
#define DL_BADTOKEN 0x0c
#define DL_BOUND 0x0d
#define DL_INITFAILED 0x0e
#define DL_NOADDR 0x0f
#define DL_NOTINIT 0x10
#define DL_OUTSTATE 0x03
#define DL_SYSERR 0x04
#define DL_UNSUPPORTED 0x07
#define DL_UNDELIVERABLE 0x11
#define DL_NOTSUPPORTED 0x12
#define DL_TOOMANY 0x13
#define DL_NOTENAB 0x14
#define DL_BUSY 0x15
#define DL_NOAUTO 0x16
#define DL_NOXIDAUTO 0x17
#define DL_NOTESTAUTO 0x18
#define DL_XIDAUTO 0x19
#define DL_TESTAUTO 0x1a
#define DL_PENDING 0x1b

/* ---- media types (dl_mac_type) ---- */
#define DL_CSMACD 0x0
#define DL_TPB 0x1
#define DL_TPR 0x2
#define DL_METRO 0x3
#define DL_ETHER 0x4
#define DL_HDLC 0x05
#define DL_CHAR 0x06
#define DL_CTCA 0x07
#define DL_FDDI 0x08
#define DL_FC 0x10
#define DL_ATM 0x11
#define DL_IPATM 0x12
#define DL_X25 0x13
#define DL_ISDN 0x14
#define DL_HIPPI 0x15
#define DL_100VG 0x16
#define DL_100VGTPR 0x17
#define DL_ETH_CSMA 0x18
#define DL_100BT 0x19
#define DL_IB 0x1a
#define DL_FRAME 0x0a
#define DL_MPFRAME 0x0b
#define DL_ASYNC 0x0c
#define DL_IPX25 0x0d
#define DL_LOOP 0x0e
#define DL_OTHER 0x09
#define DL_IPV4 0x80000001ul
#define DL_IPV6 0x80000002ul
#define SUNW_DL_VNI 0x80000003ul
#define DL_WIFI 0x80000004ul
#define DL_IPNET 0x80000005ul
#define SUNW_DL_IPMP 0x80000006ul
#define DL_6TO4 0x80000007ul

/* ---- service modes (bit mask) ---- */
#define DL_CODLS 0x01
#define DL_CLDLS 0x02
#define DL_ACLDLS 0x04

/* ---- provider styles ---- */
#define DL_STYLE1 0x0500
#define DL_STYLE2 0x0501

/* ---- originators, disconnect and reset reasons ---- */
#define DL_PROVIDER 0x0700
#define DL_USER 0x0701

#define DL_CONREJ_DEST_UNKNOWN 0x0800
#define DL_CONREJ_DEST_UNREACH_PERMANENT 0x0801
#define DL_CONREJ_DEST_UNREACH_TRANSIENT 0x0802
#define DL_CONREJ_QOS_UNAVAIL_PERMANENT 0x0803
#define DL_CONREJ_QOS_UNAVAIL_TRANSIENT 0x0804
#define DL_CONREJ_PERMANENT_COND 0x0805
#define DL_CONREJ_TRANSIENT_COND 0x0806
#define DL_DISC_ABNORMAL_CONDITION 0x0807
#define DL_DISC_NORMAL_CONDITION 0x0808
#define DL_DISC_PERMANENT_CONDITION 0x0809
#define DL_DISC_TRANSIENT_CONDITION 0x080a
#define DL_DISC_UNSPECIFIED 0x080b

#define DL_RESET_FLOW_CONTROL 0x0900
#define DL_RESET_LINK_ERROR 0x0901
#define DL_RESET_RESYNCH 0x0902

/* ---- acknowledged connectionless status and service class ---- */
#define DL_CMD_MASK 0x0f
#define DL_CMD_OK 0x00
#define DL_CMD_RS 0x01
#define DL_CMD_UE 0x05
#define DL_CMD_PE 0x06
#define DL_CMD_IP 0x07
#define DL_CMD_UN 0x09
#define DL_CMD_IT 0x0f
#define DL_RSP_MASK 0xf0
#define DL_RSP_OK 0x00
#define DL_RSP_RS 0x10
#define DL_RSP_NE 0x30
#define DL_RSP_NR 0x40
#define DL_RSP_UE 0x50
#define DL_RSP_IP 0x70
#define DL_RSP_UN 0x90
#define DL_RSP_IT 0xf0

#define DL_RQST_RSP 0x01
#define DL_RQST_NORSP 0x02

/* ---- dl_addr_type of DL_PHYS_ADDR_REQ ---- */
#define DL_FACT_PHYS_ADDR 0x01
#define DL_CURR_PHYS_ADDR 0x02
#define DL_IPV6_TOKEN 0x03
#define DL_IPV6_LINK_LAYER_ADDR 0x04
#define DL_CURR_DEST_ADDR 0x05

/* ---- flags, XID/TEST automation, subsequent binds ---- */
#define DL_POLL_FINAL 0x01

#define DL_AUTO_XID 0x01
#define DL_AUTO_TEST 0x02

#define DL_PEER_BIND 0x01
#define DL_HIERARCHICAL_BIND 0x02

/* ---- dl_level of DL_PROMISCON_REQ / DL_PROMISCOFF_REQ ---- */
#define DL_PROMISC_PHYS 0x01
#define DL_PROMISC_SAP 0x02
#define DL_PROMISC_MULTI 0x03

/* ---- DL_NOTIFY codes (bit mask) ---- */
#define DL_NOTE_PHYS_ADDR 0x0001
#define DL_NOTE_PROMISC_ON_PHYS 0x0002
#define DL_NOTE_PROMISC_OFF_PHYS 0x0004
#define DL_NOTE_LINK_DOWN 0x0008
#define DL_NOTE_LINK_UP 0x0010
#define DL_NOTE_AGGR_AVAIL 0x0020
#define DL_NOTE_AGGR_UNAVAIL 0x0040
#define DL_NOTE_SDU_SIZE 0x0080
#define DL_NOTE_SPEED 0x0100
#define DL_NOTE_FASTPATH_FLUSH 0x0200
#define DL_NOTE_CAPAB_RENEG 0x0400
#define DL_NOTE_REPLUMB 0x0800
#define DL_NOTE_ALLOWED_IPS 0x1000
#define DL_NOTE_SDU_SIZE2 0x2000

#define DL_NOTE_REPLUMB_DONE 0x0001

/* ---- quality of service ---- */
typedef struct {
  t_scalar_t dl_target_value;
  t_scalar_t dl_accept_value;
} dl_through_t;

typedef struct {
  t_scalar_t dl_target_value;
  t_scalar_t dl_accept_value;
} dl_transdelay_t;

typedef struct {
  t_scalar_t dl_min;
  t_scalar_t dl_max;
} dl_priority_t;

#define DL_NONE 0x0B01
#define DL_MONITOR 0x0B02
#define DL_MAXIMUM 0x0B03

typedef struct {
  t_scalar_t dl_min;
  t_scalar_t dl_max;
} dl_protect_t;

typedef struct {
  t_scalar_t dl_disc_prob;
  t_scalar_t dl_reset_prob;
} dl_resilience_t;

#define DL_UNKNOWN -1
#define DL_QOS_DONT_CARE -2

#define DL_QOS_CO_RANGE1 0x0101
#define DL_QOS_CO_SEL1 0x0102
#define DL_QOS_CL_RANGE1 0x0103
#define DL_QOS_CL_SEL1 0x0104

typedef struct {
  t_uscalar_t dl_qos_type;
  dl_through_t dl_rcv_throughput;
  dl_transdelay_t dl_rcv_trans_delay;
  dl_through_t dl_xmt_throughput;
  dl_transdelay_t dl_xmt_trans_delay;
  dl_priority_t dl_priority;
  dl_protect_t dl_protection;
  t_scalar_t dl_residual_error;
  dl_resilience_t dl_resilience;
} dl_qos_co_range1_t;

typedef struct {
  t_uscalar_t dl_qos_type;
  t_scalar_t dl_rcv_throughput;
  t_scalar_t dl_rcv_trans_delay;
  t_scalar_t dl_xmt_throughput;
  t_scalar_t dl_xmt_trans_delay;
  t_scalar_t dl_priority;
  t_scalar_t dl_protection;
  t_scalar_t dl_residual_error;
  dl_resilience_t dl_resilience;
} dl_qos_co_sel1_t;

typedef struct {
  t_uscalar_t dl_qos_type;
  dl_transdelay_t dl_trans_delay;
  dl_priority_t dl_priority;
  dl_protect_t dl_protection;
  t_scalar_t dl_residual_error;
} dl_qos_cl_range1_t;

typedef struct {
  t_uscalar_t dl_qos_type;
  t_scalar_t dl_trans_delay;
  t_scalar_t dl_priority;
  t_scalar_t dl_protection;
  t_scalar_t dl_residual_error;
} dl_qos_cl_sel1_t;

union DL_qos_types {
  t_uscalar_t dl_qos_type;
  dl_qos_co_range1_t qos_co_range1;
  dl_qos_co_sel1_t qos_co_sel1;
  dl_qos_cl_range1_t qos_cl_range1;
  dl_qos_cl_sel1_t qos_cl_sel1;
};

/* ---- capabilities (DL_CAPABILITY_REQ / DL_CAPABILITY_ACK) ---- */
#define DL_CAPAB_ID_WRAPPER 0x00
#define DL_CAPAB_HCKSUM 0x01
#define DL_CAPAB_MDT 0x04
#define DL_CAPAB_ZEROCOPY 0x05
#define DL_CAPAB_DLD 0x06
#define DL_CAPAB_VRRP 0x07

typedef struct {
  t_uscalar_t dl_cap;
  t_uscalar_t dl_length;
} dl_capability_sub_t;

typedef struct {
  t_uscalar_t mid[4];
} dl_mid_t;

typedef struct {
  dl_mid_t id_mid;
  dl_capability_sub_t id_subcap;
} dl_capab_id_t;

typedef struct {
  t_uscalar_t mdt_version;
  t_uscalar_t mdt_flags;
  t_uscalar_t mdt_hdr_head;
  t_uscalar_t mdt_hdr_tail;
  t_uscalar_t mdt_max_pld;
  t_uscalar_t mdt_span_limit;
  dl_mid_t mdt_mid;
} dl_capab_mdt_t;

#define MDT_CURRENT_VERSION 0x02
#define MDT_VERSION_2 0x02
#define DL_CAPAB_MDT_ENABLE 0x01

typedef struct {
  t_uscalar_t hcksum_version;
  t_uscalar_t hcksum_txflags;
  dl_mid_t hcksum_mid;
} dl_capab_hcksum_t;

#define HCKSUM_CURRENT_VERSION 0x01
#define HCKSUM_VERSION_1 0x01
#define HCKSUM_ENABLE 0x01
#define HCKSUM_INET_PARTIAL 0x02
#define HCKSUM_INET_FULL_V4 0x04
#define HCKSUM_INET_FULL_V6 0x08
#define HCKSUM_IPHDRCKSUM 0x10

typedef struct {
  t_uscalar_t zerocopy_version;
  t_uscalar_t zerocopy_flags;
  t_uscalar_t reserved[9];
  dl_mid_t zerocopy_mid;
} dl_capab_zerocopy_t;

#define ZEROCOPY_CURRENT_VERSION 0x01
#define ZEROCOPY_VERSION_1 0x01
#define DL_CAPAB_VMSAFE_MEM 0x01

/* ---- local management primitives ---- */
typedef struct {
  t_uscalar_t dl_primitive;
} dl_info_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_max_sdu;
  t_uscalar_t dl_min_sdu;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_mac_type;
  t_uscalar_t dl_reserved;
  t_uscalar_t dl_current_state;
  t_scalar_t dl_sap_length;
  t_uscalar_t dl_service_mode;
  t_uscalar_t dl_qos_length;
  t_uscalar_t dl_qos_offset;
  t_uscalar_t dl_qos_range_length;
  t_uscalar_t dl_qos_range_offset;
  t_uscalar_t dl_provider_style;
  t_uscalar_t dl_addr_offset;
  t_uscalar_t dl_version;
  t_uscalar_t dl_brdcst_addr_length;
  t_uscalar_t dl_brdcst_addr_offset;
  t_uscalar_t dl_growth;
} dl_info_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_ppa;
} dl_attach_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
} dl_detach_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_sap;
  t_uscalar_t dl_max_conind;
  uint16_t dl_service_mode;
  uint16_t dl_conn_mgmt;
  t_uscalar_t dl_xidtest_flg;
} dl_bind_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_sap;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
  t_uscalar_t dl_max_conind;
  t_uscalar_t dl_xidtest_flg;
} dl_bind_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_subs_sap_offset;
  t_uscalar_t dl_subs_sap_length;
  t_uscalar_t dl_subs_bind_class;
} dl_subs_bind_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_subs_sap_offset;
  t_uscalar_t dl_subs_sap_length;
} dl_subs_bind_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
} dl_unbind_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_subs_sap_offset;
  t_uscalar_t dl_subs_sap_length;
} dl_subs_unbind_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correct_primitive;
} dl_ok_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_error_primitive;
  t_uscalar_t dl_errno;
  t_uscalar_t dl_unix_errno;
} dl_error_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
} dl_enabmulti_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
} dl_disabmulti_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_level;
} dl_promiscon_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_level;
} dl_promiscoff_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_addr_type;
} dl_phys_addr_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
} dl_phys_addr_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
} dl_set_phys_addr_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
} dl_get_statistics_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_stat_length;
  t_uscalar_t dl_stat_offset;
} dl_get_statistics_ack_t;

/* ---- Solaris local management primitives ---- */
typedef struct {
  t_uscalar_t dl_primitive;
  uint32_t dl_notifications;
  uint32_t dl_timelimit;
} dl_notify_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  uint32_t dl_notifications;
} dl_notify_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
  uint32_t dl_notification;
  union {
    uint32_t dlu_data32;
    uint16_t dlu_data16[2];
  } dl_dlu;
#define dl_data dl_dlu.dlu_data32
#define dl_data1 dl_dlu.dlu_data16[0]
#define dl_data2 dl_dlu.dlu_data16[1]
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
} dl_notify_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  uint32_t dl_notification;
} dl_notify_conf_t;

typedef struct {
  t_uscalar_t dl_primitive;
  uint32_t dl_key;
  uint32_t dl_port;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
} dl_aggr_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  uint32_t dl_key;
  uint32_t dl_port;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
} dl_aggr_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  uint32_t dl_key;
  uint32_t dl_port;
  t_uscalar_t dl_addr_length;
  t_uscalar_t dl_addr_offset;
} dl_unaggr_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_sub_offset;
  t_uscalar_t dl_sub_length;
} dl_capability_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_sub_offset;
  t_uscalar_t dl_sub_length;
} dl_capability_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_operation;
  t_uscalar_t dl_type;
  t_uscalar_t dl_key_offset;
  t_uscalar_t dl_key_length;
  t_uscalar_t dl_data_offset;
  t_uscalar_t dl_data_length;
} dl_control_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_operation;
  t_uscalar_t dl_type;
  t_uscalar_t dl_key_offset;
  t_uscalar_t dl_key_length;
  t_uscalar_t dl_data_offset;
  t_uscalar_t dl_data_length;
} dl_control_ack_t;

#define DL_CO_ADD 0x01
#define DL_CO_DELETE 0x02
#define DL_CO_FLUSH 0x03
#define DL_CO_GET 0x04
#define DL_CO_UPDATE 0x05
#define DL_CO_SET 0x06

#define DL_CT_IPSEC_AH 0x01
#define DL_CT_IPSEC_ESP 0x02

typedef struct {
  t_uscalar_t dl_primitive;
} dl_passive_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_sap;
  t_uscalar_t dl_imode;
} dl_intr_mode_req_t;

/* ---- connection-oriented primitives ---- */
typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_qos_length;
  t_uscalar_t dl_qos_offset;
  t_uscalar_t dl_growth;
} dl_connect_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correlation;
  t_uscalar_t dl_called_addr_length;
  t_uscalar_t dl_called_addr_offset;
  t_uscalar_t dl_calling_addr_length;
  t_uscalar_t dl_calling_addr_offset;
  t_uscalar_t dl_qos_length;
  t_uscalar_t dl_qos_offset;
  t_uscalar_t dl_growth;
} dl_connect_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correlation;
  t_uscalar_t dl_resp_token;
  t_uscalar_t dl_qos_length;
  t_uscalar_t dl_qos_offset;
  t_uscalar_t dl_growth;
} dl_connect_res_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_resp_addr_length;
  t_uscalar_t dl_resp_addr_offset;
  t_uscalar_t dl_qos_length;
  t_uscalar_t dl_qos_offset;
  t_uscalar_t dl_growth;
} dl_connect_con_t;

typedef struct {
  t_uscalar_t dl_primitive;
} dl_token_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_token;
} dl_token_ack_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_reason;
  t_uscalar_t dl_correlation;
} dl_disconnect_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_originator;
  t_uscalar_t dl_reason;
  t_uscalar_t dl_correlation;
} dl_disconnect_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
} dl_reset_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_originator;
  t_uscalar_t dl_reason;
} dl_reset_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
} dl_reset_res_t;

typedef struct {
  t_uscalar_t dl_primitive;
} dl_reset_con_t;

/* ---- connectionless primitives ---- */
typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  dl_priority_t dl_priority;
} dl_unitdata_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
  t_uscalar_t dl_group_address;
} dl_unitdata_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_unix_errno;
  t_uscalar_t dl_errno;
} dl_uderror_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_qos_length;
  t_uscalar_t dl_qos_offset;
} dl_udqos_req_t;

/* ---- XID and TEST primitives ---- */
typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_flag;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
} dl_test_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_flag;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
} dl_test_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_flag;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
} dl_test_res_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_flag;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
} dl_test_con_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_flag;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
} dl_xid_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_flag;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
} dl_xid_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_flag;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
} dl_xid_res_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_flag;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
} dl_xid_con_t;

/* ---- acknowledged connectionless primitives ---- */
typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correlation;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
  t_uscalar_t dl_priority;
  t_uscalar_t dl_service_class;
} dl_data_ack_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
  t_uscalar_t dl_priority;
  t_uscalar_t dl_service_class;
} dl_data_ack_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correlation;
  t_uscalar_t dl_status;
} dl_data_ack_status_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correlation;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
  t_uscalar_t dl_priority;
  t_uscalar_t dl_service_class;
} dl_reply_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_dest_addr_length;
  t_uscalar_t dl_dest_addr_offset;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
  t_uscalar_t dl_priority;
  t_uscalar_t dl_service_class;
} dl_reply_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correlation;
  t_uscalar_t dl_status;
} dl_reply_status_ind_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correlation;
  t_uscalar_t dl_src_addr_length;
  t_uscalar_t dl_src_addr_offset;
} dl_reply_update_req_t;

typedef struct {
  t_uscalar_t dl_primitive;
  t_uscalar_t dl_correlation;
  t_uscalar_t dl_status;
} dl_reply_update_status_ind_t;

/* ---- every primitive ---- */
union DL_primitives {
  t_uscalar_t dl_primitive;
  dl_info_req_t info_req;
  dl_info_ack_t info_ack;
  dl_attach_req_t attach_req;
  dl_detach_req_t detach_req;
  dl_bind_req_t bind_req;
  dl_bind_ack_t bind_ack;
  dl_unbind_req_t unbind_req;
  dl_subs_bind_req_t subs_bind_req;
  dl_subs_bind_ack_t subs_bind_ack;
  dl_subs_unbind_req_t subs_unbind_req;
  dl_ok_ack_t ok_ack;
  dl_error_ack_t error_ack;
  dl_connect_req_t connect_req;
  dl_connect_ind_t connect_ind;
  dl_connect_res_t connect_res;
  dl_connect_con_t connect_con;
  dl_token_req_t token_req;
  dl_token_ack_t token_ack;
  dl_disconnect_req_t disconnect_req;
  dl_disconnect_ind_t disconnect_ind;
  dl_reset_req_t reset_req;
  dl_reset_ind_t reset_ind;
  dl_reset_res_t reset_res;
  dl_reset_con_t reset_con;
  dl_unitdata_req_t unitdata_req;
  dl_unitdata_ind_t unitdata_ind;
  dl_uderror_ind_t uderror_ind;
  dl_udqos_req_t udqos_req;
  dl_enabmulti_req_t enabmulti_req;
  dl_disabmulti_req_t disabmulti_req;
  dl_promiscon_req_t promiscon_req;
  dl_promiscoff_req_t promiscoff_req;
  dl_phys_addr_req_t physaddr_req;
  dl_phys_addr_ack_t physaddr_ack;
  dl_set_phys_addr_req_t set_physaddr_req;
  dl_get_statistics_req_t get_statistics_req;
  dl_get_statistics_ack_t get_statistics_ack;
  dl_notify_req_t notify_req;
  dl_notify_ack_t notify_ack;
  dl_notify_ind_t notify_ind;
  dl_notify_conf_t notify_conf;
  dl_aggr_req_t aggr_req;
  dl_aggr_ind_t aggr_ind;
  dl_unaggr_req_t unaggr_req;
  dl_test_req_t test_req;
  dl_test_ind_t test_ind;
  dl_test_res_t test_res;
  dl_test_con_t test_con;
  dl_xid_req_t xid_req;
  dl_xid_ind_t xid_ind;
  dl_xid_res_t xid_res;
  dl_xid_con_t xid_con;
  dl_data_ack_req_t data_ack_req;
  dl_data_ack_ind_t data_ack_ind;
  dl_data_ack_status_ind_t data_ack_status_ind;
  dl_reply_req_t reply_req;
  dl_reply_ind_t reply_ind;
  dl_reply_status_ind_t reply_status_ind;
  dl_reply_update_req_t reply_update_req;
  dl_reply_update_status_ind_t reply_update_status_ind;
  dl_capability_req_t capability_req;
  dl_capability_ack_t capability_ack;
  dl_control_req_t control_req;
  dl_control_ack_t control_ack;
  dl_passive_req_t passive_req;
  dl_intr_mode_req_t intr_mode_req;
};

#define DL_INFO_REQ_SIZE sizeof(dl_info_req_t)
#define DL_INFO_ACK_SIZE sizeof(dl_info_ack_t)
#define DL_ATTACH_REQ_SIZE sizeof(dl_attach_req_t)
#define DL_DETACH_REQ_SIZE sizeof(dl_detach_req_t)
#define DL_BIND_REQ_SIZE sizeof(dl_bind_req_t)
#define DL_BIND_ACK_SIZE sizeof(dl_bind_ack_t)
#define DL_UNBIND_REQ_SIZE sizeof(dl_unbind_req_t)
#define DL_SUBS_BIND_REQ_SIZE sizeof(dl_subs_bind_req_t)
#define DL_SUBS_BIND_ACK_SIZE sizeof(dl_subs_bind_ack_t)
#define DL_SUBS_UNBIND_REQ_SIZE sizeof(dl_subs_unbind_req_t)
#define DL_OK_ACK_SIZE sizeof(dl_ok_ack_t)
#define DL_ERROR_ACK_SIZE sizeof(dl_error_ack_t)
#define DL_CONNECT_REQ_SIZE sizeof(dl_connect_req_t)
#define DL_CONNECT_IND_SIZE sizeof(dl_connect_ind_t)
#define DL_CONNECT_RES_SIZE sizeof(dl_connect_res_t)
#define DL_CONNECT_CON_SIZE sizeof(dl_connect_con_t)
#define DL_TOKEN_REQ_SIZE sizeof(dl_token_req_t)
#define DL_TOKEN_ACK_SIZE sizeof(dl_token_ack_t)
#define DL_DISCONNECT_REQ_SIZE sizeof(dl_disconnect_req_t)
#define DL_DISCONNECT_IND_SIZE sizeof(dl_disconnect_ind_t)
#define DL_RESET_REQ_SIZE sizeof(dl_reset_req_t)
#define DL_RESET_IND_SIZE sizeof(dl_reset_ind_t)
#define DL_RESET_RES_SIZE sizeof(dl_reset_res_t)
#define DL_RESET_CON_SIZE sizeof(dl_reset_con_t)
#define DL_UNITDATA_REQ_SIZE sizeof(dl_unitdata_req_t)
#define DL_UNITDATA_IND_SIZE sizeof(dl_unitdata_ind_t)
#define DL_UDERROR_IND_SIZE sizeof(dl_uderror_ind_t)
#define DL_UDQOS_REQ_SIZE sizeof(dl_udqos_req_t)
#define DL_ENABMULTI_REQ_SIZE sizeof(dl_enabmulti_req_t)
#define DL_DISABMULTI_REQ_SIZE sizeof(dl_disabmulti_req_t)
#define DL_PROMISCON_REQ_SIZE sizeof(dl_promiscon_req_t)
#define DL_PROMISCOFF_REQ_SIZE sizeof(dl_promiscoff_req_t)
#define DL_PHYS_ADDR_REQ_SIZE sizeof(dl_phys_addr_req_t)
#define DL_PHYS_ADDR_ACK_SIZE sizeof(dl_phys_addr_ack_t)
#define DL_SET_PHYS_ADDR_REQ_SIZE sizeof(dl_set_phys_addr_req_t)
#define DL_GET_STATISTICS_REQ_SIZE sizeof(dl_get_statistics_req_t)
#define DL_GET_STATISTICS_ACK_SIZE sizeof(dl_get_statistics_ack_t)
#define DL_NOTIFY_REQ_SIZE sizeof(dl_notify_req_t)
#define DL_NOTIFY_ACK_SIZE sizeof(dl_notify_ack_t)
#define DL_NOTIFY_IND_SIZE sizeof(dl_notify_ind_t)
#define DL_NOTIFY_CONF_SIZE sizeof(dl_notify_conf_t)
#define DL_AGGR_REQ_SIZE sizeof(dl_aggr_req_t)
#define DL_AGGR_IND_SIZE sizeof(dl_aggr_ind_t)
#define DL_UNAGGR_REQ_SIZE sizeof(dl_unaggr_req_t)
#define DL_XID_REQ_SIZE sizeof(dl_xid_req_t)
#define DL_XID_IND_SIZE sizeof(dl_xid_ind_t)
#define DL_XID_RES_SIZE sizeof(dl_xid_res_t)
#define DL_XID_CON_SIZE sizeof(dl_xid_con_t)
#define DL_TEST_REQ_SIZE sizeof(dl_test_req_t)
#define DL_TEST_IND_SIZE sizeof(dl_test_ind_t)
#define DL_TEST_RES_SIZE sizeof(dl_test_res_t)
#define DL_TEST_CON_SIZE sizeof(dl_test_con_t)
#define DL_DATA_ACK_REQ_SIZE sizeof(dl_data_ack_req_t)
#define DL_DATA_ACK_IND_SIZE sizeof(dl_data_ack_ind_t)
#define DL_DATA_ACK_STATUS_IND_SIZE sizeof(dl_data_ack_status_ind_t)
#define DL_REPLY_REQ_SIZE sizeof(dl_reply_req_t)
#define DL_REPLY_IND_SIZE sizeof(dl_reply_ind_t)
#define DL_REPLY_STATUS_IND_SIZE sizeof(dl_reply_status_ind_t)
#define DL_REPLY_UPDATE_REQ_SIZE sizeof(dl_reply_update_req_t)
#define DL_REPLY_UPDATE_STATUS_IND_SIZE sizeof(dl_reply_update_status_ind_t)
#define DL_CAPABILITY_REQ_SIZE sizeof(dl_capability_req_t)
#define DL_CAPABILITY_ACK_SIZE sizeof(dl_capability_ack_t)
#define DL_CONTROL_REQ_SIZE sizeof(dl_control_req_t)
#define DL_CONTROL_ACK_SIZE sizeof(dl_control_ack_t)
#define DL_PASSIVE_REQ_SIZE sizeof(dl_passive_req_t)
#define DL_INTR_MODE_REQ_SIZE sizeof(dl_intr_mode_req_t)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USTREAMS_STREAMS_DLPI_H_ */
