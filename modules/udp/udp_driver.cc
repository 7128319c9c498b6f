// The "udp" STREAMS driver: a clone device whose every stream is one UDP endpoint spoken to in TPI
// (tpi_dgram.h does the translating). This file is only the declarative part: the T_INFO_ACK
// UDP gives, the queue initialisers, and the registration.
#include <sys/socket.h>

#include <cerrno>

#include "modules/ip/wire.h"
#include "modules/udp/tpi_dgram.h"
#include "modules/udp/udp.h"

namespace ustreams::udp {
namespace {

// illumos udp_g_t_info_ack_ipv4.
constexpr t_scalar_t kMaxPayload = static_cast<t_scalar_t>(
    ip::kIpv4MaxDatagram - ip::kIpv4MinHeaderLength - ip::kUdpHeaderLength);  // 65507

const tpi::DatagramProvider kProvider{
    T_info_ack{
        T_INFO_ACK,
        kMaxPayload,          // TSDU_size
        T_INVALID,            // ETSDU_size: no expedited data
        T_INVALID,            // CDATA_size: no connect data
        T_INVALID,            // DDATA_size: no disconnect data
        sizeof(sockaddr_in),  // ADDR_size
        0,                    // OPT_size: per stream
        kMaxPayload,          // TIDU_size
        T_CLTS,               // SERV_type
        TS_UNBND,             // CURRENT_state: per stream
        XPG4_1 | SENDZERO,    // PROVIDER_flag: zero-length datagrams are fine
    },
    static_cast<unsigned short>(ip::kIpHeadroom + ip::kUdpHeaderLength),
    /*send_needs_bind=*/true,
};

int UdpOpen(queue_t* q, dev_t* /*devp*/, int /*oflag*/, int sflag, cred_t* /*crp*/) {
  if (q->q_ptr != nullptr) return 0;
  if (sflag == MODOPEN) return EINVAL;
  UdpModule* m = UdpModule::Of(q);
  if (m == nullptr) return ENXIO;  // a domain without a stack, or without UDP
  return tpi::DatagramOpen(q, sflag, m->NewEndpoint(), &kProvider);
}

// The minimum packet size is 0, not illumos' 1: SENDZERO says a zero-length datagram may be sent,
// and the stream head refuses (ERANGE) a putmsg data part below the driver's minimum. The water
// marks do not matter: nothing queues in the driver (the head's read queue bounds receiving).
module_info udp_minfo{5607, "udp", 0, INFPSZ, 65536, 1024};
qinit udp_rinit{tpi::DatagramRput, nullptr,    UdpOpen, tpi::DatagramClose,
                nullptr,           &udp_minfo, nullptr};
qinit udp_winit{tpi::DatagramWput, nullptr, nullptr, nullptr, nullptr, &udp_minfo, nullptr};
streamtab udp_tab{&udp_rinit, &udp_winit, nullptr, nullptr};

}  // namespace

absl::StatusOr<std::unique_ptr<UdpModule>> RegisterUdp(Domain& d, ip::Ip& ip) {
  if (absl::Status s = d.registry().RegisterDriver("udp", &udp_tab, D_MP, /*clone=*/true);
      !s.ok()) {
    return s;
  }
  return std::make_unique<UdpModule>(ip);
}

}  // namespace ustreams::udp
