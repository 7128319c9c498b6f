// Hubs and learning switches between three stacks: broadcast, unicast filtering, learning,
// multicast and promiscuous streams.
#include <string>
#include <utility>

#include "drivers/loop/loop_test_util.h"

namespace ustreams::loop_testing {
namespace {

using SegmentTest = LoopTest;

std::string DataOf(const Msg& m) {
  EXPECT_EQ(m.rc, 0) << "errno " << m.err;
  EXPECT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_UNITDATA_IND));
  return m.data;
}

bool GroupOf(const Msg& m) { return m.As<dl_unitdata_ind_t>().dl_group_address != 0; }

TEST_P(SegmentTest, HubBroadcastReachesEveryOtherPort) {
  World& w = MakeWorld(3);
  std::vector<int> p = w.net().AddHub(3);
  ASSERT_EQ(p.size(), 3u);
  int f0 = w.Plumb(0, p[0], 0x0806), f1 = w.Plumb(1, p[1], 0x0806), f2 = w.Plumb(2, p[2], 0x0806);
  ASSERT_EQ(SendUnitdata(f0, MacAddr::Broadcast(), 0x0806, "to all"), 0);
  Msg m1 = w.Await(f1), m2 = w.Await(f2);
  EXPECT_EQ(DataOf(m1), "to all");
  EXPECT_EQ(DataOf(m2), "to all");
  EXPECT_TRUE(GroupOf(m1));
  w.Settle();
  EXPECT_EQ(Get(f0).err, EAGAIN);  // never back to the sender
  EXPECT_EQ(w.net().Stats(p[0]).rx_frames, 0u);
  EXPECT_EQ(w.net().Stats(p[1]).rx_frames, 1u);
  EXPECT_EQ(w.net().Stats(p[2]).rx_frames, 1u);
}

TEST_P(SegmentTest, HubRepeatsUnicastToAllButOnlyTheAddresseeTakesIt) {
  World& w = MakeWorld(3);
  std::vector<int> p = w.net().AddHub(3);
  int f0 = w.Plumb(0, p[0], 0x0800), f1 = w.Plumb(1, p[1], 0x0800), f2 = w.Plumb(2, p[2], 0x0800);
  // A snoop on port 1: promiscuous at the physical level.
  int snoop = w.Plumb(1, p[1], 0x0800);
  w.ExpectOk(snoop, w.Request(snoop, dl_promiscon_req_t{DL_PROMISCON_REQ, DL_PROMISC_PHYS}),
             DL_PROMISCON_REQ);
  ASSERT_EQ(SendUnitdata(f0, w.net().Mac(p[2]), 0x0800, "for 2"), 0);
  EXPECT_EQ(DataOf(w.Await(f2)), "for 2");
  EXPECT_EQ(DataOf(w.Await(snoop)), "for 2");
  w.Settle();
  EXPECT_EQ(Get(f1).err, EAGAIN);
  // Port 1 took it (for its snoop) but its other stream did not.
  EXPECT_EQ(w.net().Stats(p[1]).rx_frames, 1u);
  EXPECT_EQ(w.net().Stats(p[1]).rx_filtered, 0u);
  w.ExpectOk(snoop, w.Request(snoop, dl_promiscoff_req_t{DL_PROMISCOFF_REQ, DL_PROMISC_PHYS}),
             DL_PROMISCOFF_REQ);
  ASSERT_EQ(SendUnitdata(f0, w.net().Mac(p[2]), 0x0800, "again"), 0);
  EXPECT_EQ(DataOf(w.Await(f2)), "again");
  w.Settle();
  EXPECT_EQ(Get(snoop).err, EAGAIN);
  EXPECT_EQ(w.net().Stats(p[1]).rx_filtered, 1u);
}

TEST_P(SegmentTest, SwitchFloodsUnknownThenForwardsToWhatItLearned) {
  World& w = MakeWorld(3);
  std::vector<int> p = w.net().AddSwitch(3);
  int f0 = w.Plumb(0, p[0], 0x0800), f1 = w.Plumb(1, p[1], 0x0800), f2 = w.Plumb(2, p[2], 0x0800);
  const MacAddr m0 = w.net().Mac(p[0]), m2 = w.net().Mac(p[2]);
  // 2 is unknown: flooded, port 1 sees and drops it.
  ASSERT_EQ(SendUnitdata(f0, m2, 0x0800, "first"), 0);
  EXPECT_EQ(DataOf(w.Await(f2)), "first");
  w.Settle();
  EXPECT_EQ(w.net().Stats(p[1]).in.offered_frames, 1u);
  // 0 was learned from that frame: the answer goes to port 0 alone.
  ASSERT_EQ(SendUnitdata(f2, m0, 0x0800, "answer"), 0);
  EXPECT_EQ(DataOf(w.Await(f0)), "answer");
  // And now 2 is known too.
  ASSERT_EQ(SendUnitdata(f0, m2, 0x0800, "second"), 0);
  EXPECT_EQ(DataOf(w.Await(f2)), "second");
  w.Settle();
  EXPECT_EQ(w.net().Stats(p[1]).in.offered_frames, 1u);
  EXPECT_EQ(Get(f1).err, EAGAIN);
  // Broadcast still floods.
  ASSERT_EQ(SendUnitdata(f1, MacAddr::Broadcast(), 0x0800, "all"), 0);
  EXPECT_EQ(DataOf(w.Await(f0)), "all");
  EXPECT_EQ(DataOf(w.Await(f2)), "all");
}

TEST_P(SegmentTest, MulticastGoesToStreamsThatEnabledIt) {
  World& w = MakeWorld(3);
  std::vector<int> p = w.net().AddHub(3);
  int f0 = w.Plumb(0, p[0], 0x0800), f1 = w.Plumb(1, p[1], 0x0800), f2 = w.Plumb(2, p[2], 0x0800);
  const MacAddr group{{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}};
  dl_enabmulti_req_t en{DL_ENABMULTI_REQ, 6, sizeof(dl_enabmulti_req_t)};
  w.ExpectOk(f2, w.Request(f2, Bytes(en) + MacBytes(group)), DL_ENABMULTI_REQ);
  ASSERT_EQ(SendUnitdata(f0, group, 0x0800, "mdns"), 0);
  Msg m = w.Await(f2);
  EXPECT_EQ(DataOf(m), "mdns");
  EXPECT_TRUE(GroupOf(m));
  w.Settle();
  EXPECT_EQ(Get(f1).err, EAGAIN);
  // All multicast: port 1 in DL_PROMISC_MULTI.
  w.ExpectOk(f1, w.Request(f1, dl_promiscon_req_t{DL_PROMISCON_REQ, DL_PROMISC_MULTI}),
             DL_PROMISCON_REQ);
  ASSERT_EQ(SendUnitdata(f0, group, 0x0800, "mdns 2"), 0);
  EXPECT_EQ(DataOf(w.Await(f1)), "mdns 2");
  EXPECT_EQ(DataOf(w.Await(f2)), "mdns 2");
}

TEST_P(SegmentTest, UnboundPromiscuousStreamSeesEverySap) {
  World& w = MakeWorld(2);
  std::vector<int> p = w.net().AddHub(2);
  int f0 = w.Plumb(0, p[0], 0x0800);
  int arp0 = w.Plumb(0, p[0], 0x0806);
  int snoop = w.Open(1);
  w.Attach(snoop, p[1]);
  for (t_uscalar_t level : {DL_PROMISC_PHYS, DL_PROMISC_SAP}) {
    w.ExpectOk(snoop, w.Request(snoop, dl_promiscon_req_t{DL_PROMISCON_REQ, level}),
               DL_PROMISCON_REQ);
  }
  const MacAddr elsewhere{{0x02, 0x42, 0x42, 0x42, 0x42, 0x42}};
  ASSERT_EQ(SendUnitdata(f0, elsewhere, 0x0800, "ip"), 0);
  ASSERT_EQ(SendUnitdata(arp0, MacAddr::Broadcast(), 0x0806, "arp"), 0);
  Msg a = w.Await(snoop), b = w.Await(snoop);
  // Two sending streams: with scheduler threads their frames may reach the hub in either order.
  if (DataOf(a) != "ip") std::swap(a, b);
  EXPECT_EQ(DataOf(a), "ip");
  EXPECT_EQ(DataOf(b), "arp");
  uint16_t sap = 0;
  std::memcpy(&sap, b.At(b.As<dl_unitdata_ind_t>().dl_dest_addr_offset + 6, 2).data(), 2);
  EXPECT_EQ(sap, 0x0806);
}

INSTANTIATE_TEST_SUITE_P(Modes, SegmentTest,
                         ::testing::Values(Mode::kDeterministic, Mode::kThreaded), ModeName);

}  // namespace
}  // namespace ustreams::loop_testing
