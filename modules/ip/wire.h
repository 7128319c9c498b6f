// Wire formats IP speaks: Ethernet II, ARP for IPv4 over Ethernet, IPv4, ICMP, UDP. Parsers turn
// outside bytes into validated structs; builders write headers into space the caller provides.
//
// Theory of operation
// -------------------
// Outside input reaches protocol code only through the parsers here (STYLE rule 8). A parser
// reads a PacketView (packet_view.h: bounds-checked, contiguous or an mblk_t chain, no pullup
// needed), applies the rules of its header in a fixed, documented order and returns either the
// validated struct (numbers in host byte order, addresses as host-order uint32_t) or the
// WireError of the first rule broken. There is one WireError per check, so IP counts its drops by
// reason with an array indexed by WireError and names the counters with WireErrorName(). Parsers
// never allocate, write, or fail for any reason but the bytes; the views they return (payload,
// body) look into the caller's packet and live as long as it does.
//
// Builders write a header at `out` (a span of at least the header's length: IP prepends into a
// message's headroom, see PrependHeader) and compute the checksum, over bytes that follow in the
// message when the protocol's checksum covers them. They return the bytes written, 0 when `out`
// is too small or the fields cannot be encoded.
//
// Policy decided here, for every caller:
//  - Ethernet: 802.1Q / 802.1ad tagged frames are refused (kEthVlanTagged). This stack has no VLAN
//    interfaces; a link that carries VLANs strips the tag before IP, as Linux does with VLAN
//    offload. Frames whose type field is an 802.3 length (< 0x0600) are refused. There is no
//    minimum frame size (TAP and loop links deliver frames unpadded); bytes after the IPv4 total
//    length (Ethernet padding) are not part of Ipv4Header::payload.
//  - ARP: only IPv4 over Ethernet (htype 1, ptype 0x0800, hlen 6, plen 4), request or reply.
//    Whether a sender address is acceptable (broadcast MAC, our own address) is ARP's policy.
//  - IPv4 options are walked with every length checked: EOL ends the list, NOP is one byte, every
//    other option needs a length byte in [2, rest of header]. Record route and timestamp are
//    recognised and checked (length, pointer, timestamp flag) and their offsets reported; IP
//    passes them through without filling in entries (a host may, RFC 1122 §3.2.1.8). Router alert
//    is recognised. Unknown options are skipped by their length (RFC 1122 §3.2.1.8: ignore
//    unknown options). A second record route, timestamp or router alert is refused. Loose and
//    strict source routes are recognised and refused (kIpv4SourceRoute): IP drops source-routed
//    datagrams, as RFC 7126 §4.3-4.4 recommends and Linux does by default
//    (accept_source_route=0); this also keeps IP from having to reverse routes in replies.
//  - IPv4 checks a single header cannot make are IP's or reassembly's: martian and broadcast
//    source addresses, TTL (a host accepts TTL 0 and 1, RFC 1122 §3.2.1.7), fragment
//    consistency. The reserved flag bit is ignored, as Linux, BSD and illumos do.
//  - ICMP: echo request/reply, destination unreachable, source quench, redirect, time exceeded
//    and parameter problem are parsed; other types are refused (kIcmpUnknownType; RFC 1122
//    §3.2.2: unknown types are silently discarded). Error messages must quote the original
//    header and at least 8 bytes after it (RFC 792); a code outside the range RFC 792/1812
//    defines for an error type is refused. Echo codes are not checked (be liberal).
//  - UDP: a UDP length shorter than the IP payload trims the datagram (trailing bytes ignored,
//    as Linux does); a longer one is refused. A checksum of 0 means "none" (RFC 768).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "modules/ip/checksum.h"
#include "modules/ip/packet_view.h"
#include "modules/ip/protocols.h"
#include "streams/mblk.h"

namespace ustreams::ip {

// ---- Why a packet was refused: one value per check ----
enum class WireError : uint8_t {
  kOk = 0,
  // Ethernet II
  kEthTruncated,        // shorter than the 14-byte header
  kEthLengthField,      // type < 0x0600: an 802.3 length, not an Ethernet II type
  kEthVlanTagged,       // 802.1Q / 802.1ad / QinQ tag
  // ARP
  kArpTruncated,        // shorter than 28 bytes
  kArpHardwareType,     // htype != 1 (Ethernet)
  kArpProtocolType,     // ptype != 0x0800
  kArpHardwareLength,   // hlen != 6
  kArpProtocolLength,   // plen != 4
  kArpOperation,        // op not 1 (request) or 2 (reply)
  // IPv4
  kIpv4Truncated,       // shorter than 20 bytes or than the header length IHL says
  kIpv4Version,         // version != 4
  kIpv4HeaderLength,    // IHL < 5
  kIpv4TotalLength,     // total length < header length
  kIpv4FrameShort,      // total length > the bytes the frame holds
  kIpv4Checksum,        // header checksum does not verify
  kIpv4OptionTruncated,  // an option's length byte lies beyond the header
  kIpv4OptionLength,    // option length < 2, past the header, or wrong for the option
  kIpv4OptionPointer,   // record route / timestamp pointer out of range
  kIpv4OptionTimestampFlag,  // timestamp flag not 0, 1 or 3
  kIpv4OptionDuplicate,  // record route, timestamp or router alert twice
  kIpv4SourceRoute,     // LSRR or SSRR: source-routed datagrams are dropped
  // ICMP
  kIcmpTruncated,       // shorter than the 8-byte header
  kIcmpChecksum,        // checksum over the message does not verify
  kIcmpUnknownType,     // a type this stack does not handle
  kIcmpCode,            // a code outside the range defined for an error type
  kIcmpQuoteTruncated,  // an error quotes less than the original header + 8 bytes
  kIcmpQuoteInvalid,    // the quoted header is not IPv4 or its IHL < 5
  // UDP
  kUdpTruncated,        // shorter than the 8-byte header
  kUdpLength,           // UDP length < 8
  kUdpLengthBeyondPayload,  // UDP length > the IP payload
  kUdpChecksum,         // non-zero checksum does not verify
};
inline constexpr size_t kWireErrorCount = static_cast<size_t>(WireError::kUdpChecksum) + 1;

// A stable snake_case name ("ipv4_checksum"), for counters and test files; "unknown" past the end.
const char* WireErrorName(WireError e);

// A parser's result: the validated value, or why there is none.
template <typename T>
class Parsed {
 public:
  Parsed(const T& value) : value_(value) {}                // NOLINT: implicit on purpose
  Parsed(WireError error) : error_(error) {}               // NOLINT: implicit on purpose
  bool ok() const { return error_ == WireError::kOk; }
  WireError error() const { return error_; }
  // Only meaningful when ok(); a default-constructed T otherwise.
  const T& value() const { return value_; }
  const T& operator*() const { return value_; }
  const T* operator->() const { return &value_; }

 private:
  T value_{};
  WireError error_ = WireError::kOk;
};

// ---- Ethernet II ----
using MacAddress = std::array<uint8_t, 6>;
inline constexpr MacAddress kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr size_t kEthernetHeaderLength = 14;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;   // 802.1Q
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;   // 802.1ad
inline constexpr uint16_t kEtherTypeQinQOld = 0x9100;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

struct EthernetHeader {
  MacAddress dst{};
  MacAddress src{};
  uint16_t type = 0;
  PacketView payload;  // everything after the header (padding included)
};

// Rules in order: kEthTruncated, kEthLengthField, kEthVlanTagged. Any other type is accepted:
// the caller dispatches on it and counts types it does not speak.
Parsed<EthernetHeader> ParseEthernet(PacketView frame);
size_t WriteEthernet(const EthernetHeader& h, std::span<uint8_t> out);

// ---- ARP for IPv4 over Ethernet (RFC 826) ----
inline constexpr size_t kArpPacketLength = 28;
inline constexpr uint16_t kArpRequest = 1;
inline constexpr uint16_t kArpReply = 2;

struct ArpPacket {
  uint16_t op = 0;
  MacAddress sender_mac{};
  uint32_t sender_ip = 0;
  MacAddress target_mac{};
  uint32_t target_ip = 0;
};

// Rules in order: kArpTruncated, kArpHardwareType, kArpProtocolType, kArpHardwareLength,
// kArpProtocolLength, kArpOperation. Bytes after the 28 (padding) are ignored.
Parsed<ArpPacket> ParseArp(PacketView packet);
size_t WriteArp(const ArpPacket& a, std::span<uint8_t> out);

// ---- IPv4 (RFC 791) ----
inline constexpr size_t kIpv4MinHeaderLength = 20;
inline constexpr size_t kIpv4MaxHeaderLength = 60;
inline constexpr size_t kIpv4MaxDatagram = 65535;

inline constexpr uint8_t kIpOptEol = 0;
inline constexpr uint8_t kIpOptNop = 1;
inline constexpr uint8_t kIpOptRecordRoute = 7;
inline constexpr uint8_t kIpOptTimestamp = 68;
inline constexpr uint8_t kIpOptLsrr = 131;
inline constexpr uint8_t kIpOptSsrr = 137;
inline constexpr uint8_t kIpOptRouterAlert = 148;

struct Ipv4Options {
  uint8_t record_route = 0;  // offset of the option in the header, 0 if absent
  uint8_t timestamp = 0;     // offset of the option in the header, 0 if absent
  bool router_alert = false;
  uint8_t unknown = 0;       // options skipped by their length
};

struct Ipv4Header {
  uint8_t header_length = kIpv4MinHeaderLength;  // bytes (IHL * 4), 20..60
  uint8_t tos = 0;
  uint16_t total_length = 0;
  uint16_t id = 0;
  bool df = false;
  bool mf = false;
  uint16_t fragment_offset = 0;  // bytes (the field * 8)
  uint8_t ttl = 0;
  uint8_t protocol = 0;
  uint16_t checksum = 0;  // as received; builders compute their own
  uint32_t src = 0;
  uint32_t dst = 0;
  Ipv4Options options;
  PacketView payload;  // total_length - header_length bytes after the header

  bool is_fragment() const { return mf || fragment_offset != 0; }
  uint16_t payload_length() const {
    return static_cast<uint16_t>(total_length - header_length);
  }
};

// `packet` holds the IPv4 header and everything the frame carries after it. Rules in order:
// kIpv4Truncated (< 20), kIpv4Version, kIpv4HeaderLength, kIpv4Truncated (< IHL * 4),
// kIpv4TotalLength, kIpv4FrameShort, kIpv4Checksum (unless verify_checksum is false: a link
// verified it), then the options (see the top of this file).
Parsed<Ipv4Header> ParseIpv4(PacketView packet, bool verify_checksum = true);

// Writes a header from h (header_length and checksum ignored: derived) followed by `options`
// padded with EOL to a multiple of 4 bytes. 0 when out is short, options exceed 40 bytes,
// fragment_offset is not a multiple of 8, or total_length is shorter than the header.
size_t WriteIpv4(const Ipv4Header& h, std::span<uint8_t> out,
                 std::span<const uint8_t> options = {});

// ---- ICMP (RFC 792) ----
inline constexpr size_t kIcmpHeaderLength = 8;
inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpUnreachable = 3;
inline constexpr uint8_t kIcmpSourceQuench = 4;
inline constexpr uint8_t kIcmpRedirect = 5;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpParameterProblem = 12;
// Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
inline constexpr uint8_t kIcmpNetUnreachable = 0;
inline constexpr uint8_t kIcmpHostUnreachable = 1;
inline constexpr uint8_t kIcmpProtocolUnreachable = 2;
inline constexpr uint8_t kIcmpPortUnreachable = 3;
inline constexpr uint8_t kIcmpFragmentationNeeded = 4;
inline constexpr uint8_t kIcmpSourceRouteFailed = 5;
inline constexpr uint8_t kIcmpMaxUnreachableCode = 15;
// Time exceeded codes.
inline constexpr uint8_t kIcmpTtlExceeded = 0;
inline constexpr uint8_t kIcmpReassemblyTimeExceeded = 1;
// RFC 1812 §4.3.2.3: an error quotes as much of the datagram as fits in 576 bytes.
inline constexpr size_t kIcmpMaxQuote = 576 - kIpv4MinHeaderLength - kIcmpHeaderLength;

// The datagram an ICMP error is about: its header (not checked beyond version and IHL: it is
// as the reporting router saw it) and the first 8 bytes after it (ports, TCP sequence, ICMP
// id/sequence) that find the connection.
struct IcmpQuote {
  uint8_t header_length = 0;
  uint16_t total_length = 0;
  uint16_t id = 0;
  uint16_t fragment_offset = 0;  // bytes
  bool mf = false;
  uint8_t protocol = 0;
  uint32_t src = 0;
  uint32_t dst = 0;
  std::array<uint8_t, 8> transport{};
};

struct IcmpMessage {
  uint8_t type = 0;
  uint8_t code = 0;
  uint16_t checksum = 0;
  uint16_t echo_id = 0;       // echo request/reply
  uint16_t echo_seq = 0;
  uint16_t next_hop_mtu = 0;  // unreachable/fragmentation needed (RFC 1191); 0 from old routers
  uint8_t pointer = 0;        // parameter problem
  uint32_t gateway = 0;       // redirect
  IcmpQuote quote;            // error types
  PacketView body;            // everything after the 8-byte header (echo data, the quote)

  bool is_error() const {
    return type == kIcmpUnreachable || type == kIcmpSourceQuench || type == kIcmpRedirect ||
           type == kIcmpTimeExceeded || type == kIcmpParameterProblem;
  }
};

// `message` is the whole ICMP message (the IP payload). Rules in order: kIcmpTruncated,
// kIcmpChecksum (unless verify_checksum is false), kIcmpUnknownType, kIcmpCode,
// kIcmpQuoteTruncated, kIcmpQuoteInvalid, kIcmpQuoteTruncated (less than IHL * 4 + 8 bytes).
Parsed<IcmpMessage> ParseIcmp(PacketView message, bool verify_checksum = true);

// Writes the 8-byte header of m (type, code and the type's second word: echo id/seq, next-hop
// MTU, pointer or gateway) with the checksum over the header and `rest`, the bytes that follow
// it in the message (echo data, a quote). Returns 8, or 0 if out is short.
size_t WriteIcmpHeader(const IcmpMessage& m, std::span<uint8_t> out, PacketView rest);
// Writes an error message (header of m, then a quote of `offending`: its first
// min(offending.size(), out.size() - 8, kIcmpMaxQuote) bytes) and its checksum. Returns the bytes
// written, 0 if out cannot hold the header plus the offending header and 8 bytes (or all of
// `offending`, when shorter).
size_t WriteIcmpError(const IcmpMessage& m, std::span<uint8_t> out, PacketView offending);

// ---- UDP (RFC 768) ----
inline constexpr size_t kUdpHeaderLength = 8;

struct UdpHeader {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t length = 0;    // header + data
  uint16_t checksum = 0;  // 0: none was sent
  PacketView payload;     // length - 8 bytes after the header
};

// `datagram` is the IP payload; src and dst (host order) form the pseudo-header. Rules in order:
// kUdpTruncated, kUdpLength, kUdpLengthBeyondPayload, kUdpChecksum (unless the checksum is 0 or
// verify_checksum is false).
Parsed<UdpHeader> ParseUdp(PacketView datagram, uint32_t src, uint32_t dst,
                           bool verify_checksum = true);
// Writes the 8-byte header for `payload` (the bytes that follow it in the message) from ports and
// the pseudo-header; with_checksum false sends 0 ("none"). A computed 0 is sent as 0xffff.
// Returns 8, or 0 if out is short or the datagram exceeds 65535 bytes.
size_t WriteUdp(uint16_t src_port, uint16_t dst_port, uint32_t src, uint32_t dst,
                PacketView payload, std::span<uint8_t> out, bool with_checksum = true);

// ---- Headroom ----
// Moves mp's read pointer back by n bytes and returns it: room for a header in the headroom the
// message was allocated with. nullptr (mp untouched) when the first block has less headroom or
// its data block is shared (db_ref > 1: never written); the caller then links a new block.
uint8_t* PrependHeader(mblk_t* mp, size_t n);

}  // namespace ustreams::ip
