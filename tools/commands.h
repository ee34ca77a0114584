#ifndef AGENTLOG_TOOLS_COMMANDS_H_
#define AGENTLOG_TOOLS_COMMANDS_H_

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/store.h"

namespace agentlog::tools {

// Exit codes of the agentlog command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCorruption = 3;

// The command line after the verb and the store path.
struct Args {
  std::vector<std::string> positional;         // e.g. the session id
  std::map<std::string, std::string> options;  // --name value
  bool json = false;
  // --csv: only verbs with "csv" among their flags take it.
  bool csv = false;

  std::optional<std::string> Get(const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end()) return std::nullopt;
    return it->second;
  }
};

// A usage mistake: printed with the usage line, exit 2.
struct UsageError {
  std::string message;
};

// An error the store reported: printed as one line, exit 1 (3 for
// corruption).
struct StoreError {
  Status status;
};

// Each command prints to stdout and returns an exit code. Commands throw
// UsageError or StoreError, which main catches; nothing escapes the tool.
int CmdInfo(Store& store, const Args& args);
int CmdSessions(Store& store, const Args& args);
int CmdStats(Store& store, const Args& args);
int CmdMetrics(Store& store, const Args& args);
int CmdShow(Store& store, const Args& args);
int CmdTurns(Store& store, const Args& args);
int CmdDump(Store& store, const Args& args);
int CmdCheckpoints(Store& store, const Args& args);
int CmdCheckpoint(Store& store, const Args& args);
int CmdVerify(Store& store, const Args& args);
int CmdBackup(Store& store, const Args& args);
int CmdLeases(Store& store, const Args& args);
int CmdUsage(Store& store, const Args& args);
int CmdCosts(Store& store, const Args& args);
int CmdBudgets(Store& store, const Args& args);
int CmdAlerts(Store& store, const Args& args);
// These work on a backup directory, not on a store.
int CmdBackups(std::string_view backup_dir, const Args& args);
int CmdRestore(std::string_view backup_dir, const Args& args);

}  // namespace agentlog::tools

#endif  // AGENTLOG_TOOLS_COMMANDS_H_
