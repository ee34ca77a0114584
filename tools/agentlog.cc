// agentlog: inspect, verify, back up and restore an agentlog store, even one
// a live service holds.
//
//   agentlog VERB STORE [ARGS] [--json]
//
// Opens the store read-only (as a RocksDB secondary instance when another
// process holds it) and never writes to it; backup writes only to the backup
// directory, restore only to a new store directory.

#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <string_view>

#include "commands.h"

namespace agentlog::tools {
namespace {

constexpr std::string_view kUsage =
    R"(usage: agentlog VERB STORE [ARGS] [--json]

Inspect, verify, back up and restore an agentlog store. Never writes to the
store: it opens it read-only (as a RocksDB secondary instance when a live
service holds it).

verbs:
  info STORE                       format, counts and sizes
  sessions STORE [FILTERS] [--sort created|active|cost] [--desc]
                 [--limit N] [--cursor C]
                                   sessions, oldest first, every status
                                   unless --status; filters:
                                   --tag A,B (all of them) --any-tag A,B
                                   --no-tag A,B --status active,idle,archived
                                   --agent NAME --model NAME --title PREFIX
                                   --created-from T --created-before T
                                   --active-from T --active-before T
                                   (T: 2026-11-24, 2026-11-24T07:00Z, 7d,
                                   12h or Unix ms) --min-cost $ --max-cost $
                                   --min-tokens N --max-tokens N
  stats STORE                      sessions by status, agent, model, tag
                                   and age; index memory
  metrics STORE                    memory, sessions by status, retention and
                                   column-family figures in the Prometheus
                                   text format (counters of the store's own
                                   process read 0 here)
  show STORE SESSION               a session and its readable transcript
  turns STORE SESSION [--last N] [--newest-first]
                                   the turns of a session, one per line
  dump STORE [--cf NAME]           every record, decoded, as JSON Lines
  checkpoints STORE SESSION        the checkpoint versions a session keeps
  checkpoint STORE SESSION [VERSION] -o FILE
                                   write a version's payload (default: the
                                   latest), checksum verified; -o - for stdout
  verify STORE                     check every record and checkpoint checksum
  leases STORE                     session leases: owner, fencing token, expiry
  usage STORE [--session SESSION]  lifetime usage and cost of the store; of a
                                   session, each usage record and the totals
  costs STORE --by model|operation|session|agent|tag|day [--csv]
                                   lifetime usage and cost per name (per UTC
                                   day for day)
  budgets STORE                    budgets and their current period's spend
  alerts STORE                     budget thresholds crossed, oldest first
  backup STORE BACKUP_DIR          back the store up (incremental); for a
                                   store a service holds, use Store::Backup
  backups BACKUP_DIR [--verify] [--purge KEEP]
                                   list backups; verify them; delete all but
                                   the newest KEEP
  restore BACKUP_DIR TARGET [--id N]
                                   restore the latest backup (or N) into
                                   TARGET, which must not exist or be empty

options:
  --json      JSON Lines instead of tables
  --csv       CSV (RFC 4180) with a header line instead of a table (costs)
  -h, --help  this text

exit codes: 0 ok, 1 error, 2 usage, 3 corruption found
)";

struct Verb {
  std::string_view name;
  // Exactly one is set: verbs on a store get it opened read-only; the others
  // get the path (a backup directory).
  std::function<int(Store&, const Args&)> run;
  std::function<int(std::string_view, const Args&)> run_on_path;
  size_t min_positional;                  // Arguments after STORE.
  size_t max_positional;
  std::vector<std::string_view> options;  // Options taking a value.
  std::vector<std::string_view> flags;    // Options without a value.
};

const std::vector<Verb>& Verbs() {
  static const std::vector<Verb> verbs = {
      {"info", CmdInfo, {}, 0, 0, {}, {}},
      {"sessions", CmdSessions, {}, 0, 0,
       {"limit", "tag", "any-tag", "no-tag", "status", "agent", "model",
        "created-from", "created-before", "active-from", "active-before",
        "min-cost", "max-cost", "min-tokens", "max-tokens", "title", "sort",
        "cursor"},
       {"desc"}},
      {"stats", CmdStats, {}, 0, 0, {}, {}},
      {"metrics", CmdMetrics, {}, 0, 0, {}, {}},
      {"show", CmdShow, {}, 1, 1, {}, {}},
      {"turns", CmdTurns, {}, 1, 1, {"last"}, {"newest-first"}},
      {"dump", CmdDump, {}, 0, 0, {"cf"}, {}},
      {"checkpoints", CmdCheckpoints, {}, 1, 1, {}, {}},
      {"checkpoint", CmdCheckpoint, {}, 1, 2, {"output"}, {}},
      {"verify", CmdVerify, {}, 0, 0, {}, {}},
      {"leases", CmdLeases, {}, 0, 0, {}, {}},
      {"usage", CmdUsage, {}, 0, 0, {"session"}, {}},
      {"costs", CmdCosts, {}, 0, 0, {"by"}, {"csv"}},
      {"budgets", CmdBudgets, {}, 0, 0, {}, {}},
      {"alerts", CmdAlerts, {}, 0, 0, {}, {}},
      {"backup", CmdBackup, {}, 1, 1, {}, {}},
      {"backups", {}, CmdBackups, 0, 0, {"purge"}, {"verify"}},
      {"restore", {}, CmdRestore, 1, 1, {"id"}, {}},
  };
  return verbs;
}

bool Contains(const std::vector<std::string_view>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

Args ParseArgs(const Verb& verb, int argc, char** argv, int first) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-o") arg = "--output";
    if (arg == "--json") {
      args.json = true;
    } else if (arg == "--csv" && Contains(verb.flags, "csv")) {
      args.csv = true;
    } else if (arg.starts_with("--")) {
      std::string name(arg.substr(2));
      std::string value;
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      } else if (Contains(verb.options, name)) {
        if (i + 1 >= argc)
          throw UsageError{fmt::format("--{} needs a value", name)};
        value = argv[++i];
      }
      if (!Contains(verb.options, name) && !Contains(verb.flags, name)) {
        throw UsageError{
            fmt::format("'{}' does not take --{}", verb.name, name)};
      }
      args.options[name] = value;
    } else {
      args.positional.emplace_back(arg);
    }
  }
  if (args.json && args.csv) {
    throw UsageError{"--json and --csv are exclusive; give one"};
  }
  const size_t n = args.positional.size();
  if (n < verb.min_positional || n > verb.max_positional) {
    const std::string expected =
        verb.min_positional == verb.max_positional
            ? std::to_string(verb.min_positional)
            : fmt::format("{} to {}", verb.min_positional, verb.max_positional);
    throw UsageError{fmt::format("'{}' takes {} argument{} after {}; got {}",
                                 verb.name, expected,
                                 verb.max_positional == 1 ? "" : "s",
                                 verb.run ? "STORE" : "BACKUP_DIR", n)};
  }
  return args;
}

int Main(int argc, char** argv) {
  if (argc >= 2 &&
      (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0 ||
       std::strcmp(argv[1], "help") == 0)) {
    fmt::print("{}", kUsage);
    return kExitOk;
  }
  try {
    if (argc < 3) throw UsageError{"a VERB and a STORE are required"};
    const std::string_view name = argv[1];
    const Verb* verb = nullptr;
    for (const Verb& v : Verbs()) {
      if (v.name == name) verb = &v;
    }
    if (verb == nullptr)
      throw UsageError{fmt::format("unknown verb '{}'", name)};
    const Args args = ParseArgs(*verb, argc, argv, 3);
    if (verb->run_on_path) return verb->run_on_path(argv[2], args);
    Result<std::unique_ptr<Store>> store =
        Store::OpenReadOnly(Options(), argv[2]);
    if (!store.ok()) throw StoreError{store.status()};
    return verb->run(**store, args);
  } catch (const UsageError& e) {
    fmt::print(stderr, "agentlog: {}\n{}", e.message,
               kUsage.substr(0, kUsage.find('\n') + 1));
    return kExitUsage;
  } catch (const StoreError& e) {
    fmt::print(stderr, "agentlog: {}\n", e.status.ToString());
    return e.status.IsCorruption() ? kExitCorruption : kExitError;
  }
}

}  // namespace
}  // namespace agentlog::tools

int main(int argc, char** argv) { return agentlog::tools::Main(argc, argv); }
