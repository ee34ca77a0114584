// agentlog verify / backup / backups / restore.

#include <fmt/format.h>

#include "command_util.h"
#include "commands.h"
#include "json_writer.h"

namespace agentlog::tools {

int CmdVerify(Store& store, const Args& args) {
  const VerifyReport report = Check(store.Verify());
  if (args.json) {
    for (const VerifyProblem& p : report.problems) {
      fmt::print("{}\n", JsonObject()
                             .Add("cf", p.column_family)
                             .Add("key", p.key)
                             .Add("problem", p.what)
                             .Finish());
    }
  } else {
    for (const VerifyProblem& p : report.problems) {
      fmt::print("CORRUPT  {}  {}  {}\n", p.column_family, p.key, p.what);
    }
    fmt::print("{} records checked, {} problem{}\n", report.records_checked,
               report.problems.size(), report.problems.size() == 1 ? "" : "s");
  }
  return report.clean() ? kExitOk : kExitCorruption;
}

int CmdBackup(Store& store, const Args& args) {
  if (store.access_mode() == AccessMode::kSecondary) {
    // A secondary instance does not own the files: the live process may
    // delete one mid-copy. The host's own Store::Backup holds deletions off.
    Fail(Status::FailedPrecondition(
        "the store is held by a live process; back it up from that process "
        "with Store::Backup, or stop it first"));
  }
  const BackupInfo b = Check(store.Backup(args.positional[0]));
  fmt::print("backup {} of {} in {}: {} files, {}\n", b.id,
             Timestamp(b.timestamp_s * 1000), args.positional[0], b.files,
             Bytes(b.bytes));
  return kExitOk;
}

int CmdBackups(std::string_view backup_dir, const Args& args) {
  const std::string dir(backup_dir);
  if (auto keep = args.Get("purge")) {
    const uint64_t n = ParseCount("purge", *keep);
    if (n == 0 || n > UINT32_MAX) {
      throw UsageError{"--purge takes the number of backups to keep (>= 1)"};
    }
    Check(PurgeBackups(dir, static_cast<uint32_t>(n)));
  }
  const std::vector<BackupInfo> backups = Check(ListBackups(dir));
  const bool verify = args.options.count("verify") > 0;
  int exit_code = kExitOk;
  if (!args.json) {
    fmt::print("{:>6}  {:<22}{:>7}{:>12}{}\n", "ID", "TAKEN", "FILES", "BYTES",
               verify ? "  VERIFIED" : "");
  }
  for (const BackupInfo& b : backups) {
    std::string verdict;
    if (verify) {
      const Status s = VerifyBackup(dir, b.id);
      verdict = s.ok() ? "ok" : s.ToString();
      if (!s.ok()) exit_code = kExitCorruption;
    }
    if (args.json) {
      JsonObject o;
      o.Add("id", static_cast<uint64_t>(b.id))
          .Add("timestamp_s", b.timestamp_s)
          .Add("files", static_cast<uint64_t>(b.files))
          .Add("bytes", b.bytes);
      if (verify) o.Add("verified", verdict);
      fmt::print("{}\n", o.Finish());
    } else {
      fmt::print("{:>6}  {:<22}{:>7}{:>12}{}\n", b.id,
                 Timestamp(b.timestamp_s * 1000), b.files, Bytes(b.bytes),
                 verify ? "  " + verdict : "");
    }
  }
  return exit_code;
}

int CmdRestore(std::string_view backup_dir, const Args& args) {
  std::optional<uint32_t> id;
  if (auto text = args.Get("id")) {
    const uint64_t n = ParseCount("id", *text);
    if (n == 0 || n > UINT32_MAX) throw UsageError{"--id takes a backup id"};
    id = static_cast<uint32_t>(n);
  }
  Check(RestoreBackup(backup_dir, id, args.positional[0]));
  fmt::print("restored backup {} of {} into {}\n",
             id ? std::to_string(*id) : "(latest)", backup_dir,
             args.positional[0]);
  return kExitOk;
}

}  // namespace agentlog::tools
