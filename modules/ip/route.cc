#include "modules/ip/route.h"

#include <cerrno>
#include <string>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "modules/ip/errno_status.h"
#include "modules/ip/route_trie.h"

namespace ustreams::ip {

using internal::TrieNode;

namespace {

std::string FormatPrefix(uint32_t dst, int prefix_len) {
  return absl::StrCat(dst >> 24, ".", (dst >> 16) & 0xff, ".", (dst >> 8) & 0xff, ".", dst & 0xff,
                      "/", prefix_len);
}

void FreeNode(const void* p) { internal::TrieFreeNode(static_cast<const TrieNode*>(p)); }

// The tables whose notifications this thread is delivering, innermost first: a callback that
// changes its own table must not try to take that table's delivery lock again (locking, even
// try_lock, a std::mutex the thread owns is undefined).
struct DeliveryFrame {
  const RouteTable* table;
  const DeliveryFrame* outer;
};
thread_local const DeliveryFrame* t_delivering = nullptr;

bool DeliveringOnThisThread(const RouteTable* table) {
  for (const DeliveryFrame* f = t_delivering; f != nullptr; f = f->outer) {
    if (f->table == table) return true;
  }
  return false;
}

}  // namespace

absl::Status ValidatePrefix(uint32_t dst, int prefix_len) {
  if (prefix_len < 0 || prefix_len > 32) {
    return ErrnoError(EINVAL, absl::StrCat("prefix length ", prefix_len, " is outside 0..32"));
  }
  if ((dst & ~PrefixMask(prefix_len)) != 0) {
    return ErrnoError(
        EINVAL, absl::StrCat(FormatPrefix(dst, prefix_len), " has host bits set outside the mask"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRoute(const Route& r) {
  if (absl::Status s = ValidatePrefix(r.dst, r.prefix_len); !s.ok()) return s;
  if ((r.flags & RTF_HOST) != 0 && r.prefix_len != 32) {
    return ErrnoError(EINVAL, absl::StrCat(FormatPrefix(r.dst, r.prefix_len),
                                           ": RTF_HOST needs a prefix length of 32"));
  }
  if ((r.flags & RTF_GATEWAY) != 0 && r.gateway == 0) {
    return ErrnoError(
        EINVAL, absl::StrCat(FormatPrefix(r.dst, r.prefix_len), ": RTF_GATEWAY needs a gateway"));
  }
  return absl::OkStatus();
}

RouteTable::RouteTable() = default;

RouteTable::~RouteTable() {
  std::lock_guard l(mu_);
  internal::TrieFreeAll(root_.load(std::memory_order_relaxed));
  for (auto& [key, route] : index_) delete route;
  // retired_'s destructor frees what was retired.
}

absl::Status RouteTable::Add(const Route& route, uint64_t origin) {
  if (absl::Status s = ValidateRoute(route); !s.ok()) return s;
  {
    std::lock_guard l(mu_);
    uint64_t key = Key(route.dst, route.prefix_len);
    if (index_.contains(key)) {
      return ErrnoError(
          EEXIST, absl::StrCat(FormatPrefix(route.dst, route.prefix_len), ": a route exists"));
    }
    const Route* r = new Route(route);
    std::vector<const TrieNode*> old;
    const TrieNode* root = internal::TrieInsert(root_.load(std::memory_order_relaxed), r, old);
    index_.emplace(key, r);
    PublishLocked(root, old, nullptr);
    NotifyLocked(kRouteAdd, *r, origin);
  }
  Deliver();
  return absl::OkStatus();
}

absl::Status RouteTable::Delete(uint32_t dst, int prefix_len, std::optional<uint32_t> gateway,
                                uint64_t origin) {
  if (absl::Status s = ValidatePrefix(dst, prefix_len); !s.ok()) return s;
  {
    std::lock_guard l(mu_);
    auto it = index_.find(Key(dst, prefix_len));
    if (it == index_.end()) {
      return ErrnoError(ESRCH, absl::StrCat(FormatPrefix(dst, prefix_len), ": no such route"));
    }
    // BSD rtrequest(kRouteDelete) with a gateway deletes only the route through that gateway.
    if (gateway.has_value() && it->second->gateway != *gateway) {
      return ErrnoError(
          ESRCH, absl::StrCat(FormatPrefix(dst, prefix_len), ": no route through that gateway"));
    }
    EraseLocked(it, origin);
  }
  Deliver();
  return absl::OkStatus();
}

absl::Status RouteTable::Change(const Route& route, uint64_t origin) {
  if (absl::Status s = ValidateRoute(route); !s.ok()) return s;
  {
    std::lock_guard l(mu_);
    auto it = index_.find(Key(route.dst, route.prefix_len));
    if (it == index_.end()) {
      return ErrnoError(ESRCH,
                        absl::StrCat(FormatPrefix(route.dst, route.prefix_len), ": no such route"));
    }
    const Route* old_route = it->second;
    const Route* r = new Route(route);
    std::vector<const TrieNode*> old;
    const TrieNode* root =
        internal::TrieReplace(root_.load(std::memory_order_relaxed), old_route, r, old);
    it->second = r;
    PublishLocked(root, old, old_route);
    NotifyLocked(kRouteChange, *r, origin);
  }
  Deliver();
  return absl::OkStatus();
}

absl::StatusOr<Route> RouteTable::Get(uint32_t dst, int prefix_len) const {
  if (absl::Status s = ValidatePrefix(dst, prefix_len); !s.ok()) return s;
  std::shared_lock l(mu_);
  auto it = index_.find(Key(dst, prefix_len));
  if (it == index_.end()) {
    return ErrnoError(ESRCH, absl::StrCat(FormatPrefix(dst, prefix_len), ": no such route"));
  }
  return *it->second;
}

std::optional<Route> RouteTable::Lookup(uint32_t addr) const {
  RcuReadGuard guard;
  // seq_cst pairs with the writer's store and with the reader slot's store (rcu.h).
  const Route* r = internal::TrieLookup(root_.load(std::memory_order_seq_cst), addr);
  if (r == nullptr) return std::nullopt;
  return *r;
}

void RouteTable::Walk(absl::FunctionRef<bool(const Route&)> fn) const {
  std::vector<Route> copy;
  {
    std::shared_lock l(mu_);
    copy.reserve(index_.size());
    for (const auto& [key, route] : index_) copy.push_back(*route);
  }
  for (const Route& r : copy) {
    if (!fn(r)) break;
  }
}

size_t RouteTable::FlushInterface(uint32_t ifindex) {
  return FlushIf([ifindex](const Route& r) { return r.ifindex == ifindex; });
}

size_t RouteTable::FlushIf(absl::FunctionRef<bool(const Route&)> pred) {
  size_t n = 0;
  {
    std::lock_guard l(mu_);
    for (auto it = index_.begin(); it != index_.end();) {
      if (!pred(*it->second)) {
        ++it;
        continue;
      }
      uint64_t next_key = it->first + 1;  // EraseLocked invalidates btree iterators
      EraseLocked(it, 0);
      it = index_.lower_bound(next_key);
      ++n;
    }
  }
  Deliver();
  return n;
}

size_t RouteTable::size() const {
  std::shared_lock l(mu_);
  return index_.size();
}

RouteTable::Stats RouteTable::GetStats() const {
  std::shared_lock l(mu_);
  internal::TrieStats t = internal::TrieGetStats(root_.load(std::memory_order_relaxed));
  return Stats{index_.size(), t.nodes, t.bytes, t.max_depth, retired_.pending()};
}

const Route* RouteTable::InNodeFallback(uint32_t dst, int prefix_len) const {
  int depth = internal::TrieDepthOf(prefix_len);
  int shortest = depth == 0 ? 0 : 6 * depth + 1;
  for (int len = prefix_len - 1; len >= shortest; --len) {
    auto it = index_.find(Key(dst & PrefixMask(len), len));
    if (it != index_.end()) return it->second;
  }
  return nullptr;
}

void RouteTable::EraseLocked(absl::btree_map<uint64_t, const Route*>::iterator it,
                             uint64_t origin) {
  const Route* r = it->second;
  std::vector<const TrieNode*> old;
  const TrieNode* root = internal::TrieReplace(root_.load(std::memory_order_relaxed), r,
                                               InNodeFallback(r->dst, r->prefix_len), old);
  index_.erase(it);
  NotifyLocked(kRouteDelete, *r, origin);  // before PublishLocked, which may free r
  PublishLocked(root, old, r);
}

void RouteTable::PublishLocked(const TrieNode* root, const std::vector<const TrieNode*>& old_nodes,
                               const Route* old_route) {
  root_.store(root, std::memory_order_seq_cst);
  for (const TrieNode* n : old_nodes) retired_.Retire(n, FreeNode);
  if (old_route != nullptr) retired_.RetireObject(old_route);
  generation_.fetch_add(1, std::memory_order_release);
  retired_.Reclaim();
}

void RouteTable::NotifyLocked(RouteMsgType type, const Route& route, uint64_t origin) {
  if (subscriber_count_ != 0) pending_.push_back(RouteChange{type, route, origin});
}

void RouteTable::Deliver() {
  // A callback's own change: the loop below, further up this thread's stack, delivers it next.
  if (DeliveringOnThisThread(this)) return;
  for (;;) {
    // Whoever holds delivery_mu_ delivers; it looks at the queue again after letting go, so a
    // change queued while it was finishing is not stranded.
    if (!delivery_mu_.try_lock()) return;
    DeliveryFrame frame{this, t_delivering};
    t_delivering = &frame;
    for (;;) {
      std::deque<RouteChange> batch;
      {
        std::lock_guard l(mu_);
        batch.swap(pending_);
      }
      if (batch.empty()) break;
      for (const RouteChange& c : batch) {
        for (auto& [id, cb] : subscribers_) cb(c);
      }
    }
    t_delivering = frame.outer;
    delivery_mu_.unlock();
    std::lock_guard l(mu_);
    if (pending_.empty()) return;
  }
}

RouteTable::SubscriptionId RouteTable::Subscribe(Callback cb) {
  ABSL_RAW_CHECK(!DeliveringOnThisThread(this), "RouteTable::Subscribe from a callback");
  SubscriptionId id;
  {
    std::lock_guard d(delivery_mu_);
    std::deque<RouteChange> earlier;
    {
      std::lock_guard l(mu_);
      earlier.swap(pending_);
      ++subscriber_count_;
    }
    // Changes queued before this subscription go to the earlier subscribers only.
    DeliveryFrame frame{this, t_delivering};
    t_delivering = &frame;
    for (const RouteChange& c : earlier) {
      for (auto& [sid, scb] : subscribers_) scb(c);
    }
    t_delivering = frame.outer;
    id = next_subscription_++;
    subscribers_.emplace_back(id, std::move(cb));
  }
  Deliver();
  return id;
}

void RouteTable::Unsubscribe(SubscriptionId id) {
  ABSL_RAW_CHECK(!DeliveringOnThisThread(this), "RouteTable::Unsubscribe from a callback");
  {
    std::lock_guard d(delivery_mu_);
    for (auto it = subscribers_.begin(); it != subscribers_.end(); ++it) {
      if (it->first != id) continue;
      subscribers_.erase(it);
      std::lock_guard l(mu_);
      if (--subscriber_count_ == 0) pending_.clear();
      break;
    }
  }
  Deliver();
}

}  // namespace ustreams::ip
