/*
 * The STREAMS Administrative Driver, sad(4D), as applications see it: the ioctl numbers and
 * structures of illumos <sys/sad.h>, same values and layouts. Usable from C and C++.
 *
 * Open "/dev/sad/admin" (privileged: euid 0) to set autopush entries, "/dev/sad/user" to read
 * them and validate module lists. The ioctls are transparent: issue them with us_ioctl(fd, cmd,
 * arg) directly; wrapped in I_STR they fail with EINVAL.
 *
 *   SAD_SAP  (struct strapush *)  set or clear an autopush entry (admin only, else EPERM)
 *   SAD_GAP  (struct strapush *)  get the entry for sap_major/sap_minor
 *   SAD_VML  (struct str_list *)  validate module names: returns 0 if all exist, 1 if not
 *
 * Versions: the command numbers carry the layout of struct strapush (AP_VERSION in bits 4..7).
 * This header defaults to version 1 (with sap_anchor; SAD_SAP 0x4411, SAD_GAP 0x4412), unlike
 * illumos's user-space default of 0. A program that wants the SVR4 layout (no sap_anchor, 92
 * bytes; SAD_SAP 0x4401, SAD_GAP 0x4402) defines AP_VERSION 0 before including this header; the
 * driver accepts both.
 *
 * Majors and minors: a device is named by the major of its driver (the registration order in
 * the domain's registry, from 1) and a minor. Minors above INT_MAX name no device here (EINVAL).
 */
#ifndef USTREAMS_STREAMS_DRIVERS_SAD_H_
#define USTREAMS_STREAMS_DRIVERS_SAD_H_

#include "streams/stropts.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef AP_VERSION
#define AP_VERSION 1
#endif

/* ioctl numbers: 'D' << 8, then a 4-bit version and a 4-bit command. */
#define SADIOC ('D' << 8)
#define SAD_SAP (SADIOC | AP_VERSION << 4 | 01)
#define SAD_GAP (SADIOC | AP_VERSION << 4 | 02)
#define SAD_VML (SADIOC | 03)

#define USERDEV "/dev/sad/user"
#define ADMINDEV "/dev/sad/admin"
#define USRMIN 0
#define ADMMIN 1

/* Enumerators rather than macros, so that C++ code may also see ustreams::MAXAPUSH and friends
 * (streams/autopush.h) without the preprocessor rewriting them. */
enum {
  MAXAPUSH = 8 /* modules one autopush entry may hold */
};
enum {
  SAP_CLEAR = 0, /* remove an entry */
  SAP_ONE = 1,   /* one minor */
  SAP_RANGE = 2, /* minors sap_minor .. sap_lastminor */
  SAP_ALL = 3    /* every minor of the major */
};

struct apcommon {
  unsigned int apc_cmd;       /* SAP_* */
  unsigned int apc_major;     /* major_t */
  unsigned int apc_minor;     /* minor_t */
  unsigned int apc_lastminor; /* minor_t; SAP_RANGE only */
  unsigned int apc_npush;     /* modules in sap_list, 1..MAXAPUSH */
};

struct apdata {
  unsigned int apd_anchor; /* anchor after this many modules (0: none) */
};

struct strapush {
  struct apcommon sap_common;
  char sap_list[MAXAPUSH][FMNAMESZ + 1]; /* pushed in this order; NUL-terminated */
#if AP_VERSION > 0
  struct apdata sap_data;
#endif
};

#define sap_cmd sap_common.apc_cmd
#define sap_major sap_common.apc_major
#define sap_minor sap_common.apc_minor
#define sap_lastminor sap_common.apc_lastminor
#define sap_npush sap_common.apc_npush
#define sap_anchor sap_data.apd_anchor

/* Bytes the driver copies for each version. */
#define STRAPUSH_V0_LEN (sizeof(struct apcommon) + MAXAPUSH * (FMNAMESZ + 1))
#define STRAPUSH_V1_LEN (STRAPUSH_V0_LEN + sizeof(struct apdata))

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USTREAMS_STREAMS_DRIVERS_SAD_H_ */
