#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "validation.h"

namespace agentlog::internal {
namespace {

TEST(OptionsTest, DefaultsAreValid) { EXPECT_TRUE(ValidateOptions({}).ok()); }

TEST(OptionsTest, EachOutOfRangeFieldIsNamed) {
  struct Case {
    std::function<void(Options&)> set;
    const char* field;
  };
  const Case cases[] = {
      {[](Options& o) { o.sync_interval = std::chrono::milliseconds(0); },
       "sync_interval"},
      {[](Options& o) { o.sync_interval = std::chrono::hours(1); },
       "sync_interval"},
      {[](Options& o) { o.max_metadata_bytes = 17 << 20; },
       "max_metadata_bytes"},
      {[](Options& o) { o.max_title_bytes = 0; }, "max_title_bytes"},
      {[](Options& o) { o.max_name_bytes = 0; }, "max_name_bytes"},
      {[](Options& o) { o.max_tags = 5000; }, "max_tags"},
      {[](Options& o) { o.max_tag_bytes = 0; }, "max_tag_bytes"},
      {[](Options& o) { o.max_idempotency_key_bytes = 0; },
       "max_idempotency_key_bytes"},
      {[](Options& o) { o.max_messages_per_turn = 0; },
       "max_messages_per_turn"},
      {[](Options& o) { o.max_turn_content_bytes = 0; },
       "max_turn_content_bytes"},
      {[](Options& o) { o.max_error_bytes = 0; }, "max_error_bytes"},
      {[](Options& o) { o.block_cache_bytes = 1; }, "block_cache_bytes"},
      {[](Options& o) { o.write_buffer_bytes = 1; }, "write_buffer_bytes"},
      {[](Options& o) { o.background_jobs = 0; }, "background_jobs"},
      {[](Options& o) { o.max_active_sessions = 0; }, "max_active_sessions"},
      {[](Options& o) { o.max_active_sessions = 1'000'001; },
       "max_active_sessions"},
      {[](Options& o) { o.durability = static_cast<Durability>(9); },
       "durability"},
      {[](Options& o) { o.echo_window = 0; }, "echo_window"},
      {[](Options& o) { o.echo_window = 1001; }, "echo_window"},
      {[](Options& o) { o.echo_min_chars = 2 << 20; }, "echo_min_chars"},
      {[](Options& o) { o.echo_near_threshold = 0; }, "echo_near_threshold"},
      {[](Options& o) { o.echo_near_threshold = 1.01; },
       "echo_near_threshold"},
      {[](Options& o) { o.echo_near_threshold = std::nan(""); },
       "echo_near_threshold"},
      {[](Options& o) { o.memory_budget_bytes = (16 << 20) - 1; },
       "memory_budget_bytes"},
      {[](Options& o) { o.memory_budget_bytes = size_t{2} << 40; },
       "memory_budget_bytes"},
      {[](Options& o) { o.memory_warning_fraction = 0; },
       "memory_warning_fraction"},
      {[](Options& o) { o.memory_warning_fraction = 1; },
       "memory_warning_fraction"},
      {[](Options& o) { o.memory_warning_fraction = std::nan(""); },
       "memory_warning_fraction"},
      {[](Options& o) { o.memory_emergency_fraction = 0.8; },  // = warning.
       "memory_emergency_fraction"},
      {[](Options& o) { o.memory_emergency_fraction = 0.5; },
       "memory_emergency_fraction"},
      {[](Options& o) { o.memory_emergency_fraction = 1.01; },
       "memory_emergency_fraction"},
      {[](Options& o) { o.memory_emergency_fraction = std::nan(""); },
       "memory_emergency_fraction"},
      {[](Options& o) { o.memory_check_interval = std::chrono::milliseconds(9); },
       "memory_check_interval"},
      {[](Options& o) { o.memory_check_interval = std::chrono::hours(2); },
       "memory_check_interval"},
  };
  for (const Case& c : cases) {
    Options o;
    c.set(o);
    const Status s = ValidateOptions(o);
    ASSERT_TRUE(s.IsInvalidArgument()) << c.field;
    EXPECT_NE(s.message().find(std::string("Options::") + c.field),
              std::string::npos)
        << s.message();
  }
}

TEST(OptionsTest, MemoryBudgetBoundsAreAccepted) {
  Options o;
  o.memory_budget_bytes = 16 << 20;
  o.memory_warning_fraction = 0.01;
  o.memory_emergency_fraction = 1;
  o.memory_check_interval = std::chrono::milliseconds(10);
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.memory_budget_bytes = size_t{1} << 40;
  o.memory_check_interval = std::chrono::hours(1);
  EXPECT_TRUE(ValidateOptions(o).ok());
  // 0 is no budget, not a budget below the minimum.
  o.memory_budget_bytes = 0;
  EXPECT_TRUE(ValidateOptions(o).ok());
}

TEST(Utf8Test, AcceptsValidAndRejectsInvalid) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

}  // namespace
}  // namespace agentlog::internal
