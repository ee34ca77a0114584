// `agentlog sessions`, `agentlog stats` and `agentlog metrics`: the session
// index, searched and counted, and the store's figures.

#include <fmt/format.h>

#include "command_util.h"
#include "commands.h"
#include "json_writer.h"
#include "session_json.h"

namespace agentlog::tools {
namespace {

SessionStatus ParseStatus(const std::string& text) {
  for (SessionStatus s : {SessionStatus::kActive, SessionStatus::kIdle,
                          SessionStatus::kArchived}) {
    if (text == SessionStatusName(s)) return s;
  }
  throw UsageError{fmt::format(
      "--status takes active, idle and archived, comma-separated; got '{}'",
      text)};
}

SessionSort ParseSort(const std::string& text) {
  if (text == "created") return SessionSort::kCreated;
  if (text == "active") return SessionSort::kLastActive;
  if (text == "cost") return SessionSort::kCost;
  throw UsageError{
      fmt::format("--sort takes created, active or cost; got '{}'", text)};
}

// The comma-separated names --name gives; UsageError when there are none.
std::vector<std::string> Names(const std::string& name,
                               const std::string& text) {
  std::vector<std::string> names = ParseList(text);
  if (names.empty()) {
    throw UsageError{fmt::format("--{} needs at least one name", name)};
  }
  return names;
}

// The search the options describe. Unlike Store::Search's default, every
// status is shown unless --status narrows it: an operator looking for a
// session should not miss an archived one.
SessionQuery QueryFrom(const Args& args) {
  SessionQuery q;
  const int64_t now = SystemClock()->NowMillis();
  if (auto v = args.Get("tag")) q.all_tags = Names("tag", *v);
  if (auto v = args.Get("any-tag")) q.any_tags = Names("any-tag", *v);
  if (auto v = args.Get("no-tag")) q.no_tags = Names("no-tag", *v);
  if (auto v = args.Get("status")) {
    for (const std::string& s : Names("status", *v)) {
      q.statuses.push_back(ParseStatus(s));
    }
  } else {
    q.statuses = {SessionStatus::kActive, SessionStatus::kIdle,
                  SessionStatus::kArchived};
  }
  if (auto v = args.Get("agent")) q.agent = *v;
  if (auto v = args.Get("model")) q.model = *v;
  if (auto v = args.Get("created-from")) {
    q.created_from_ms = ParseTime("created-from", *v, now);
  }
  if (auto v = args.Get("created-before")) {
    q.created_before_ms = ParseTime("created-before", *v, now);
  }
  if (auto v = args.Get("active-from")) {
    q.active_from_ms = ParseTime("active-from", *v, now);
  }
  if (auto v = args.Get("active-before")) {
    q.active_before_ms = ParseTime("active-before", *v, now);
  }
  if (auto v = args.Get("min-cost")) {
    q.min_cost_micros = ParseDollars("min-cost", *v);
  }
  if (auto v = args.Get("max-cost")) {
    q.max_cost_micros = ParseDollars("max-cost", *v);
  }
  if (auto v = args.Get("min-tokens")) {
    q.min_tokens = ParseCount("min-tokens", *v);
  }
  if (auto v = args.Get("max-tokens")) {
    q.max_tokens = ParseCount("max-tokens", *v);
  }
  if (auto v = args.Get("title")) q.title_prefix = *v;
  if (auto v = args.Get("sort")) q.sort = ParseSort(*v);
  q.descending = args.Get("desc").has_value();
  q.limit = 0;
  if (auto v = args.Get("limit")) q.limit = ParseCount("limit", *v);
  if (auto v = args.Get("cursor")) q.cursor = *v;
  return q;
}

std::string CountsJson(
    const std::vector<std::pair<std::string, uint64_t>>& counts) {
  JsonObject o;
  for (const auto& [name, n] : counts) o.Add(name, n);
  return o.Finish();
}

void PrintCounts(std::string_view title,
                 const std::vector<std::pair<std::string, uint64_t>>& counts) {
  fmt::print("\n{:<32}{:>12}\n", title, "SESSIONS");
  for (const auto& [name, n] : counts) {
    fmt::print("{:<32}{:>12}\n", name.empty() ? "-" : Preview(name, 30), n);
  }
}

std::string AgeLabel(int64_t younger_than_ms) {
  switch (younger_than_ms) {
    case 0: return "older";
    case 3'600'000: return "< 1 hour";
    case 86'400'000: return "< 1 day";
    default: return fmt::format("< {} days", younger_than_ms / 86'400'000);
  }
}

}  // namespace

int CmdSessions(Store& store, const Args& args) {
  const SessionPage page = Check(store.Search(QueryFrom(args)));
  // The index has the summary; the record has the rest (turns, title).
  std::vector<Session> sessions;
  sessions.reserve(page.sessions.size());
  for (const SessionSummary& summary : page.sessions) {
    Result<Session> s = store.GetSession(summary.id);
    if (s.status().IsNotFound()) continue;  // Deleted since (a live store).
    sessions.push_back(Check(std::move(s)));
  }
  if (args.json) {
    for (const Session& s : sessions) fmt::print("{}\n", SessionJson(s));
    if (!page.next_cursor.empty()) {
      fmt::print("{}\n", JsonObject().Add("next_cursor", page.next_cursor).Finish());
    }
    return kExitOk;
  }
  fmt::print("{:<27}{:<14}{:<16}{:<10}{:>6}{:>10}{:>14}  {:<21}{}\n", "ID",
             "AGENT", "MODEL", "STATUS", "TURNS", "TOKENS", "COST",
             "LAST ACTIVE", "TITLE");
  for (const Session& s : sessions) {
    fmt::print("{:<27}{:<14}{:<16}{:<10}{:>6}{:>10}{:>14}  {:<21}{}\n",
               s.id.ToString(), Preview(s.agent, 12), Preview(s.model, 14),
               SessionStatusName(s.status), s.turn_count, s.tokens.total(),
               Dollars(s.cost_micros), Timestamp(s.last_active_ms),
               Preview(s.title, 40));
  }
  fmt::print("({} session{}{})\n", sessions.size(),
             sessions.size() == 1 ? "" : "s",
             page.next_cursor.empty()
                 ? ""
                 : fmt::format("; more with --cursor {}", page.next_cursor));
  return kExitOk;
}

int CmdStats(Store& store, const Args& args) {
  const SessionStats stats = Check(store.Stats());
  std::vector<std::pair<std::string, uint64_t>> by_status;
  for (const auto& [status, n] : stats.by_status) {
    by_status.emplace_back(SessionStatusName(status), n);
  }
  std::vector<std::pair<std::string, uint64_t>> by_age;
  for (const AgeBucket& b : stats.by_age) {
    by_age.emplace_back(AgeLabel(b.younger_than_ms), b.sessions);
  }
  if (args.json) {
    fmt::print("{}\n", JsonObject()
                           .Add("sessions", stats.sessions)
                           .AddRaw("by_status", CountsJson(by_status))
                           .AddRaw("by_agent", CountsJson(stats.by_agent))
                           .AddRaw("by_model", CountsJson(stats.by_model))
                           .AddRaw("by_tag", CountsJson(stats.by_tag))
                           .AddRaw("by_age", CountsJson(by_age))
                           .Add("index_bytes", stats.index_bytes)
                           .Finish());
    return kExitOk;
  }
  fmt::print("{} sessions; index {} ({} per session)\n", stats.sessions,
             Bytes(stats.index_bytes),
             stats.sessions == 0 ? "-"
                                 : Bytes(stats.index_bytes / stats.sessions));
  PrintCounts("STATUS", by_status);
  PrintCounts("AGENT", stats.by_agent);
  PrintCounts("MODEL", stats.by_model);
  PrintCounts("TAG", stats.by_tag);
  PrintCounts("CREATED", by_age);
  return kExitOk;
}

int CmdMetrics(Store& store, const Args& /*args*/) {
  fmt::print("{}", PrometheusText(Check(store.Metrics())));
  return kExitOk;
}

}  // namespace agentlog::tools
