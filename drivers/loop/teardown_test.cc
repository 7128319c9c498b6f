// Going away with traffic in flight: closing or detaching the receiving stream, closing a
// flow-controlled sender, destroying a domain whose streams are still open, destroying the network
// before the domains, and opens, binds and closes racing traffic on real threads. Every test
// ends with no message block, descriptor or frame left behind (and runs under ASan and TSan).
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "drivers/loop/loop_test_util.h"
#include "streams/head.h"

namespace ustreams::loop_testing {
namespace {

class TeardownTest : public ::testing::Test {
 protected:
  void TearDown() override { leaks_.Check(); }

 private:
  LeakChecked leaks_;
};

Impairments Delay(absl::Duration d) {
  Impairments imp;
  imp.delay = d;
  return imp;
}

TEST_F(TeardownTest, ClosingTheReceiverDropsWhatIsInFlightToIt) {
  World w(2, true);
  auto [a, b] = w.net().AddWire();
  ASSERT_TRUE(w.net().SetImpairments(a, LinkDir::kOut, Delay(absl::Milliseconds(100))).ok());
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  for (int i = 0; i < 20; i++) ASSERT_EQ(SendUnitdata(fa, w.net().Mac(b), 0x0800, "x"), 0);
  w.Settle();
  EXPECT_EQ(w.net().in_flight_frames(), 20u);
  ASSERT_EQ(w.Close(fb), 0);
  EXPECT_EQ(w.net().in_flight_frames(), 0u);
  EXPECT_EQ(w.net().Stats(b).rx_abandoned, 20u);
  w.lockstep().AdvanceBy(absl::Seconds(1));  // the stale delivery timer does nothing
  // Sent now, with nobody on port b: dropped at once.
  ASSERT_EQ(SendUnitdata(fa, w.net().Mac(b), 0x0800, "x"), 0);
  w.Settle();
  EXPECT_EQ(w.net().Stats(b).rx_no_receiver, 1u);
  EXPECT_EQ(w.net().in_flight_frames(), 0u);
}

TEST_F(TeardownTest, DetachingTheReceiverDropsWhatIsInFlightToIt) {
  World w(2, true);
  auto [a, b] = w.net().AddWire();
  ASSERT_TRUE(w.net().SetImpairments(b, LinkDir::kIn, Delay(absl::Milliseconds(50))).ok());
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  for (int i = 0; i < 5; i++) ASSERT_EQ(SendUnitdata(fa, w.net().Mac(b), 0x0800, "x"), 0);
  w.Settle();
  w.ExpectOk(fb, w.Request(fb, dl_unbind_req_t{DL_UNBIND_REQ}), DL_UNBIND_REQ);
  w.ExpectOk(fb, w.Request(fb, dl_detach_req_t{DL_DETACH_REQ}), DL_DETACH_REQ);
  EXPECT_EQ(w.net().Stats(b).rx_abandoned, 5u);
  // Attached and bound again: only what is sent from now on arrives.
  w.Attach(fb, b);
  w.Bind(fb, 0x0800);
  ASSERT_EQ(SendUnitdata(fa, w.net().Mac(b), 0x0800, "new"), 0);
  EXPECT_EQ(w.Await(fb).data, "new");
  w.lockstep().AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(Get(fb).err, EAGAIN);
}

TEST_F(TeardownTest, ClosingAFlowControlledSender) {
  World w(2, true);
  auto [a, b] = w.net().AddWire();
  ASSERT_TRUE(
      w.net().SetImpairments(a, LinkDir::kOut, {.rate_bps = 100'000, .queue_bytes = 2000}).ok());
  int fa = w.Plumb(0, a, 0x0800);
  w.Plumb(1, b, 0x0800);
  const std::string payload(1000, 'q');
  int sent = 0;
  while (SendUnitdata(fa, w.net().Mac(b), 0x0800, payload) == 0 && sent < 1000) {
    sent++;
    w.Settle();
  }
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_GT(sent, 10);
  // Queued frames and the pending wake-up go with the stream (a non-blocking close does not
  // wait for them to drain).
  ASSERT_EQ(w.Close(fa), 0);
  w.lockstep().AdvanceBy(absl::Seconds(2));
  EXPECT_LT(w.net().Stats(a).tx_frames, static_cast<uint64_t>(sent));
}

// A stream opened without a descriptor (Domain::Open), left open when its domain goes.
struct Raw {
  std::shared_ptr<StreamHead> h;
  int Put(const std::string& ctl, const std::string* data = nullptr) {
    strbuf c{0, static_cast<int>(ctl.size()), const_cast<char*>(ctl.data())};
    strbuf d{0, data != nullptr ? static_cast<int>(data->size()) : -1,
             data != nullptr ? const_cast<char*>(data->data()) : nullptr};
    return h->PutMsg(&c, data != nullptr ? &d : nullptr, -1, 0, O_NONBLOCK);
  }
};

Raw OpenRaw(Domain& d) {
  Raw r;
  cred_t cr{0, 0};
  EXPECT_EQ(d.Open("/dev/loop", O_RDWR | O_NONBLOCK, &cr, &r.h), 0);
  d.Hold(r.h.get());
  return r;
}

TEST_F(TeardownTest, DestroyingADomainWithStreamsOpenAndFramesInFlight) {
  World w(2, true);
  auto [a, b] = w.net().AddWire();
  ASSERT_TRUE(w.net().SetImpairments(a, Delay(absl::Milliseconds(30))).ok());
  ASSERT_TRUE(w.net().SetImpairments(b, Delay(absl::Milliseconds(30))).ok());
  int fa = w.Plumb(0, a, 0x0800);
  Raw rb = OpenRaw(w.domain(1));
  dl_attach_req_t att{DL_ATTACH_REQ, static_cast<t_uscalar_t>(b)};
  dl_bind_req_t bind{};
  bind.dl_primitive = DL_BIND_REQ;
  bind.dl_sap = 0x0800;
  bind.dl_service_mode = DL_CLDLS;
  ASSERT_EQ(rb.Put(Bytes(att)), 0);
  ASSERT_EQ(rb.Put(Bytes(bind)), 0);
  w.Settle();
  // Frames in flight both ways.
  dl_unitdata_req_t ud{};
  ud.dl_primitive = DL_UNITDATA_REQ;
  ud.dl_dest_addr_length = 8;
  ud.dl_dest_addr_offset = sizeof(ud);
  const std::string to_a = Bytes(ud) + Dlsap(w.net().Mac(a), 0x0800), payload = "bye";
  for (int i = 0; i < 10; i++) {
    ASSERT_EQ(SendUnitdata(fa, w.net().Mac(b), 0x0800, "x"), 0);
    ASSERT_EQ(rb.Put(to_a, &payload), 0);
  }
  w.Settle();
  EXPECT_EQ(w.net().in_flight_frames(), 20u);
  w.DestroyDomain(1);  // closes rb's stream: what was on its way to b is dropped
  rb.h.reset();
  EXPECT_EQ(w.net().Stats(b).rx_abandoned, 10u);
  // What b's stack sent before it went still arrives: the wire does not care.
  for (int i = 0; i < 10; i++) EXPECT_EQ(w.Await(fa).data, "bye");
  ASSERT_EQ(SendUnitdata(fa, w.net().Mac(b), 0x0800, "anyone?"), 0);
  w.Settle();
  EXPECT_EQ(w.net().Stats(b).rx_no_receiver, 1u);
}

TEST_F(TeardownTest, NetworkObjectDestroyedBeforeTheStreams) {
  World w(2, true);
  auto [a, b] = w.net().AddWire();
  ASSERT_TRUE(w.net().SetImpairments(a, Delay(absl::Milliseconds(10))).ok());
  const MacAddr mb = w.net().Mac(b);
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, "in flight"), 0);
  w.Settle();
  w.DropNetwork();
  // The open streams keep the network's state: traffic goes on.
  EXPECT_EQ(w.Await(fb).data, "in flight");
  ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, "still"), 0);
  EXPECT_EQ(w.Await(fb).data, "still");
  // A new open has no network to reach.
  DomainScope scope(&w.domain(0));
  errno = 0;
  EXPECT_EQ(us_open("/dev/loop", O_RDWR | O_NONBLOCK), -1);
  EXPECT_EQ(errno, ENXIO);
}

// Real threads: a writer keeps sending to port b while another thread opens, plumbs, detaches
// and closes streams on b; the domains and the network go while frames are still moving.
TEST_F(TeardownTest, ChurnUnderTraffic) {
  auto w = std::make_unique<World>(2, false);
  auto [a, b] = w->net().AddWire();
  ASSERT_TRUE(w->net().SetImpairments(a, Delay(absl::Milliseconds(1))).ok());
  const MacAddr mb = w->net().Mac(b);
  int fa = w->Plumb(0, a, 0x0800);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load()) {
      if (SendUnitdata(fa, mb, 0x0800, std::string(200, 'w')) != 0) std::this_thread::yield();
    }
  });
  for (int round = 0; round < 30; round++) {
    int fb = w->Plumb(1, b, 0x0800);
    if (round % 3 == 0) w->Await(fb, absl::Milliseconds(20));  // or leave it all queued
    if (round % 2 == 0) {
      w->ExpectOk(fb, w->Request(fb, dl_unbind_req_t{DL_UNBIND_REQ}), DL_UNBIND_REQ);
    }
    // Detached, no delivery is under way to the stream any more (NetCore::Detach waits): close
    // has nothing to race. (Closing with a delivery under way hits a window of the stream head,
    // see DISABLED_CloseDuringDeliveries.)
    if (round % 2 != 0) {
      w->ExpectOk(fb, w->Request(fb, dl_unbind_req_t{DL_UNBIND_REQ}), DL_UNBIND_REQ);
    }
    w->ExpectOk(fb, w->Request(fb, dl_detach_req_t{DL_DETACH_REQ}), DL_DETACH_REQ);
    ASSERT_EQ(w->Close(fb), 0);
  }
  w->Plumb(1, b, 0x0800);  // left bound: its close comes with the world's end
  absl::SleepFor(absl::Milliseconds(20));
  stop = true;
  writer.join();
  const PortStats s = w->net().Stats(b);
  EXPECT_GT(s.rx_frames, 0u);
  EXPECT_GT(s.rx_abandoned + s.rx_no_receiver, 0u);
  // The end comes with frames on the wire (not yet due: see DISABLED_CloseDuringDeliveries).
  w->Settle();
  ASSERT_TRUE(w->net().SetImpairments(a, Delay(absl::Seconds(5))).ok());
  for (int i = 0; i < 20; i++) ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, "late"), 0);
  for (auto* d : {&w->domain(0), &w->domain(1)}) d->scheduler().WaitIdle();
  EXPECT_EQ(w->net().in_flight_frames(), 20u);
  w.reset();  // descriptors, domains, network
}

// Real threads: closing a bound stream with frames in flight to it (not yet due) drops them.
TEST_F(TeardownTest, ThreadedCloseWithFramesInFlight) {
  World w(2, false);
  auto [a, b] = w.net().AddWire();
  ASSERT_TRUE(w.net().SetImpairments(a, Delay(absl::Seconds(5))).ok());
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  for (int i = 0; i < 50; i++) ASSERT_EQ(SendUnitdata(fa, w.net().Mac(b), 0x0800, "x"), 0);
  for (auto& d : {&w.domain(0), &w.domain(1)}) d->scheduler().WaitIdle();
  EXPECT_EQ(w.net().in_flight_frames(), 50u);
  ASSERT_EQ(w.Close(fb), 0);
  EXPECT_EQ(w.net().in_flight_frames(), 0u);
  EXPECT_EQ(w.net().Stats(b).rx_abandoned, 50u);
}

// Closing a stream while frames are being put into it from another thread. The stream head's
// Close() moves its Stream out (streams/head.cc, StreamHead::Close) before the driver's close
// runs, so a message arriving at the head in between finds stream_ null (StrPriLocked,
// FlushReadLocked). Any driver whose read side is fed from another thread (or whose service
// procedure sends up) can hit it; the loop driver cannot close the window from its side.
// Enable once the head keeps stream_ valid until the driver's close has returned.
TEST_F(TeardownTest, DISABLED_CloseDuringDeliveries) {
  auto w = std::make_unique<World>(2, false);
  auto [a, b] = w->net().AddWire();
  const MacAddr mb = w->net().Mac(b);
  int fa = w->Plumb(0, a, 0x0800);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load()) {
      if (SendUnitdata(fa, mb, 0x0800, std::string(200, 'w')) != 0) std::this_thread::yield();
    }
  });
  for (int round = 0; round < 200; round++) ASSERT_EQ(w->Close(w->Plumb(1, b, 0x0800)), 0);
  stop = true;
  writer.join();
}

}  // namespace
}  // namespace ustreams::loop_testing
