#include "modules/ip/reassembly.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>

#include "modules/ip/checksum.h"

namespace ustreams::ip {
namespace {

constexpr const char* kDropNames[] = {
    "duplicate",   "short_message", "overlap",  "not_multiple_of_8",  "empty_fragment",
    "end_mismatch", "too_long",     "too_many_fragments", "timeout", "memory",
    "too_many_datagrams", "no_buffer",
};
static_assert(std::size(kDropNames) == kReassemblyDropCount, "a ReassemblyDrop without a name");

// What a chain holds on to: every block's whole buffer and its headers.
size_t TrueSize(const mblk_t* mp) {
  size_t n = 0;
  for (; mp != nullptr; mp = mp->b_cont) n += MBLKSIZE(mp) + sizeof(mblk_t) + sizeof(dblk_t);
  return n;
}



mblk_t* LastBlock(mblk_t* mp) {
  while (mp->b_cont != nullptr) mp = mp->b_cont;
  return mp;
}

inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace

const char* ReassemblyDropName(ReassemblyDrop r) {
  auto i = static_cast<size_t>(r);
  return i < kReassemblyDropCount ? kDropNames[i] : "unknown";
}

Reassembler::Reassembler(const ReassemblyConfig& config) : config_(config) {}

Reassembler::~Reassembler() = default;  // the fragments' MsgPtrs free every chain

absl::Time Reassembler::NextDeadline() const {
  return list_.empty() ? absl::InfiniteFuture() : list_.front().deadline;
}

void Reassembler::DropFragment(ReassemblyDrop reason) {
  Count(reason);
  stats_.fragments_freed++;
}

void Reassembler::Drop(List::iterator it, ReassemblyDrop reason) {
  Count(reason);
  for (const Fragment& f : it->frags) stats_.fragments_freed += f.data ? 1 : 0;
  bytes_ -= it->charge;
  index_.erase(it->key);
  list_.erase(it);  // frees the fragments
}

bool Reassembler::MakeRoom(size_t charge, List::iterator keep) {
  auto it = list_.begin();
  while (bytes_ + charge > config_.max_bytes && it != list_.end()) {
    if (it == keep) {
      ++it;
      continue;
    }
    Drop(it++, ReassemblyDrop::kMemory);
  }
  return bytes_ + charge <= config_.max_bytes;
}

void Reassembler::Expire(absl::Time now, std::vector<MsgPtr>* first_fragments) {
  while (!list_.empty() && list_.front().deadline <= now) {
    Datagram& d = list_.front();
    if (first_fragments != nullptr && !d.frags.empty() && d.frags.front().start == 0) {
      first_fragments->push_back(std::move(d.frags.front().data));
    }
    Drop(list_.begin(), ReassemblyDrop::kTimeout);
  }
}

MsgPtr Reassembler::Add(absl::Time now, const Ipv4Header& h, MsgPtr packet,
                        Ipv4Header* completed) {
  if (!h.is_fragment()) return packet;
  stats_.fragments++;
  if (!packet || h.total_length < h.header_length || msgsize(packet.get()) < h.total_length) {
    DropFragment(ReassemblyDrop::kShortMessage);
    return MsgPtr();
  }
  const uint32_t start = h.fragment_offset;
  const uint32_t len = h.total_length - h.header_length;
  const uint32_t end = start + len;
  const bool last = !h.mf;
  const Key key{h.src, h.dst, h.id, h.protocol};
  auto found = index_.find(key);

  // Rules a fragment breaks on its own drop the datagram it belongs to, if one is in progress.
  std::optional<ReassemblyDrop> bad;
  if (len == 0) {
    bad = ReassemblyDrop::kEmptyFragment;
  } else if (!last && len % 8 != 0) {
    bad = ReassemblyDrop::kNotMultipleOf8;
  } else if (end + (start == 0 ? h.header_length : kIpv4MinHeaderLength) > kIpv4MaxDatagram) {
    bad = ReassemblyDrop::kTooLong;
  }
  if (bad) {
    if (found != index_.end()) {
      stats_.fragments_freed++;  // this one, besides the datagram's
      Drop(found->second, *bad);
    } else {
      DropFragment(*bad);
    }
    return MsgPtr();
  }

  List::iterator it;
  if (found != index_.end()) {
    it = found->second;
  } else {
    while (list_.size() >= config_.max_datagrams && !list_.empty()) {
      Drop(list_.begin(), ReassemblyDrop::kTooManyDatagrams);
    }
    if (config_.max_datagrams == 0) {
      DropFragment(ReassemblyDrop::kTooManyDatagrams);
      return MsgPtr();
    }
    it = list_.emplace(list_.end());
    it->key = key;
    it->deadline = now + config_.timeout;
    index_.emplace(key, it);
  }
  Datagram& d = *it;

  // Consistency with what the datagram holds. A rule broken here drops it, this fragment too.
  auto drop_with_this = [&](ReassemblyDrop reason) {
    stats_.fragments_freed++;
    Drop(it, reason);
    return MsgPtr();
  };
  uint32_t max_end = d.frags.empty() ? 0 : d.frags.back().end;
  if (last) {
    if ((d.end_known && end != d.end) || max_end > end) {
      return drop_with_this(ReassemblyDrop::kEndMismatch);
    }
  } else if (d.end_known && end > d.end) {
    return drop_with_this(ReassemblyDrop::kEndMismatch);
  }
  auto pos = std::lower_bound(d.frags.begin(), d.frags.end(), start,
                              [](const Fragment& f, uint32_t s) { return f.start < s; });
  if (pos != d.frags.end() && pos->start == start && pos->end == end) {
    if (pos->last != last) return drop_with_this(ReassemblyDrop::kEndMismatch);
    DropFragment(ReassemblyDrop::kDuplicate);
    return MsgPtr();
  }
  if ((pos != d.frags.begin() && std::prev(pos)->end > start) ||
      (pos != d.frags.end() && pos->start < end)) {
    return drop_with_this(ReassemblyDrop::kOverlap);
  }
  if (d.frags.size() >= config_.max_fragments) {
    return drop_with_this(ReassemblyDrop::kTooManyFragments);
  }

  // Keep the header of the first fragment only; drop link padding.
  mblk_t* mp = packet.release();
  TrimTo(mp, h.total_length);
  if (start != 0) mp = TrimFront(mp, h.header_length);
  MsgPtr data(mp);
  size_t charge = TrueSize(data.get());
  if (!MakeRoom(charge, it)) return drop_with_this(ReassemblyDrop::kMemory);

  size_t index = static_cast<size_t>(pos - d.frags.begin());
  d.frags.insert(d.frags.begin() + static_cast<ptrdiff_t>(index),
                 Fragment{start, end, last, charge, std::move(data)});
  d.received += len;
  d.charge += charge;
  bytes_ += charge;
  if (last) {
    d.end = end;
    d.end_known = true;
  }
  if (start == 0) d.first_header_length = h.header_length;
  if (!d.end_known || d.received != d.end) return MsgPtr();
  return Assemble(it, completed);
}

MsgPtr Reassembler::Assemble(List::iterator it, Ipv4Header* completed) {
  Datagram& d = *it;
  // Disjoint fragments inside [0, end) whose lengths add up to end cover it: fragment 0 is here.
  const size_t hl = d.first_header_length;
  if (hl + d.end > kIpv4MaxDatagram) {
    Drop(it, ReassemblyDrop::kTooLong);
    return MsgPtr();
  }
  MsgPtr& head = d.frags.front().data;
  if (MBLKL(head.get()) < hl || DB_REF(head.get()) > 1) {
    // The header is split across blocks or shared: give it a block of its own.
    MsgPtr hdr(allocb(hl));
    if (!hdr) {
      Drop(it, ReassemblyDrop::kNoBuffer);
      return MsgPtr();
    }
    PacketView::OfChain(head.get()).Copy(0, hl, hdr->b_wptr);
    hdr->b_wptr += hl;
    hdr->b_cont = TrimFront(head.release(), hl);
    head = std::move(hdr);
  }
  uint8_t* p = head->b_rptr;
  Put16(p + 2, static_cast<uint16_t>(hl + d.end));
  Put16(p + 6, static_cast<uint16_t>((p[6] << 8) & 0x4000));  // keep DF; MF and offset cleared
  Put16(p + 10, 0);
  Put16(p + 10, InternetChecksum(p, hl));

  mblk_t* chain = head.release();
  mblk_t* tail = LastBlock(chain);
  for (size_t i = 1; i < d.frags.size(); ++i) {
    tail->b_cont = d.frags[i].data.release();
    tail = LastBlock(tail);
  }
  bytes_ -= d.charge;
  index_.erase(d.key);
  list_.erase(it);
  stats_.reassembled++;
  MsgPtr out(chain);
  if (completed != nullptr) {
    Parsed<Ipv4Header> parsed = ParseIpv4(PacketView::OfChain(out.get()), false);
    *completed = parsed.value();
  }
  return out;
}

}  // namespace ustreams::ip
