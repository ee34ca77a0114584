#ifndef AGENTLOG_BENCH_TEXT_PAYLOAD_H_
#define AGENTLOG_BENCH_TEXT_PAYLOAD_H_

// Checkpoint payloads for checkpoint_bench: text-like bytes (words and
// numbers, as an agent's serialised state would be) that LZ4 compresses
// about 2x, so that neither compression nor its absence is flattered.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace agentlog::bench {

// `bytes` bytes of space-separated words from a fixed vocabulary, with one
// token in ten a random number below 10^6; the same `seed` gives the same
// bytes.
std::string MakeTextPayload(size_t bytes, uint64_t seed);

// Writes `n` (8 bytes, big-endian) at four evenly spaced offsets of
// `payload`, so that every put of the same buffer stores different bytes.
// REQUIRES: payload->size() >= 32.
void StampPayload(std::string* payload, uint64_t n);

// Raw bytes over LZ4 block bytes (LZ4_compress_default, as agentlog
// compresses); 0 when LZ4 fails.
double Lz4Ratio(std::string_view payload);

}  // namespace agentlog::bench

#endif  // AGENTLOG_BENCH_TEXT_PAYLOAD_H_
