// The digest behind duplicate-input detection (turn.h, ComputeInputDigest).

#include <xxhash.h>

#include <cstring>
#include <string>

#include "agentlog/turn.h"

namespace agentlog {
namespace {

bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

// Trims and folds every run of ASCII white space into one space.
std::string NormaliseContent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (unsigned char c : text) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(static_cast<char>(c));
  }
  return out;
}

void UpdateField(XXH3_state_t* state, std::string_view field) {
  const uint64_t size = field.size();
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = (size >> (56 - 8 * i)) & 0xff;
  XXH3_128bits_update(state, prefix, sizeof prefix);
  XXH3_128bits_update(state, field.data(), field.size());
}

}  // namespace

InputDigest ComputeInputDigest(std::span<const Message> input) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  for (const Message& m : input) {
    const unsigned char role = static_cast<unsigned char>(m.role);
    XXH3_128bits_update(state, &role, 1);
    UpdateField(state, NormaliseContent(m.content));
    UpdateField(state, m.tool_call_id);
    UpdateField(state, m.tool_name);
  }
  const XXH128_hash_t hash = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);
  InputDigest digest;
  std::memcpy(digest.data(), canonical.digest, digest.size());
  return digest;
}

}  // namespace agentlog
