// The "icmp" STREAMS driver: a clone device whose every stream is one raw ICMP endpoint spoken to
// in TPI through the datagram face UDP uses (modules/udp/tpi_dgram.h). Only the declarative part
// lives here.
#include <sys/socket.h>

#include <cerrno>

#include "modules/icmp/icmp.h"
#include "modules/ip/wire.h"
#include "modules/udp/tpi_dgram.h"

namespace ustreams::icmp {
namespace {

// illumos icmp_g_t_info_ack_v4.
constexpr t_scalar_t kMaxMessage =
    static_cast<t_scalar_t>(ip::kIpv4MaxDatagram - ip::kIpv4MinHeaderLength);  // 65515

const tpi::DatagramProvider kProvider{
    T_info_ack{
        T_INFO_ACK,
        kMaxMessage,          // TSDU_size
        T_INVALID,            // ETSDU_size
        T_INVALID,            // CDATA_size
        T_INVALID,            // DDATA_size
        sizeof(sockaddr_in),  // ADDR_size
        0,                    // OPT_size: per stream
        kMaxMessage,          // TIDU_size
        T_CLTS,               // SERV_type
        TS_UNBND,             // CURRENT_state: per stream
        XPG4_1 | SENDZERO,    // PROVIDER_flag
    },
    static_cast<unsigned short>(ip::kIpHeadroom),
};

int IcmpOpen(queue_t* q, dev_t* /*devp*/, int /*oflag*/, int sflag, cred_t* /*crp*/) {
  if (q->q_ptr != nullptr) return 0;
  if (sflag == MODOPEN) return EINVAL;
  IcmpModule* m = IcmpModule::Of(q);
  if (m == nullptr) return ENXIO;  // a domain without a stack, or without raw ICMP
  return tpi::DatagramOpen(q, sflag, m->NewEndpoint(), &kProvider);
}

module_info icmp_minfo{5707, "icmp", 0, INFPSZ, 65536, 1024};
qinit icmp_rinit{tpi::DatagramRput, nullptr,     IcmpOpen, tpi::DatagramClose,
                 nullptr,           &icmp_minfo, nullptr};
qinit icmp_winit{tpi::DatagramWput, nullptr, nullptr, nullptr, nullptr, &icmp_minfo, nullptr};
streamtab icmp_tab{&icmp_rinit, &icmp_winit, nullptr, nullptr};

}  // namespace

absl::StatusOr<std::unique_ptr<IcmpModule>> RegisterIcmp(Domain& d, ip::Ip& ip) {
  if (absl::Status s = d.registry().RegisterDriver("icmp", &icmp_tab, D_MP, /*clone=*/true);
      !s.ok()) {
    return s;
  }
  return std::make_unique<IcmpModule>(ip);
}

}  // namespace ustreams::icmp
