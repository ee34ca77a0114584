// The read-only inspection commands of `agentlog`.

#include "commands.h"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <cmath>

#include "command_util.h"
#include "json_writer.h"
#include "record_json.h"
#include "session_json.h"
#include "store_impl.h"

namespace agentlog::tools {
namespace {

std::string MessagesJson(const std::vector<Message>& messages) {
  std::string out = "[";
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i > 0) out += ",";
    JsonObject m;
    m.Add("role", RoleName(messages[i].role))
        .Add("content", messages[i].content);
    if (!messages[i].tool_call_id.empty())
      m.Add("tool_call_id", messages[i].tool_call_id);
    if (!messages[i].tool_name.empty())
      m.Add("tool_name", messages[i].tool_name);
    out += m.Finish();
  }
  return out + "]";
}

std::string TurnJson(const Turn& t) {
  JsonObject o;
  o.Add("session", t.session.ToString())
      .Add("turn", t.number)
      .Add("status", TurnStatusName(t.status))
      .Add("idempotency_key", t.idempotency_key)
      .Add("started_ms", t.started_ms)
      .Add("finished_ms", t.finished_ms)
      .AddRaw("input", MessagesJson(t.input))
      .AddRaw("output", MessagesJson(t.output))
      .Add("input_tokens", t.usage.tokens.input)
      .Add("output_tokens", t.usage.tokens.output)
      .Add("cache_read_tokens", t.usage.tokens.cache_read)
      .Add("cache_write_tokens", t.usage.tokens.cache_write)
      .Add("cost_micros", t.usage.cost_micros);
  if (!t.error.empty()) o.Add("error", t.error);
  if (t.echo.kind != EchoKind::kNone) {
    o.Add("echo", EchoKindName(t.echo.kind))
        .Add("echo_turn", t.echo.turn)
        .AddRaw("echo_similarity", fmt::format("{:.4f}", t.echo.similarity));
  }
  return o.Finish();
}

std::string_view ModeText(AccessMode mode) {
  switch (mode) {
    case AccessMode::kReadWrite:
      return "read-write";
    case AccessMode::kReadOnly:
      return "read-only";
    case AccessMode::kSecondary:
      return "read-only secondary (a live process holds the store)";
  }
  return "unknown";
}

void PrintMessage(const Message& m) {
  std::string who(RoleName(m.role));
  if (!m.tool_name.empty())
    who += fmt::format(" [{} {}]", m.tool_name, m.tool_call_id);
  // Indent continuation lines under the first.
  std::string body;
  for (char c : m.content) {
    body.push_back(c);
    if (c == '\n') body += "      ";
  }
  fmt::print("    {}: {}\n", who, body.empty() ? "(no content)" : body);
}

}  // namespace

int CmdInfo(Store& store, const Args& args) {
  const StoreInfo info = Check(store.Info());
  const RecoveryReport& report = store.recovery_report();
  const int exit_code =
      report.corrupt_records.empty() ? kExitOk : kExitCorruption;
  if (args.json) {
    std::string cfs = "[";
    for (size_t i = 0; i < info.column_families.size(); ++i) {
      const ColumnFamilyInfo& cf = info.column_families[i];
      if (i > 0) cfs += ",";
      cfs += JsonObject()
                 .Add("name", cf.name)
                 .Add("estimated_keys", cf.estimated_keys)
                 .Add("sst_bytes", cf.sst_bytes)
                 .Add("blob_bytes", cf.blob_bytes)
                 .Add("memtable_bytes", cf.memtable_bytes)
                 .Finish();
    }
    cfs += "]";
    fmt::print(
        "{}\n",
        JsonObject()
            .Add("path", info.path)
            .Add("mode", ModeText(info.mode))
            .Add("format_version", static_cast<uint64_t>(info.format_version))
            .Add("sessions", info.sessions)
            .Add("processing_turns",
                 static_cast<uint64_t>(report.processing_turns.size()))
            .Add("usage_records_replayed", report.usage_records_replayed)
            .Add("last_sequence", info.last_sequence)
            .Add("corrupt_records",
                 static_cast<uint64_t>(report.corrupt_records.size()))
            .AddRaw("column_families", cfs)
            .Finish());
    return exit_code;
  }
  fmt::print("store             {}\n", info.path);
  fmt::print("opened            {}\n", ModeText(info.mode));
  fmt::print("format version    {}\n", info.format_version);
  fmt::print("sessions          {}\n", info.sessions);
  fmt::print("processing turns  {}\n", report.processing_turns.size());
  fmt::print("usage replayed    {} records\n", report.usage_records_replayed);
  fmt::print("last sequence     {}\n", info.last_sequence);
  for (const std::string& problem : report.corrupt_records) {
    fmt::print("CORRUPT           {}\n", problem);
  }
  fmt::print("\n");
  fmt::print("{:<14}{:>14}{:>12}{:>12}{:>12}\n", "COLUMN FAMILY", "KEYS (EST.)",
             "SST", "BLOB", "MEMTABLE");
  for (const ColumnFamilyInfo& cf : info.column_families) {
    fmt::print("{:<14}{:>14}{:>12}{:>12}{:>12}\n", cf.name, cf.estimated_keys,
               Bytes(cf.sst_bytes), Bytes(cf.blob_bytes),
               Bytes(cf.memtable_bytes));
  }
  return exit_code;
}

int CmdShow(Store& store, const Args& args) {
  const SessionId id = ParseSession(args);
  const Session s = Check(store.GetSession(id));
  const std::vector<Turn> turns = Check(store.ListTurns(id, {}));
  if (args.json) {
    fmt::print("{}\n", SessionJson(s));
    for (const Turn& t : turns) fmt::print("{}\n", TurnJson(t));
    return kExitOk;
  }
  fmt::print("Session {}{}\n", s.id.ToString(),
             s.title.empty() ? "" : fmt::format("  \"{}\"", s.title));
  fmt::print("  agent {} · model {} · {}{}\n", s.agent,
             s.model.empty() ? "-" : s.model, SessionStatusName(s.status),
             s.pinned ? " · pinned" : "");
  fmt::print(
      "  {} turns ({} completed, {} failed, {} processing) · {} tokens · {}\n",
      s.turn_count, s.completed_turns, s.failed_turns,
      s.processing_turns.size(), s.tokens.total(), Dollars(s.cost_micros));
  fmt::print("  created {} · last active {}\n", Timestamp(s.created_ms),
             Timestamp(s.last_active_ms));
  if (!s.tags.empty()) fmt::print("  tags {}\n", TagsText(s.tags));
  if (s.oldest_turn > 1 || s.oldest_usage > 1) {
    fmt::print("  pruned by age: turns before #{}, usage records before {}\n",
               std::max<uint64_t>(s.oldest_turn, 1),
               std::max<uint64_t>(s.oldest_usage, 1));
  }
  if (s.echo.checked > 0) {
    fmt::print("  echoes: {} exact, {} near of {} responses checked ({:.0f}%)\n",
               s.echo.exact, s.echo.near, s.echo.checked,
               100 * s.echo.repeat_rate());
  }
  for (const Turn& t : turns) {
    std::string took =
        t.finished_ms > 0
            ? fmt::format(" · {} ms", t.finished_ms - t.started_ms)
            : "";
    std::string key =
        t.idempotency_key.empty()
            ? ""
            : fmt::format(" · key {}", Preview(t.idempotency_key, 40));
    std::string tokens =
        t.usage.tokens.total() > 0
            ? fmt::format(" · {} in / {} out tokens · {}", t.usage.tokens.input,
                          t.usage.tokens.output, Dollars(t.usage.cost_micros))
            : "";
    fmt::print("\n#{} {} · {}{}{}{}\n", t.number, TurnStatusName(t.status),
               Timestamp(t.started_ms), took, key, tokens);
    for (const Message& m : t.input) PrintMessage(m);
    for (const Message& m : t.output) PrintMessage(m);
    if (t.echo.kind == EchoKind::kExact) {
      fmt::print("    (repeats turn {})\n", t.echo.turn);
    } else if (t.echo.kind == EchoKind::kNear) {
      // Rounded down: a near echo must not print as 1.00.
      fmt::print("    (nearly repeats turn {}: similarity {:.2f})\n",
                 t.echo.turn, std::floor(t.echo.similarity * 100) / 100);
    }
    if (t.status == TurnStatus::kFailed) fmt::print("    error: {}\n", t.error);
    if (t.status == TurnStatus::kProcessing)
      fmt::print("    (still processing)\n");
  }
  return kExitOk;
}

int CmdTurns(Store& store, const Args& args) {
  const SessionId id = ParseSession(args);
  TurnListOptions options;
  if (auto last = args.Get("last")) options.last_n = ParseCount("last", *last);
  if (args.options.count("newest-first")) options.newest_first = true;
  const std::vector<Turn> turns = Check(store.ListTurns(id, options));
  if (args.json) {
    for (const Turn& t : turns) fmt::print("{}\n", TurnJson(t));
    return kExitOk;
  }
  fmt::print("{:>6}  {:<11}{:<21}{:>9}{:>10}{:>10}  {}\n", "TURN", "STATUS",
             "STARTED", "MS", "IN TOK", "OUT TOK", "INPUT");
  for (const Turn& t : turns) {
    const std::string input = t.input.empty() ? "" : t.input.back().content;
    fmt::print(
        "{:>6}  {:<11}{:<21}{:>9}{:>10}{:>10}  {}\n", t.number,
        TurnStatusName(t.status), Timestamp(t.started_ms),
        t.finished_ms > 0 ? std::to_string(t.finished_ms - t.started_ms) : "-",
        t.usage.tokens.input, t.usage.tokens.output, Preview(input, 50));
  }
  return kExitOk;
}

int CmdDump(Store& store, const Args& args) {
  auto& impl = static_cast<internal::StoreImpl&>(store);
  std::vector<internal::Cf> families;
  if (auto name = args.Get("cf")) {
    auto cf = internal::CfFromName(*name);
    if (!cf || *cf == internal::Cf::kDefault) {
      std::string known;
      for (size_t i = 1; i < internal::kCfNames.size(); ++i) {
        known += (i > 1 ? ", " : "") + std::string(internal::kCfNames[i]);
      }
      throw UsageError{
          fmt::format("unknown column family '{}'; known: {}", *name, known)};
    }
    families.push_back(*cf);
  } else {
    for (size_t i = 1; i < internal::kCfNames.size(); ++i) {
      families.push_back(static_cast<internal::Cf>(i));
    }
  }
  // One view for the whole dump, so that families agree with each other.
  const internal::StoreImpl::ReadView view(impl);
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot();
  ro.total_order_seek = true;
  ro.fill_cache = false;
  int exit_code = kExitOk;
  for (internal::Cf cf : families) {
    rocksdb::ColumnFamilyHandle* h = impl.handle(cf);
    if (h == nullptr) continue;
    std::unique_ptr<rocksdb::Iterator> it(impl.db()->NewIterator(ro, h));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      Result<std::string> line = RecordToJson(cf, it->key().ToStringView(),
                                              it->value().ToStringView());
      if (line.ok()) {
        fmt::print("{}\n", *line);
      } else {
        // Keep going: an operator wants every readable record and a list
        // of the unreadable ones.
        fmt::print(stderr, "agentlog: {}\n", line.status().ToString());
        exit_code = kExitCorruption;
      }
    }
    if (!it->status().ok()) {
      Fail(Status::IOError(fmt::format("scan {}: {}", internal::CfName(cf),
                                       it->status().ToString())));
    }
  }
  return exit_code;
}

}  // namespace agentlog::tools
