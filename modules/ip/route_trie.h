// The lookup structure behind RouteTable (route.h has the theory of operation): a multibit trie
// of immutable, bitmap-compressed nodes, strides 6-6-6-6-6-2. Every update returns a new root
// that shares the untouched subtrees with the old one and lists the old nodes it replaced.
// Not synchronised: RouteTable serialises the updates and publishes the roots.
#pragma once

#include <cstdint>
#include <vector>

#include "modules/ip/route.h"

namespace ustreams::ip::internal {

inline constexpr int kTrieLevels = 6;

// The depth of the node holding a route of this length: 0 for 0..6, 1 for 7..12, …, 4 for
// 25..30, 5 for 31..32.
constexpr int TrieDepthOf(int prefix_len) {
  return prefix_len == 0 ? 0 : (prefix_len - 1) / 6 < 5 ? (prefix_len - 1) / 6 : 5;
}

// The longest route matching addr under root (which may be null), or null.
const Route* TrieLookup(const TrieNode* root, uint32_t addr);

// Returns the root of a version with r (not yet present) added. The nodes of the old version
// that the new one does not use are appended to replaced.
const TrieNode* TrieInsert(const TrieNode* root, const Route* r,
                           std::vector<const TrieNode*>& replaced);

// Returns the root of a version in which the slots that held old (present, at old->dst/
// old->prefix_len) hold replacement instead: the new route of a change, or for a delete the
// longest shorter route of the same node covering old (or null).
const TrieNode* TrieReplace(const TrieNode* root, const Route* old, const Route* replacement,
                            std::vector<const TrieNode*>& replaced);

// Frees a node (not its children or routes).
void TrieFreeNode(const TrieNode* node);
// Frees a whole version (not its routes).
void TrieFreeAll(const TrieNode* root);

struct TrieStats {
  size_t nodes = 0;
  size_t bytes = 0;  // requested by the nodes, allocator overhead excluded
  size_t max_depth = 0;
};
TrieStats TrieGetStats(const TrieNode* root);

}  // namespace ustreams::ip::internal
