// Echo fingerprints and the window they are compared in (src/echo.h): the
// normalisation, exact and near verdicts, and the accuracy of the MinHash
// estimate against the true Jaccard similarity.

#include "echo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace agentlog::internal {
namespace {

// A response of `words` words drawn from a vocabulary of `vocabulary`, as a
// model might write one: sentences of 8 to 20 words.
std::vector<std::string> RandomWords(std::mt19937_64& rng, size_t words,
                                     size_t vocabulary) {
  std::vector<std::string> out;
  std::uniform_int_distribution<size_t> pick(0, vocabulary - 1);
  for (size_t i = 0; i < words; ++i) out.push_back("w" + std::to_string(pick(rng)));
  return out;
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

// The true Jaccard similarity of two texts' word 3-shingle sets, computed
// on the shingle strings themselves (no hashing), as the estimate defines it.
double TrueJaccard(const std::string& a, const std::string& b) {
  auto shingles = [](const std::string& text) {
    std::vector<std::string> words;
    const std::string normal = NormaliseEchoText(text);
    for (size_t at = 0; at < normal.size();) {
      size_t end = normal.find(' ', at);
      if (end == std::string::npos) end = normal.size();
      words.push_back(normal.substr(at, end - at));
      at = end + 1;
    }
    std::set<std::string> out;
    const size_t width = std::min<size_t>(3, words.size());
    for (size_t i = 0; width > 0 && i + width <= words.size(); ++i) {
      std::string s;
      for (size_t j = i; j < i + width; ++j) s += words[j] + '\x1f';
      out.insert(s);
    }
    return out;
  };
  const std::set<std::string> sa = shingles(a), sb = shingles(b);
  size_t both = 0;
  for (const std::string& s : sa) both += sb.count(s);
  const size_t either = sa.size() + sb.size() - both;
  return either == 0 ? 1.0 : static_cast<double>(both) / either;
}

double Estimate(const std::string& a, const std::string& b) {
  return EstimateJaccard(FingerprintText(a).sketch, FingerprintText(b).sketch);
}

const char kAnswer[] =
    "To rotate the signing key, first create the new key in the vault and "
    "grant the deploy role read access to it. Then update the service "
    "configuration so that it accepts tokens signed with either key, roll "
    "the change out to every region, and wait for the longest token "
    "lifetime to pass. After that, switch the issuer to the new key, confirm "
    "that fresh tokens verify everywhere, and finally remove the old key "
    "from the configuration and revoke it in the vault. Keep the old key's "
    "identifier in the audit log so that any token signed with it can be "
    "traced later.";

TEST(EchoNormalise, FoldsCaseAndWhiteSpaceOnly) {
  EXPECT_EQ(NormaliseEchoText("  Hello,\t\tWORLD!\n\n  Again  "),
            "hello, world! again");
  // Non-ASCII bytes are kept as they are.
  EXPECT_EQ(NormaliseEchoText("Ünïcode  ÉTÉ"), "Ünïcode ÉtÉ");
  EXPECT_EQ(NormaliseEchoText(" \n\t "), "");
}

TEST(EchoFingerprint, ExactHashIgnoresCaseAndSpacingButNotWords) {
  const EchoFingerprint a = FingerprintText(kAnswer);
  std::string shouted = kAnswer;
  std::transform(shouted.begin(), shouted.end(), shouted.begin(), ::toupper);
  std::string respaced = std::string("\n  ") + kAnswer + "  \n";
  for (size_t at = respaced.find(' ', 10); at != std::string::npos;
       at = respaced.find(' ', at + 40)) {
    respaced.replace(at, 1, " \t\n ");
  }
  EXPECT_EQ(FingerprintText(shouted).exact, a.exact);
  EXPECT_EQ(FingerprintText(respaced).exact, a.exact);
  EXPECT_EQ(FingerprintText(respaced).sketch, a.sketch);
  EXPECT_NE(FingerprintText(std::string(kAnswer) + " Done.").exact, a.exact);
}

TEST(EchoFingerprint, OutputMessagesReadAsOneText) {
  const std::vector<Message> output = {
      {Role::kAssistant, "To rotate the signing key, first", "", ""},
      {Role::kAssistant, "create the new key", "", ""}};
  EXPECT_EQ(FingerprintOutput(output).exact,
            FingerprintText("to rotate the signing key, first create the new "
                            "key")
                .exact);
}

TEST(EchoFingerprint, CountsCodePoints) {
  EXPECT_EQ(FingerprintText("  ab  cd ").chars, 5u);
  EXPECT_EQ(FingerprintText("été").chars, 3u);  // 5 bytes.
}

TEST(EchoFingerprint, SketchIsTheBottomKOfDistinctShingles) {
  std::mt19937_64 rng(7);
  // 3,000 words over a small vocabulary: many repeated shingles.
  const EchoFingerprint fp = FingerprintText(Join(RandomWords(rng, 3000, 40)));
  ASSERT_EQ(fp.sketch.size(), kEchoSketchSize);
  EXPECT_TRUE(std::is_sorted(fp.sketch.begin(), fp.sketch.end()));
  EXPECT_EQ(std::adjacent_find(fp.sketch.begin(), fp.sketch.end()),
            fp.sketch.end());
  // Short texts keep every shingle; fewer than three words make one.
  EXPECT_EQ(FingerprintText("one two three four five").sketch.size(), 3u);
  EXPECT_EQ(FingerprintText("one two").sketch.size(), 1u);
  EXPECT_TRUE(FingerprintText("").sketch.empty());
}

TEST(EchoEstimate, ExactWhenTheSetsFitTheSketch) {
  const std::string a = kAnswer;
  std::string b = a;
  b.replace(b.find("vault"), 5, "safe");  // One word changed.
  const double truth = TrueJaccard(a, b);
  EXPECT_DOUBLE_EQ(Estimate(a, b), truth);
  EXPECT_GE(truth, 0.9);  // Why a one-word paraphrase reads as near.
  EXPECT_DOUBLE_EQ(Estimate(a, a), 1.0);
  EXPECT_DOUBLE_EQ(Estimate("", ""), 1.0);
}

TEST(EchoEstimate, StopsEarlyOnlyBelowTheThreshold) {
  std::mt19937_64 rng(11);
  const std::string a = Join(RandomWords(rng, 400, 5000));
  const std::string b = Join(RandomWords(rng, 400, 5000));
  EXPECT_EQ(EstimateJaccard(FingerprintText(a).sketch,
                            FingerprintText(b).sketch, 0.9),
            -1);
  // A pair whose estimate e is strictly between 0.9 and 1 (two words
  // changed in 400): asking for at least e must not stop early; asking for
  // a hair more may stop (-1) or finish, never report more than e.
  std::vector<std::string> words = RandomWords(rng, 400, 5000);
  const std::string c = Join(words);
  words[100] = "changed";
  words[300] = "altered";
  const std::string d = Join(words);
  const std::vector<uint32_t> sc = FingerprintText(c).sketch;
  const std::vector<uint32_t> sd = FingerprintText(d).sketch;
  const double e = EstimateJaccard(sc, sd);
  ASSERT_GT(e, 0.9);
  ASSERT_LT(e, 1.0);
  EXPECT_EQ(EstimateJaccard(sc, sd, e), e);
  const double above = EstimateJaccard(sc, sd, e + 1e-6);
  EXPECT_TRUE(above == -1 || above == e) << above;
}

// The acceptance test of the estimate: on a labelled set of pairs (texts of
// 4 to 700 words: from one-line answers to long ones whose union holds
// several times k shingles, with edits from one word to all of them) every
// estimate is within 0.05 of the true Jaccard. For pairs whose union fits
// the sketch the estimate is exact; for the others the standard error is
// at most 0.5 / sqrt(k) = 0.022 before the finite-population correction,
// so 0.05 is over two and a half standard errors at the worst J of 0.5 and
// many more near the 0.9 threshold that matters.
TEST(EchoEstimate, WithinFiveHundredthsOfTheTruthOnALabelledSet) {
  std::mt19937_64 rng(2026);
  struct Pair {
    std::string a, b, label;
  };
  std::vector<Pair> pairs;
  const size_t lengths[] = {4, 12, 40, 120, 250, 400, 700};
  for (const size_t words : lengths) {
    for (int variant = 0; variant < 6; ++variant) {
      const std::vector<std::string> base = RandomWords(rng, words, 3000);
      // Replace a share of the words.
      for (const double share : {0.01, 0.05, 0.2, 0.5}) {
        std::vector<std::string> edited = base;
        std::uniform_int_distribution<size_t> at(0, words - 1);
        const size_t edits = std::max<size_t>(1, words * share);
        for (size_t e = 0; e < edits; ++e) edited[at(rng)] = "x" + std::to_string(e);
        pairs.push_back({Join(base), Join(edited), "replace"});
      }
      // Keep a prefix (a truncated answer) and add a tail.
      std::vector<std::string> prefix(base.begin(), base.begin() + (words + 1) / 2);
      pairs.push_back({Join(base), Join(prefix), "prefix"});
      std::vector<std::string> longer = base;
      const std::vector<std::string> tail = RandomWords(rng, words / 3 + 1, 3000);
      longer.insert(longer.end(), tail.begin(), tail.end());
      pairs.push_back({Join(base), Join(longer), "extended"});
      // Unrelated, and the same text with case and spacing changed.
      pairs.push_back({Join(base), Join(RandomWords(rng, words, 3000)), "other"});
      std::string loud = Join(base);
      std::transform(loud.begin(), loud.end(), loud.begin(), ::toupper);
      pairs.push_back({Join(base), "  " + loud + "\n", "same"});
    }
  }
  ASSERT_GE(pairs.size(), 200u);
  double worst = 0;
  size_t sampled = 0;  // Pairs whose union outgrew the sketch.
  for (const Pair& p : pairs) {
    const double truth = TrueJaccard(p.a, p.b);
    const double estimate = Estimate(p.a, p.b);
    worst = std::max(worst, std::fabs(estimate - truth));
    EXPECT_NEAR(estimate, truth, 0.05) << p.label << ": " << p.a.size()
                                       << " and " << p.b.size() << " bytes";
    const EchoFingerprint fa = FingerprintText(p.a), fb = FingerprintText(p.b);
    std::vector<uint32_t> both;
    std::set_union(fa.sketch.begin(), fa.sketch.end(), fb.sketch.begin(),
                   fb.sketch.end(), std::back_inserter(both));
    sampled += both.size() > kEchoSketchSize;
  }
  // The set must exercise the estimate, not only the exact case.
  EXPECT_GE(sampled, 60u);
  RecordProperty("pairs", static_cast<int>(pairs.size()));
  RecordProperty("worst_error_x1000", static_cast<int>(worst * 1000));
  std::printf("%zu pairs (%zu sampled), worst error %.4f\n", pairs.size(),
              sampled, worst);
}

EchoFingerprint Text(const std::string& text) { return FingerprintText(text); }

// Against every remembered turn.
EchoVerdict Check(const EchoWindow& window, const std::string& text,
                  double threshold = 0.9) {
  return window.Check(Text(text), threshold, 1,
                      std::numeric_limits<uint64_t>::max());
}

TEST(EchoWindow, ExactBeatsNearAndTheNewestExactWins) {
  EchoWindow window(10);
  window.Add(1, Text(kAnswer));
  std::string near = kAnswer;
  near.replace(near.find("vault"), 5, "safe");
  window.Add(2, Text(near));
  window.Add(3, Text(kAnswer));
  EXPECT_EQ(Check(window, kAnswer),
            (EchoVerdict{EchoKind::kExact, 3, 1.0}));
  // Near turn 2 exactly; turns 1 and 3 are one word away.
  EXPECT_EQ(Check(window, near).kind, EchoKind::kExact);
  std::string other = near;
  other.replace(other.find("audit"), 5, "change");
  const EchoVerdict v = Check(window, other);
  EXPECT_EQ(v.kind, EchoKind::kNear);
  EXPECT_EQ(v.turn, 2u);  // Most similar: one word away, not two.
  EXPECT_DOUBLE_EQ(v.similarity, TrueJaccard(other, near));
  EXPECT_EQ(Check(window, "An entirely different answer about the "
                               "weather in Lisbon this week.")
                .kind,
            EchoKind::kNew);
}

TEST(EchoWindow, ChecksOnlyTheTurnsInRange) {
  EchoWindow window(10);
  window.Add(2, Text(kAnswer));
  window.Add(5, Text(kAnswer));
  auto check = [&](uint64_t first, uint64_t before) {
    return window.Check(Text(kAnswer), 0.9, first, before);
  };
  EXPECT_EQ(check(1, 100), (EchoVerdict{EchoKind::kExact, 5, 1.0}));
  EXPECT_EQ(check(1, 5), (EchoVerdict{EchoKind::kExact, 2, 1.0}));
  EXPECT_EQ(check(3, 100), (EchoVerdict{EchoKind::kExact, 5, 1.0}));
  EXPECT_EQ(check(3, 5).kind, EchoKind::kNew);
  EXPECT_EQ(check(1, 2).kind, EchoKind::kNew);
  EXPECT_EQ(EchoLookbackStart(0, 10), 1u);
  EXPECT_EQ(EchoLookbackStart(40, 10), 1u);
  EXPECT_EQ(EchoLookbackStart(41, 10), 2u);
}

TEST(EchoWindow, KeepsTheHighestNumberedTurnsWhateverTheOrder) {
  EchoWindow window(3);
  for (uint64_t n : {5, 1, 7, 3, 6}) {
    window.Add(n, Text(std::string(kAnswer) + " " + std::to_string(n)));
  }
  EXPECT_EQ(window.turns(), (std::vector<uint64_t>{5, 6, 7}));
  EXPECT_TRUE(window.full());
  EXPECT_EQ(Check(window, std::string(kAnswer) + " 3", 1.0).kind,
            EchoKind::kNew);  // Forgotten.
  EXPECT_GT(window.MemoryBytes(), 3 * 60 * sizeof(uint32_t));
}

}  // namespace
}  // namespace agentlog::internal
