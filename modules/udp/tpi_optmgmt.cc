#include "modules/udp/tpi_optmgmt.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "modules/udp/tpi_util.h"

namespace ustreams::tpi {
namespace {

using dgram::DatagramEndpoint;
using dgram::FindOption;
using dgram::OptionDesc;

constexpr size_t kValueLen = sizeof(int);

bool ValidFlags(t_scalar_t flags) {
  return flags == T_DEFAULT || flags == T_NEGOTIATE || flags == T_CURRENT || flags == T_CHECK;
}

// The request's option buffer, after the checks every form shares; nullopt means TBADOPT.
struct OptBuffer {
  const unsigned char* begin;
  size_t len;
};
std::optional<OptBuffer> OptionBuffer(const mblk_t* req, const T_optmgmt_req& tor) {
  if (!InBlock(req, tor.OPT_offset, tor.OPT_length)) return std::nullopt;
  if (tor.OPT_offset % 4 != 0) return std::nullopt;  // illumos __TPI_OPT_ISALIGNED
  return OptBuffer{At(req, tor.OPT_offset), static_cast<size_t>(tor.OPT_length)};
}

template <typename T>
void Append(std::string* out, const T& value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}
void Pad4(std::string* out) { out->resize(Align4(out->size()), '\0'); }

// The ack: T_optmgmt_ack, then the option bytes.
MsgPtr MakeAck(t_scalar_t flags, const std::string& opts) {
  constexpr size_t kOff = Align4(sizeof(T_optmgmt_ack));
  MsgPtr mp(allocb(kOff + opts.size()));
  if (!mp) return mp;
  DB_TYPE(mp.get()) = M_PCPROTO;
  T_optmgmt_ack ack{T_OPTMGMT_ACK, static_cast<t_scalar_t>(opts.size()),
                    static_cast<t_scalar_t>(kOff), flags};
  std::memset(mp->b_wptr, 0, kOff);
  std::memcpy(mp->b_wptr, &ack, sizeof(ack));
  if (!opts.empty()) std::memcpy(mp->b_wptr + kOff, opts.data(), opts.size());
  mp->b_wptr += kOff + opts.size();
  return mp;
}

// ---- SVR4: struct opthdr ----

struct SvrOpt {
  opthdr hdr;
  const unsigned char* value;  // hdr.len bytes
};

// Splits the buffer into options; false on any malformation (TBADOPT).
bool ParseSvr4(OptBuffer buf, std::vector<SvrOpt>* out) {
  size_t off = 0;
  while (off < buf.len) {
    if (buf.len - off < sizeof(opthdr)) return false;
    SvrOpt o;
    std::memcpy(&o.hdr, buf.begin + off, sizeof(opthdr));
    off += sizeof(opthdr);
    if (o.hdr.len > buf.len - off) return false;  // the value must be inside the buffer
    o.value = buf.begin + off;
    off += Align4(o.hdr.len);  // the last option's padding may be missing
    out->push_back(o);
  }
  return true;
}

void AppendSvr4(std::string* out, t_uscalar_t level, t_uscalar_t name, int value) {
  Append(out, opthdr{level, name, static_cast<t_uscalar_t>(kValueLen)});
  Append(out, value);
  Pad4(out);
}

MsgPtr Svr4OptMgmt(DatagramEndpoint& ep, const mblk_t* req, const T_optmgmt_req& tor) {
  const t_scalar_t prim = tor.PRIM_type;
  std::string out;
  if (tor.MGMT_flags == T_DEFAULT) {
    for (const OptionDesc& d : ep.Options()) {
      AppendSvr4(&out, static_cast<t_uscalar_t>(d.level), static_cast<t_uscalar_t>(d.name),
                 d.default_value);
    }
    return MakeAck(T_DEFAULT, out);
  }
  std::optional<OptBuffer> buf = OptionBuffer(req, tor);
  std::vector<SvrOpt> opts;
  if (!buf || !ParseSvr4(*buf, &opts)) return ErrorAck(prim, TBADOPT, 0);
  // First pass: every option must be known (illumos proto_opt_check) before any is acted on.
  for (const SvrOpt& o : opts) {
    if (o.hdr.name == T_ALLOPT) return ErrorAck(prim, TBADOPT, 0);
    const OptionDesc* d =
        FindOption(ep.Options(), static_cast<int>(o.hdr.level), static_cast<int>(o.hdr.name));
    if (d == nullptr) return ErrorAck(prim, TBADOPT, 0);
    if (tor.MGMT_flags == T_NEGOTIATE) {
      if (o.hdr.len != kValueLen) return ErrorAck(prim, TBADOPT, 0);
      if (d->read_only) return ErrorAck(prim, TSYSERR, EACCES);
    }
  }
  for (const SvrOpt& o : opts) {
    const int level = static_cast<int>(o.hdr.level);
    const int name = static_cast<int>(o.hdr.name);
    if (tor.MGMT_flags == T_NEGOTIATE) {
      int v;
      std::memcpy(&v, o.value, sizeof(v));
      if (int err = ep.SetOption(level, name, v, /*check_only=*/false); err != 0) {
        return ErrorAck(prim, TSYSERR, err);
      }
    }
    int current = 0;
    ep.GetOption(level, name, &current);
    AppendSvr4(&out, o.hdr.level, o.hdr.name, current);
  }
  return MakeAck(T_SUCCESS, out);
}

// ---- XTI: struct T_opthdr ----

struct XtiOpt {
  T_opthdr hdr;
  const unsigned char* value;  // hdr.len - sizeof(T_opthdr) bytes
  size_t value_len;
};

bool ParseXti(OptBuffer buf, std::vector<XtiOpt>* out) {
  size_t off = 0;
  while (off < buf.len) {
    if (buf.len - off < sizeof(T_opthdr)) return false;
    XtiOpt o;
    std::memcpy(&o.hdr, buf.begin + off, sizeof(T_opthdr));
    if (o.hdr.len < sizeof(T_opthdr) || o.hdr.len > buf.len - off) return false;
    o.value = buf.begin + off + sizeof(T_opthdr);
    o.value_len = o.hdr.len - sizeof(T_opthdr);
    off += Align4(o.hdr.len);
    out->push_back(o);
  }
  return true;
}

// Rank of a status in illumos' pecking order (higher is worse).
int Rank(t_uscalar_t status) {
  switch (status) {
    case T_SUCCESS:
      return 0;
    case T_PARTSUCCESS:
      return 1;
    case T_FAILURE:
      return 2;
    case T_READONLY:
      return 3;
    case T_NOTSUPPORT:
      return 4;
    default:
      return 0;
  }
}

class XtiAck {
 public:
  void AddValue(int level, int name, t_uscalar_t status, int value) {
    T_opthdr h{static_cast<t_uscalar_t>(sizeof(T_opthdr) + kValueLen),
               static_cast<t_uscalar_t>(level), static_cast<t_uscalar_t>(name), status};
    Append(&out_, h);
    Append(&out_, value);
    Pad4(&out_);
    Note(status);
  }
  // The option as the request gave it, with a status.
  void Echo(const XtiOpt& o, t_uscalar_t status) {
    T_opthdr h = o.hdr;
    h.status = status;
    Append(&out_, h);
    out_.append(reinterpret_cast<const char*>(o.value), o.value_len);
    Pad4(&out_);
    Note(status);
  }
  MsgPtr Finish(t_scalar_t flags) const {
    return MakeAck(flags | static_cast<t_scalar_t>(worst_), out_);
  }

 private:
  void Note(t_uscalar_t status) {
    if (Rank(status) > Rank(worst_)) worst_ = status;
  }
  std::string out_;
  t_uscalar_t worst_ = T_SUCCESS;
};

bool LevelKnown(const DatagramEndpoint& ep, t_uscalar_t level) {
  std::span<const int> levels = ep.OptionLevels();
  return std::find(levels.begin(), levels.end(), static_cast<int>(level)) != levels.end();
}

// One option (a known one) for T_DEFAULT, T_CURRENT or T_NEGOTIATE-to-default (T_ALLOPT).
void ReportOne(DatagramEndpoint& ep, const OptionDesc& d, t_scalar_t flags, XtiAck* ack) {
  const t_uscalar_t ok = d.read_only ? T_READONLY : T_SUCCESS;
  if (flags == T_DEFAULT) {
    ack->AddValue(d.level, d.name, ok, d.default_value);
    return;
  }
  if (flags == T_NEGOTIATE && !d.read_only) {
    if (ep.SetOption(d.level, d.name, d.default_value, false) != 0) {
      ack->AddValue(d.level, d.name, T_FAILURE, d.default_value);
      return;
    }
  }
  int v = 0;
  ep.GetOption(d.level, d.name, &v);
  ack->AddValue(d.level, d.name, ok, v);
}

void NegotiateOne(DatagramEndpoint& ep, const XtiOpt& o, const OptionDesc& d, t_scalar_t flags,
                  XtiAck* ack) {
  const bool has_value = o.value_len != 0;
  if (flags == T_CHECK && !has_value) {
    ack->Echo(o, d.read_only ? T_READONLY : T_SUCCESS);
    return;
  }
  if (o.value_len != kValueLen) {
    ack->Echo(o, T_FAILURE);
    return;
  }
  if (d.read_only) {
    ack->Echo(o, T_READONLY);
    return;
  }
  int v;
  std::memcpy(&v, o.value, sizeof(v));
  if (ep.SetOption(d.level, d.name, v, /*check_only=*/flags == T_CHECK) != 0) {
    ack->Echo(o, T_FAILURE);
    return;
  }
  if (flags == T_CHECK) {
    ack->Echo(o, T_SUCCESS);
    return;
  }
  int now = 0;
  ep.GetOption(d.level, d.name, &now);
  ack->AddValue(d.level, d.name, T_SUCCESS, now);
}

MsgPtr XtiOptMgmt(DatagramEndpoint& ep, const mblk_t* req, const T_optmgmt_req& tor) {
  const t_scalar_t prim = tor.PRIM_type;
  const t_scalar_t flags = tor.MGMT_flags;
  std::optional<OptBuffer> buf = OptionBuffer(req, tor);
  std::vector<XtiOpt> opts;
  if (!buf || !ParseXti(*buf, &opts)) return ErrorAck(prim, TBADOPT, 0);
  for (const XtiOpt& o : opts) {
    if (o.hdr.name != T_ALLOPT &&
        FindOption(ep.Options(), static_cast<int>(o.hdr.level), static_cast<int>(o.hdr.name)) ==
            nullptr &&
        !LevelKnown(ep, o.hdr.level)) {
      return ErrorAck(prim, TBADOPT, 0);  // XTI: an option at a level nobody knows
    }
  }
  XtiAck ack;
  for (const XtiOpt& o : opts) {
    if (o.hdr.name == T_ALLOPT) {
      size_t n = 0;
      if (flags != T_CHECK && LevelKnown(ep, o.hdr.level)) {
        for (const OptionDesc& d : ep.Options()) {
          if (d.level != static_cast<int>(o.hdr.level)) continue;
          ReportOne(ep, d, flags, &ack);
          n++;
        }
      }
      if (n == 0) ack.Echo(o, T_FAILURE);
      continue;
    }
    const OptionDesc* d =
        FindOption(ep.Options(), static_cast<int>(o.hdr.level), static_cast<int>(o.hdr.name));
    if (d == nullptr) {
      ack.Echo(o, T_NOTSUPPORT);
    } else if (flags == T_DEFAULT || flags == T_CURRENT) {
      ReportOne(ep, *d, flags, &ack);
    } else {
      NegotiateOne(ep, o, *d, flags, &ack);
    }
  }
  return ack.Finish(flags);
}

}  // namespace

MsgPtr OptMgmt(dgram::DatagramEndpoint& ep, const mblk_t* req) {
  T_optmgmt_req tor;
  const t_scalar_t prim = Primitive(req).value_or(T_OPTMGMT_REQ);
  if (!ReadPrimitive(req, &tor)) return ErrorAck(prim, TBADOPT, 0);
  if (!ValidFlags(tor.MGMT_flags)) return ErrorAck(prim, TBADFLAG, 0);
  if (prim == T_SVR4_OPTMGMT_REQ) return Svr4OptMgmt(ep, req, tor);
  return XtiOptMgmt(ep, req, tor);
}

t_scalar_t MaxOptionSize(std::span<const dgram::OptionDesc> options) {
  return static_cast<t_scalar_t>(options.size() * (sizeof(T_opthdr) + Align4(kValueLen)));
}

}  // namespace ustreams::tpi
