// Cost arithmetic: exact to the micro-dollar, cache tokens included, and
// refusing what would overflow.

#include "pricing.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace agentlog::internal {
namespace {

// $3 / $15 per million input / output tokens, cache reads at a tenth of
// input, cache writes at 1.25x input: a typical price sheet.
const ModelPrice kSonnet{.model = "sonnet",
                         .input = 3'000'000,
                         .output = 15'000'000,
                         .cache_read = 300'000,
                         .cache_write = 3'750'000};

int64_t Cost(const ModelPrice& p, TokenCounts t) {
  Result<int64_t> r = CostMicros(p, t);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : -1;
}

TEST(PricingTest, EachKindAtItsOwnPrice) {
  EXPECT_EQ(Cost(kSonnet, {.input = 1'000'000}), 3'000'000);
  EXPECT_EQ(Cost(kSonnet, {.output = 1'000'000}), 15'000'000);
  EXPECT_EQ(Cost(kSonnet, {.cache_read = 1'000'000}), 300'000);
  EXPECT_EQ(Cost(kSonnet, {.cache_write = 1'000'000}), 3'750'000);
  // 412 in, 9 out, 2,000 cache read, 100 cache write:
  // 1,236,000,000 + 135,000,000 + 600,000,000 + 375,000,000 = 2,346,000,000
  // per million: 2,346 micro-dollars exactly.
  EXPECT_EQ(Cost(kSonnet, {.input = 412,
                           .output = 9,
                           .cache_read = 2'000,
                           .cache_write = 100}),
            2'346);
}

TEST(PricingTest, RoundsTheTotalHalfUpNotEachKind) {
  // One cache-read token costs 0.3 micro-dollars: alone it rounds to 0.
  EXPECT_EQ(Cost(kSonnet, {.cache_read = 1}), 0);
  EXPECT_EQ(Cost(kSonnet, {.cache_read = 2}), 1);  // 0.6
  // 0.5 rounds up; 0.4999... does not.
  const ModelPrice half{.model = "m", .input = 500'000};
  EXPECT_EQ(Cost(half, {.input = 1}), 1);
  const ModelPrice under{.model = "m", .input = 499'999};
  EXPECT_EQ(Cost(under, {.input = 1}), 0);
  // One input token and five cache-read tokens: 3 + 1.5 = 4.5 -> 5, where
  // truncation would give 4.
  EXPECT_EQ(Cost(kSonnet, {.input = 1, .cache_read = 5}), 5);
  // Two cache-read and two cache-write tokens: 0.6 + 7.5 = 8.1 -> 8, where
  // rounding each kind first would give 1 + 8 = 9.
  EXPECT_EQ(Cost(kSonnet, {.cache_read = 2, .cache_write = 2}), 8);
}

TEST(PricingTest, LargeCountsStayExact) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  // 2^64 - 1 tokens at 1 micro-dollar per million: 18,446,744,073,709.551615
  // -> 18,446,744,073,710.
  const ModelPrice tiny{.model = "m", .output = 1};
  EXPECT_EQ(Cost(tiny, {.output = max}), 18'446'744'073'710);
  // At $1 per million tokens a token costs one micro-dollar: INT64_MAX
  // tokens cost exactly INT64_MAX micro-dollars, one more overflows.
  const ModelPrice dollar{.model = "m", .input = 1'000'000};
  EXPECT_EQ(Cost(dollar, {.input = 9'223'372'036'854'775'807ull}),
            std::numeric_limits<int64_t>::max());
}

TEST(PricingTest, OverflowIsInvalidArgument) {
  const ModelPrice dollar{.model = "m", .input = 1'000'000};
  const Result<int64_t> r =
      CostMicros(dollar, {.input = 9'223'372'036'854'775'808ull});
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("overflow int64"), std::string::npos);
  const ModelPrice top{.model = "m",
                       .input = kMaxPricePerMillion,
                       .output = kMaxPricePerMillion,
                       .cache_read = kMaxPricePerMillion,
                       .cache_write = kMaxPricePerMillion};
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_TRUE(CostMicros(top, {max, max, max, max}).status().IsInvalidArgument());
  // Overflow that only the rounding causes: at half a micro-dollar a token,
  // 2^64 - 1 tokens cost INT64_MAX + 0.5, which rounds up past INT64_MAX;
  // one token fewer costs INT64_MAX exactly.
  const ModelPrice half{.model = "m", .input = 500'000};
  EXPECT_TRUE(CostMicros(half, {.input = max}).status().IsInvalidArgument());
  EXPECT_EQ(Cost(half, {.input = max - 1}),
            std::numeric_limits<int64_t>::max());
  // An invalid price is refused here too, not wrapped into a wrong cost.
  EXPECT_TRUE(CostMicros(ModelPrice{.model = "m", .input = -1, .output = 1},
                         {.input = 1, .output = 1})
                  .status()
                  .IsInvalidArgument());
}

TEST(PricingTest, PricesOutOfRangeAreNamed) {
  ModelPrice p = kSonnet;
  p.cache_write = -1;
  Status s = ValidatePrice(p);
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("ModelPrice::cache_write"), std::string::npos);
  p = kSonnet;
  p.output = kMaxPricePerMillion + 1;
  s = ValidatePrice(p);
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("ModelPrice::output"), std::string::npos);
  p = kSonnet;
  p.model.clear();
  EXPECT_TRUE(ValidatePrice(p).IsInvalidArgument());
  EXPECT_TRUE(ValidatePrice(kSonnet).ok());
  const ModelPrice top{.model = "m",
                       .input = kMaxPricePerMillion,
                       .output = kMaxPricePerMillion,
                       .cache_read = kMaxPricePerMillion,
                       .cache_write = kMaxPricePerMillion};
  EXPECT_TRUE(ValidatePrice(top).ok());
}

}  // namespace
}  // namespace agentlog::internal
