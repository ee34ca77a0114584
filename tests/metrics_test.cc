// Store::MemoryUsage, Store::Metrics and their Prometheus text.

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "agentlog/metrics.h"
#include "agentlog/store.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

class MetricsTest : public StoreTest {};

// name{label="value"} -> value, checking the exposition's grammar on the
// way: every sample belongs to a family announced by HELP and TYPE lines,
// and no sample appears twice.
std::map<std::string, uint64_t> ParseExposition(const std::string& text) {
  static const std::regex kHelp(R"(# HELP (agentlog_[a-z_]+) .+)");
  static const std::regex kType(R"(# TYPE (agentlog_[a-z_]+) (counter|gauge))");
  static const std::regex kSample(
      R"((agentlog_[a-z_]+)(\{[a-z_]+="[a-z_]+"\})? ([0-9]+))");
  std::map<std::string, uint64_t> samples;
  std::string helped;
  std::string typed;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, kHelp)) {
      helped = m[1];
    } else if (std::regex_match(line, m, kType)) {
      EXPECT_EQ(m[1], helped) << line;
      typed = m[1];
    } else if (std::regex_match(line, m, kSample)) {
      EXPECT_EQ(m[1], typed) << "sample outside its family: " << line;
      const std::string key = m[1].str() + m[2].str();
      EXPECT_FALSE(samples.contains(key)) << "twice: " << line;
      samples[key] = std::stoull(m[3]);
    } else {
      ADD_FAILURE() << "not exposition format: '" << line << "'";
    }
  }
  return samples;
}

TEST_F(MetricsTest, MetricsAgreeWithTheStoreAndRenderAsPrometheusText) {
  std::vector<Session> sessions;
  for (int i = 0; i < 4; ++i) sessions.push_back(MakeSession());
  ASSERT_OK(store_->ArchiveSession(sessions[0].id));
  ASSERT_OK(store_->ArchiveSession(sessions[1].id));
  ASSERT_OK(store_->UnarchiveSession(sessions[1].id));  // Idle.
  ASSERT_OK_AND_ASSIGN(SessionHandle h, store_->AcquireSession(sessions[2].id));
  h.Release(SessionOutcome::kFailed);
  const Message in{.role = Role::kUser, .content = "hello"};
  ASSERT_OK(store_->AppendTurn(sessions[3].id, "", {&in, 1}, {&in, 1})
                .status());

  ASSERT_OK_AND_ASSIGN(StoreMetrics m, store_->Metrics());
  EXPECT_EQ(m.lifecycle.created, 4u);
  EXPECT_EQ(m.lifecycle.failed, 1u);
  EXPECT_EQ(m.sessions_archived, 1u);
  EXPECT_EQ(m.sessions_idle, 1u);
  EXPECT_EQ(m.sessions_active, 2u);
  ASSERT_OK_AND_ASSIGN(SessionStats stats, store_->Stats());
  EXPECT_EQ(m.memory.session_index, stats.index_bytes);
  EXPECT_GT(m.memory.memtables, 0u);  // The writes above are in memtables.
  ASSERT_OK_AND_ASSIGN(MemoryReport memory, store_->MemoryUsage());
  EXPECT_EQ(memory.session_index, m.memory.session_index);
  EXPECT_EQ(memory.total(), memory.block_cache + memory.memtables +
                                memory.table_readers + memory.session_index +
                                memory.other);
  // The write cache holds the sessions just written.
  EXPECT_GT(memory.other, 0u);
  std::set<std::string> families;
  for (const ColumnFamilyInfo& cf : m.column_families) families.insert(cf.name);
  EXPECT_TRUE(families.contains("turns"));
  EXPECT_TRUE(families.contains("sessions"));

  const std::map<std::string, uint64_t> samples =
      ParseExposition(PrometheusText(m));
  EXPECT_EQ(samples.at("agentlog_sessions_created_total"), 4u);
  EXPECT_EQ(samples.at("agentlog_sessions{status=\"archived\"}"), 1u);
  EXPECT_EQ(samples.at("agentlog_session_handles_released_total{outcome=\"failed\"}"),
            1u);
  EXPECT_EQ(samples.at("agentlog_memory_bytes{part=\"session_index\"}"),
            m.memory.session_index);
  EXPECT_EQ(samples.count("agentlog_column_family_sst_bytes{cf=\"turns\"}"), 1u);
  // Without a budget its figures are there, and 0.
  EXPECT_EQ(samples.count("agentlog_memory_bytes{part=\"other\"}"), 1u);
  EXPECT_EQ(samples.at("agentlog_memory_budget_bytes"), 0u);
  EXPECT_EQ(samples.at("agentlog_memory_level"), 0u);
}

TEST_F(MetricsTest, TheMemoryBudgetIsExported) {
  options_.memory_budget_bytes = 64 << 20;
  options_.memory_warning_fraction = 0.5;
  options_.memory_emergency_fraction = 0.75;
  options_.memory_check_interval = std::chrono::hours(1);
  options_.max_turn_content_bytes = 64 << 20;
  Reopen();
  const Session s = MakeSession();
  // 52 MiB in a memtable: past both thresholds (32 and 48 MiB) at once.
  const Message big{.role = Role::kUser, .content = std::string(52 << 20, 'x')};
  const Message out{.role = Role::kAssistant, .content = "ok"};
  ASSERT_OK(store_->AppendTurn(s.id, "", {&big, 1}, {&out, 1}).status());
  ASSERT_OK_AND_ASSIGN(StoreMetrics m, store_->Metrics());
  EXPECT_EQ(m.memory.level, MemoryLevel::kEmergency);

  const std::map<std::string, uint64_t> samples =
      ParseExposition(PrometheusText(m));
  EXPECT_EQ(samples.at("agentlog_memory_budget_bytes"), 64u << 20);
  EXPECT_EQ(samples.at("agentlog_memory_threshold_bytes{level=\"warning\"}"),
            32u << 20);
  EXPECT_EQ(
      samples.at("agentlog_memory_threshold_bytes{level=\"emergency\"}"),
      48u << 20);
  EXPECT_EQ(samples.at("agentlog_memory_limit_bytes{part=\"block_cache\"}"),
            m.memory.block_cache_capacity);
  EXPECT_EQ(samples.at("agentlog_memory_limit_bytes{part=\"memtables\"}"),
            m.memory.memtable_limit);
  EXPECT_GT(m.memory.memtable_limit, 0u);
  EXPECT_EQ(samples.at("agentlog_memory_level"), 2u);
  EXPECT_EQ(samples.at(
                "agentlog_memory_threshold_crossings_total{level=\"warning\"}"),
            1u);
  EXPECT_EQ(
      samples.at(
          "agentlog_memory_threshold_crossings_total{level=\"emergency\"}"),
      1u);
  EXPECT_GE(samples.at("agentlog_memory_bytes{part=\"memtables\"}"),
            52u << 20);
}

}  // namespace
}  // namespace agentlog::testing
