// agentlog checkpoints / checkpoint: list a session's versions and extract
// one payload.

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "command_util.h"
#include "commands.h"
#include "json_writer.h"

namespace agentlog::tools {
namespace {

std::string CheckpointJson(const CheckpointInfo& c) {
  JsonObject o;
  o.Add("session", c.session.ToString()).Add("version", c.version);
  if (c.parent) o.Add("parent", *c.parent);
  return o.Add("created_ms", c.created_ms)
      .Add("raw_bytes", c.raw_bytes)
      .Add("stored_bytes", c.stored_bytes)
      .Add("codec", CheckpointCodecName(c.codec))
      .Add("xxh3", fmt::format("{:016x}", c.checksum))
      .Add("metadata_bytes", static_cast<uint64_t>(c.metadata.size()))
      .Finish();
}

// Writes all of `bytes` to `path` ("-": stdout), or fails naming the file.
// A file is written beside its target and renamed into place, so a failed
// write never leaves a truncated payload under the name asked for.
void WriteFile(const std::string& path, std::string_view bytes) {
  auto fail = [&](const std::string& what) {
    Fail(Status::IOError(fmt::format("cannot {} '{}': {}", what, path,
                                     std::strerror(errno))));
  };
  if (path == "-") {
    if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
        std::fflush(stdout) != 0) {
      fail("write");
    }
    return;
  }
  const std::string temp = path + ".agentlog-tmp";
  FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) fail("create");
  const bool written =
      std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !written ||
      std::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(temp.c_str());
    errno = saved;
    fail("write");
  }
}

}  // namespace

int CmdCheckpoints(Store& store, const Args& args) {
  const SessionId id = ParseSession(args);
  const Session session = Check(store.GetSession(id));
  const std::vector<CheckpointInfo> versions =
      Check(store.ListCheckpoints(id));
  if (args.json) {
    for (const CheckpointInfo& c : versions) {
      fmt::print("{}\n", CheckpointJson(c));
    }
    return kExitOk;
  }
  fmt::print("{:>8}{:>8}  {:<22}{:>11}{:>11}  {:<6}{:<18}{}\n", "VERSION",
             "PARENT", "CREATED", "RAW", "STORED", "CODEC", "XXH3", "METADATA");
  for (const CheckpointInfo& c : versions) {
    fmt::print("{:>8}{:>8}  {:<22}{:>11}{:>11}  {:<6}{:<18}{}\n", c.version,
               c.parent ? std::to_string(*c.parent) : "-",
               Timestamp(c.created_ms), Bytes(c.raw_bytes),
               Bytes(c.stored_bytes), CheckpointCodecName(c.codec),
               fmt::format("{:016x}", c.checksum), Preview(c.metadata, 30));
  }
  const uint32_t keep = session.checkpoint_keep_last;
  fmt::print("({} version{} kept; keep-last {})\n", versions.size(),
             versions.size() == 1 ? "" : "s",
             keep == 0 ? std::string("is the store default")
                       : std::to_string(keep));
  return kExitOk;
}

int CmdCheckpoint(Store& store, const Args& args) {
  const SessionId id = ParseSession(args);
  std::optional<uint64_t> version;
  if (args.positional.size() > 1) {
    version = ParseCount("VERSION", args.positional[1]);
  }
  const auto output = args.Get("output");
  if (!output || output->empty()) {
    throw UsageError{"checkpoint needs -o FILE (- for stdout)"};
  }
  // GetCheckpoint verifies the payload against its checksum: a damaged
  // version fails here (exit 3) and writes no file.
  const Checkpoint c = Check(store.GetCheckpoint(id, version));
  WriteFile(*output, c.payload);
  if (*output != "-") {
    fmt::print(stderr, "wrote version {} of session {}: {} ({} verified)\n",
               c.info.version, id.ToString(), Bytes(c.info.raw_bytes),
               fmt::format("xxh3 {:016x}", c.info.checksum));
  }
  return kExitOk;
}

}  // namespace agentlog::tools
