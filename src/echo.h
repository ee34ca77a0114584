#ifndef AGENTLOG_SRC_ECHO_H_
#define AGENTLOG_SRC_ECHO_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agentlog/echo.h"
#include "agentlog/turn.h"

namespace agentlog::internal {

// Echo detection: fingerprints of responses and the window of a session's
// recent ones they are compared with.
//
// A fingerprint has two parts. For exact repeats, XXH3-64 of the normalised
// text (ASCII letters lower-cased, each run of ASCII white space one space,
// trimmed). For near repeats, a bottom-k MinHash sketch: the k smallest
// distinct 32-bit hashes of the text's word 3-shingles (every run of three
// consecutive words; a text of fewer words is one shingle). The k smallest
// hashes of the union of two sets are the k smallest of the union of their
// sketches, and the share of those found in both sketches estimates the
// Jaccard similarity |A ∩ B| / |A ∪ B| without bias. When the union has at
// most k shingles (two near-identical responses of up to about 500 words)
// the sketches hold the whole sets and the estimate is exact; above that
// its standard error is sqrt(J (1 - J) / k) or less.

// Sketch size k. 512 keeps every estimate on responses up to a few KiB
// within 0.05 of the truth (tests/echo_test.cc) at 2 KiB of hashes.
inline constexpr size_t kEchoSketchSize = 512;

struct EchoFingerprint {
  uint64_t exact = 0;  // XXH3-64 of the normalised text.
  // Code points of the normalised text (what Options::echo_min_chars
  // counts).
  size_t chars = 0;
  std::vector<uint32_t> sketch;  // Ascending, distinct, at most k.
};

// The normalised text (for tests and the true-Jaccard oracle).
std::string NormaliseEchoText(std::string_view text);
// The fingerprint of one text, and of a turn's output: its messages'
// contents, each as if separated by white space.
EchoFingerprint FingerprintText(std::string_view text);
EchoFingerprint FingerprintOutput(std::span<const Message> output);

// The bottom-k estimate of the Jaccard similarity of the shingle sets `a`
// and `b` were made from, or -1 as soon as it is certain to be below
// `at_least` (most comparisons with unrelated text stop after a few dozen
// steps).
double EstimateJaccard(std::span<const uint32_t> a, std::span<const uint32_t> b,
                       double at_least = 0);

// How far back a window looks, in turns per remembered response: a
// window of N holds responses of the last 4N turns only, so that rebuilding
// one reads at most 4N turns even when most of a session's turns failed or
// were too short to remember.
inline constexpr uint64_t kEchoLookbackPerEntry = 4;

// The first turn number a window of `capacity` looks at in a session of
// `turn_count` turns.
inline uint64_t EchoLookbackStart(uint64_t turn_count, size_t capacity) {
  const uint64_t span = kEchoLookbackPerEntry * capacity;
  return turn_count > span ? turn_count - span + 1 : 1;
}

// The fingerprints of a session's last `capacity` remembered responses (the
// highest-numbered completed turns not skipped as too short).
//
// Not thread-safe: a window lives in its session's stripe cache and is used
// only under the stripe's lock.
class EchoWindow {
 public:
  explicit EchoWindow(size_t capacity) : capacity_(capacity) {}

  // How `fingerprint` compares with the remembered turns numbered `first`
  // to `before` - 1: kExact with the newest turn of the same text, else
  // kNear with the most similar turn at or above `near_threshold` (the
  // newest on a tie), else kNew.
  EchoVerdict Check(const EchoFingerprint& fingerprint, double near_threshold,
                    uint64_t first, uint64_t before) const;
  // Remembers turn `number`'s response; forgets the lowest-numbered one
  // when over capacity. Adding in any order keeps the same turns.
  void Add(uint64_t number, EchoFingerprint fingerprint);

  bool full() const { return entries_.size() >= capacity_; }
  // The remembered turn numbers, ascending.
  std::vector<uint64_t> turns() const;
  // Heap bytes held.
  size_t MemoryBytes() const;

 private:
  size_t capacity_;
  // Ascending by turn number.
  std::vector<std::pair<uint64_t, EchoFingerprint>> entries_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_ECHO_H_
