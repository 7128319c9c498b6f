// The message allocator: size-class chunks (mblk_t + dblk_t + payload in one allocation) recycled
// through per-thread caches, esballoc headers, bare mblk_t for dupb, fault injection and bufcall.
//
// A chunk freed on another thread than the one that allocated it goes into the freeing thread's
// cache; each cache is bounded (kCacheBytes per class) and overflows to the system allocator, so
// producer/consumer pairs cannot hoard memory. A thread's cache is returned when it exits.
#include <pthread.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "streams/alloc.h"
#include "streams/alloc_internal.h"
#include "streams/cpu.h"
#include "streams/debug.h"
#include "streams/mblk.h"

namespace ustreams {
namespace internal {
namespace {

// Payload sizes of the cached classes; larger payloads get a chunk of their own (kLargeClass).
constexpr size_t kClassSize[] = {64,   128,  256,   512,   1024,  2048,
                                 4096, 8192, 16384, 32768, 65536};
constexpr int kNumSizeClasses = sizeof(kClassSize) / sizeof(kClassSize[0]);
constexpr unsigned char kEsbClass = kNumSizeClasses;       // header only (esballoc)
constexpr unsigned char kBareMblkClass = kNumSizeClasses + 1;  // mblk_t alone (dupb)
constexpr unsigned char kLargeClass = 0xff;
constexpr int kNumCaches = kNumSizeClasses + 2;
constexpr size_t kCacheBytes = 256 * 1024;  // per class per thread
constexpr size_t kMaxCachedPerClass = 256;

inline int ClassFor(size_t size) {
  if (size <= 64) return 0;
  // Round up to the next power of two at or above 64.
  int cls = 64 - __builtin_clzll(size - 1) - 6;
  return cls < kNumSizeClasses ? cls : -1;
}

constexpr size_t ObjectBytes(int cache) {
  if (cache < kNumSizeClasses) return kChunkHeader + kClassSize[cache];
  if (cache == kEsbClass) return kChunkHeader;
  return sizeof(mblk_t);
}

struct FreeNode {
  FreeNode* next;
};

struct ThreadCache {
  FreeNode* head[kNumCaches] = {};
  uint32_t count[kNumCaches] = {};
  // Live counts are per thread so the hot path has no shared atomic; only the owning thread
  // writes them (relaxed load+store), readers sum them.
  std::atomic<int64_t> mblks{0};
  std::atomic<int64_t> dblks{0};

  ThreadCache();
  ~ThreadCache();
};

struct Registry {
  std::mutex mu;
  std::vector<ThreadCache*> caches;
  int64_t exited_mblks = 0;
  int64_t exited_dblks = 0;
};
Registry& Caches() {
  static Registry* r = new Registry;  // never destroyed: threads may exit after main
  return *r;
}

thread_local bool t_cache_dead = false;
thread_local ThreadCache t_cache;

ThreadCache::ThreadCache() {
  Registry& r = Caches();
  std::lock_guard<std::mutex> l(r.mu);
  r.caches.push_back(this);
}

ThreadCache::~ThreadCache() {
  for (int i = 0; i < kNumCaches; i++) {
    while (head[i] != nullptr) {
      FreeNode* n = head[i];
      head[i] = n->next;
      std::free(n);
    }
  }
  Registry& r = Caches();
  std::lock_guard<std::mutex> l(r.mu);
  r.exited_mblks += mblks.load(std::memory_order_relaxed);
  r.exited_dblks += dblks.load(std::memory_order_relaxed);
  std::erase(r.caches, this);
  t_cache_dead = true;
}

inline void Bump(std::atomic<int64_t>& c, int delta) {
  c.store(c.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

// The depot: full batches of free objects handed between threads, so a producer thread that
// only allocates and a consumer that only frees trade memory a batch at a time (one lock per
// kBatch objects) instead of going to the system allocator for every message (Bonwick's
// magazines). Bounded: past kDepotBatches a batch goes back to the system.
constexpr uint32_t kBatch = 32;
constexpr size_t kDepotBatches = 64;

struct Batch {
  FreeNode* head;
  uint32_t count;
};
struct alignas(64) Depot {
  std::mutex mu;
  std::vector<Batch> full;
};
Depot* Depots() {
  static Depot* d = [] {
    auto* depots = new Depot[kNumCaches];  // never destroyed: threads may exit after main
    // fork(): no depot lock may be copied held into the child.
    pthread_atfork(
        [] {
          for (int i = 0; i < kNumCaches; i++) Depots()[i].mu.lock();
        },
        [] {
          for (int i = 0; i < kNumCaches; i++) Depots()[i].mu.unlock();
        },
        [] {
          for (int i = 0; i < kNumCaches; i++) new (&Depots()[i].mu) std::mutex();
        });
    return depots;
  }();
  return d;
}

// How many objects of a class a thread keeps. A table, not a division: every free asks.
constexpr std::array<uint32_t, kNumCaches> kCacheLimit = [] {
  std::array<uint32_t, kNumCaches> t{};
  for (int c = 0; c < kNumCaches; c++) {
    size_t limit = kCacheBytes / ObjectBytes(c);
    if (limit > kMaxCachedPerClass) limit = kMaxCachedPerClass;
    if (limit < 2 * kBatch) limit = 2 * kBatch;
    t[c] = static_cast<uint32_t>(limit);
  }
  return t;
}();

[[gnu::always_inline]] inline void* CacheGet(int cache) {
  if (!t_cache_dead) {
    ThreadCache& tc = t_cache;
    if (tc.head[cache] == nullptr) {
      Depot& d = Depots()[cache];
      std::lock_guard<std::mutex> l(d.mu);
      if (!d.full.empty()) {
        tc.head[cache] = d.full.back().head;
        tc.count[cache] = d.full.back().count;
        d.full.pop_back();
      }
    }
    if (FreeNode* n = tc.head[cache]) {
      tc.head[cache] = n->next;
      tc.count[cache]--;
      // The next block's lines, for the allocation after this one: a block freed by a reader
      // on another core is still in that core's cache.
      if (FreeNode* next = n->next) {
        const auto* p = reinterpret_cast<const char*>(next);
        PrefetchForWrite(p);
        PrefetchForWrite(p + 64);
        PrefetchForWrite(p + 128);
      }
      return n;
    }
  }
  return std::aligned_alloc(64, (ObjectBytes(cache) + 63) & ~size_t{63});
}

void CacheOverflow(ThreadCache& tc, int cache);

// Into this thread's cache (alive), a batch going to the depot when it is full.
[[gnu::always_inline]] inline void CachePutTo(ThreadCache& tc, int cache, void* p) {
  auto* n = static_cast<FreeNode*>(p);
  n->next = tc.head[cache];
  tc.head[cache] = n;
  tc.count[cache]++;
  if (tc.count[cache] >= kCacheLimit[cache]) [[unlikely]] CacheOverflow(tc, cache);
}

[[gnu::noinline]] void CacheOverflow(ThreadCache& tc, int cache) {
  // Full: a batch off the top goes to the depot (or, if that is full too, to the system).
  Batch b{tc.head[cache], kBatch};
  FreeNode* last = b.head;
  for (uint32_t i = 1; i < kBatch; i++) last = last->next;
  tc.head[cache] = last->next;
  tc.count[cache] -= kBatch;
  last->next = nullptr;
  {
    Depot& d = Depots()[cache];
    std::lock_guard<std::mutex> l(d.mu);
    if (d.full.size() < kDepotBatches) {
      d.full.push_back(b);
      return;
    }
  }
  while (b.head != nullptr) {
    FreeNode* next = b.head->next;
    std::free(b.head);
    b.head = next;
  }
}

[[gnu::always_inline]] inline void CachePut(int cache, void* p) {
  if (t_cache_dead) {
    std::free(p);
    return;
  }
  CachePutTo(t_cache, cache, p);
}

// ---- fault injection ----
std::atomic<uint64_t> g_fail_every{0};
std::atomic<size_t> g_fail_at_least{0};
std::atomic<uint64_t> g_alloc_seq{0};
std::atomic<uint64_t> g_injected{0};

void UpdateFaultsOn() {
  g_faults_on.store(g_fail_every.load() != 0 || g_fail_at_least.load() != 0);
}

// Initialises a fresh chunk whose embedded mblk_t and data block are both in use.
[[gnu::always_inline]] inline mblk_t* InitChunk(Chunk* c, unsigned char cls, unsigned char* base,
                                                size_t size) {
  mblk_t* mp = &c->mb;
  dblk_t* db = &c->db;
  mp->b_next = mp->b_prev = mp->b_cont = nullptr;
  mp->b_rptr = mp->b_wptr = base;
  mp->b_datap = db;
  mp->b_band = 0;
  mp->b_state = kStateEmbedded;
  mp->b_flag = 0;
  mp->b_queue = nullptr;
  db->db_base = base;
  db->db_lim = base + size;
  db->db_ref.store(1, std::memory_order_relaxed);
  db->db_type = M_DATA;
  db->db_flags = 0;
  db->db_class = cls;
  db->db_frtnp = nullptr;
  db->db_mblk = mp;
  c->holds.store(2, std::memory_order_relaxed);
#if !defined(NDEBUG)
  c->shared_hash.store(0, std::memory_order_relaxed);
#endif
  if (!t_cache_dead) {
    Bump(t_cache.mblks, 1);
    Bump(t_cache.dblks, 1);
  }
  return mp;
}

}  // namespace

bool AllocShouldFail(size_t size) {
  if (!g_faults_on.load(std::memory_order_relaxed)) return false;
  bool fail = false;
  uint64_t every = g_fail_every.load(std::memory_order_relaxed);
  if (every != 0 && (g_alloc_seq.fetch_add(1, std::memory_order_relaxed) + 1) % every == 0) {
    fail = true;
  }
  size_t at_least = g_fail_at_least.load(std::memory_order_relaxed);
  if (at_least != 0 && size >= at_least) fail = true;
  if (fail) g_injected.fetch_add(1, std::memory_order_relaxed);
  return fail;
}


void CountMblk(int delta) {
  if (!t_cache_dead) Bump(t_cache.mblks, delta);
}
void CountDblk(int delta) {
  if (!t_cache_dead) Bump(t_cache.dblks, delta);
}

void AllocForkInit() {
  (void)Depots();
  BufcallForkInit();
}

mblk_t* AllocBareMblk() {
  auto* mp = static_cast<mblk_t*>(CacheGet(kBareMblkClass));
  if (mp == nullptr) return nullptr;
  mp->b_state = 0;
  CountMblk(1);
  return mp;
}

void ReleaseBareMblk(mblk_t* mp) {
  CountMblk(-1);
  CachePut(kBareMblkClass, mp);
  if (g_pending_bufcalls.load(std::memory_order_relaxed) > 0) BufcallMemoryAvailable();
}

void ReleaseChunkNow(Chunk* c) {
  const unsigned char cls = c->db.db_class;
  if (!t_cache_dead) [[likely]] {
    ThreadCache& tc = t_cache;  // one look at the thread's cache for the counts and the put
    Bump(tc.mblks, -1);
    Bump(tc.dblks, -1);
    if (cls == kLargeClass) {
      std::free(c);
    } else {
      CachePutTo(tc, cls, c);
    }
  } else {
    std::free(c);
  }
  if (g_pending_bufcalls.load(std::memory_order_relaxed) > 0) BufcallMemoryAvailable();
}

void ReleaseChunkHold(Chunk* c) {
  if (c->holds.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  unsigned char cls = c->db.db_class;
  if (cls == kLargeClass) {
    std::free(c);
  } else {
    CachePut(cls, c);
  }
  if (g_pending_bufcalls.load(std::memory_order_relaxed) > 0) BufcallMemoryAvailable();
}

uint64_t HashData(const dblk_t* db) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: cheap, and only in debug builds
  for (const unsigned char* p = db->db_base; p < db->db_lim; p++) {
    h = (h ^ *p) * 1099511628211ull;
  }
  return h;
}

}  // namespace internal

using namespace internal;

mblk_t* allocb(size_t size, unsigned int /*pri*/) {
  if (AllocFaultsOn() && AllocShouldFail(size)) return nullptr;
  int cls = ClassFor(size);
  Chunk* c;
  unsigned char db_class;
  if (cls >= 0) {
    c = static_cast<Chunk*>(CacheGet(cls));
    db_class = static_cast<unsigned char>(cls);
  } else {
    // Beyond this the chunk size below wraps around: the allocation would be tiny and db_lim
    // would point far past its end. No such buffer can exist, so fail as allocb(9F) does.
    if (size > SIZE_MAX - kChunkHeader - 63) return nullptr;
    c = static_cast<Chunk*>(std::aligned_alloc(64, (kChunkHeader + size + 63) & ~size_t{63}));
    db_class = kLargeClass;
  }
  if (c == nullptr) return nullptr;
  size_t cap = cls >= 0 ? kClassSize[cls] : size;
  mblk_t* mp = InitChunk(c, db_class, reinterpret_cast<unsigned char*>(c) + kChunkHeader, cap);
  // The buffer is as large as asked for: db_lim ends at size, as allocb(9F) promises.
  mp->b_datap->db_lim = mp->b_datap->db_base + size;
  return mp;
}

int testb(size_t size, unsigned int /*pri*/) {
  if (g_faults_on.load(std::memory_order_relaxed)) {
    uint64_t every = g_fail_every.load();
    size_t at_least = g_fail_at_least.load();
    if (every == 1 || (at_least != 0 && size >= at_least)) return 0;
  }
  return 1;
}

mblk_t* esballoc(unsigned char* base, size_t size, unsigned int /*pri*/, frtn_t* fr_rtnp) {
  if (fr_rtnp == nullptr || base == nullptr) return nullptr;
  if (AllocShouldFail(0)) return nullptr;
  auto* c = static_cast<Chunk*>(CacheGet(kEsbClass));
  if (c == nullptr) return nullptr;
  mblk_t* mp = InitChunk(c, kEsbClass, base, size);
  mp->b_datap->db_frtnp = fr_rtnp;
  return mp;
}

mblk_t* desballoc(unsigned char* base, size_t size, unsigned int pri, frtn_t* fr_rtnp) {
  return esballoc(base, size, pri, fr_rtnp);
}

void freeb(mblk_t* mp) {
  STREAMS_RULE(mp != nullptr, "freeb(9F) takes a message block", "freeb(nullptr)");
  STREAMS_RULE(!(mp->b_state & kStateFree), "a message block is freed once",
               "freeb() of a block that was already freed");
  STREAMS_RULE(mp->b_queue == nullptr, "a message on a queue is not freed",
               "freeb() of a block still on a queue; getq() or rmvq() it first");
  dblk_t* db = mp->b_datap;
  Chunk* dc = ChunkOf(db);
  bool embedded = (mp->b_state & kStateEmbedded) != 0;
  mp->b_state |= kStateFree;
  uint32_t ref = db->db_ref.load(std::memory_order_acquire);
  // Sole reference through the block's own mblk_t: nobody else can touch the chunk, so skip the
  // atomics (the common case: allocb ... freeb).
  if (ref == 1 && embedded && &dc->mb == mp) {
    db->db_ref.store(0, std::memory_order_relaxed);
    if (frtn_t* fr = db->db_frtnp) fr->free_func(fr->free_arg);
    ReleaseChunkNow(dc);
    return;
  }
#if !defined(NDEBUG)
  if (ref > 1 && dc->shared_hash.load(std::memory_order_relaxed) != HashData(db)) {
    RuleBroken("a shared data block (db_ref > 1) is never written",
               "the data changed while the block was shared; copyb() before writing");
  }
#endif
  bool last = db->db_ref.fetch_sub(1, std::memory_order_acq_rel) == 1;
  if (last) {
    CountDblk(-1);
    if (frtn_t* fr = db->db_frtnp) fr->free_func(fr->free_arg);
  }
  if (embedded) {
    CountMblk(-1);
    Chunk* home = reinterpret_cast<Chunk*>(mp);
    if (last) ReleaseChunkHold(dc);
    ReleaseChunkHold(home);
  } else {
    if (last) ReleaseChunkHold(dc);
    ReleaseBareMblk(mp);
  }
}

void freemsg(mblk_t* mp) {
  while (mp != nullptr) {
    mblk_t* next = mp->b_cont;
    freeb(mp);
    mp = next;
  }
}

AllocStats GetAllocStats() {
  Registry& r = Caches();
  std::lock_guard<std::mutex> l(r.mu);
  AllocStats s{r.exited_mblks, r.exited_dblks, g_pending_bufcalls.load()};
  for (ThreadCache* tc : r.caches) {
    s.live_mblks += tc->mblks.load(std::memory_order_relaxed);
    s.live_dblks += tc->dblks.load(std::memory_order_relaxed);
  }
  return s;
}

void AllocFaults::FailEveryNth(uint64_t n) {
  g_alloc_seq.store(0);
  g_fail_every.store(n);
  UpdateFaultsOn();
}

void AllocFaults::FailAtLeast(size_t size) {
  g_fail_at_least.store(size);
  UpdateFaultsOn();
}

void AllocFaults::Clear() {
  g_fail_every.store(0);
  g_fail_at_least.store(0);
  UpdateFaultsOn();
  BufcallMemoryAvailable();
}

uint64_t AllocFaults::InjectedFailures() { return g_injected.load(); }

}  // namespace ustreams
