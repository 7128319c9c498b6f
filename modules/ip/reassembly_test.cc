#include "modules/ip/reassembly.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "modules/ip/wire_test_util.h"
#include "streams/alloc.h"
#include "streams/msg.h"
#include "streams/testing/leak_check.h"

namespace ustreams::ip {
namespace {

using testing::Chain;
using testing::RandomChain;
using testing::TestIpv4;

const absl::Time kT0 = absl::UnixEpoch() + absl::Hours(1);

// One fragment as IP would hand it over: the message and its validated header.
struct Frag {
  Ipv4Header h;
  MsgPtr mp;
};

struct FragSpec {
  uint32_t start;
  uint32_t len;
  bool mf;
};

std::string Payload(size_t n, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// A fragment carrying payload[start, start + len) of datagram `id`, as a chain of the given
// block sizes, optionally followed by link padding.
Frag MakeFrag(const std::string& payload, FragSpec f, uint16_t id = 7,
              std::vector<size_t> blocks = {}, size_t padding = 0,
              std::span<const uint8_t> options = {}, uint8_t protocol = kProtoUdp,
              uint32_t src = testing::kTestSrc) {
  Ipv4Header h = TestIpv4(protocol, id);
  h.src = src;
  h.mf = f.mf;
  h.fragment_offset = static_cast<uint16_t>(f.start);
  std::string body = f.start < payload.size() ? payload.substr(f.start, f.len) : std::string();
  body.resize(f.len, 'Z');  // past the payload (tests of bad ends): filler
  std::string bytes = testing::Ipv4Packet(h, body, options) + std::string(padding, '\0');
  Frag out;
  out.mp = blocks.empty() ? Chain(bytes, {bytes.size()}) : Chain(bytes, blocks);
  Parsed<Ipv4Header> p = ParseIpv4(PacketView::OfChain(out.mp.get()));
  EXPECT_TRUE(p.ok()) << WireErrorName(p.error());
  out.h = *p;
  return out;
}

// Splits `payload` into fragments of `size` bytes (a multiple of 8), the last with MF clear.
std::vector<FragSpec> Split(size_t payload, size_t size) {
  std::vector<FragSpec> v;
  for (size_t at = 0; at < payload; at += size) {
    size_t n = std::min(size, payload - at);
    v.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(n), at + n < payload});
  }
  return v;
}

class ReassemblyTest : public ustreams::testing::LeakCheckedTest {
 protected:
  MsgPtr Add(Reassembler& r, Frag f, absl::Time now = kT0, Ipv4Header* done = nullptr) {
    return r.Add(now, f.h, std::move(f.mp), done);
  }
  // Feeds fragments in the given order; expects completion exactly at the last one.
  MsgPtr FeedAll(Reassembler& r, const std::string& payload, const std::vector<FragSpec>& specs,
                 const std::vector<size_t>& order, std::mt19937* rng = nullptr) {
    MsgPtr out;
    for (size_t i = 0; i < order.size(); ++i) {
      const FragSpec& s = specs[order[i]];
      std::vector<size_t> blocks;
      if (rng != nullptr) {
        for (int k = 0; k < 4; ++k) blocks.push_back((*rng)() % 40);
      }
      out = Add(r, MakeFrag(payload, s, 7, blocks, rng != nullptr ? (*rng)() % 3 : 0));
      if (i + 1 < order.size()) {
        EXPECT_FALSE(out) << "completed early at " << i;
      }
    }
    return out;
  }
  // The completed datagram is the original payload behind a correct, unfragmented header.
  void ExpectDatagram(const MsgPtr& mp, const std::string& payload, uint8_t hl = 20,
                      uint16_t id = 7) {
    ASSERT_TRUE(mp);
    PacketView v = PacketView::OfChain(mp.get());
    Parsed<Ipv4Header> h = ParseIpv4(v);
    ASSERT_TRUE(h.ok()) << WireErrorName(h.error());
    EXPECT_EQ(h->header_length, hl);
    EXPECT_EQ(h->total_length, hl + payload.size());
    EXPECT_EQ(v.size(), hl + payload.size());
    EXPECT_FALSE(h->mf);
    EXPECT_EQ(h->fragment_offset, 0);
    EXPECT_EQ(h->id, id);
    EXPECT_EQ(h->payload.ToString(), payload);
  }
};

// ---- Completion ----

TEST_F(ReassemblyTest, NotAFragmentPassesThrough) {
  Reassembler r;
  std::string p = Payload(100);
  Frag f = MakeFrag(p, {0, 100, false});
  mblk_t* raw = f.mp.get();
  MsgPtr out = Add(r, std::move(f));
  EXPECT_EQ(out.get(), raw);
  EXPECT_EQ(r.stats().fragments, 0u);
  EXPECT_EQ(r.datagrams(), 0u);
}

TEST_F(ReassemblyTest, InOrder) {
  Reassembler r;
  std::string p = Payload(4000);
  auto specs = Split(p.size(), 1480);
  Ipv4Header done;
  MsgPtr out;
  for (size_t i = 0; i < specs.size(); ++i) {
    out = Add(r, MakeFrag(p, specs[i]), kT0, &done);
    if (i + 1 < specs.size()) {
      EXPECT_FALSE(out);
      EXPECT_EQ(r.datagrams(), 1u);
      EXPECT_GT(r.bytes_held(), 0u);
    }
  }
  ExpectDatagram(out, p);
  EXPECT_EQ(done.total_length, 4020);
  EXPECT_EQ(done.payload.ToString(), p);
  EXPECT_EQ(r.datagrams(), 0u);
  EXPECT_EQ(r.bytes_held(), 0u);
  EXPECT_EQ(r.stats().fragments, 3u);
  EXPECT_EQ(r.stats().reassembled, 1u);
  EXPECT_EQ(r.NextDeadline(), absl::InfiniteFuture());
}

TEST_F(ReassemblyTest, NoCopiesTheBlocksAreTheOriginals) {
  Reassembler r;
  std::string p = Payload(64);
  Frag a = MakeFrag(p, {0, 32, true});
  Frag b = MakeFrag(p, {32, 32, false});
  const mblk_t* a_block = a.mp.get();
  const mblk_t* b_block = b.mp.get();
  EXPECT_FALSE(Add(r, std::move(a)));
  MsgPtr out = Add(r, std::move(b));
  ExpectDatagram(out, p);
  EXPECT_EQ(out.get(), a_block);
  EXPECT_EQ(out->b_cont, b_block);
  EXPECT_EQ(out->b_cont->b_cont, nullptr);
}

TEST_F(ReassemblyTest, OutOfOrderEveryPermutationOfFour) {
  std::string p = Payload(100);
  auto specs = Split(p.size(), 32);
  ASSERT_EQ(specs.size(), 4u);
  std::vector<size_t> order = {0, 1, 2, 3};
  do {
    Reassembler r;
    ExpectDatagram(FeedAll(r, p, specs, order), p);
    EXPECT_EQ(r.bytes_held(), 0u);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST_F(ReassemblyTest, RandomOrdersChainsAndPadding) {
  std::mt19937 rng(21);
  ReassemblyConfig c;
  c.max_fragments = 400;  // 8-byte fragments of up to 3008 bytes
  for (int round = 0; round < 200; ++round) {
    Reassembler r(c);
    // At least two fragments: a whole datagram is not a fragment and passes through untouched.
    std::string p = Payload(9 + rng() % 3000, round);
    auto specs = Split(p.size(), 8 * (1 + rng() % std::min<size_t>(40, (p.size() - 1) / 8)));
    std::vector<size_t> order(specs.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    ExpectDatagram(FeedAll(r, p, specs, order, &rng), p);
    EXPECT_EQ(r.bytes_held(), 0u);
    for (size_t k = 0; k < kReassemblyDropCount; ++k) {
      EXPECT_EQ(r.stats().drops[k], 0u) << ReassemblyDropName(static_cast<ReassemblyDrop>(k));
    }
  }
}

TEST_F(ReassemblyTest, FirstFragmentOptionsKept) {
  Reassembler r;
  std::string p = Payload(48);
  const uint8_t ra[4] = {kIpOptRouterAlert, 4, 0, 0};
  Frag first = MakeFrag(p, {0, 24, true}, 7, {}, 0, ra);
  EXPECT_FALSE(Add(r, std::move(first)));
  Frag last = MakeFrag(p, {24, 24, false});  // options are not copied into later fragments
  MsgPtr out = Add(r, std::move(last));
  ExpectDatagram(out, p, 24);
  Parsed<Ipv4Header> h = ParseIpv4(PacketView::OfChain(out.get()));
  EXPECT_TRUE(h->options.router_alert);
}

TEST_F(ReassemblyTest, HeaderSplitAcrossBlocksGetsABlockOfItsOwn) {
  Reassembler r;
  std::string p = Payload(40);
  EXPECT_FALSE(Add(r, MakeFrag(p, {16, 24, false})));
  MsgPtr out = Add(r, MakeFrag(p, {0, 16, true}, 7, {7, 9, 5}));
  ExpectDatagram(out, p);
  EXPECT_EQ(MBLKL(out.get()), 20u);
}

TEST_F(ReassemblyTest, SharedHeaderIsCopiedNotWritten) {
  Reassembler r;
  std::string p = Payload(40);
  Frag first = MakeFrag(p, {0, 16, true});
  MsgPtr keep(dupmsg(first.mp.get()));  // someone else (a pcap tap) holds the same blocks
  std::string before = MsgBytes(keep.get());
  EXPECT_FALSE(Add(r, std::move(first)));
  MsgPtr out = Add(r, MakeFrag(p, {16, 24, false}));
  ExpectDatagram(out, p);
  EXPECT_EQ(MsgBytes(keep.get()), before);
}

TEST_F(ReassemblyTest, NoBufferForTheHeader) {
  Reassembler r;
  std::string p = Payload(40);
  Frag first = MakeFrag(p, {0, 16, true}, 7, {10, 0});  // the header straddles two blocks
  Frag last = MakeFrag(p, {16, 24, false});
  EXPECT_FALSE(Add(r, std::move(first)));
  AllocFaults::FailEveryNth(1);
  EXPECT_FALSE(Add(r, std::move(last)));
  AllocFaults::Clear();
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kNoBuffer), 1u);
  EXPECT_EQ(r.datagrams(), 0u);
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST_F(ReassemblyTest, Max65535ByteDatagram) {
  std::mt19937 rng(5);
  std::string p = Payload(65535 - 20);
  auto specs = Split(p.size(), 1480);
  EXPECT_EQ(specs.size(), 45u);
  std::vector<size_t> order(specs.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  Reassembler r;
  MsgPtr out = FeedAll(r, p, specs, order);
  ExpectDatagram(out, p);
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST_F(ReassemblyTest, OneByteTooLong) {
  Reassembler r;
  std::string p = Payload(65535 - 20 + 1);
  auto specs = Split(p.size(), 1480);
  // The last fragment alone says the datagram would be 65536 bytes.
  MsgPtr out = Add(r, MakeFrag(p, specs.back()));
  EXPECT_FALSE(out);
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kTooLong), 1u);
  // Held fragments go with it when it belongs to a datagram in progress.
  EXPECT_FALSE(Add(r, MakeFrag(p, specs[0])));
  EXPECT_FALSE(Add(r, MakeFrag(p, specs.back())));
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kTooLong), 2u);
  EXPECT_EQ(r.datagrams(), 0u);
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST_F(ReassemblyTest, TooLongOnlyWithTheFirstFragmentsOptions) {
  // 65512 bytes of payload fit behind a 20-byte header, not behind a 24-byte one.
  Reassembler r;
  std::string p = Payload(65512);
  auto specs = Split(p.size(), 8192);
  const uint8_t ra[4] = {kIpOptRouterAlert, 4, 0, 0};
  for (size_t i = 1; i < specs.size(); ++i) EXPECT_FALSE(Add(r, MakeFrag(p, specs[i])));
  EXPECT_FALSE(Add(r, MakeFrag(p, specs[0], 7, {}, 0, ra)));
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kTooLong), 1u);
  EXPECT_EQ(r.datagrams(), 0u);
}

TEST_F(ReassemblyTest, DatagramsAreKeyedBySrcDstProtocolId) {
  Reassembler r;
  std::string p = Payload(32);
  // Same id, different protocol and source: four datagrams.
  EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true}, 7, {}, 0, {}, kProtoUdp)));
  EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true}, 7, {}, 0, {}, kProtoIcmp)));
  EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true}, 7, {}, 0, {}, kProtoUdp, 0x0a000009)));
  EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true}, 8)));
  EXPECT_EQ(r.datagrams(), 4u);
  ExpectDatagram(Add(r, MakeFrag(p, {16, 16, false}, 7, {}, 0, {}, kProtoUdp)), p);
  EXPECT_EQ(r.datagrams(), 3u);
}

// ---- Duplicates and overlaps ----

TEST_F(ReassemblyTest, ExactDuplicatesAreDroppedAlone) {
  std::string p = Payload(100);
  auto specs = Split(p.size(), 32);
  Reassembler r;
  for (size_t i = 0; i + 1 < specs.size(); ++i) {
    EXPECT_FALSE(Add(r, MakeFrag(p, specs[i])));
    EXPECT_FALSE(Add(r, MakeFrag(p, specs[i])));
  }
  ExpectDatagram(Add(r, MakeFrag(p, specs.back())), p);
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kDuplicate), specs.size() - 1);
  EXPECT_EQ(r.stats().fragments_freed, specs.size() - 1);
  // A duplicate arriving after completion starts a new datagram, which times out.
  EXPECT_FALSE(Add(r, MakeFrag(p, specs[0])));
  EXPECT_EQ(r.datagrams(), 1u);
}

TEST_F(ReassemblyTest, SameRangeWithAndWithoutMfIsInconsistent) {
  std::string p = Payload(64);
  for (bool first_mf : {true, false}) {
    Reassembler r;
    EXPECT_FALSE(Add(r, MakeFrag(p, {16, 16, first_mf})));
    EXPECT_FALSE(Add(r, MakeFrag(p, {16, 16, !first_mf})));
    EXPECT_EQ(r.stats().drop(ReassemblyDrop::kEndMismatch), 1u);
    EXPECT_EQ(r.datagrams(), 0u);
  }
}

// Every way a new fragment can overlap one held at [32, 64): the datagram is dropped.
TEST_F(ReassemblyTest, EveryOverlapShapeDropsTheDatagram) {
  std::string p = Payload(128);
  struct Shape {
    const char* name;
    FragSpec f;
  } shapes[] = {
      {"overlaps the start", {24, 16, true}},
      {"overlaps the end", {56, 16, true}},
      {"same start, shorter", {32, 16, true}},
      {"same start, longer", {32, 48, true}},
      {"same end, shorter", {40, 24, true}},
      {"same end, longer", {16, 48, true}},
      {"inside", {40, 8, true}},
      {"covers", {24, 48, true}},
      {"covers, last", {24, 104, false}},
      {"overlaps the end, last", {56, 72, false}},
  };
  for (const Shape& s : shapes) {
    Reassembler r;
    EXPECT_FALSE(Add(r, MakeFrag(p, {0, 8, true})));
    EXPECT_FALSE(Add(r, MakeFrag(p, {32, 32, true})));
    EXPECT_FALSE(Add(r, MakeFrag(p, s.f))) << s.name;
    EXPECT_EQ(r.stats().drop(ReassemblyDrop::kOverlap), 1u) << s.name;
    EXPECT_EQ(r.stats().fragments_freed, 3u) << s.name;
    EXPECT_EQ(r.datagrams(), 0u) << s.name;
    EXPECT_EQ(r.bytes_held(), 0u) << s.name;
  }
  // Touching is not overlapping.
  Reassembler r;
  EXPECT_FALSE(Add(r, MakeFrag(p, {32, 32, true})));
  EXPECT_FALSE(Add(r, MakeFrag(p, {64, 64, false})));
  EXPECT_FALSE(Add(r, MakeFrag(p, {8, 24, true})));
  ExpectDatagram(Add(r, MakeFrag(p, {0, 8, true})), p);
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kOverlap), 0u);
}

TEST_F(ReassemblyTest, OverlapWithTheNeighbourOnEitherSide) {
  std::string p = Payload(96);
  // Held: [0,16) and [48,64). New fragments overlapping only the left or only the right one.
  for (FragSpec f : {FragSpec{8, 16, true}, FragSpec{40, 16, true}, FragSpec{8, 48, true}}) {
    Reassembler r;
    EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true})));
    EXPECT_FALSE(Add(r, MakeFrag(p, {48, 16, true})));
    EXPECT_FALSE(Add(r, MakeFrag(p, f)));
    EXPECT_EQ(r.stats().drop(ReassemblyDrop::kOverlap), 1u) << f.start << "+" << f.len;
    EXPECT_EQ(r.datagrams(), 0u);
  }
}

// ---- Inconsistent fragments ----

TEST_F(ReassemblyTest, TwoLastFragmentsWithDifferentEnds) {
  std::string p = Payload(128);
  Reassembler r;
  EXPECT_FALSE(Add(r, MakeFrag(p, {64, 64, false})));
  EXPECT_FALSE(Add(r, MakeFrag(p, {0, 8, true})));
  EXPECT_FALSE(Add(r, MakeFrag(p, {8, 16, false})));  // ends at 24, not 128
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kEndMismatch), 1u);
  EXPECT_EQ(r.stats().fragments_freed, 3u);
  EXPECT_EQ(r.datagrams(), 0u);
}

TEST_F(ReassemblyTest, DataBeyondTheEnd) {
  std::string p = Payload(128);
  Reassembler r;
  EXPECT_FALSE(Add(r, MakeFrag(p, {16, 48, false})));
  EXPECT_FALSE(Add(r, MakeFrag(p, {64, 16, true})));
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kEndMismatch), 1u);
}

TEST_F(ReassemblyTest, LastFragmentEndingBeforeDataHeld) {
  std::string p = Payload(128);
  Reassembler r;
  EXPECT_FALSE(Add(r, MakeFrag(p, {64, 16, true})));
  EXPECT_FALSE(Add(r, MakeFrag(p, {16, 16, false})));
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kEndMismatch), 1u);
  EXPECT_EQ(r.datagrams(), 0u);
}

TEST_F(ReassemblyTest, NonLastFragmentNotAMultipleOf8) {
  std::string p = Payload(128);
  for (uint32_t len : {1u, 7u, 9u, 33u}) {
    Reassembler r;
    EXPECT_FALSE(Add(r, MakeFrag(p, {64, 64, false})));
    EXPECT_FALSE(Add(r, MakeFrag(p, {0, len, true})));
    EXPECT_EQ(r.stats().drop(ReassemblyDrop::kNotMultipleOf8), 1u) << len;
    EXPECT_EQ(r.datagrams(), 0u);
    EXPECT_EQ(r.stats().fragments_freed, 2u);
  }
  // Alone, it is dropped and counted too; the last fragment may have any length.
  Reassembler r;
  EXPECT_FALSE(Add(r, MakeFrag(p, {8, 12, true})));
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kNotMultipleOf8), 1u);
  EXPECT_EQ(r.datagrams(), 0u);
  EXPECT_FALSE(Add(r, MakeFrag(p, {8, 13, false})));
  EXPECT_EQ(r.datagrams(), 1u);
}

TEST_F(ReassemblyTest, EmptyFragment) {
  std::string p = Payload(64);
  for (bool mf : {true, false}) {
    Reassembler r;
    EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true})));
    EXPECT_FALSE(Add(r, MakeFrag(p, {16, 0, mf})));
    EXPECT_EQ(r.stats().drop(ReassemblyDrop::kEmptyFragment), 1u);
    EXPECT_EQ(r.datagrams(), 0u);
  }
}

TEST_F(ReassemblyTest, ShortMessageIsACallerBugCountedNotTrusted) {
  Reassembler r;
  std::string p = Payload(64);
  Frag f = MakeFrag(p, {0, 16, true});
  f.h.total_length = 100;  // claims more than the message holds
  EXPECT_FALSE(Add(r, std::move(f)));
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kShortMessage), 1u);
  EXPECT_EQ(r.datagrams(), 0u);
}

// ---- Time ----

TEST_F(ReassemblyTest, TimeoutInVirtualTime) {
  Reassembler r;  // 60 s
  std::string p = Payload(64);
  EXPECT_EQ(r.NextDeadline(), absl::InfiniteFuture());
  EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true}, 1), kT0));
  EXPECT_FALSE(Add(r, MakeFrag(p, {16, 16, true}, 2), kT0 + absl::Seconds(10)));
  EXPECT_EQ(r.NextDeadline(), kT0 + absl::Seconds(60));
  // More fragments do not push the deadline back.
  EXPECT_FALSE(Add(r, MakeFrag(p, {32, 16, true}, 1), kT0 + absl::Seconds(50)));
  EXPECT_EQ(r.NextDeadline(), kT0 + absl::Seconds(60));

  std::vector<MsgPtr> firsts;
  r.Expire(kT0 + absl::Seconds(60) - absl::Nanoseconds(1), &firsts);
  EXPECT_EQ(r.datagrams(), 2u);
  r.Expire(kT0 + absl::Seconds(60), &firsts);
  EXPECT_EQ(r.datagrams(), 1u);
  ASSERT_EQ(firsts.size(), 1u);  // datagram 1 had fragment zero: IP can send time exceeded
  Parsed<Ipv4Header> h = ParseIpv4(PacketView::OfChain(firsts[0].get()));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->id, 1);
  EXPECT_TRUE(h->mf);
  EXPECT_EQ(r.NextDeadline(), kT0 + absl::Seconds(70));
  r.Expire(kT0 + absl::Hours(1), &firsts);
  EXPECT_EQ(firsts.size(), 1u);  // datagram 2 never got fragment zero
  EXPECT_EQ(r.datagrams(), 0u);
  EXPECT_EQ(r.bytes_held(), 0u);
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kTimeout), 2u);
  EXPECT_EQ(r.stats().fragments_freed, 2u);  // the one handed back is not freed here
  EXPECT_EQ(r.NextDeadline(), absl::InfiniteFuture());
}

TEST_F(ReassemblyTest, ConfigurableTimeoutAndLateFragments) {
  ReassemblyConfig c;
  c.timeout = absl::Seconds(5);
  Reassembler r(c);
  std::string p = Payload(32);
  EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true}), kT0));
  EXPECT_EQ(r.NextDeadline(), kT0 + absl::Seconds(5));
  r.Expire(kT0 + absl::Seconds(5));  // without a vector: fragment zero is freed
  EXPECT_EQ(r.datagrams(), 0u);
  // The rest arrives late: a new datagram, incomplete, which times out in turn.
  EXPECT_FALSE(Add(r, MakeFrag(p, {16, 16, false}), kT0 + absl::Seconds(6)));
  EXPECT_EQ(r.NextDeadline(), kT0 + absl::Seconds(11));
}

// ---- Bounds ----

TEST_F(ReassemblyTest, MemoryBoundUnderAFloodOfManyDatagrams) {
  ReassemblyConfig c;
  c.max_bytes = 64 * 1024;
  Reassembler r(c);
  std::mt19937 rng(9);
  std::string p = Payload(1480 * 4);
  absl::Time now = kT0;
  // 2000 datagrams, first fragments only: none can complete.
  for (uint16_t id = 0; id < 2000; ++id) {
    EXPECT_FALSE(Add(r, MakeFrag(p, {0, 1480, true}, id), now));
    ASSERT_LE(r.bytes_held(), c.max_bytes);
    now += absl::Milliseconds(1);
  }
  EXPECT_GT(r.stats().drop(ReassemblyDrop::kMemory), 1900u);
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kMemory) + r.datagrams(), 2000u);
  // The oldest went first: the newest datagram completes.
  EXPECT_FALSE(Add(r, MakeFrag(p, {1480, 1480, true}, 1999), now));
  EXPECT_FALSE(Add(r, MakeFrag(p, {2960, 1480, true}, 1999), now));
  MsgPtr out = Add(r, MakeFrag(p, {4440, 1480, false}, 1999), now);
  ASSERT_TRUE(out);
  EXPECT_LE(r.bytes_held(), c.max_bytes);
  // And a flood of random fragments of random datagrams stays under the bound too.
  for (int i = 0; i < 5000; ++i) {
    auto start = static_cast<uint32_t>(8 * (rng() % 400));
    auto len = static_cast<uint32_t>(8 * (1 + rng() % 60));
    EXPECT_FALSE(Add(r, MakeFrag(p, {start, len, true},
                                 static_cast<uint16_t>(rng() % 300)),
                     now));
    ASSERT_LE(r.bytes_held(), c.max_bytes);
  }
  r.Expire(now + absl::Hours(1));
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST_F(ReassemblyTest, AFragmentLargerThanTheBoundIsDropped) {
  ReassemblyConfig c;
  c.max_bytes = 1000;
  Reassembler r(c);
  std::string p = Payload(2000);
  EXPECT_FALSE(Add(r, MakeFrag(p, {0, 1480, true})));
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kMemory), 1u);
  EXPECT_EQ(r.datagrams(), 0u);
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST_F(ReassemblyTest, DatagramBound) {
  ReassemblyConfig c;
  c.max_datagrams = 3;
  Reassembler r(c);
  std::string p = Payload(32);
  for (uint16_t id = 0; id < 10; ++id) EXPECT_FALSE(Add(r, MakeFrag(p, {0, 16, true}, id)));
  EXPECT_EQ(r.datagrams(), 3u);
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kTooManyDatagrams), 7u);
  // The newest three remain.
  ExpectDatagram(Add(r, MakeFrag(p, {16, 16, false}, 9)), p, 20, 9);
  EXPECT_FALSE(Add(r, MakeFrag(p, {16, 16, false}, 0)));  // evicted long ago: starts over
}

TEST_F(ReassemblyTest, FragmentBound) {
  ReassemblyConfig c;
  c.max_fragments = 4;
  Reassembler r(c);
  std::string p = Payload(80);
  auto specs = Split(p.size(), 16);  // 5 fragments
  for (size_t i = 0; i < 4; ++i) EXPECT_FALSE(Add(r, MakeFrag(p, specs[i])));
  EXPECT_FALSE(Add(r, MakeFrag(p, specs[4])));
  EXPECT_EQ(r.stats().drop(ReassemblyDrop::kTooManyFragments), 1u);
  EXPECT_EQ(r.stats().fragments_freed, 5u);
  EXPECT_EQ(r.datagrams(), 0u);
  // Four fragments are fine.
  auto four = Split(64, 16);
  std::string q = p.substr(0, 64);
  for (size_t i = 0; i + 1 < four.size(); ++i) EXPECT_FALSE(Add(r, MakeFrag(q, four[i])));
  ExpectDatagram(Add(r, MakeFrag(q, four.back())), q);
}

TEST_F(ReassemblyTest, DestroyedWithDatagramsInProgress) {
  // The leak-checked fixture fails the test if anything held is not freed.
  std::string p = Payload(4000);
  Reassembler r;
  for (uint16_t id = 0; id < 50; ++id) {
    EXPECT_FALSE(Add(r, MakeFrag(p, {0, 1480, true}, id)));
    EXPECT_FALSE(Add(r, MakeFrag(p, {2960, 1040, false}, id)));
  }
  EXPECT_EQ(r.datagrams(), 50u);
}

TEST_F(ReassemblyTest, DropNames) {
  EXPECT_STREQ(ReassemblyDropName(ReassemblyDrop::kOverlap), "overlap");
  EXPECT_STREQ(ReassemblyDropName(ReassemblyDrop::kNoBuffer), "no_buffer");
  EXPECT_STREQ(ReassemblyDropName(ReassemblyDrop::kTooManyDatagrams), "too_many_datagrams");
  EXPECT_STREQ(ReassemblyDropName(static_cast<ReassemblyDrop>(99)), "unknown");
}

}  // namespace
}  // namespace ustreams::ip
