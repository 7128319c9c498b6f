#include "modules/udp/tpi_util.h"

#include <cerrno>

namespace ustreams::tpi {
namespace {

// A fresh block of `size` bytes (zeroed) of `type`, or empty.
MsgPtr NewBlock(unsigned char type, size_t size) {
  MsgPtr mp(allocb(size));
  if (!mp) return mp;
  std::memset(mp->b_wptr, 0, size);
  mp->b_wptr += size;
  DB_TYPE(mp.get()) = type;
  return mp;
}

template <typename T>
void Write(mblk_t* mp, size_t offset, const T& value) {
  std::memcpy(mp->b_rptr + offset, &value, sizeof(T));
}

}  // namespace

std::optional<t_scalar_t> Primitive(const mblk_t* mp) {
  t_scalar_t prim;
  if (!ReadPrimitive(mp, &prim)) return std::nullopt;
  return prim;
}

bool InBlock(const mblk_t* mp, t_scalar_t offset, t_scalar_t length) {
  if (mp == nullptr || offset < 0 || length < 0) return false;
  const size_t have = MBLKL(mp);
  const size_t off = static_cast<size_t>(offset);
  const size_t len = static_cast<size_t>(length);
  return off <= have && len <= have - off;
}

std::optional<sockaddr_in> ReadSockaddr(const mblk_t* mp, t_scalar_t offset, t_scalar_t length) {
  if (length != static_cast<t_scalar_t>(sizeof(sockaddr_in)) || !InBlock(mp, offset, length)) {
    return std::nullopt;
  }
  sockaddr_in sin;
  std::memcpy(&sin, At(mp, offset), sizeof(sin));
  return sin;
}

MsgPtr ErrorAck(t_scalar_t error_prim, t_scalar_t tli_error, int unix_error) {
  MsgPtr mp = NewBlock(M_PCPROTO, sizeof(T_error_ack));
  if (!mp) return mp;
  T_error_ack ack{T_ERROR_ACK, error_prim, tli_error, unix_error};
  Write(mp.get(), 0, ack);
  return mp;
}

MsgPtr OkAck(t_scalar_t correct_prim) {
  MsgPtr mp = NewBlock(M_PCPROTO, sizeof(T_ok_ack));
  if (!mp) return mp;
  T_ok_ack ack{T_OK_ACK, correct_prim};
  Write(mp.get(), 0, ack);
  return mp;
}

MsgPtr BindAck(const sockaddr_in& addr) {
  constexpr size_t kOff = Align4(sizeof(T_bind_ack));
  MsgPtr mp = NewBlock(M_PCPROTO, kOff + sizeof(sockaddr_in));
  if (!mp) return mp;
  T_bind_ack ack{T_BIND_ACK, static_cast<t_scalar_t>(sizeof(sockaddr_in)),
                 static_cast<t_scalar_t>(kOff), 0};
  Write(mp.get(), 0, ack);
  Write(mp.get(), kOff, addr);
  return mp;
}

MsgPtr AddrAck(const std::optional<sockaddr_in>& local, const std::optional<sockaddr_in>& remote) {
  constexpr size_t kOff = Align4(sizeof(T_addr_ack));
  const size_t n = (local ? 1 : 0) + (remote ? 1 : 0);
  MsgPtr mp = NewBlock(M_PCPROTO, kOff + n * sizeof(sockaddr_in));
  if (!mp) return mp;
  T_addr_ack ack{T_ADDR_ACK, 0, 0, 0, 0};
  size_t off = kOff;
  if (local) {
    ack.LOCADDR_length = sizeof(sockaddr_in);
    ack.LOCADDR_offset = static_cast<t_scalar_t>(off);
    Write(mp.get(), off, *local);
    off += sizeof(sockaddr_in);
  }
  if (remote) {
    ack.REMADDR_length = sizeof(sockaddr_in);
    ack.REMADDR_offset = static_cast<t_scalar_t>(off);
    Write(mp.get(), off, *remote);
  }
  Write(mp.get(), 0, ack);
  return mp;
}

MsgPtr InfoAck(const T_info_ack& info) {
  MsgPtr mp = NewBlock(M_PCPROTO, sizeof(T_info_ack));
  if (!mp) return mp;
  T_info_ack ack = info;
  ack.PRIM_type = T_INFO_ACK;
  Write(mp.get(), 0, ack);
  return mp;
}

MsgPtr CapabilityAck(t_uscalar_t cap_bits1, const T_info_ack& info) {
  MsgPtr mp = NewBlock(M_PCPROTO, sizeof(T_capability_ack));
  if (!mp) return mp;
  T_capability_ack ack{};
  ack.PRIM_type = T_CAPABILITY_ACK;
  if (cap_bits1 & TC1_INFO) {
    ack.CAP_bits1 = TC1_INFO;
    ack.INFO_ack = info;
    ack.INFO_ack.PRIM_type = T_INFO_ACK;
  }
  Write(mp.get(), 0, ack);
  return mp;
}

MsgPtr UnitdataInd(const sockaddr_in& src, MsgPtr data) {
  constexpr size_t kOff = Align4(sizeof(T_unitdata_ind));
  MsgPtr mp = NewBlock(M_PROTO, kOff + sizeof(sockaddr_in));
  if (!mp) return mp;  // data freed with its handle
  T_unitdata_ind ind{T_UNITDATA_IND, static_cast<t_scalar_t>(sizeof(sockaddr_in)),
                     static_cast<t_scalar_t>(kOff), 0, 0};
  Write(mp.get(), 0, ind);
  Write(mp.get(), kOff, src);
  mp->b_cont = data.release();
  return mp;
}

MsgPtr UderrorInd(const void* dest, size_t dest_len, int error) {
  constexpr size_t kOff = Align4(sizeof(T_uderror_ind));
  MsgPtr mp = NewBlock(M_PROTO, kOff + dest_len);
  if (!mp) return mp;
  T_uderror_ind ind{T_UDERROR_IND,
                    static_cast<t_scalar_t>(dest_len),
                    dest_len != 0 ? static_cast<t_scalar_t>(kOff) : 0,
                    0,
                    0,
                    error};
  Write(mp.get(), 0, ind);
  if (dest_len != 0) std::memcpy(mp->b_rptr + kOff, dest, dest_len);
  return mp;
}

t_scalar_t TliErrorForBind(int err) {
  switch (err) {
    case EINVAL:
      return TOUTSTATE;
    case EADDRINUSE:
      return TADDRBUSY;
    case EAGAIN:
      return TNOADDR;
    default:
      return TSYSERR;
  }
}

}  // namespace ustreams::tpi
