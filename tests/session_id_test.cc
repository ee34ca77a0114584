#include "agentlog/session_id.h"

#include <gtest/gtest.h>

#include <set>

namespace agentlog {
namespace {

TEST(SessionIdTest, TextRoundTripsForRandomIds) {
  for (int i = 0; i < 1000; ++i) {
    const SessionId id = SessionId::Generate(1'700'000'000'000 + i);
    const std::string text = id.ToString();
    ASSERT_EQ(text.size(), SessionId::kTextLength);
    auto parsed = SessionId::Parse(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, id);
  }
}

TEST(SessionIdTest, ExtremesRoundTrip) {
  std::array<uint8_t, 16> max;
  max.fill(0xff);
  for (const SessionId& id : {SessionId(), SessionId::FromBytes(max)}) {
    auto parsed = SessionId::Parse(id.ToString());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, id);
  }
  EXPECT_EQ(SessionId().ToString(), std::string(26, '0'));
  EXPECT_EQ(SessionId::FromBytes(max).ToString(), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
}

TEST(SessionIdTest, KnownVectorMatchesUlidLayout) {
  // 48-bit timestamp 1 followed by zero randomness: the last bit of the
  // timestamp is bit 80 of the 128-bit value.
  std::array<uint8_t, 16> bytes{};
  bytes[5] = 1;
  const SessionId id = SessionId::FromBytes(bytes);
  EXPECT_EQ(id.timestamp_ms(), 1);
  EXPECT_EQ(id.ToString(), "0000000001" + std::string(16, '0'));
}

TEST(SessionIdTest, TimestampAndOrderFollowCreationTime) {
  const SessionId a = SessionId::Generate(1000);
  const SessionId b = SessionId::Generate(2000);
  EXPECT_EQ(a.timestamp_ms(), 1000);
  EXPECT_EQ(b.timestamp_ms(), 2000);
  EXPECT_LT(a, b);
  EXPECT_LT(a.ToString(), b.ToString());  // Text sorts like bytes.
}

TEST(SessionIdTest, GeneratedIdsAreDistinct) {
  std::set<SessionId> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(SessionId::Generate(42));
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(SessionIdTest, ParseAcceptsLowerCaseAndCrockfordAliases) {
  const SessionId id = SessionId::Generate(1'700'000'000'000);
  std::string lower = id.ToString();
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  auto parsed = SessionId::Parse(lower);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, id);

  auto aliased = SessionId::Parse("0000000000000000000000000O");
  ASSERT_TRUE(aliased.ok());
  EXPECT_EQ(*aliased, SessionId());
  auto one = SessionId::Parse("0000000000000000000000000I");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->bytes()[15], 1);
}

TEST(SessionIdTest, ParseRejectsMalformedText) {
  const char* bad[] = {
      "",                             // empty
      "0000000000000000000000000",    // 25 characters
      "000000000000000000000000000",  // 27 characters
      "0000000000000000000000000U",   // U is not in the alphabet
      "000000000000000000000000-0",   // punctuation
      "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",   // overflows 128 bits
  };
  for (const char* text : bad) {
    auto parsed = SessionId::Parse(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_TRUE(parsed.status().IsInvalidArgument());
    EXPECT_NE(parsed.status().message().find("session id"), std::string::npos);
  }
}

}  // namespace
}  // namespace agentlog
