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
                                memory.table_readers + memory.session_index);
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
}

}  // namespace
}  // namespace agentlog::testing
