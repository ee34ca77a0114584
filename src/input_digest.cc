// The digest behind duplicate-input detection (turn.h, ComputeInputDigest).
// It is persisted in `inputs` keys: the bytes hashed here must never change
// (tests/input_digest_test.cc pins a value).

#include <xxhash.h>

#include <array>
#include <cstring>
#include <string>

#include "agentlog/turn.h"
#include "ascii.h"

namespace agentlog {
namespace {

using internal::IsAsciiSpace;

void AppendLength(std::string* out, uint64_t size) {
  char prefix[8];
  for (int i = 7; i >= 0; --i, size >>= 8) prefix[i] = static_cast<char>(size);
  out->append(prefix, sizeof prefix);
}

void AppendField(std::string* out, std::string_view field) {
  AppendLength(out, field.size());
  out->append(field);
}

// Whether `text` is its own normal form: no white space at either end and
// every inner run of it a single ' '. Most text is, and then it is hashed as
// it is instead of being copied word by word (about 20 instructions a byte
// for prose, the largest part of an append). No branch inside the loop, so
// that the compiler vectorises it.
bool IsNormalised(std::string_view text) {
  if (text.empty()) return true;
  if (IsAsciiSpace(text.front()) || IsAsciiSpace(text.back())) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  // The last byte is not white space (above): every byte but it is checked
  // for \t \n \v \f \r (0x09 to 0x0d), every adjacent pair for two spaces.
  unsigned irregular = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    irregular |= static_cast<unsigned char>(p[i] - 0x09) < 5;
    irregular |= (p[i] == ' ') & (p[i + 1] == ' ');
  }
  return irregular == 0;
}

// Appends `text` trimmed, each inner run of ASCII white space folded into
// one space, preceded by its length. Copies whole words at a time.
void AppendNormalised(std::string* out, std::string_view text) {
  if (IsNormalised(text)) return AppendField(out, text);
  const size_t length_at = out->size();
  AppendLength(out, 0);
  const size_t start = out->size();
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    while (p < end && IsAsciiSpace(*p)) ++p;
    const char* word = p;
    while (p < end && !IsAsciiSpace(*p)) ++p;
    if (p == word) break;
    if (out->size() > start) out->push_back(' ');
    out->append(word, p - word);
  }
  uint64_t size = out->size() - start;
  for (int i = 7; i >= 0; --i, size >>= 8) {
    (*out)[length_at + i] = static_cast<char>(size);
  }
}

}  // namespace

InputDigest ComputeInputDigest(std::span<const Message> input) {
  // The hashed bytes: for each message its role, then the normalised
  // content, tool-call id and tool name, each length-prefixed (u64 BE).
  size_t bytes = 0;
  for (const Message& m : input) {
    bytes +=
        1 + 24 + m.content.size() + m.tool_call_id.size() + m.tool_name.size();
  }
  std::string encoded;
  encoded.reserve(bytes);
  for (const Message& m : input) {
    encoded.push_back(static_cast<char>(m.role));
    AppendNormalised(&encoded, m.content);
    AppendField(&encoded, m.tool_call_id);
    AppendField(&encoded, m.tool_name);
  }
  const XXH128_hash_t hash = XXH3_128bits(encoded.data(), encoded.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);
  InputDigest digest;
  std::memcpy(digest.data(), canonical.digest, digest.size());
  return digest;
}

}  // namespace agentlog
