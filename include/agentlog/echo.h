#ifndef AGENTLOG_ECHO_H_
#define AGENTLOG_ECHO_H_

#include <cstdint>
#include <string_view>

#include "agentlog/export.h"

namespace agentlog {

// How a response compares with the session's recent responses (echo
// detection: a looping agent answering the same thing again). Values are
// persistent in turn records; never renumber.
enum class EchoKind : uint8_t {
  // Not checked: the turn is not completed, or echo detection was off
  // (Options::detect_echoes) when it completed.
  kNone = 0,
  // Like none of the recent responses.
  kNew = 1,
  // The same text as a recent response once case and white space are
  // folded.
  kExact = 2,
  // Estimated Jaccard similarity of word 3-shingles with a recent response
  // at or above Options::echo_near_threshold.
  kNear = 3,
  // Shorter than Options::echo_min_chars: not compared, not remembered.
  kSkipped = 4,
};

// "none", "new", "exact", "near" or "skipped".
AGENTLOG_EXPORT std::string_view EchoKindName(EchoKind kind);

// The verdict on one response.
struct EchoVerdict {
  EchoKind kind = EchoKind::kNone;
  // kExact and kNear: the turn it repeats (the newest such for kExact, the
  // most similar for kNear); else 0.
  uint64_t turn = 0;
  // kExact: 1. kNear: the estimated Jaccard similarity. Else 0.
  double similarity = 0;

  friend bool operator==(const EchoVerdict&, const EchoVerdict&) = default;
};

// How often a session repeated itself: counts over its turns' verdicts,
// kept in the same write as the turns (a popped turn takes its verdict
// with it).
struct EchoStats {
  uint64_t checked = 0;  // Responses compared: new, exact and near.
  uint64_t exact = 0;
  uint64_t near = 0;
  uint64_t skipped = 0;  // Too short to compare.

  // Share of the compared responses that repeated a recent one.
  double repeat_rate() const {
    return checked == 0 ? 0.0 : static_cast<double>(exact + near) / checked;
  }
  friend bool operator==(const EchoStats&, const EchoStats&) = default;
};

}  // namespace agentlog

#endif  // AGENTLOG_ECHO_H_
