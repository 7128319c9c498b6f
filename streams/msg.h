// MsgPtr: an owning, move-only handle for a message (an mblk_t chain). It frees the chain when
// it goes out of scope unless release() handed the chain on (to putnext, putq, qreply ...):
//
//   MsgPtr mp(allocb(64));
//   if (!mp) return ENOSR;
//   ... fill it ...
//   putnext(q, mp.release());   // consumes the message
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "streams/mblk.h"

namespace ustreams {

class MsgPtr {
 public:
  MsgPtr() = default;
  explicit MsgPtr(mblk_t* mp) : mp_(mp) {}
  MsgPtr(const MsgPtr&) = delete;
  MsgPtr& operator=(const MsgPtr&) = delete;
  MsgPtr(MsgPtr&& o) noexcept : mp_(std::exchange(o.mp_, nullptr)) {}
  MsgPtr& operator=(MsgPtr&& o) noexcept {
    reset(std::exchange(o.mp_, nullptr));
    return *this;
  }
  ~MsgPtr() {
    if (mp_ != nullptr) freemsg(mp_);
  }

  mblk_t* get() const { return mp_; }
  mblk_t* operator->() const { return mp_; }
  explicit operator bool() const { return mp_ != nullptr; }
  // Gives up ownership: the caller now owns (and must pass on or free) the chain.
  [[nodiscard]] mblk_t* release() { return std::exchange(mp_, nullptr); }
  void reset(mblk_t* mp = nullptr) {
    if (mp_ != nullptr) freemsg(mp_);
    mp_ = mp;
  }

  // A one-block message of `type` holding `data`; empty on allocation failure.
  static MsgPtr Make(unsigned char type, std::string_view data);
  static MsgPtr Data(std::string_view data) { return Make(M_DATA, data); }

  // The bytes of every block of the chain, concatenated.
  std::string Bytes() const;

 private:
  mblk_t* mp_ = nullptr;
};

// The concatenated bytes of every block of a chain (test and debugging helper).
std::string MsgBytes(const mblk_t* mp);

}  // namespace ustreams
