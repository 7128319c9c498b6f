// Private to streams/: the chunk layout shared by the allocator and the message utilities, and
// the bufcall registry's hook for qbufcall.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "streams/mblk.h"

namespace ustreams::internal {

// b_state bits.
inline constexpr unsigned char kStateFree = 0x01;      // freed; a second free is a bug
inline constexpr unsigned char kStateEmbedded = 0x02;  // this mblk_t lives inside a Chunk

// One allocation: the mblk_t, the dblk_t and (for allocb) the payload. `holds` counts what keeps
// the memory alive: one for the data block while db_ref > 0, one for the embedded mblk_t while it
// is in use; the chunk is recycled when both are gone.
struct alignas(64) Chunk {
  mblk_t mb;
  dblk_t db;
  std::atomic<uint32_t> holds;
#if !defined(NDEBUG)
  std::atomic<uint64_t> shared_hash;  // hash of the data while db_ref > 1, to catch writes to shared blocks
#endif
};
inline constexpr size_t kChunkHeader = (sizeof(Chunk) + 63) & ~size_t{63};

inline Chunk* ChunkOf(dblk_t* db) {
  return reinterpret_cast<Chunk*>(reinterpret_cast<char*>(db) - offsetof(Chunk, db));
}

mblk_t* AllocBareMblk();             // for dupb: an mblk_t with no data block
void ReleaseBareMblk(mblk_t* mp);
void ReleaseChunkHold(Chunk* c);     // drop one hold; recycles the chunk at zero
void ReleaseChunkNow(Chunk* c);      // the caller knows it held the only two holds
bool AllocShouldFail(size_t size);   // fault injection, counted
// Any fault-injection rule is set: inline, as every write asks.
inline std::atomic<bool> g_faults_on{false};
inline bool AllocFaultsOn() { return g_faults_on.load(std::memory_order_relaxed); }

// Debug-build helpers for the shared-block rule.
uint64_t HashData(const dblk_t* db);

// Bufcall entries are process-wide. A runner decides where the callback runs: nullptr runs it in
// the thread that released memory (bufcall(9F)); qbufcall passes one that defers to the queue's
// scheduler and perimeter.
using BufcallRunner = void (*)(void* ctx, bufcall_id_t id, void (*func)(void*), void* arg);
bufcall_id_t BufcallRegister(size_t size, void (*func)(void*), void* arg, BufcallRunner runner,
                             void* ctx);
// Cancels a pending entry. Returns false if it already fired (or never existed); if its callback
// is running inline in another thread, waits for it to finish first.
bool BufcallCancel(bufcall_id_t id);
// Called when memory is released (and by AllocFaults::Clear): fires pending entries.
void BufcallMemoryAvailable();
extern std::atomic<int64_t> g_pending_bufcalls;

void CountMblk(int delta);
void CountDblk(int delta);

// Registers the fork handlers of the allocator's depot and of the bufcall list now, so that
// handlers registered later (the scheduler's, which waits for its workers) run before theirs.
void AllocForkInit();
void BufcallForkInit();

}  // namespace ustreams::internal
