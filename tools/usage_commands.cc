// agentlog usage / costs / budgets / alerts: what model calls consumed and
// cost, and where spending stands against its budgets.

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "command_util.h"
#include "commands.h"
#include "csv_writer.h"
#include "json_writer.h"
#include "table.h"
#include "usage_json.h"

namespace agentlog::tools {
namespace {

// Names (models, agents, tags...) are cut to this many characters in tables.
constexpr size_t kNameWidth = 40;

std::string NameCell(std::string_view name) {
  return name.empty() ? "-" : Preview(name, kNameWidth);
}

// "lifetime", "day 2026-11-24", "month 2026-11".
std::string PeriodText(UsagePeriod period, int64_t start_ms) {
  switch (period) {
    case UsagePeriod::kLifetime:
      return "lifetime";
    case UsagePeriod::kDay:
      return "day " + Date(start_ms);
    case UsagePeriod::kMonth:
      return "month " + Date(start_ms).substr(0, 7);
  }
  return std::string(UsagePeriodName(period));
}

std::string TotalsJson(UsageScope scope, std::string_view name,
                       const UsageTotals& totals) {
  JsonObject o;
  o.Add("scope", UsageScopeName(scope))
      .Add("name", name)
      .Add("period", UsagePeriodName(UsagePeriod::kLifetime));
  return AddTotals(o, totals)
      .AddRaw("cache_hit_ratio",
              fmt::format("{:.4f}", totals.cache_hit_ratio()))
      .Finish();
}

void PrintTotals(const UsageTotals& t) {
  fmt::print("records             {}\n", t.records);
  fmt::print("input tokens        {}\n", t.tokens.input);
  fmt::print("output tokens       {}\n", t.tokens.output);
  fmt::print("cache-read tokens   {}\n", t.tokens.cache_read);
  fmt::print("cache-write tokens  {}\n", t.tokens.cache_write);
  fmt::print("cost                {}\n", Dollars(t.cost_micros));
  fmt::print("saved by caching    {}\n", Dollars(t.saved_micros));
  fmt::print("cache hit ratio     {:.1f}%\n", 100 * t.cache_hit_ratio());
}

// What `costs --by` groups by: a scope's lifetime totals, or the store's
// per UTC day.
struct Grouping {
  std::string_view by;
  UsageScope scope;
  UsagePeriod period;
};
constexpr std::array<Grouping, 6> kGroupings = {{
    {"model", UsageScope::kModel, UsagePeriod::kLifetime},
    {"operation", UsageScope::kOperation, UsagePeriod::kLifetime},
    {"session", UsageScope::kSession, UsagePeriod::kLifetime},
    {"agent", UsageScope::kAgent, UsagePeriod::kLifetime},
    {"tag", UsageScope::kTag, UsagePeriod::kLifetime},
    {"day", UsageScope::kStore, UsagePeriod::kDay},
}};

const Grouping& ParseGrouping(const Args& args) {
  std::string known;
  for (const Grouping& g : kGroupings) {
    known += (known.empty() ? "" : "|") + std::string(g.by);
  }
  const std::optional<std::string> by = args.Get("by");
  if (!by) throw UsageError{fmt::format("costs needs --by {}", known)};
  for (const Grouping& g : kGroupings) {
    if (g.by == *by) return g;
  }
  throw UsageError{fmt::format("--by takes {}; got '{}'", known, *by)};
}

}  // namespace

int CmdUsage(Store& store, const Args& args) {
  const std::optional<std::string> session = args.Get("session");
  if (!session) {
    const UsageTotals totals = Check(
        store.GetUsageTotals(UsageScope::kStore, "", UsagePeriod::kLifetime));
    if (args.json) {
      fmt::print("{}\n", TotalsJson(UsageScope::kStore, "", totals));
    } else {
      PrintTotals(totals);
    }
    return kExitOk;
  }
  Result<SessionId> parsed = SessionId::Parse(*session);
  if (!parsed.ok()) throw UsageError{parsed.status().message()};
  const SessionId id = *parsed;
  const std::vector<UsageRecord> records = Check(store.ListUsage(id));
  const UsageTotals totals = Check(store.GetUsageTotals(
      UsageScope::kSession, id.ToString(), UsagePeriod::kLifetime));
  if (args.json) {
    for (const UsageRecord& u : records) {
      fmt::print("{}\n", UsageRecordJson(u));
    }
    fmt::print("{}\n", TotalsJson(UsageScope::kSession, id.ToString(), totals));
    return kExitOk;
  }
  Table table({{"SEQ", Table::kRight},
               {"TURN", Table::kRight},
               {"MESSAGE ID", Table::kLeft},
               {"MODEL", Table::kLeft},
               {"OPERATION", Table::kLeft},
               {"INPUT", Table::kRight},
               {"OUTPUT", Table::kRight},
               {"CACHE READ", Table::kRight},
               {"CACHE WRITE", Table::kRight},
               {"COST", Table::kRight},
               {"SOURCE", Table::kLeft},
               {"RECORDED", Table::kLeft}});
  for (const UsageRecord& u : records) {
    table.AddRow(
        {std::to_string(u.seq), u.turn == 0 ? "-" : std::to_string(u.turn),
         NameCell(u.message_id), NameCell(u.model), NameCell(u.operation),
         std::to_string(u.tokens.input), std::to_string(u.tokens.output),
         std::to_string(u.tokens.cache_read),
         std::to_string(u.tokens.cache_write), Dollars(u.cost_micros),
         std::string(CostSourceName(u.cost_source)), Timestamp(u.recorded_ms)});
  }
  table.Print();
  fmt::print("({} usage record{})\n\nsession {}\n", records.size(),
             records.size() == 1 ? "" : "s", id.ToString());
  PrintTotals(totals);
  return kExitOk;
}

int CmdCosts(Store& store, const Args& args) {
  const Grouping& by = ParseGrouping(args);
  const std::vector<UsageTotalsRow> rows =
      Check(store.ListUsageTotals(by.scope, by.period));
  auto name_of = [&](const UsageTotalsRow& row) {
    return by.period == UsagePeriod::kDay ? Date(row.period_start_ms)
                                          : row.name;
  };
  if (args.json) {
    for (const UsageTotalsRow& row : rows) {
      JsonObject o;
      o.Add("name", name_of(row));
      fmt::print("{}\n", AddTotals(o, row.totals).Finish());
    }
    return kExitOk;
  }
  if (args.csv) {
    fmt::print("{}", CsvRow({"name", "records", "input", "output", "cache_read",
                             "cache_write", "cost_micros", "saved_micros"}));
    for (const UsageTotalsRow& row : rows) {
      const UsageTotals& t = row.totals;
      fmt::print("{}", CsvRow({name_of(row), std::to_string(t.records),
                               std::to_string(t.tokens.input),
                               std::to_string(t.tokens.output),
                               std::to_string(t.tokens.cache_read),
                               std::to_string(t.tokens.cache_write),
                               std::to_string(t.cost_micros),
                               std::to_string(t.saved_micros)}));
    }
    return kExitOk;
  }
  std::string header(by.by);
  for (char& c : header) c = static_cast<char>(std::toupper(c));
  Table table({{header, Table::kLeft},
               {"RECORDS", Table::kRight},
               {"INPUT", Table::kRight},
               {"OUTPUT", Table::kRight},
               {"CACHE READ", Table::kRight},
               {"CACHE WRITE", Table::kRight},
               {"COST", Table::kRight},
               {"SAVED", Table::kRight}});
  for (const UsageTotalsRow& row : rows) {
    const UsageTotals& t = row.totals;
    table.AddRow({NameCell(name_of(row)), std::to_string(t.records),
                  std::to_string(t.tokens.input),
                  std::to_string(t.tokens.output),
                  std::to_string(t.tokens.cache_read),
                  std::to_string(t.tokens.cache_write), Dollars(t.cost_micros),
                  Dollars(t.saved_micros)});
  }
  table.Print();
  fmt::print("({} {}{})\n", rows.size(), by.by, rows.size() == 1 ? "" : "s");
  return kExitOk;
}

int CmdBudgets(Store& store, const Args& args) {
  const std::vector<BudgetStatus> budgets = Check(store.ListBudgets());
  Table table({{"SCOPE", Table::kLeft},
               {"NAME", Table::kLeft},
               {"PERIOD", Table::kLeft},
               {"LIMIT", Table::kRight},
               {"THRESHOLDS", Table::kRight},
               {"SPENT", Table::kRight},
               {"USED", Table::kRight},
               {"BLOCKED", Table::kLeft}});
  for (const BudgetStatus& b : budgets) {
    const BudgetSpec& spec = b.spec;
    // limit_micros is at least 1.
    const double percent = 100.0 * static_cast<double>(b.spent_micros) /
                           static_cast<double>(spec.limit_micros);
    if (args.json) {
      JsonObject o;
      AddBudgetSpec(o, spec)
          .Add("generation", b.generation)
          .Add("period_start_ms", b.period_start_ms)
          .Add("spent_micros", b.spent_micros)
          .AddRaw("percent", fmt::format("{:.2f}", percent))
          .Add("blocked", b.blocked);
      fmt::print("{}\n", o.Finish());
      continue;
    }
    table.AddRow({std::string(UsageScopeName(spec.scope)), NameCell(spec.name),
                  PeriodText(spec.period, b.period_start_ms),
                  Dollars(spec.limit_micros),
                  fmt::format("{}/{}/{}%", spec.soft_percent, spec.hard_percent,
                              spec.emergency_percent),
                  Dollars(b.spent_micros), fmt::format("{:.1f}%", percent),
                  b.blocked ? "yes" : "no"});
  }
  if (!args.json) {
    table.Print();
    fmt::print("({} budget{})\n", budgets.size(),
               budgets.size() == 1 ? "" : "s");
  }
  return kExitOk;
}

int CmdAlerts(Store& store, const Args& args) {
  const std::vector<BudgetAlert> alerts = Check(store.ListAlerts());
  if (args.json) {
    for (const BudgetAlert& a : alerts) fmt::print("{}\n", AlertJson(a));
    return kExitOk;
  }
  Table table({{"SEQ", Table::kRight},
               {"RAISED", Table::kLeft},
               {"SCOPE", Table::kLeft},
               {"NAME", Table::kLeft},
               {"PERIOD", Table::kLeft},
               {"THRESHOLD", Table::kLeft},
               {"SPENT", Table::kRight},
               {"THRESHOLD VALUE", Table::kRight},
               {"SESSION", Table::kLeft}});
  for (const BudgetAlert& a : alerts) {
    table.AddRow({std::to_string(a.seq), IsoTimestamp(a.raised_ms),
                  std::string(UsageScopeName(a.scope)), NameCell(a.name),
                  PeriodText(a.period, a.period_start_ms),
                  std::string(BudgetThresholdName(a.threshold)),
                  Dollars(a.spent_micros), Dollars(a.threshold_micros),
                  a.session.ToString()});
  }
  table.Print();
  fmt::print("({} alert{})\n", alerts.size(), alerts.size() == 1 ? "" : "s");
  return kExitOk;
}

}  // namespace agentlog::tools
