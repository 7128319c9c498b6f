#include "modules/ip/packet_view.h"

#include <cstring>

#include "modules/ip/checksum.h"

namespace ustreams::ip {

PacketView PacketView::OfChain(const mblk_t* mp) {
  if (mp == nullptr) return PacketView();
  return PacketView(mp, 0, msgsize(mp));
}

PacketView PacketView::Sub(size_t off, size_t len) const {
  if (off >= len_) return PacketView();
  size_t avail = len_ - off;
  if (len > avail) len = avail;
  if (mp_ == nullptr) return PacketView(data_ + off, len);
  // Move to the block holding the window's first byte, so later reads start there.
  const mblk_t* mp = mp_;
  size_t skip = skip_ + off;
  while (mp != nullptr && skip >= MBLKL(mp)) {
    skip -= MBLKL(mp);
    mp = mp->b_cont;
  }
  if (mp == nullptr) return PacketView();  // the chain is shorter than the view said
  return PacketView(mp, skip, len);
}

bool PacketView::Copy(size_t off, size_t n, void* dst) const {
  if (off > len_ || n > len_ - off) return false;
  if (n == 0) return true;
  if (mp_ == nullptr) {
    std::memcpy(dst, data_ + off, n);
    return true;
  }
  auto* out = static_cast<uint8_t*>(dst);
  size_t skip = skip_ + off;
  for (const mblk_t* mp = mp_; mp != nullptr && n > 0; mp = mp->b_cont) {
    size_t bl = MBLKL(mp);
    if (skip >= bl) {
      skip -= bl;
      continue;
    }
    size_t take = bl - skip < n ? bl - skip : n;
    std::memcpy(out, mp->b_rptr + skip, take);
    out += take;
    n -= take;
    skip = 0;
  }
  return n == 0;
}

const uint8_t* PacketView::Peek(size_t off, size_t n, uint8_t* scratch) const {
  if (off > len_ || n > len_ - off) return nullptr;
  if (mp_ == nullptr) return data_ + off;
  if (n == 0) return scratch;
  size_t skip = skip_ + off;
  const mblk_t* mp = mp_;
  while (mp != nullptr && skip >= MBLKL(mp)) {
    skip -= MBLKL(mp);
    mp = mp->b_cont;
  }
  if (mp != nullptr && MBLKL(mp) - skip >= n) return mp->b_rptr + skip;
  return Copy(off, n, scratch) ? scratch : nullptr;
}

uint8_t PacketView::U8(size_t off) const {
  uint8_t b[1];
  return Copy(off, 1, b) ? b[0] : 0;
}

uint16_t PacketView::Be16(size_t off) const {
  uint8_t b[2];
  if (!Copy(off, 2, b)) return 0;
  return static_cast<uint16_t>((b[0] << 8) | b[1]);
}

uint32_t PacketView::Be32(size_t off) const {
  uint8_t b[4];
  if (!Copy(off, 4, b)) return 0;
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

uint32_t PacketView::Sum(uint32_t sum) const {
  if (mp_ == nullptr) return ChecksumAdd(data_, len_, sum);
  return ChainSum(mp_, skip_, len_, sum);
}

std::string PacketView::ToString() const {
  std::string s(len_, '\0');
  if (!Copy(0, len_, s.data())) s.clear();
  return s;
}

mblk_t* TrimFront(mblk_t* mp, size_t n) {
  while (mp != nullptr && n > 0 && n >= MBLKL(mp)) {
    n -= MBLKL(mp);
    mblk_t* next = mp->b_cont;
    freeb(mp);
    mp = next;
  }
  if (mp != nullptr) mp->b_rptr += n;
  return mp;
}

void TrimTo(mblk_t* mp, size_t len) {
  for (; mp != nullptr; mp = mp->b_cont) {
    if (MBLKL(mp) >= len) {
      mp->b_wptr = mp->b_rptr + len;
      if (mp->b_cont != nullptr) freemsg(mp->b_cont);
      mp->b_cont = nullptr;
      return;
    }
    len -= MBLKL(mp);
  }
}

}  // namespace ustreams::ip
