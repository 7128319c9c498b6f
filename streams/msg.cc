#include "streams/msg.h"

#include <cstring>

namespace ustreams {

MsgPtr MsgPtr::Make(unsigned char type, std::string_view data) {
  mblk_t* mp = allocb(data.size());
  if (mp == nullptr) return MsgPtr();
  mp->b_datap->db_type = type;
  if (!data.empty()) std::memcpy(mp->b_wptr, data.data(), data.size());
  mp->b_wptr += data.size();
  return MsgPtr(mp);
}

std::string MsgPtr::Bytes() const { return MsgBytes(mp_); }

std::string MsgBytes(const mblk_t* mp) {
  std::string s;
  for (; mp != nullptr; mp = mp->b_cont) {
    s.append(reinterpret_cast<const char*>(mp->b_rptr), MBLKL(mp));
  }
  return s;
}

}  // namespace ustreams
