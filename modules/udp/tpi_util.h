// TPI plumbing shared by the connectionless transports (udp, icmp): reading primitives out of
// untrusted M_PROTO blocks without trusting a length or offset they carry, and building the
// replies and indications (T_ERROR_ACK, T_OK_ACK, T_BIND_ACK, T_ADDR_ACK, T_UNITDATA_IND,
// T_UDERROR_IND) the way illumos' mi_tpi_* helpers lay them out: the fixed structure first, then
// each variable part at a 4-byte aligned offset after it.
//
// Primitives are read with memcpy (never through a cast pointer), so an application's
// control buffer may have any alignment and any length.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "streams/msg.h"
#include "streams/tihdr.h"

namespace ustreams::tpi {

// Variable parts of TPI messages start on 4-byte boundaries (illumos _TPI_ALIGN_TOPT).
inline constexpr size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

// The PRIM_type of a TPI message (M_PROTO or M_PCPROTO), or nullopt when the first block is
// shorter than a t_scalar_t.
std::optional<t_scalar_t> Primitive(const mblk_t* mp);

// Copies the fixed part of a primitive from the first block. False (out untouched) when the
// block is shorter than T.
template <typename T>
bool ReadPrimitive(const mblk_t* mp, T* out) {
  if (mp == nullptr || MBLKL(mp) < sizeof(T)) return false;
  std::memcpy(out, mp->b_rptr, sizeof(T));
  return true;
}

// True when [offset, offset + length) lies inside the first block (both non-negative; no
// arithmetic overflow whatever the values): illumos MBLKIN / mi_offset_param.
bool InBlock(const mblk_t* mp, t_scalar_t offset, t_scalar_t length);

// The bytes at [offset, offset + length) of the first block; call only when InBlock() holds.
inline const unsigned char* At(const mblk_t* mp, t_scalar_t offset) { return mp->b_rptr + offset; }

// Reads a sockaddr_in at (offset, length) of the first block: nullopt unless the range is inside
// the block and length is exactly sizeof(sockaddr_in). The family is not checked.
std::optional<sockaddr_in> ReadSockaddr(const mblk_t* mp, t_scalar_t offset, t_scalar_t length);

// ---- replies (M_PCPROTO); each returns an empty MsgPtr when no memory is left ----

MsgPtr ErrorAck(t_scalar_t error_prim, t_scalar_t tli_error, int unix_error);
MsgPtr OkAck(t_scalar_t correct_prim);
MsgPtr BindAck(const sockaddr_in& addr);
// LOCADDR when local is set, REMADDR when remote is set.
MsgPtr AddrAck(const std::optional<sockaddr_in>& local, const std::optional<sockaddr_in>& remote);
MsgPtr InfoAck(const T_info_ack& info);
// T_CAPABILITY_ACK answering CAP_bits1 with TC1_INFO (the only capability a datagram provider
// has here).
MsgPtr CapabilityAck(t_uscalar_t cap_bits1, const T_info_ack& info);

// ---- indications (M_PROTO) ----

// T_UNITDATA_IND from `src`, with data linked behind (consumed; an empty MsgPtr for none).
MsgPtr UnitdataInd(const sockaddr_in& src, MsgPtr data);
// T_UDERROR_IND about a datagram to `dest` (dest_len bytes, 0 for none).
MsgPtr UderrorInd(const void* dest, size_t dest_len, int error);
inline MsgPtr UderrorInd(const sockaddr_in& dest, int error) {
  return UderrorInd(&dest, sizeof(dest), error);
}

// TLI error for a Bind() errno (datagram.h): TOUTSTATE, TADDRBUSY, TNOADDR, else TSYSERR.
t_scalar_t TliErrorForBind(int err);

}  // namespace ustreams::tpi
