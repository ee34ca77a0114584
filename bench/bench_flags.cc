// Command-line handling for benchmark programs with their own console
// reporter (bench_flags.h).

#include "bench_flags.h"

#include <unistd.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentlog::bench {
namespace {

// Accepts what Google Benchmark accepts as true for a boolean flag.
bool FlagIsTrue(std::string_view value) {
  return value.empty() || value == "true" || value == "1" || value == "yes" ||
         value == "on";
}

// The value of `--flag` or `--flag=value` in `arg`: empty for the bare
// flag, nullopt when `arg` is another flag.
std::optional<std::string_view> ValueOf(std::string_view arg,
                                        std::string_view flag) {
  if (!arg.starts_with(flag)) return std::nullopt;
  const std::string_view rest = arg.substr(flag.size());
  if (rest.empty()) return rest;
  if (rest[0] != '=') return std::nullopt;
  return rest.substr(1);
}

}  // namespace

ConsoleFlags ReadConsoleFlags(int argc, char** argv) {
  ConsoleFlags flags;
  bool tabular = false;
  bool color = ::isatty(STDOUT_FILENO) != 0;
  // The last occurrence of a flag wins, as in the library.
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (auto v = ValueOf(arg, "--benchmark_counters_tabular")) {
      tabular = FlagIsTrue(*v);
    }
    if (auto v = ValueOf(arg, "--benchmark_color"); v && *v != "auto") {
      color = FlagIsTrue(*v);
    }
    if (auto v = ValueOf(arg, "--benchmark_format")) {
      flags.console = *v == "console";
    }
  }
  int options = benchmark::ConsoleReporter::OO_None;
  if (color) options |= benchmark::ConsoleReporter::OO_Color;
  if (tabular) options |= benchmark::ConsoleReporter::OO_Tabular;
  flags.options =
      static_cast<benchmark::ConsoleReporter::OutputOptions>(options);
  return flags;
}

bool InitializeWithDefaults(int argc, char** argv,
                            std::span<const char* const> defaults) {
  std::vector<std::string> owned(defaults.begin(), defaults.end());
  std::vector<char*> args = {argv[0]};
  for (std::string& flag : owned) args.push_back(flag.data());
  args.insert(args.end(), argv + 1, argv + argc);
  args.push_back(nullptr);
  int args_count = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&args_count, args.data());
  return !benchmark::ReportUnrecognizedArguments(args_count, args.data());
}

}  // namespace agentlog::bench
