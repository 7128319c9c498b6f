// SipHash-2-4 (Aumasson & Bernstein, 2012): the keyed hash that makes port choice (RFC 6056)
// and, later, initial sequence numbers (RFC 6528) unpredictable without the secret. The same
// function Linux uses for both (secure_seq.c).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ustreams::ip {

struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

uint64_t SipHash24(const SipKey& key, const void* data, size_t len);

}  // namespace ustreams::ip
