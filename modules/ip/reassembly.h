// IPv4 fragment reassembly (RFC 791 §3.2, RFC 815), as a pure core: no clock, no timers, no
// queues. IP hands it fragments with the current time, arms one timer at NextDeadline(), and
// calls Expire() when it fires (smoltcp's poll_at style; DESIGN §3, STYLE rule 2).
//
// Theory of operation
// -------------------
// Datagrams in progress are keyed by (source, destination, protocol, id) (RFC 791). Each holds its
// fragments as the message blocks they arrived in, sorted by offset and never overlapping: the
// fragment at offset 0 keeps its IP header, the others are trimmed to their payload (b_rptr
// moves, nothing is copied). When the payload bytes held equal the end the last fragment (MF
// clear) announced, the fragments are linked into one chain behind the first one's header, which
// is rewritten (total length, MF and offset cleared, checksum): the completed datagram is a chain
// of the original blocks. Only when that header is shared (db_ref > 1) or split across blocks is
// one block allocated and the header copied into it.
//
// Rules (each drop is counted by its ReassemblyDrop reason):
//  - Any overlap between fragments drops the whole datagram (kOverlap), RFC 5722 applied to IPv4
//    as Linux has since 2018 ("ip: discard IPv4 datagrams with overlapping segments"). This also
//    defeats the RFC 1858 overlapping-fragment attack. An exact duplicate (same offset, same
//    length, same MF) is the network's doing (the loop link duplicates on purpose): it is dropped
//    alone (kDuplicate) and the datagram goes on.
//  - Inconsistent fragments drop the whole datagram: a fragment with MF set whose payload is not
//    a multiple of 8 (kNotMultipleOf8), a fragment with no payload (kEmptyFragment, as Linux),
//    two last fragments with different ends, data beyond the announced end, a last fragment
//    ending before data already held, or the same range sent with and without MF (kEndMismatch),
//    and a datagram that would exceed 65535 bytes (kTooLong).
//  - Tiny fragments (RFC 1858 §3.1). The checks above already make every first fragment that is
//    not the whole datagram carry a nonzero multiple of 8 bytes, so the UDP and ICMP headers are
//    always whole in it; a TCP header may be split. No stricter "first fragment too short" rule is
//    applied because nothing here filters on fragments: IP classifies and delivers only completed
//    datagrams, so a transport header split across fragments reaches no decision before it is
//    whole. A stack that adds per-fragment filtering must add that rule with it.
//  - Timeout: a datagram must complete within `timeout` of its first fragment's arrival (fixed
//    from creation, not refreshed per fragment, so trickling fragments cannot keep one alive;
//    RFC 1122 §3.3.2 recommends 60 to 120 s, Linux uses 30 s). Expire() hands back the offset-0
//    fragment of each datagram that timed out so IP can send ICMP time exceeded, code 1, which
//    RFC 792 sends only when fragment zero is available.
//  - Bounds: bytes held (each fragment charged for its blocks' whole buffers plus headers, since
//    a tiny fragment in a big buffer holds the whole buffer), datagrams in progress, fragments
//    per datagram. Past the byte or datagram bound the oldest datagrams are evicted (kMemory,
//    kTooManyDatagrams) to make room for the newcomer; a datagram with too many fragments is
//    dropped (kTooManyFragments).
//
// Every path frees what it drops; destroying the reassembler frees everything it holds. Not
// synchronised: IP calls it under its own lock (or one per squeue). `now` must not go backwards.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "modules/ip/wire.h"
#include "streams/msg.h"

namespace ustreams::ip {

struct ReassemblyConfig {
  absl::Duration timeout = absl::Seconds(60);
  size_t max_bytes = size_t{4} << 20;  // charged bytes held (see above)
  size_t max_datagrams = 1024;         // in progress at once
  // Per datagram. A 65535-byte datagram takes 45 fragments at MTU 1500 and 119 at MTU 576.
  size_t max_fragments = 128;
};

enum class ReassemblyDrop : uint8_t {
  kDuplicate,         // a fragment: same range as one held (the datagram goes on)
  kShortMessage,      // a fragment: the message holds less than its total length (caller bug)
  kOverlap,           // a datagram: fragments overlap
  kNotMultipleOf8,    // a datagram: MF set and payload not a multiple of 8
  kEmptyFragment,     // a datagram: a fragment without payload
  kEndMismatch,       // a datagram: last fragments disagree, or data beyond the end
  kTooLong,           // a datagram: more than 65535 bytes
  kTooManyFragments,  // a datagram: more than max_fragments
  kTimeout,           // a datagram: not complete in time
  kMemory,            // a datagram: evicted (oldest first) to stay under max_bytes
  kTooManyDatagrams,  // a datagram: evicted (oldest first) to stay under max_datagrams
  kNoBuffer,          // a datagram: no block for its rewritten header
};
inline constexpr size_t kReassemblyDropCount = static_cast<size_t>(ReassemblyDrop::kNoBuffer) + 1;
const char* ReassemblyDropName(ReassemblyDrop r);  // "overlap", ...

struct ReassemblyStats {
  uint64_t fragments = 0;        // fragments handed to Add
  uint64_t reassembled = 0;      // datagrams completed
  uint64_t fragments_freed = 0;  // fragments freed by drops of any reason (not handed back)
  // Drop events by reason: fragments for kDuplicate and kShortMessage, datagrams for the others
  // (a fragment refused by a datagram rule while no datagram was in progress counts as one).
  std::array<uint64_t, kReassemblyDropCount> drops{};
  uint64_t drop(ReassemblyDrop r) const { return drops[static_cast<size_t>(r)]; }
};

class Reassembler {
 public:
  explicit Reassembler(const ReassemblyConfig& config = {});
  ~Reassembler();  // frees every fragment held
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Consumes `packet`: one received datagram (IP header first, M_DATA blocks; anything past
  // h.total_length, such as link padding, is trimmed) whose header h ParseIpv4 validated. Returns
  // the completed datagram when this fragment completes one (and its header in *completed if
  // given; its payload view looks into the returned chain), else an empty MsgPtr: the fragment is
  // held, or was dropped and counted. A packet that is not a fragment is returned as it came.
  // Add does not expire datagrams: that is Expire's job, at NextDeadline().
  MsgPtr Add(absl::Time now, const Ipv4Header& h, MsgPtr packet, Ipv4Header* completed = nullptr);

  // Drops every datagram whose deadline is at or before `now` (kTimeout). The offset-0 fragment
  // of each (header and payload as received) is moved to *first_fragments if given, for ICMP
  // time exceeded; otherwise freed.
  void Expire(absl::Time now, std::vector<MsgPtr>* first_fragments = nullptr);

  // When the oldest datagram times out; absl::InfiniteFuture() when none is in progress.
  absl::Time NextDeadline() const;

  size_t datagrams() const { return list_.size(); }
  size_t bytes_held() const { return bytes_; }
  const ReassemblyStats& stats() const { return stats_; }
  const ReassemblyConfig& config() const { return config_; }

 private:
  struct Key {
    uint32_t src;
    uint32_t dst;
    uint16_t id;
    uint8_t protocol;
    bool operator==(const Key& o) const {
      return src == o.src && dst == o.dst && id == o.id && protocol == o.protocol;
    }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.src, k.dst, k.id, k.protocol);
    }
  };
  struct Fragment {
    uint32_t start;  // payload offset
    uint32_t end;    // one past the last payload byte
    bool last;       // MF was clear
    size_t charge;   // bytes charged to the memory bound
    MsgPtr data;     // offset 0: header and payload; others: payload only
  };
  struct Datagram {
    Key key;
    absl::Time deadline;
    uint32_t end = 0;  // payload length, once a last fragment arrived
    bool end_known = false;
    uint32_t received = 0;  // payload bytes held
    size_t charge = 0;
    uint8_t first_header_length = 0;  // of the offset-0 fragment, once it arrived
    std::vector<Fragment> frags;      // sorted by start, disjoint
  };
  using List = std::list<Datagram>;

  // Drops a whole datagram, counting `reason` once and its fragments as freed.
  void Drop(List::iterator it, ReassemblyDrop reason);
  // Counts a fragment dropped without touching any datagram (it is freed by its MsgPtr).
  void DropFragment(ReassemblyDrop reason);
  // Evicts the oldest datagrams other than `keep` until `charge` more bytes fit; false if they
  // cannot fit even then.
  bool MakeRoom(size_t charge, List::iterator keep);
  // Links the fragments of a complete datagram behind the rewritten first header.
  MsgPtr Assemble(List::iterator it, Ipv4Header* completed);
  void Count(ReassemblyDrop r) { stats_.drops[static_cast<size_t>(r)]++; }

  ReassemblyConfig config_;
  List list_;  // oldest first: creation order is deadline order (one fixed timeout)
  absl::flat_hash_map<Key, List::iterator> index_;
  size_t bytes_ = 0;
  ReassemblyStats stats_;
};

}  // namespace ustreams::ip
