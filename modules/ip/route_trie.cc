#include "modules/ip/route_trie.h"

#include <algorithm>
#include <bit>
#include <new>

namespace ustreams::ip::internal {

// Node layout: this header, then nchildren child pointers, then nleaves leaf pointers, in one
// allocation. A lookup reads the header and one entry of each array, usually one cache line.
struct TrieNode {
  uint64_t leafvec;   // bit i: a run of equal leaves starts at slot i (bit 0 always set)
  uint64_t childvec;  // bit i: slot i has a child
  uint8_t nleaves;
  uint8_t nchildren;

  const TrieNode* const* children() const {
    return reinterpret_cast<const TrieNode* const*>(this + 1);
  }
  const Route* const* leaves() const {
    return reinterpret_cast<const Route* const*>(children() + nchildren);
  }
};
static_assert(sizeof(TrieNode) % alignof(void*) == 0);

namespace {

constexpr int Stride(int depth) { return depth < 5 ? 6 : 2; }
constexpr int Slots(int depth) { return 1 << Stride(depth); }

constexpr unsigned SlotOf(uint32_t addr, int depth) {
  return depth < 5 ? (addr >> (26 - 6 * depth)) & 63u : addr & 3u;
}

// std::popcount compiles to a libgcc call unless the target has POPCNT (-mpopcnt, x86-64-v2);
// the branch-free SWAR count is within a nanosecond of the instruction, and portable.
constexpr int Popcount(uint64_t x) {
#if defined(__POPCNT__) || !(defined(__x86_64__) || defined(__i386__))
  return std::popcount(x);
#else
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return static_cast<int>((x * 0x0101010101010101ull) >> 56);
#endif
}

// Bits 0..i of a 64-bit vector.
constexpr uint64_t UpTo(unsigned i) { return ~uint64_t{0} >> (63 - i); }

// A node taken apart: what updates edit before compressing it again.
struct Expanded {
  const Route* leaf[64] = {};
  const TrieNode* child[64] = {};
};

void Expand(const TrieNode* n, int depth, Expanded& e) {
  if (n == nullptr) return;
  const TrieNode* const* ch = n->children();
  const Route* const* lv = n->leaves();
  int run = -1;
  int c = 0;
  for (int i = 0; i < Slots(depth); ++i) {
    if ((n->leafvec >> i) & 1) ++run;
    e.leaf[i] = lv[run];
    if ((n->childvec >> i) & 1) e.child[i] = ch[c++];
  }
}

// The compressed node for e, or null if it holds nothing.
const TrieNode* Compress(const Expanded& e, int depth) {
  uint64_t leafvec = 0;
  uint64_t childvec = 0;
  int nleaves = 0;
  int nchildren = 0;
  bool any_leaf = false;
  for (int i = 0; i < Slots(depth); ++i) {
    if (i == 0 || e.leaf[i] != e.leaf[i - 1]) {
      leafvec |= uint64_t{1} << i;
      ++nleaves;
    }
    if (e.leaf[i] != nullptr) any_leaf = true;
    if (e.child[i] != nullptr) {
      childvec |= uint64_t{1} << i;
      ++nchildren;
    }
  }
  if (!any_leaf && nchildren == 0) return nullptr;
  size_t bytes = sizeof(TrieNode) + sizeof(void*) * static_cast<size_t>(nchildren + nleaves);
  void* mem = ::operator new(bytes);
  auto* n = new (mem)
      TrieNode{leafvec, childvec, static_cast<uint8_t>(nleaves), static_cast<uint8_t>(nchildren)};
  auto** ch = reinterpret_cast<const TrieNode**>(n + 1);
  auto** lv = reinterpret_cast<const Route**>(ch + nchildren);
  for (int i = 0, c = 0, l = 0; i < Slots(depth); ++i) {
    if ((leafvec >> i) & 1) lv[l++] = e.leaf[i];
    if (e.child[i] != nullptr) ch[c++] = e.child[i];
  }
  return n;
}

// The slots [first, first + count) a route covers in its node.
struct SlotRange {
  unsigned first;
  unsigned count;
};
SlotRange RangeOf(uint32_t dst, int prefix_len) {
  int depth = TrieDepthOf(prefix_len);
  int in_node = prefix_len - 6 * depth;  // 0 only for the default route, at the root
  return SlotRange{SlotOf(dst, depth), 1u << (Stride(depth) - in_node)};
}

// Copies the path from n (at depth) down to the node of dst/prefix_len, applies edit there, and
// returns the new version of n (null if it ends up empty).
template <typename Edit>
const TrieNode* Rebuild(const TrieNode* n, int depth, uint32_t dst, int prefix_len,
                        const Edit& edit, std::vector<const TrieNode*>& replaced) {
  Expanded e;
  Expand(n, depth, e);
  if (depth == TrieDepthOf(prefix_len)) {
    edit(e.leaf, RangeOf(dst, prefix_len));
  } else {
    unsigned slot = SlotOf(dst, depth);
    e.child[slot] = Rebuild(e.child[slot], depth + 1, dst, prefix_len, edit, replaced);
  }
  if (n != nullptr) replaced.push_back(n);
  return Compress(e, depth);
}

void Stats(const TrieNode* n, int depth, TrieStats& s) {
  ++s.nodes;
  s.bytes += sizeof(TrieNode) + sizeof(void*) * (n->nchildren + n->nleaves);
  s.max_depth = std::max(s.max_depth, static_cast<size_t>(depth + 1));
  for (int i = 0; i < n->nchildren; ++i) Stats(n->children()[i], depth + 1, s);
}

}  // namespace

const Route* TrieLookup(const TrieNode* n, uint32_t addr) {
  const Route* best = nullptr;
  for (int depth = 0; n != nullptr; ++depth) {
    unsigned slot = SlotOf(addr, depth);
    uint64_t upto = UpTo(slot);
    const Route* leaf = n->leaves()[Popcount(n->leafvec & upto) - 1];
    if (leaf != nullptr) best = leaf;
    if (((n->childvec >> slot) & 1) == 0) break;
    n = n->children()[Popcount(n->childvec & (upto >> 1))];
  }
  return best;
}

const TrieNode* TrieInsert(const TrieNode* root, const Route* r,
                           std::vector<const TrieNode*>& replaced) {
  auto edit = [r](const Route** leaf, SlotRange range) {
    // A slot keeps a longer route of this node; a shorter one (or none) gives way.
    for (unsigned i = range.first; i < range.first + range.count; ++i) {
      if (leaf[i] == nullptr || leaf[i]->prefix_len < r->prefix_len) leaf[i] = r;
    }
  };
  return Rebuild(root, 0, r->dst, r->prefix_len, edit, replaced);
}

const TrieNode* TrieReplace(const TrieNode* root, const Route* old, const Route* replacement,
                            std::vector<const TrieNode*>& replaced) {
  // old may hold no slot at all, when longer routes of its node cover all of its range.
  auto edit = [old, replacement](const Route** leaf, SlotRange range) {
    for (unsigned i = range.first; i < range.first + range.count; ++i) {
      if (leaf[i] == old) leaf[i] = replacement;
    }
  };
  return Rebuild(root, 0, old->dst, old->prefix_len, edit, replaced);
}

void TrieFreeNode(const TrieNode* node) {
  node->~TrieNode();
  ::operator delete(const_cast<TrieNode*>(node));
}

void TrieFreeAll(const TrieNode* root) {
  if (root == nullptr) return;
  for (int i = 0; i < root->nchildren; ++i) TrieFreeAll(root->children()[i]);
  TrieFreeNode(root);
}

TrieStats TrieGetStats(const TrieNode* root) {
  TrieStats s;
  if (root != nullptr) Stats(root, 0, s);
  return s;
}

}  // namespace ustreams::ip::internal
