// The head and queue lock (mutex.h): mutual exclusion under contention, sleepers woken by every
// release (a lost wake-up hangs the test), try_lock, and the acquire hook.
#include "streams/mutex.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ustreams {
namespace {

// Holders that keep the lock for a while make the others spin out and sleep in the futex; each
// release must wake one. The plain counter is only right if no two holders ever overlap.
TEST(MutexTest, ContendedHoldersExcludeEachOtherAndSleepersWake) {
  Mutex mu;
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<bool> overlap{false};
  constexpr int kThreads = 4, kRounds = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; i++) {
        std::lock_guard<Mutex> l(mu);
        if (inside.fetch_add(1) != 0) overlap = true;
        counter++;
        // Now and then hold it long enough that the others go to sleep.
        if ((i + t) % 200 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        inside.fetch_sub(1);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_FALSE(overlap);
  EXPECT_EQ(counter, long{kThreads} * kRounds);
}

TEST(MutexTest, TryLockFailsWhileHeldAndRunsTheHookWhenItTakes) {
  Mutex mu;
  int hooked = 0;
  mu.SetAcquireHook([](void* arg) { ++*static_cast<int*>(arg); }, &hooked);
  mu.lock();
  EXPECT_EQ(hooked, 1);
  std::thread other([&] { EXPECT_FALSE(mu.try_lock()); });
  other.join();
  mu.unlock();
  ASSERT_TRUE(mu.try_lock());
  EXPECT_EQ(hooked, 2);
  mu.unlock();
  mu.LockWithoutHook();
  EXPECT_EQ(hooked, 2);
  mu.unlock();
}

// A taker asleep in the futex is woken by a release that comes long after it slept.
TEST(MutexTest, ASleepingTakerGetsTheLockWhenItIsLetGo) {
  Mutex mu;
  mu.lock();
  std::atomic<bool> got{false};
  std::thread taker([&] {
    std::lock_guard<Mutex> l(mu);
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past its spinning
  EXPECT_FALSE(got);
  mu.unlock();
  taker.join();
  EXPECT_TRUE(got);
}

}  // namespace
}  // namespace ustreams
