// Helpers for tests and fuzz targets of the wire parsers and reassembly: packets as byte strings
// built field by field, chains of chosen or random block sizes, hex files, and a layered parse of
// a whole frame that reports the first rule broken.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "modules/ip/wire.h"
#include "streams/msg.h"

namespace ustreams::ip::testing {

// "0a 0b ..." (whitespace and '#' comments to the end of a line ignored) to bytes; a stray
// character or odd digit count makes *ok false.
std::string FromHex(std::string_view text, bool* ok = nullptr);
std::string ToHex(std::string_view bytes);

inline std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline PacketView View(const std::string& s) { return PacketView(s.data(), s.size()); }

// A chain holding `bytes` in blocks of the given sizes (the last block takes what is left; a
// zero size makes an empty block). Each block has `headroom` bytes before its data.
MsgPtr Chain(std::string_view bytes, const std::vector<size_t>& sizes, size_t headroom = 0);
// A chain of random block sizes in [0, max_block] (empty blocks included).
MsgPtr RandomChain(std::string_view bytes, std::mt19937& rng, size_t max_block);

// Bytes of a packet built with the builders: header(s) then payload.
std::string Ipv4Bytes(const Ipv4Header& h, std::string_view payload,
                      std::span<const uint8_t> options = {});
// An IPv4 header h (total_length computed) around `payload`.
std::string Ipv4Packet(Ipv4Header h, std::string_view payload,
                       std::span<const uint8_t> options = {});
std::string UdpDatagram(uint16_t sport, uint16_t dport, uint32_t src, uint32_t dst,
                        std::string_view payload, bool with_checksum = true);
std::string IcmpEcho(uint8_t type, uint16_t id, uint16_t seq, std::string_view data);
std::string IcmpError(uint8_t type, uint8_t code, std::string_view offending,
                      uint16_t mtu = 0);
std::string EthernetFrame(uint16_t type, std::string_view payload);
std::string ArpBytes(uint16_t op);

// A default header for tests: 10.0.0.1 -> 10.0.0.2, TTL 64, the given protocol.
Ipv4Header TestIpv4(uint8_t protocol, uint16_t id = 0x1234);
inline constexpr uint32_t kTestSrc = 0x0a000001;
inline constexpr uint32_t kTestDst = 0x0a000002;

// Parses an Ethernet frame through every layer this package knows: ARP, or IPv4 and then (for
// an unfragmented datagram) ICMP or UDP. Returns the first error, or kOk.
WireError ParseFrameLayers(PacketView frame);

}  // namespace ustreams::ip::testing
