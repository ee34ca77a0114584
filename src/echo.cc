#include "echo.h"

// Inlined: a fingerprint hashes every word and shingle, a few bytes each,
// where a call into the shared library costs as much as the hash.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>

#include "ascii.h"

namespace agentlog::internal {
namespace {

// Appends `text` normalised to `out`: ASCII letters lower-cased, each run of
// ASCII white space one space (none at either end of `out`). Writes through
// a pointer into space reserved up front: this loop is most of the cost of
// a fingerprint.
void AppendNormalised(std::string* out, std::string_view text) {
  const size_t start = out->size();
  out->resize(start + text.size() + 1);
  char* const base = out->data();
  char* w = base + start;
  bool space = start > 0;  // A separator is owed before the next word.
  for (const char c : text) {
    if (IsAsciiSpace(c)) {
      space = w != base;
      continue;
    }
    if (space) *w++ = ' ';
    space = false;
    *w++ = c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  out->resize(w - base);
}

size_t CodePoints(std::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  });
}

// The k smallest distinct values of `hashes`, ascending. Selects before it
// sorts, so a long response costs linear time; a selection that duplicates
// shrink below k is redone twice as wide.
std::vector<uint32_t> BottomK(std::vector<uint32_t> hashes) {
  for (size_t take = kEchoSketchSize;; take *= 2) {
    const bool all = take >= hashes.size();
    if (!all) {
      std::nth_element(hashes.begin(), hashes.begin() + take, hashes.end());
    }
    std::vector<uint32_t> sketch(hashes.begin(),
                                 all ? hashes.end() : hashes.begin() + take);
    std::sort(sketch.begin(), sketch.end());
    sketch.erase(std::unique(sketch.begin(), sketch.end()), sketch.end());
    if (all || sketch.size() >= kEchoSketchSize) {
      if (sketch.size() > kEchoSketchSize) sketch.resize(kEchoSketchSize);
      return sketch;
    }
  }
}

EchoFingerprint FingerprintNormalised(std::string_view text) {
  EchoFingerprint fp;
  fp.exact = XXH3_64bits(text.data(), text.size());
  fp.chars = CodePoints(text);
  std::vector<uint64_t> words;
  words.reserve(text.size() / 5 + 1);
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find(' ', at);
    if (end == std::string_view::npos) end = text.size();
    words.push_back(XXH3_64bits(text.data() + at, end - at));
    at = end + 1;
  }
  if (words.empty()) return fp;
  // A shingle's hash is XXH3 over its words' hashes: one short hash per
  // shingle instead of rehashing three words.
  const size_t width = std::min<size_t>(3, words.size());
  std::vector<uint32_t> shingles;
  shingles.reserve(words.size() - width + 1);
  for (size_t i = 0; i + width <= words.size(); ++i) {
    shingles.push_back(static_cast<uint32_t>(
        XXH3_64bits(&words[i], width * sizeof(uint64_t)) >> 32));
  }
  fp.sketch = BottomK(std::move(shingles));
  return fp;
}

}  // namespace

std::string NormaliseEchoText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendNormalised(&out, text);
  return out;
}

EchoFingerprint FingerprintText(std::string_view text) {
  return FingerprintNormalised(NormaliseEchoText(text));
}

EchoFingerprint FingerprintOutput(std::span<const Message> output) {
  size_t bytes = 0;
  for (const Message& m : output) bytes += m.content.size() + 1;
  std::string text;
  text.reserve(bytes);
  for (const Message& m : output) AppendNormalised(&text, m.content);
  return FingerprintNormalised(text);
}

double EstimateJaccard(std::span<const uint32_t> a, std::span<const uint32_t> b,
                       double at_least) {
  // Walk the union of the sketches in ascending order, its first k values
  // being the union's bottom-k sample. With `total` the most values the
  // walk can take, more than (1 - at_least) * total values in only one
  // sketch put the estimate below `at_least` whatever follows.
  const size_t total = std::min(kEchoSketchSize, a.size() + b.size());
  const double max_misses = (1.0 - at_least) * static_cast<double>(total);
  size_t i = 0, j = 0, taken = 0, both = 0;
  while (taken < kEchoSketchSize && (i < a.size() || j < b.size())) {
    if (j == b.size() || (i < a.size() && a[i] < b[j])) {
      ++i;
    } else if (i == a.size() || b[j] < a[i]) {
      ++j;
    } else {
      ++both;
      ++i;
      ++j;
    }
    ++taken;
    // The margin keeps rounding from cutting off an estimate exactly at
    // `at_least`.
    if (static_cast<double>(taken - both) > max_misses + 1e-9) return -1;
  }
  // Two empty sketches are two texts without words: the same set.
  return taken == 0 ? 1.0 : static_cast<double>(both) / taken;
}

EchoVerdict EchoWindow::Check(const EchoFingerprint& fp, double near_threshold,
                              uint64_t first, uint64_t before) const {
  auto in_range = [&](uint64_t n) { return n >= first && n < before; };
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (in_range(it->first) && it->second.exact == fp.exact) {
      return {.kind = EchoKind::kExact, .turn = it->first, .similarity = 1.0};
    }
  }
  EchoVerdict verdict{.kind = EchoKind::kNew};
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (!in_range(it->first)) continue;
    // Only a better match matters: prune against the best so far.
    const double similarity =
        EstimateJaccard(fp.sketch, it->second.sketch,
                        std::max(near_threshold, verdict.similarity));
    if (similarity >= near_threshold && similarity > verdict.similarity) {
      verdict = {.kind = EchoKind::kNear,
                 .turn = it->first,
                 .similarity = similarity};
    }
  }
  return verdict;
}

void EchoWindow::Add(uint64_t number, EchoFingerprint fingerprint) {
  auto at = std::lower_bound(
      entries_.begin(), entries_.end(), number,
      [](const auto& entry, uint64_t n) { return entry.first < n; });
  if (at != entries_.end() && at->first == number) {
    at->second = std::move(fingerprint);
    return;
  }
  entries_.emplace(at, number, std::move(fingerprint));
  if (entries_.size() > capacity_) entries_.erase(entries_.begin());
}

std::vector<uint64_t> EchoWindow::turns() const {
  std::vector<uint64_t> out;
  out.reserve(entries_.size());
  for (const auto& entry : entries_) out.push_back(entry.first);
  return out;
}

size_t EchoWindow::MemoryBytes() const {
  size_t bytes = entries_.capacity() * sizeof(entries_[0]);
  for (const auto& entry : entries_) {
    bytes += entry.second.sketch.capacity() * sizeof(uint32_t);
  }
  return bytes;
}

}  // namespace agentlog::internal
