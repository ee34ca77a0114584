// Text-like checkpoint payloads for checkpoint_bench (docs/benchmarks.md).

#include "text_payload.h"

#include <lz4.h>

#include <iterator>
#include <string>

namespace agentlog::bench {
namespace {

// 80 words: enough that LZ4 finds repeats only word by word, as in real
// text, rather than whole phrases.
constexpr const char* kWords[] = {
    "agent",     "tool",        "call",    "result",   "file",    "path",
    "read",      "write",       "model",   "plan",     "step",    "user",
    "assistant", "message",     "token",   "context",  "window",  "session",
    "turn",      "state",       "search",  "query",    "answer",  "error",
    "retry",     "output",      "input",   "function", "value",   "return",
    "config",    "build",       "test",    "source",   "header",  "include",
    "namespace", "class",       "struct",  "method",   "string",  "vector",
    "option",    "status",      "commit",  "branch",   "review",  "change",
    "diff",      "patch",       "memory",  "cache",    "buffer",  "stream",
    "thread",    "lock",        "queue",   "worker",   "task",    "job",
    "request",   "response",    "client",  "server",   "network", "socket",
    "timeout",   "latency",     "budget",  "limit",    "summary", "detail",
    "reason",    "observation", "thought", "action",   "goal",    "subgoal",
    "progress",  "done"};

// One token in ten is a number: random digits are what LZ4 cannot shrink,
// and this share puts the ratio near 2x (docs/benchmarks.md has the
// measured figure).
constexpr uint64_t kNumberPercent = 10;

}  // namespace

std::string MakeTextPayload(size_t bytes, uint64_t seed) {
  uint64_t state = seed;
  auto next = [&state] {
    state = state * 6364136223846793005u + 1442695040888963407u;
    return state >> 33;
  };
  std::string out;
  out.reserve(bytes + 16);
  while (out.size() < bytes) {
    const uint64_t r = next();
    if (r % 100 < kNumberPercent) {
      out += std::to_string(next() % 1'000'000);
    } else {
      out += kWords[next() % std::size(kWords)];
    }
    out += (r >> 8) % 12 == 0 ? ", " : " ";
  }
  out.resize(bytes);
  return out;
}

void StampPayload(std::string* payload, uint64_t n) {
  // With size >= 32 a quarter holds the 8 bytes: the stamps never overlap
  // and the last ends inside the payload.
  const size_t quarter = payload->size() / 4;
  for (size_t at = 0; at < 4 * quarter; at += quarter) {
    uint64_t v = n;
    for (int i = 7; i >= 0; --i, v >>= 8) {
      (*payload)[at + i] = static_cast<char>(v & 0xff);
    }
  }
}

double Lz4Ratio(std::string_view payload) {
  const int bound = LZ4_compressBound(static_cast<int>(payload.size()));
  if (bound <= 0) return 0;
  std::string compressed(static_cast<size_t>(bound), '\0');
  const int n = LZ4_compress_default(payload.data(), compressed.data(),
                                     static_cast<int>(payload.size()), bound);
  return n > 0 ? static_cast<double>(payload.size()) / n : 0;
}

}  // namespace agentlog::bench
