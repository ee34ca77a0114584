#include "keys.h"

#include <gtest/gtest.h>

namespace agentlog::internal {
namespace {

TEST(KeysTest, U64IsBigEndianAndRoundTrips) {
  std::string out;
  AppendU64(&out, 0x0102030405060708ULL);
  EXPECT_EQ(out, std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  for (uint64_t v : {0ULL, 1ULL, 255ULL, 256ULL, ~0ULL}) {
    std::string e;
    AppendU64(&e, v);
    EXPECT_EQ(DecodeU64(e), v);
  }
}

TEST(KeysTest, TurnKeysRoundTripAndSortByNumber) {
  const SessionId id = SessionId::Generate(5);
  std::string previous;
  for (uint64_t n : {1ULL, 2ULL, 255ULL, 256ULL, 1ULL << 40}) {
    const std::string key = TurnKey(id, n);
    ASSERT_EQ(key.size(), 24u);
    auto parsed = ParseNumberedKey(key);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->session, id);
    EXPECT_EQ(parsed->number, n);
    EXPECT_LT(previous, key);
    previous = key;
  }
  EXPECT_FALSE(ParseNumberedKey("short").has_value());
}

TEST(KeysTest, SessionKeysRoundTrip) {
  const SessionId id = SessionId::Generate(7);
  auto parsed = ParseSessionKey(SessionKey(id));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, id);
  EXPECT_FALSE(ParseSessionKey(SessionKey(id) + "x").has_value());
}

TEST(KeysTest, IdempotencyKeysRoundTrip) {
  const SessionId id = SessionId::Generate(9);
  const std::string raw("key\0with-nul", 12);
  const std::string key = IdempotencyKey(id, raw);
  auto parsed = ParseIdempotencyKey(key);  // Views into `key`.
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->session, id);
  EXPECT_EQ(parsed->key, raw);
  EXPECT_FALSE(ParseIdempotencyKey(SessionKey(id)).has_value());
}

TEST(KeysTest, InputKeysRoundTripAndShareTheirPrefix) {
  const SessionId id = SessionId::Generate(11);
  InputDigest digest;
  for (size_t i = 0; i < digest.size(); ++i)
    digest[i] = static_cast<uint8_t>(i * 17);
  const std::string key = InputKey(id, digest, 42);
  EXPECT_EQ(key.rfind(InputPrefix(id, digest), 0), 0u);
  auto parsed = ParseInputKey(key);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->session, id);
  EXPECT_EQ(parsed->digest, digest);
  EXPECT_EQ(parsed->number, 42u);
  // The first turn with an input sorts first under the prefix.
  EXPECT_LT(InputKey(id, digest, 3), InputKey(id, digest, 40));
}

TEST(KeysTest, SessionRangeCoversExactlyOneSession) {
  const SessionId id = SessionId::Generate(13);
  const std::string begin = SessionRangeBegin(id);
  const std::string end = SessionRangeEnd(id);
  EXPECT_LE(begin, TurnKey(id, 0));
  EXPECT_LT(TurnKey(id, ~0ULL), end);
  EXPECT_LT(IdempotencyKey(id, std::string(300, '\xff')), end);
  // The next possible id is outside.
  auto next = id.bytes();
  for (size_t i = next.size(); i-- > 0;) {
    if (++next[i] != 0) break;
  }
  EXPECT_GE(SessionKey(SessionId::FromBytes(next)), end);
}

TEST(KeysTest, HexIsLowerCase) {
  EXPECT_EQ(Hex(std::string("\x00\xab\xff", 3)), "00abff");
}

}  // namespace
}  // namespace agentlog::internal
