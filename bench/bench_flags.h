#ifndef AGENTLOG_BENCH_BENCH_FLAGS_H_
#define AGENTLOG_BENCH_BENCH_FLAGS_H_

// Command-line handling shared by benchmark programs that print through
// their own console reporter: defaults that the command line overrides, and
// the console options that Google Benchmark gives only to its own reporter.

#include <benchmark/benchmark.h>

#include <span>

namespace agentlog::bench {

// What the command line asks of the console output, read before
// benchmark::Initialize consumes the flags.
struct ConsoleFlags {
  // False when --benchmark_format asks for json or csv: then the library's
  // own reporter prints and a custom console reporter must not.
  bool console = true;
  // From --benchmark_counters_tabular and --benchmark_color.
  benchmark::ConsoleReporter::OutputOptions options =
      benchmark::ConsoleReporter::OO_None;
};
ConsoleFlags ReadConsoleFlags(int argc, char** argv);

// benchmark::Initialize with `defaults` placed before the command line's
// flags, so that the same flag given on the command line wins. Returns false
// when the command line has arguments the library does not know (it has
// printed them).
bool InitializeWithDefaults(int argc, char** argv,
                            std::span<const char* const> defaults);

}  // namespace agentlog::bench

#endif  // AGENTLOG_BENCH_BENCH_FLAGS_H_
