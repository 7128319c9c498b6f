// The Internet checksum (RFC 1071) over bytes and over mblk_t chains, the IPv4 pseudo-header, and
// incremental updates (RFC 1624).
//
// Sums are kept as "partial sums": the ones'-complement sum of big-endian 16-bit words, folded
// to 16 bits (so any number of them can be added in a uint32_t), in host byte order. A checksum
// field holds ~sum; a message whose sum (checksum field included) folds to 0xffff verifies.
//
// Speed: the byte loop reads 8 bytes at a time (four independent 32-bit lanes summed into 64-bit
// accumulators, 32 bytes per turn) in native byte order; the ones'-complement sum is byte-order
// independent (RFC 1071 §2(B)), so the folded result is swapped once at the end on little-endian
// machines. A chain's blocks may have any length: a block that starts at an odd offset of the
// message contributes its sum byte-swapped (RFC 1071 §2(B) again), so nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>

#include "streams/mblk.h"

namespace ustreams::ip {

// Adds the bytes [data, data + len) to `sum` as big-endian 16-bit words (an odd trailing byte is
// the high byte of a word padded with zero) and returns the folded partial sum. Chaining two
// calls sums the concatenation only if the first range has even length; PacketView::Sum and
// ChainSum handle odd boundaries.
uint32_t ChecksumAdd(const void* data, size_t len, uint32_t sum = 0);

// The partial sum of `len` bytes of a chain, starting `skip` bytes into it (blocks of any length,
// odd ones included). Bytes beyond the chain are not summed: the range is clamped.
uint32_t ChainSum(const mblk_t* mp, size_t skip, size_t len, uint32_t sum = 0);

// Folds a sum of partial sums to 16 bits.
inline uint16_t ChecksumFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The checksum field value for a partial sum taken with the field set to zero.
inline uint16_t ChecksumFinish(uint32_t sum) { return static_cast<uint16_t>(~ChecksumFold(sum)); }

// The Internet checksum of contiguous bytes, and of every block of a chain.
inline uint16_t InternetChecksum(const void* data, size_t len) {
  return ChecksumFinish(ChecksumAdd(data, len));
}
uint16_t InternetChecksum(const mblk_t* mp);

// The partial sum of the IPv4 pseudo-header of UDP and TCP (RFC 768, RFC 9293 §3.1): source,
// destination, zero, protocol, transport length. Addresses in host byte order.
inline uint32_t PseudoHeaderSum(uint32_t src, uint32_t dst, uint8_t protocol, uint16_t length) {
  uint64_t s = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + protocol + length;
  return ChecksumFold(s);
}

// RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changes from old_word
// to new_word, HC' = ~(~HC + ~m + m'). It agrees with a full recomputation, including when the
// result is 0x0000, where RFC 1141's HC' = HC + m + ~m' gives 0xffff (RFC 1624 §3).
inline uint16_t ChecksumAdjust16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  uint32_t s = static_cast<uint16_t>(~checksum) + static_cast<uint32_t>(static_cast<uint16_t>(~old_word)) +
               new_word;
  return static_cast<uint16_t>(~ChecksumFold(s));
}
// The same for a 32-bit field (an address), as two words.
inline uint16_t ChecksumAdjust32(uint16_t checksum, uint32_t old_value, uint32_t new_value) {
  checksum = ChecksumAdjust16(checksum, static_cast<uint16_t>(old_value >> 16),
                              static_cast<uint16_t>(new_value >> 16));
  return ChecksumAdjust16(checksum, static_cast<uint16_t>(old_value),
                          static_cast<uint16_t>(new_value));
}

// Decrements the TTL of the IPv4 header at `header` (contiguous, writable, validated, TTL > 0)
// and updates its checksum incrementally: the forwarding path's per-hop rewrite (RFC 1812
// §5.3.1, §5.2.2 and RFC 1624).
void Ipv4DecrementTtl(uint8_t* header);

}  // namespace ustreams::ip
