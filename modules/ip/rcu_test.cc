#include "modules/ip/rcu.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ustreams::ip {
namespace {

struct Counted {
  static std::atomic<int> live;
  int value;
  explicit Counted(int v) : value(v) { live.fetch_add(1); }
  ~Counted() { live.fetch_sub(1); }
};
std::atomic<int> Counted::live{0};

TEST(Rcu, NothingHeldEverythingFreed) {
  RcuRetireList list;
  for (int i = 0; i < 10; ++i) list.RetireObject(new Counted(i));
  EXPECT_EQ(list.pending(), 10u);
  EXPECT_EQ(list.Reclaim(), 10u);
  EXPECT_EQ(Counted::live.load(), 0);
}

TEST(Rcu, AReaderHoldsBackWhatWasRetiredDuringItsSection) {
  RcuRetireList list;
  std::atomic<int> phase{0};
  std::thread reader([&] {
    RcuReadGuard g;
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  list.RetireObject(new Counted(1));
  EXPECT_EQ(list.Reclaim(), 0u);
  EXPECT_EQ(Counted::live.load(), 1);
  phase = 2;
  reader.join();
  EXPECT_EQ(list.Reclaim(), 1u);
  EXPECT_EQ(Counted::live.load(), 0);
}

TEST(Rcu, ReadersThatStartLaterDoNotHoldBack) {
  RcuRetireList list;
  list.RetireObject(new Counted(1));
  std::atomic<int> phase{0};
  std::thread reader([&] {
    // Starts after the retirement was stamped below.
    while (phase.load() != 1) std::this_thread::yield();
    RcuReadGuard g;
    phase = 2;
    while (phase.load() != 3) std::this_thread::yield();
  });
  EXPECT_EQ(list.Reclaim(), 1u);  // stamps, and nobody reads
  phase = 1;
  while (phase.load() != 2) std::this_thread::yield();
  list.RetireObject(new Counted(2));
  EXPECT_EQ(list.Reclaim(), 0u);  // the reader might hold this one
  phase = 3;
  reader.join();
  EXPECT_EQ(list.Reclaim(), 1u);
}

TEST(Rcu, SectionsNest) {
  RcuRetireList list;
  std::atomic<int> phase{0};
  std::thread reader([&] {
    RcuReadGuard outer;
    { RcuReadGuard inner; }
    phase = 1;  // still inside the outer section
    while (phase.load() != 2) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  list.RetireObject(new Counted(1));
  EXPECT_EQ(list.Reclaim(), 0u);
  phase = 2;
  reader.join();
  EXPECT_EQ(list.Reclaim(), 1u);
}

TEST(Rcu, DestructorWaitsAndFrees) {
  {
    RcuRetireList list;
    list.RetireObject(new Counted(1));
  }
  EXPECT_EQ(Counted::live.load(), 0);
}

// A published pointer swapped under readers: no reader ever sees a freed object (ASan and TSan
// catch it if one does).
TEST(Rcu, PublishAndRetireUnderReaders) {
  std::atomic<const Counted*> head{new Counted(0)};
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        RcuReadGuard g;
        const Counted* c = head.load(std::memory_order_seq_cst);
        EXPECT_GE(c->value, 0);
      }
    });
  }
  {
    RcuRetireList list;
    for (int i = 1; i <= 20000; ++i) {
      const Counted* old = head.load(std::memory_order_relaxed);
      head.store(new Counted(i), std::memory_order_seq_cst);
      list.RetireObject(old);
      list.Reclaim();
    }
    stop = true;
    for (auto& t : readers) t.join();
  }
  delete head.load();
  EXPECT_EQ(Counted::live.load(), 0);
}

// Threads come and go; their slots are reused.
TEST(Rcu, ManyShortLivedReaderThreads) {
  for (int i = 0; i < 200; ++i) {
    std::thread([] { RcuReadGuard g; }).join();
  }
  RcuSynchronize();
}

}  // namespace
}  // namespace ustreams::ip
