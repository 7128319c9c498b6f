// The main job for now: a small demo of the STREAMS core. It builds a stream of sample modules
// in the harness (fake head, fake driver), sends traffic both ways with flow control in play,
// and prints what each queue saw.
#include <cstdio>
#include <string>

#include "streams/alloc.h"
#include "streams/msg.h"
#include "streams/testing/harness.h"
#include "streams/testing/sample_modules.h"

using namespace ustreams;
using ustreams::testing::Harness;

namespace {

void PrintQueues(Harness& h, const std::vector<std::string>& names) {
  std::printf("  %-10s %-5s %8s %6s %6s  %s\n", "module", "side", "q_count", "msgs", "passed",
              "flags");
  for (size_t i = 0; i < names.size(); i++) {
    for (queue_t* q : {h.module_wq(static_cast<int>(i)), h.module_rq(static_cast<int>(i))}) {
      testing::QueueState st = Harness::State(q);
      testing::SampleCounters* c = testing::CountersOf(q);
      bool read = IsReadQ(q);
      unsigned long long passed = c == nullptr ? 0 : (read ? c->up : c->down);
      std::string flags;
      if (st.flags & QFULL) flags += "QFULL ";
      if (st.flags & QWANTW) flags += "QWANTW ";
      if (st.flags & QBACK) flags += "QBACK ";
      if (st.flags & QPAIR) flags += "QPAIR ";
      if (st.flags & QPERMOD) flags += "QPERMOD ";
      if (st.flags & QMTSAFE) flags += "D_MP ";
      std::printf("  %-10s %-5s %8zu %6d %6llu  %s\n", names[i].c_str(), read ? "read" : "write",
                  st.count, st.messages, passed, flags.c_str());
    }
  }
}

}  // namespace

int main() {
  Registry registry;
  if (absl::Status s = testing::RegisterSampleModules(registry); !s.ok()) {
    std::fprintf(stderr, "demo: %s\n", s.ToString().c_str());
    return 1;
  }
  Harness::Options opts;
  opts.driver_hiwat = 4096;  // a slow driver: flow control backs up into the modules
  opts.driver_lowat = 1024;
  Harness h(&registry, opts);
  // Pushed bottom first: the stream reads head -> svcpass -> qpair -> permod -> passthru -> driver.
  for (const char* m : {"passthru", "permod", "qpair", "svcpass"}) {
    if (absl::Status s = h.Push(m); !s.ok()) {
      std::fprintf(stderr, "demo: push %s: %s\n", m, s.ToString().c_str());
      return 1;
    }
  }
  std::vector<std::string> names = h.stream().ModuleNames();
  // A small high-water mark on permod's write side lets flow control reach the top modules.
  strqset(h.module_wq(2), QHIWAT, 0, 2048);
  strqset(h.module_wq(2), QLOWAT, 0, 512);
  std::printf("stream: head");
  for (const std::string& n : names) std::printf(" -> %s", n.c_str());
  std::printf(" -> fakedrv\n\n");

  // 64 messages of 256 bytes down: the driver holds 4 KiB, so the rest waits in the modules.
  for (int i = 0; i < 64; i++) h.SendDown(MsgPtr::Data(std::string(256, 'a' + i % 26)));
  h.SendDown(MsgPtr::Make(M_PCPROTO, "urgent"));  // high priority: overtakes everything
  h.RunUntilIdle();
  std::printf("after 64 x 256 B down, driver full at %d messages:\n", h.down_count());
  PrintQueues(h, names);

  // The driver drains: back-enabling moves the waiting messages on, in order.
  size_t bytes = 0;
  int msgs = 0;
  bool first_is_urgent = false;
  for (int round = 0; round < 100 && msgs < 65; round++) {
    for (MsgPtr& m : h.TakeDown()) {
      if (msgs == 0) first_is_urgent = DB_TYPE(m.get()) == M_PCPROTO;
      bytes += msgdsize(m.get());
      msgs++;
    }
    h.RunUntilIdle();
  }
  std::printf("\ndriver drained: %d messages, %zu data bytes, high priority first: %s\n", msgs,
              bytes, first_is_urgent ? "yes" : "no");

  // And 16 messages up, which the head queues for a reader.
  for (int i = 0; i < 16; i++) h.SendUp(MsgPtr::Data("reply"));
  h.RunUntilIdle();
  std::printf("16 messages up: %zu reached the head\n\n", h.TakeUp().size());
  std::printf("final counters:\n");
  PrintQueues(h, names);
  std::printf("\nservice procedures run: %llu, head back-enabled %d times\n",
              static_cast<unsigned long long>(h.scheduler().services_run()),
              h.head_backenables());
  return msgs == 65 && first_is_urgent ? 0 : 1;
}
