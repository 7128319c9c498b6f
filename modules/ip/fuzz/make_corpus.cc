// Writes the committed packet corpora, so they can be reviewed and regenerated:
//   modules/ip/testdata/malformed/<reason>__<what>.hex   one bad Ethernet frame each, as commented
//       hex; malformed_corpus_test expects ParseFrameLayers to refuse it with <reason>.
//   tests/fuzz/corpus/ip_input/*.bin   seed inputs of ip_input_fuzz (its input format: one byte of
//       block-split seed, then frames each preceded by a big-endian 16-bit length).
//
//   bazel run //modules/ip:make_corpus            # writes into the workspace
//   bazel run //modules/ip:make_corpus -- DIR     # writes DIR/malformed and DIR/ip_input instead
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "modules/ip/wire.h"
#include "modules/ip/wire_test_util.h"

namespace ustreams::ip::testing {
namespace {

struct Sample {
  std::string name;  // file name without extension
  std::string what;  // one line for the file's comment
  std::string bytes;
};

void FixIpv4Checksum(std::string& ip) {
  size_t hl = (static_cast<uint8_t>(ip[0]) & 0x0f) * 4u;
  ip[10] = ip[11] = 0;
  uint16_t c = InternetChecksum(ip.data(), std::min(hl, ip.size()));
  ip[10] = static_cast<char>(c >> 8);
  ip[11] = static_cast<char>(c);
}

void FixIcmpChecksum(std::string& m) {
  m[2] = m[3] = 0;
  uint16_t c = InternetChecksum(m.data(), m.size());
  m[2] = static_cast<char>(c >> 8);
  m[3] = static_cast<char>(c);
}

std::string Ip(uint8_t proto, const std::string& payload, std::vector<uint8_t> opts = {}) {
  return Ipv4Packet(TestIpv4(proto), payload, opts);
}
std::string EthIp(const std::string& ip) { return EthernetFrame(kEtherTypeIpv4, ip); }
std::string Udp(const std::string& data) {
  return UdpDatagram(40000, 53, kTestSrc, kTestDst, data);
}
std::string Offending() { return Ip(kProtoUdp, Udp("query")); }

std::vector<Sample> Malformed() {
  std::vector<Sample> v;
  auto add = [&](const char* reason, const char* what, std::string bytes) {
    v.push_back({std::string(reason) + "__" + what, what, std::move(bytes)});
  };
  std::string arp = EthernetFrame(kEtherTypeArp, ArpBytes(kArpRequest));
  std::string echo = EthIp(Ip(kProtoIcmp, IcmpEcho(kIcmpEchoRequest, 1, 1, "ping")));

  // Ethernet
  add("eth_truncated", "ten_bytes", echo.substr(0, 10));
  add("eth_truncated", "no_type", echo.substr(0, 12));
  add("eth_length_field", "802_3_length_1500", EthernetFrame(0x05dc, std::string(46, '\0')));
  add("eth_vlan_tagged", "dot1q", EthernetFrame(kEtherTypeVlan, std::string("\x00\x05\x08\x00", 4) + echo.substr(14)));
  add("eth_vlan_tagged", "qinq", EthernetFrame(kEtherTypeQinQ, std::string("\x00\x05\x81\x00", 4)));

  // ARP (byte 14 is the first ARP byte)
  add("arp_truncated", "27_bytes", arp.substr(0, 14 + 27));
  std::string a = arp;
  a[15] = 6;
  add("arp_hardware_type", "ieee802", a);
  a = arp;
  a[16] = static_cast<char>(0x86);
  a[17] = static_cast<char>(0xdd);
  add("arp_protocol_type", "ipv6", a);
  a = arp;
  a[18] = 8;
  add("arp_hardware_length", "hlen_8", a);
  a = arp;
  a[19] = 16;
  add("arp_protocol_length", "plen_16", a);
  a = arp;
  a[21] = 3;
  add("arp_operation", "rarp_request", a);

  // IPv4 (byte 14 is the first IP byte)
  add("ipv4_truncated", "19_bytes", echo.substr(0, 14 + 19));
  add("ipv4_truncated", "ihl_15_short_packet",
      [&] { std::string s = Ip(kProtoUdp, ""); s[0] = 0x4f; return EthIp(s); }());
  std::string six = Ip(kProtoUdp, Udp("x"));
  six[0] = 0x65;
  FixIpv4Checksum(six);
  add("ipv4_version", "version_6", EthIp(six));
  std::string ihl = Ip(kProtoUdp, Udp("x"));
  ihl[0] = 0x44;
  add("ipv4_header_length", "ihl_4", EthIp(ihl));
  std::string tl = Ip(kProtoUdp, Udp("x"));
  tl[2] = 0;
  tl[3] = 19;
  FixIpv4Checksum(tl);
  add("ipv4_total_length", "total_19", EthIp(tl));
  std::string fs = Ip(kProtoUdp, Udp("x"));
  fs[2] = 0x05;
  fs[3] = static_cast<char>(0xdc);
  FixIpv4Checksum(fs);
  add("ipv4_frame_short", "total_1500_in_29_bytes", EthIp(fs));
  std::string cs = Ip(kProtoUdp, Udp("x"));
  cs[8] = 63;  // TTL changed, checksum not
  add("ipv4_checksum", "ttl_changed", EthIp(cs));
  add("ipv4_option_truncated", "type_without_length", EthIp(Ip(kProtoUdp, Udp("x"), {1, 1, 1, 0x44})));
  add("ipv4_option_length", "length_1", EthIp(Ip(kProtoUdp, Udp("x"), {0x55, 1, 0, 0})));
  add("ipv4_option_length", "length_past_header", EthIp(Ip(kProtoUdp, Udp("x"), {0x55, 9, 0, 0})));
  add("ipv4_option_pointer", "record_route_pointer_3",
      EthIp(Ip(kProtoUdp, Udp("x"), {kIpOptRecordRoute, 7, 3, 0, 0, 0, 0, 0})));
  add("ipv4_option_timestamp_flag", "flag_2",
      EthIp(Ip(kProtoUdp, Udp("x"), {kIpOptTimestamp, 8, 5, 2, 0, 0, 0, 0})));
  add("ipv4_option_duplicate", "two_router_alerts",
      EthIp(Ip(kProtoUdp, Udp("x"), {kIpOptRouterAlert, 4, 0, 0, kIpOptRouterAlert, 4, 0, 0})));
  add("ipv4_source_route", "lsrr",
      EthIp(Ip(kProtoUdp, Udp("x"), {kIpOptNop, kIpOptLsrr, 7, 4, 10, 0, 0, 9})));
  add("ipv4_source_route", "ssrr",
      EthIp(Ip(kProtoUdp, Udp("x"), {kIpOptNop, kIpOptSsrr, 7, 4, 10, 0, 0, 9})));

  // ICMP
  add("icmp_truncated", "four_bytes", EthIp(Ip(kProtoIcmp, std::string("\x08\x00\xf7\xff", 4))));
  std::string ic = IcmpEcho(kIcmpEchoRequest, 1, 1, "ping");
  ic[4] = 9;
  add("icmp_checksum", "id_changed", EthIp(Ip(kProtoIcmp, ic)));
  std::string ts = IcmpEcho(kIcmpEchoRequest, 1, 1, std::string(12, '\0'));
  ts[0] = 13;
  FixIcmpChecksum(ts);
  add("icmp_unknown_type", "timestamp_request", EthIp(Ip(kProtoIcmp, ts)));
  add("icmp_code", "unreachable_code_16", EthIp(Ip(kProtoIcmp, IcmpError(kIcmpUnreachable, 16, Offending()))));
  add("icmp_code", "time_exceeded_code_2", EthIp(Ip(kProtoIcmp, IcmpError(kIcmpTimeExceeded, 2, Offending()))));
  std::string qt = IcmpError(kIcmpUnreachable, kIcmpPortUnreachable, Offending()).substr(0, 8 + 27);
  FixIcmpChecksum(qt);
  add("icmp_quote_truncated", "header_plus_7", EthIp(Ip(kProtoIcmp, qt)));
  std::string qi = IcmpError(kIcmpUnreachable, kIcmpPortUnreachable, Offending());
  qi[8] = 0x60;
  FixIcmpChecksum(qi);
  add("icmp_quote_invalid", "quoted_version_6", EthIp(Ip(kProtoIcmp, qi)));

  // UDP
  add("udp_truncated", "seven_bytes", EthIp(Ip(kProtoUdp, Udp("").substr(0, 7))));
  std::string ul = Udp("data");
  ul[4] = 0;
  ul[5] = 7;
  add("udp_length", "length_7", EthIp(Ip(kProtoUdp, ul)));
  std::string ub = Udp("data");
  ub[5] = 13;
  add("udp_length_beyond_payload", "length_13_of_12", EthIp(Ip(kProtoUdp, ub)));
  std::string uc = Udp("data");
  uc[8] = 'D';
  add("udp_checksum", "payload_changed", EthIp(Ip(kProtoUdp, uc)));
  return v;
}

// One fuzz input: a split seed, then frames with 16-bit length prefixes.
std::string FuzzInput(uint8_t seed, const std::vector<std::string>& frames) {
  std::string s(1, static_cast<char>(seed));
  for (const std::string& f : frames) {
    s.push_back(static_cast<char>(f.size() >> 8));
    s.push_back(static_cast<char>(f.size()));
    s += f;
  }
  return s;
}

// Fragments of a UDP datagram carrying `payload_len` bytes, as Ethernet frames.
std::vector<std::string> Fragments(uint16_t id, size_t payload_len, size_t frag,
                                   std::vector<size_t> order) {
  std::string udp = Udp(std::string(payload_len, 'f'));
  std::vector<std::string> frames;
  for (size_t at = 0; at < udp.size(); at += frag) {
    Ipv4Header h = TestIpv4(kProtoUdp, id);
    h.fragment_offset = static_cast<uint16_t>(at);
    h.mf = at + frag < udp.size();
    frames.push_back(EthIp(Ipv4Packet(h, udp.substr(at, frag))));
  }
  std::vector<std::string> out;
  for (size_t i : order) {
    if (i < frames.size()) out.push_back(frames[i]);
  }
  return out;
}

std::vector<Sample> Seeds() {
  std::vector<Sample> v;
  auto add = [&](const char* name, std::string bytes) { v.push_back({name, "", std::move(bytes)}); };
  add("arp_request", FuzzInput(0, {EthernetFrame(kEtherTypeArp, ArpBytes(kArpRequest))}));
  add("arp_reply", FuzzInput(1, {EthernetFrame(kEtherTypeArp, ArpBytes(kArpReply))}));
  add("icmp_echo", FuzzInput(2, {EthIp(Ip(kProtoIcmp, IcmpEcho(kIcmpEchoRequest, 7, 1, "abcdefgh")))}));
  add("icmp_frag_needed",
      FuzzInput(3, {EthIp(Ip(kProtoIcmp, IcmpError(kIcmpUnreachable, kIcmpFragmentationNeeded,
                                                     Offending(), 1280)))}));
  add("icmp_time_exceeded",
      FuzzInput(4, {EthIp(Ip(kProtoIcmp, IcmpError(kIcmpTimeExceeded, 0, Offending())))}));
  add("udp", FuzzInput(5, {EthIp(Ip(kProtoUdp, Udp("hello, world")))}));
  add("udp_no_checksum",
      FuzzInput(6, {EthIp(Ip(kProtoUdp, UdpDatagram(1, 2, kTestSrc, kTestDst, "x", false)))}));
  add("ipv4_options",
      FuzzInput(7, {EthIp(Ip(kProtoUdp, Udp("o"),
                             {kIpOptRecordRoute, 7, 4, 0, 0, 0, 0, kIpOptNop, kIpOptTimestamp, 12,
                              5, 1, 0, 0, 0, 0, 0, 0, 0, 0, kIpOptRouterAlert, 4, 0, 0}))}));
  add("fragments_in_order", FuzzInput(8, Fragments(1, 100, 48, {0, 1, 2})));
  add("fragments_reversed", FuzzInput(9, Fragments(2, 100, 48, {2, 1, 0})));
  add("fragments_duplicated", FuzzInput(10, Fragments(3, 60, 16, {0, 0, 1, 3, 2, 3, 4})));
  std::vector<std::string> overlap = Fragments(4, 100, 48, {0, 2});
  for (const std::string& f : Fragments(4, 100, 40, {1})) overlap.push_back(f);
  add("fragments_overlapping", FuzzInput(11, overlap));
  std::vector<std::string> many;
  for (uint16_t id = 10; id < 16; ++id) {
    for (const std::string& f : Fragments(id, 200, 64, {0, 2})) many.push_back(f);
  }
  add("fragments_many_datagrams", FuzzInput(12, many));
  std::vector<std::string> icmp_frags;
  {
    std::string m = IcmpEcho(kIcmpEchoRequest, 9, 9, std::string(100, 'p'));
    for (size_t at = 0; at < m.size(); at += 56) {
      Ipv4Header h = TestIpv4(kProtoIcmp, 77);
      h.fragment_offset = static_cast<uint16_t>(at);
      h.mf = at + 56 < m.size();
      icmp_frags.push_back(EthIp(Ipv4Packet(h, m.substr(at, 56))));
    }
  }
  add("fragments_icmp", FuzzInput(13, icmp_frags));
  uint8_t seed = 20;
  for (const Sample& m : Malformed()) {
    v.push_back({"malformed_" + m.name, "", FuzzInput(seed++, {m.bytes})});
  }
  return v;
}

bool WriteFile(const std::filesystem::path& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << data;
  return static_cast<bool>(f);
}

int Main(int argc, char** argv) {
  std::filesystem::path malformed_dir, seed_dir;
  if (argc > 1) {
    malformed_dir = std::filesystem::path(argv[1]) / "malformed";
    seed_dir = std::filesystem::path(argv[1]) / "ip_input";
  } else {
    const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
    if (ws == nullptr) {
      std::fprintf(stderr, "make_corpus: run with bazel run, or give an output directory\n");
      return 2;
    }
    malformed_dir = std::filesystem::path(ws) / "modules/ip/testdata/malformed";
    seed_dir = std::filesystem::path(ws) / "tests/fuzz/corpus/ip_input";
  }
  std::filesystem::create_directories(malformed_dir);
  std::filesystem::create_directories(seed_dir);
  int n = 0;
  for (const Sample& s : Malformed()) {
    std::string text = "# " + s.what + ": refused with " + s.name.substr(0, s.name.find("__")) +
                       " (written by modules/ip/fuzz/make_corpus.cc)\n" + ToHex(s.bytes);
    if (!WriteFile(malformed_dir / (s.name + ".hex"), text)) return 1;
    n++;
  }
  for (const Sample& s : Seeds()) {
    if (!WriteFile(seed_dir / (s.name + ".bin"), s.bytes)) return 1;
    n++;
  }
  std::printf("make_corpus: wrote %d files under %s and %s\n", n, malformed_dir.c_str(),
              seed_dir.c_str());
  return 0;
}

}  // namespace
}  // namespace ustreams::ip::testing

int main(int argc, char** argv) { return ustreams::ip::testing::Main(argc, argv); }
