#ifndef AGENTLOG_SRC_ASCII_H_
#define AGENTLOG_SRC_ASCII_H_

#include <array>

namespace agentlog::internal {

// The white space that text normalisation folds (input digests, echo
// fingerprints): ASCII only, so that the result never depends on a locale.
inline constexpr std::array<bool, 256> kAsciiSpace = [] {
  std::array<bool, 256> table{};
  for (unsigned char c : {' ', '\t', '\n', '\r', '\f', '\v'}) table[c] = true;
  return table;
}();

inline bool IsAsciiSpace(char c) {
  return kAsciiSpace[static_cast<unsigned char>(c)];
}

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_ASCII_H_
