#include <gtest/gtest.h>

#include "agentlog/turn.h"

namespace agentlog {
namespace {

std::vector<Message> One(Role role, std::string content) {
  return {Message{role, std::move(content), "", ""}};
}

TEST(InputDigestTest, WhiteSpaceIsNormalised) {
  EXPECT_EQ(ComputeInputDigest(One(Role::kUser, "hello   world")),
            ComputeInputDigest(One(Role::kUser, "  hello\n\tworld \r\n")));
}

TEST(InputDigestTest, CaseRoleAndToolFieldsMatter) {
  const InputDigest base = ComputeInputDigest(One(Role::kUser, "hello"));
  EXPECT_NE(base, ComputeInputDigest(One(Role::kUser, "Hello")));
  EXPECT_NE(base, ComputeInputDigest(One(Role::kSystem, "hello")));
  std::vector<Message> tool = One(Role::kUser, "hello");
  tool[0].tool_name = "search";
  EXPECT_NE(base, ComputeInputDigest(tool));
}

TEST(InputDigestTest, MessageBoundariesMatter) {
  // Length prefixes keep ["ab", "c"] and ["a", "bc"] apart.
  std::vector<Message> a = {Message{Role::kUser, "ab", "", ""},
                            Message{Role::kUser, "c", "", ""}};
  std::vector<Message> b = {Message{Role::kUser, "a", "", ""},
                            Message{Role::kUser, "bc", "", ""}};
  EXPECT_NE(ComputeInputDigest(a), ComputeInputDigest(b));
}

TEST(InputDigestTest, IsStable) {
  // The digest is persisted in the inputs column family: it must never
  // change between releases. This pins the value of one input.
  const InputDigest d = ComputeInputDigest(One(Role::kUser, " hello "));
  std::string hex;
  for (uint8_t b : d) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  EXPECT_EQ(hex, "b5ae08850c0f3f2f6effc03ef7870789");
}

}  // namespace
}  // namespace agentlog
