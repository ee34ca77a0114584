#ifndef AGENTLOG_USAGE_H_
#define AGENTLOG_USAGE_H_

#include <cstdint>
#include <string>

namespace agentlog {

// What one model costs, in integer micro-dollars per million tokens of each
// kind ($3 per million input tokens is input = 3'000'000). Money is never
// floating point: a record's cost is the sum over kinds of tokens times
// price, divided by one million and rounded half up to the micro-dollar,
// computed in 128 bits so that no intermediate overflows.
struct ModelPrice {
  std::string model;
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = 0;
  int64_t cache_write = 0;

  friend bool operator==(const ModelPrice&, const ModelPrice&) = default;
};

}  // namespace agentlog

#endif  // AGENTLOG_USAGE_H_
