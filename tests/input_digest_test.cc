#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

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

// Text already in normal form is hashed as it is, other text after
// folding: both must hash the same bytes. Random text over an alphabet
// heavy in white space hits both paths, against a plain reference fold.
TEST(InputDigestTest, NormalFormIsHashedLikeTheFoldedText) {
  auto fold = [](const std::string& text) {
    std::string out;
    std::string word;
    auto flush = [&] {
      if (word.empty()) return;
      if (!out.empty()) out += ' ';
      out += word;
      word.clear();
    };
    for (char c : text) {
      if (std::string_view(" \t\n\r\f\v").find(c) != std::string_view::npos) {
        flush();
      } else {
        word += c;
      }
    }
    flush();
    return out;
  };
  std::mt19937 rng(7);
  // Spaces alone (runs of them, ends), and every kind of white space.
  constexpr std::string_view kAlphabets[] = {"ab ", "ab  \t\n\r\f\v"};
  int already_normal = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string_view alphabet = kAlphabets[i % 2];
    std::string text(rng() % 40, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    const std::string folded = fold(text);
    if (folded == text) ++already_normal;
    ASSERT_EQ(ComputeInputDigest(One(Role::kUser, text)),
              ComputeInputDigest(One(Role::kUser, folded)))
        << "text '" << text << "' folds to '" << folded << "'";
  }
  // Both paths ran.
  EXPECT_GT(already_normal, 50);
  EXPECT_LT(already_normal, 1950);
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
