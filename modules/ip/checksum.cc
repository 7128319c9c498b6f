#include "modules/ip/checksum.h"

#include <bit>
#include <cstring>

namespace ustreams::ip {
namespace {

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline uint16_t Swap16(uint16_t v) { return static_cast<uint16_t>((v << 8) | (v >> 8)); }

// The ones'-complement sum of the bytes as 16-bit words in *memory* order (native loads), folded
// to 16 bits. Each 8-byte load is split into two 32-bit lanes added to 64-bit accumulators, so
// carries never need handling inside the loop (2^32 turns would be needed to overflow).
uint16_t NativeSum(const uint8_t* p, size_t n) {
  uint64_t a = 0;
  uint64_t b = 0;
  while (n >= 32) {
    uint64_t w0 = Load64(p);
    uint64_t w1 = Load64(p + 8);
    uint64_t w2 = Load64(p + 16);
    uint64_t w3 = Load64(p + 24);
    a += (w0 & 0xffffffff) + (w0 >> 32) + (w1 & 0xffffffff) + (w1 >> 32);
    b += (w2 & 0xffffffff) + (w2 >> 32) + (w3 & 0xffffffff) + (w3 >> 32);
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t w = Load64(p);
    a += (w & 0xffffffff) + (w >> 32);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    b += Load32(p);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, sizeof(w));
    a += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    // The odd byte is the first byte of a word whose second byte is zero, in memory order.
    uint8_t last[2] = {p[0], 0};
    uint16_t w;
    std::memcpy(&w, last, sizeof(w));
    b += w;
  }
  // a + b cannot overflow: each is far below 2^63 for any buffer that fits in memory.
  return ChecksumFold(a + b);
}

// The memory-order sum converted to the value of big-endian words.
inline uint16_t ToHostOrder(uint16_t native_sum) {
  if constexpr (std::endian::native == std::endian::little) return Swap16(native_sum);
  return native_sum;
}

}  // namespace

uint32_t ChecksumAdd(const void* data, size_t len, uint32_t sum) {
  uint16_t s = ToHostOrder(NativeSum(static_cast<const uint8_t*>(data), len));
  return ChecksumFold(static_cast<uint64_t>(sum) + s);
}

uint32_t ChainSum(const mblk_t* mp, size_t skip, size_t len, uint32_t sum) {
  uint64_t acc = sum;
  bool odd = false;  // the next byte sits at an odd offset of the summed range
  for (; mp != nullptr && len > 0; mp = mp->b_cont) {
    size_t n = MBLKL(mp);
    if (skip >= n) {
      skip -= n;
      continue;
    }
    const uint8_t* p = mp->b_rptr + skip;
    n -= skip;
    skip = 0;
    if (n > len) n = len;
    uint16_t s = ToHostOrder(NativeSum(p, n));
    // A block starting at an odd offset holds its words shifted by one byte: its sum is the
    // byte-swapped contribution (RFC 1071 §2(B)).
    acc += odd ? Swap16(s) : s;
    odd ^= (n & 1) != 0;
    len -= n;
  }
  return ChecksumFold(acc);
}

uint16_t InternetChecksum(const mblk_t* mp) {
  return ChecksumFinish(ChainSum(mp, 0, static_cast<size_t>(-1)));
}

void Ipv4DecrementTtl(uint8_t* header) {
  // TTL is the high byte of the word at offset 8 (TTL, protocol); the checksum is at offset 10.
  uint16_t old_word = static_cast<uint16_t>((header[8] << 8) | header[9]);
  header[8] = static_cast<uint8_t>(header[8] - 1);
  uint16_t new_word = static_cast<uint16_t>((header[8] << 8) | header[9]);
  uint16_t checksum = static_cast<uint16_t>((header[10] << 8) | header[11]);
  checksum = ChecksumAdjust16(checksum, old_word, new_word);
  header[10] = static_cast<uint8_t>(checksum >> 8);
  header[11] = static_cast<uint8_t>(checksum);
}

}  // namespace ustreams::ip
