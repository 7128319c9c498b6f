/*
 * The "fault" module, as tests see it: ioctls that make the stream below the head misbehave on
 * command, so every error path of the stream head can be provoked (LfS calls its equivalent
 * "testmod"). Push it with I_PUSH "fault", then issue the ioctls with us_ioctl(fd, cmd, arg).
 * Usable from C and C++.
 *
 * Each fault ioctl is acknowledged first and its fault sent up right after, so the ioctl itself
 * succeeds (returns 0) even when the fault is a hangup or an error that would fail an ioctl
 * still waiting for its answer. The value ioctls take their argument by value, either
 * transparently (us_ioctl(fd, FAULT_IOC_RDERR, EPROTO)) or through I_STR with an int in ic_dp
 * (ic_len sizeof(int); ic_len 0 means 0).
 *
 *   FAULT_IOC_HANGUP      -          M_HANGUP upstream
 *   FAULT_IOC_UNHANGUP    -          M_UNHANGUP upstream (undoes a hangup; see FAULT_IOC_DELAY,
 *                                    since a hung-up head refuses further ioctls)
 *   FAULT_IOC_RDERR       errno      M_ERROR {errno, NOERROR}: the read side fails with errno
 *   FAULT_IOC_WRERR       errno      M_ERROR {NOERROR, errno}: the write side fails
 *   FAULT_IOC_RWERR       errno      one-byte M_ERROR: both sides fail
 *   FAULT_IOC_RDERR_NP    errno      the same three, preceded by M_SETOPTS SO_ERROPT with
 *   FAULT_IOC_WRERR_NP    errno      RERRNONPERSIST and/or WERRNONPERSIST: the error is
 *   FAULT_IOC_RWERR_NP    errno      reported once, then cleared
 *   FAULT_IOC_SIGNAL      signal     M_SIG: delivered when a read reaches it
 *   FAULT_IOC_PSIGNAL     signal     M_PCSIG: delivered at once
 *   FAULT_IOC_DELAY       ms         the next fault ioctl's messages go up after ms milliseconds
 *                                    (on the stream's clock) instead of at once; its ack does
 *                                    not wait. Lets a test block in a call and be woken by a
 *                                    fault, or undo a hangup later (DELAY, UNHANGUP, HANGUP).
 *   FAULT_IOC_COPYIN      struct fault_copy *   transparent only: copies the struct in, then
 *                                    fc_size bytes from fc_buf; acks (0) if every byte is
 *                                    FAULT_PATTERN, NAKs EINVAL otherwise
 *   FAULT_IOC_COPYOUT     struct fault_copy *   copies fc_size bytes of FAULT_PATTERN out to
 *                                    fc_buf, then acks
 *   FAULT_IOC_COPYINOUT   struct fault_copy *   copies fc_buf in and back out with every byte
 *                                    XORed with FAULT_PATTERN, then acks
 *   FAULT_IOC_FILL        I_STR only: fills the ic_dp data with FAULT_PATTERN and acks it back
 *                                    (ic_len unchanged)
 *
 * Errors: EINVAL for an errno outside 0..254 (0 clears that side's error; 255 is NOERROR), a
 * signal outside 1..64, a negative delay, fc_size outside 0..FAULT_COPY_MAX, a copy ioctl sent
 * with I_STR, FILL sent transparently; EFAULT (from the head) when a copy address is NULL;
 * ENOSR when no message can be allocated. Other ioctls, including unknown FAULT_IOC numbers,
 * pass on down the stream.
 */
#ifndef USTREAMS_MODULES_FAULT_FAULT_H_
#define USTREAMS_MODULES_FAULT_FAULT_H_

#ifdef __cplusplus
extern "C" {
#endif

#define FAULT_MODULE_NAME "fault"

#define FAULT_IOC ('F' << 8)
#define FAULT_IOC_HANGUP (FAULT_IOC | 0x01)
#define FAULT_IOC_UNHANGUP (FAULT_IOC | 0x02)
#define FAULT_IOC_RDERR (FAULT_IOC | 0x03)
#define FAULT_IOC_WRERR (FAULT_IOC | 0x04)
#define FAULT_IOC_RWERR (FAULT_IOC | 0x05)
#define FAULT_IOC_RDERR_NP (FAULT_IOC | 0x06)
#define FAULT_IOC_WRERR_NP (FAULT_IOC | 0x07)
#define FAULT_IOC_RWERR_NP (FAULT_IOC | 0x08)
#define FAULT_IOC_SIGNAL (FAULT_IOC | 0x09)
#define FAULT_IOC_PSIGNAL (FAULT_IOC | 0x0a)
#define FAULT_IOC_DELAY (FAULT_IOC | 0x0b)
#define FAULT_IOC_COPYIN (FAULT_IOC | 0x0c)
#define FAULT_IOC_COPYOUT (FAULT_IOC | 0x0d)
#define FAULT_IOC_COPYINOUT (FAULT_IOC | 0x0e)
#define FAULT_IOC_FILL (FAULT_IOC | 0x0f)

/* The byte the copy ioctls check for and write. */
#define FAULT_PATTERN 0xA5
/* The largest fc_size. */
#define FAULT_COPY_MAX 65536

/* The argument of FAULT_IOC_COPYIN, _COPYOUT and _COPYINOUT: the buffer to copy. */
struct fault_copy {
  int fc_size;   /* bytes, 0..FAULT_COPY_MAX */
  char *fc_buf;  /* the caller's buffer */
};

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USTREAMS_MODULES_FAULT_FAULT_H_ */
