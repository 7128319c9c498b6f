// PacketView: a read-only, bounds-checked window over packet bytes, either contiguous or spread
// over an mblk_t chain. Every read is checked against the window, so a parser built on it cannot
// read outside the packet whatever the packet says; headers that straddle blocks are read by
// copying the few bytes needed, so nothing has to be pulled up before parsing.
//
// A view does not own what it looks at: it is valid while the chain (or buffer) is alive and its
// blocks are neither freed nor reshaped (pullupmsg, adjmsg, b_rptr moves). Views are small values
// (four words); copy them freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "streams/mblk.h"

namespace ustreams::ip {

class PacketView {
 public:
  static constexpr size_t npos = static_cast<size_t>(-1);

  PacketView() = default;
  // Contiguous bytes.
  PacketView(const void* data, size_t len)
      : data_(static_cast<const uint8_t*>(data)), len_(data == nullptr ? 0 : len) {}
  // The bytes of every block of a chain (all message types: pass the M_DATA part).
  static PacketView OfChain(const mblk_t* mp);

  size_t size() const { return len_; }
  bool empty() const { return len_ == 0; }

  // The window [off, off + len) of this view, clamped to what exists (empty past the end).
  PacketView Sub(size_t off, size_t len = npos) const;

  // Copies [off, off + n) to dst and returns true, or returns false without touching dst when
  // the range is not wholly inside the view.
  bool Copy(size_t off, size_t n, void* dst) const;

  // Big-endian reads. Out of range they return 0: a backstop, not a signal (parsers check lengths
  // first, and their tests cut packets at every length).
  uint8_t U8(size_t off) const;
  uint16_t Be16(size_t off) const;
  uint32_t Be32(size_t off) const;

  // [off, off + n) as contiguous bytes: a pointer into the block when the range lies in one,
  // else the range copied to `scratch` (n bytes) and scratch; nullptr when out of range.
  const uint8_t* Peek(size_t off, size_t n, uint8_t* scratch) const;

  // The ones'-complement partial sum of the whole view (see checksum.h), odd blocks included.
  uint32_t Sum(uint32_t sum = 0) const;

  // The bytes, copied (tests and debugging).
  std::string ToString() const;

  // The chain the view starts in and the offset in that block (nullptr for contiguous bytes).
  const mblk_t* chain() const { return mp_; }

 private:
  PacketView(const mblk_t* mp, size_t skip, size_t len) : mp_(mp), skip_(skip), len_(len) {}

  const mblk_t* mp_ = nullptr;    // first block of the window, or nullptr for contiguous bytes
  const uint8_t* data_ = nullptr;  // contiguous bytes when mp_ is nullptr
  size_t skip_ = 0;               // bytes of *mp_ before the window
  size_t len_ = 0;
};

// Chain trimming for packets that arrive with bytes around them (a link header, link padding).
// Removes n bytes from the front of a chain, freeing the blocks it empties; returns the new head
// (nullptr when nothing is left).
mblk_t* TrimFront(mblk_t* mp, size_t n);
// Keeps the first len bytes of a chain (len <= its size) and frees the blocks past them.
void TrimTo(mblk_t* mp, size_t len);

}  // namespace ustreams::ip
