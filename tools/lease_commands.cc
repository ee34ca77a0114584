// agentlog leases: who holds which session, with which fencing token.

#include <fmt/format.h>

#include "command_util.h"
#include "commands.h"
#include "json_writer.h"

namespace agentlog::tools {

int CmdLeases(Store& store, const Args& args) {
  const int64_t now = SystemClock()->NowMillis();
  const std::vector<Session> sessions = Check(store.ListSessions({}));
  if (!args.json) {
    fmt::print("{:<27}{:<24}{:>8}  {:<10}{:<22}{}\n", "SESSION", "OWNER",
               "TOKEN", "STATE", "ACQUIRED", "EXPIRES");
  }
  size_t shown = 0;
  for (const Session& s : sessions) {
    const Lease& lease = s.lease;
    if (lease.token == 0) continue;  // Never leased.
    const std::string_view state = lease.held(now)         ? "held"
                                   : lease.owner.empty()   ? "released"
                                                           : "expired";
    ++shown;
    if (args.json) {
      fmt::print("{}\n", JsonObject()
                             .Add("session", s.id.ToString())
                             .Add("owner", lease.owner)
                             .Add("token", lease.token)
                             .Add("state", state)
                             .Add("acquired_ms", lease.acquired_ms)
                             .Add("expires_ms", lease.expires_ms)
                             .Finish());
      continue;
    }
    fmt::print("{:<27}{:<24}{:>8}  {:<10}{:<22}{}\n", s.id.ToString(),
               lease.owner.empty() ? "-" : Preview(lease.owner, 22),
               lease.token, state, Timestamp(lease.acquired_ms),
               Timestamp(lease.expires_ms));
  }
  if (!args.json) {
    fmt::print("({} leased session{})\n", shown, shown == 1 ? "" : "s");
  }
  return kExitOk;
}

}  // namespace agentlog::tools
