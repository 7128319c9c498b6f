// IP protocol numbers (IANA), shared by the wire formats, the classifier and the transports.
#pragma once

#include <cstdint>

namespace ustreams::ip {

inline constexpr uint8_t kProtoIcmp = 1;  // IPPROTO_ICMP
inline constexpr uint8_t kProtoTcp = 6;   // IPPROTO_TCP
inline constexpr uint8_t kProtoUdp = 17;  // IPPROTO_UDP

}  // namespace ustreams::ip
