// Turn append: agentlog against raw RocksDB and SQLite (WAL mode), buffered
// and synced, 1 and 16 writer threads, all in one process run so that the
// ratios compare like with like. The writers are in turn_writers.h; what
// they write and the results are in docs/benchmarks.md. After the usual
// console table the program prints agentlog's throughput ratios.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "bench_flags.h"
#include "temp_dir.h"
#include "turn_writers.h"

namespace agentlog::bench {
namespace {

// Defaults that flags on the command line override. Disk and CPU speed of
// a shared VM drift by several times within a minute, so each benchmark
// runs three times, interleaved at random with the others, and the ratios
// use medians. 1 s per repetition is ~300 fsyncs of a slow disk; the whole
// program takes about 80 s.
constexpr const char* kDefaultFlags[] = {
    "--benchmark_min_time=1",
    "--benchmark_repetitions=3",
    "--benchmark_enable_random_interleaving=true",
    "--benchmark_display_aggregates_only=true",
};
constexpr int kThreadCounts[] = {1, 16};

// Shared by the threads of the running benchmark. Thread 0 sets them before
// the timed loop and clears them after it; Google Benchmark's barriers at
// the loop's start and end order those accesses with the other threads'.
std::unique_ptr<TempDir> g_dir;
std::unique_ptr<TurnWriter> g_writer;

void BM_Append(benchmark::State& state, OpenTurnWriterFn open, bool synced) {
  std::string error;
  if (state.thread_index() == 0) {
    g_dir = std::make_unique<TempDir>();
    if (g_dir->path().empty()) {
      state.SkipWithError("cannot create a temporary directory");
    } else {
      g_writer = open(g_dir->path() + "/db", synced, state.threads(), &error);
      if (g_writer == nullptr) state.SkipWithError(error.c_str());
    }
  }
  const int thread = state.thread_index();
  uint64_t n = 0;
  // KeepRunning rather than a range-for: after SkipWithError it still ends
  // the loop through the closing barrier that the other threads wait at.
  while (state.KeepRunning()) {
    if (g_writer == nullptr || !g_writer->Append(thread, ++n, &error)) {
      state.SkipWithError(g_writer == nullptr ? "setup failed" : error.c_str());
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kTurnTextBytes);
  if (thread == 0) {
    // Closing (agentlog syncs its WAL; RocksDB waits for flushes) is
    // outside the timed loop.
    g_writer.reset();
    g_dir.reset();
  }
}

struct Engine {
  const char* name;
  OpenTurnWriterFn open;
};
constexpr Engine kEngines[] = {
    {"agentlog", &OpenAgentlogWriter},
    {"rocksdb", &OpenRocksDbWriter},
    {"sqlite", &OpenSqliteWriter},
};
constexpr size_t kEngineCount = std::size(kEngines);

// BM_Paired/<durability>/<threads>: the three engines in one loop, each on
// its own database, taking turns in blocks of a fixed time (50 ms, synced
// 200 ms) in an order that rotates every iteration. The BM_Append runs of one
// engine and the next are seconds apart, and on this kind of machine CPU
// speed and fsync latency drift that much between them (ratios of one
// build moved by 0.1x from run to run); blocks of tens of milliseconds put
// the same drift on all three. A block ends at its time, not after a count
// of appends: SQLite's busy handler puts a waiting writer to sleep for up
// to 100 ms, and a block that waited for such a straggler would measure
// its sleep. Appends still running at the end of a block count for nothing
// (about one per thread, alike for all three). The counters are agentlog's
// turns/s over each peer's: the ratios to trust.
void BM_Paired(benchmark::State& state, bool synced, int threads) {
  // Long enough that each engine's caches are warm for most of its block
  // and synced blocks hold dozens of fsyncs; short against the drift.
  const auto block = std::chrono::milliseconds(synced ? 200 : 50);
  struct Side {
    TempDir dir;
    std::unique_ptr<TurnWriter> writer;
    std::vector<uint64_t> turns;  // Appended so far, by writer thread.
    std::atomic<uint64_t> counted{0};  // Finished inside their blocks.
    double seconds = 0;
  };
  Side sides[kEngineCount];
  std::string error;
  for (size_t e = 0; e < kEngineCount; ++e) {
    Side& side = sides[e];
    if (side.dir.path().empty()) {
      return state.SkipWithError("cannot create a temporary directory");
    }
    side.writer =
        kEngines[e].open(side.dir.path() + "/db", synced, threads, &error);
    if (side.writer == nullptr) return state.SkipWithError(error.c_str());
    side.turns.assign(threads, 0);
  }
  std::atomic<bool> failed{false};
  std::atomic<bool> stop{false};
  std::mutex error_mu;
  // Appends as `thread` until `stop`; counts those that finished before it.
  auto run_block = [&](Side& side, int thread) {
    std::string message;
    uint64_t counted = 0;
    while (!stop.load() && !failed.load()) {
      if (!side.writer->Append(thread, ++side.turns[thread], &message)) {
        std::lock_guard lock(error_mu);
        if (!failed.exchange(true)) error = message;
      }
      if (!stop.load()) ++counted;
    }
    side.counted += counted;
  };
  // The writer threads start each block together and stop it together.
  std::atomic<Side*> current{nullptr};  // nullptr: the workers return.
  std::barrier start(threads + 1);
  std::barrier finish(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (;;) {
        start.arrive_and_wait();
        Side* side = current.load();
        if (side == nullptr) return;
        run_block(*side, t);
        finish.arrive_and_wait();
      }
    });
  }
  uint64_t iteration = 0;
  for (auto _ : state) {
    for (size_t k = 0; k < kEngineCount && !failed.load(); ++k) {
      Side& side = sides[(iteration + k) % kEngineCount];
      current.store(&side);
      stop.store(false);
      start.arrive_and_wait();
      const auto began = std::chrono::steady_clock::now();
      std::this_thread::sleep_until(began + block);
      stop.store(true);
      side.seconds += std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - began)
                          .count();
      finish.arrive_and_wait();
    }
    ++iteration;
    if (failed.load()) break;
  }
  current.store(nullptr);
  start.arrive_and_wait();
  for (std::thread& worker : workers) worker.join();
  if (failed.load()) return state.SkipWithError(error.c_str());
  auto rate = [](const Side& side) { return side.counted / side.seconds; };
  state.counters["agentlog_us"] = 1e6 / rate(sides[0]);
  uint64_t turns = 0;
  for (size_t e = 0; e < kEngineCount; ++e) {
    turns += sides[e].counted;
    if (e == 0) continue;
    // Turns/s over turns/s.
    state.counters[std::string("over_") + kEngines[e].name] =
        rate(sides[0]) / rate(sides[e]);
  }
  state.SetItemsProcessed(static_cast<int64_t>(turns));
  // Closing (agentlog syncs its WAL; RocksDB waits for flushes) is outside
  // the timed loop, in the destructors.
}

// Registered in the order the reporter prints them: the three engines of
// each configuration one after another.
void RegisterBenchmarks() {
  for (const bool synced : {false, true}) {
    for (const int threads : kThreadCounts) {
      for (const Engine& engine : kEngines) {
        const std::string name = std::string("BM_Append/") +
                                 (synced ? "synced/" : "buffered/") +
                                 engine.name;
        benchmark::RegisterBenchmark(name.c_str(), BM_Append, engine.open,
                                     synced)
            ->Threads(threads)
            ->UseRealTime();
      }
    }
  }
  for (const bool synced : {false, true}) {
    for (const int threads : kThreadCounts) {
      const std::string name = std::string("BM_Paired/") +
                               (synced ? "synced/" : "buffered/") +
                               std::to_string(threads);
      // Synced blocks are long: 3 s a repetition gives each engine five.
      benchmark::RegisterBenchmark(name.c_str(), BM_Paired, synced, threads)
          ->MinTime(synced ? 3 : 1)
          ->UseRealTime();
    }
  }
}

// The console table, held back until every run is done and then printed in
// registration order (random interleaving shuffles the order in which runs
// finish), followed by agentlog's throughput over each peer's for every
// configuration: the ratio of median items/s.
class SortedRatioReporter final : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    if (!runs.empty()) batches_.push_back(runs);
  }

  void Finalize() override {
    std::stable_sort(batches_.begin(), batches_.end(),
                     [](const std::vector<Run>& a, const std::vector<Run>& b) {
                       return Order(a.front()) < Order(b.front());
                     });
    for (const std::vector<Run>& batch : batches_) {
      ConsoleReporter::ReportRuns(batch);
    }
    PrintRatios();
  }

 private:
  // What "BM_Append/<durability>/<engine>" with its thread count names.
  struct Config {
    std::string durability;
    int threads = 0;
    std::string engine;
  };

  static std::optional<Config> ParseName(const Run& run) {
    std::string_view name = run.run_name.function_name;
    if (!name.starts_with("BM_Append/")) return std::nullopt;
    const size_t first = name.find('/');
    const size_t last = name.rfind('/');
    if (first == std::string_view::npos || first == last) return std::nullopt;
    return Config{std::string(name.substr(first + 1, last - first - 1)),
                  static_cast<int>(run.threads),
                  std::string(name.substr(last + 1))};
  }

  static int EngineRank(std::string_view engine) {
    for (size_t i = 0; i < std::size(kEngines); ++i) {
      if (kEngines[i].name == engine) return static_cast<int>(i);
    }
    return static_cast<int>(std::size(kEngines));
  }

  static std::tuple<std::string, int, int> Order(const Run& run) {
    const std::optional<Config> c = ParseName(run);
    if (!c) return {run.run_name.function_name, 0, 0};
    return {c->durability, c->threads, EngineRank(c->engine)};
  }

  static double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t mid = v.size() / 2;
    return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  }

  // The median of `counter` for every run `key_of` gives a key: the
  // library's median aggregate when there is one (repetitions), else the
  // median of the plain runs. `key_of` returns std::nullopt for runs that
  // do not count.
  template <class Key, class KeyOf>
  std::map<Key, double> MedianCounter(const char* counter,
                                      KeyOf key_of) const {
    std::map<Key, std::vector<double>> samples;
    std::map<Key, double> medians;
    for (const std::vector<Run>& batch : batches_) {
      for (const Run& run : batch) {
        const std::optional<Key> key = key_of(run);
        const auto value = run.counters.find(counter);
        if (run.error_occurred || !key || value == run.counters.end()) {
          continue;
        }
        if (run.run_type == Run::RT_Iteration) {
          samples[*key].push_back(value->second.value);
        } else if (run.aggregate_name == "median") {
          medians[*key] = value->second.value;
        }
      }
    }
    for (const auto& [key, values] : samples) {
      medians.try_emplace(key, Median(values));
    }
    return medians;
  }

  // Median items/s of every (durability, threads) and engine that ran.
  std::map<std::pair<std::string, int>, std::map<std::string, double>>
  MedianRates() const {
    using Key = std::tuple<std::string, int, std::string>;
    const auto medians = MedianCounter<Key>(
        "items_per_second", [](const Run& run) -> std::optional<Key> {
          const std::optional<Config> c = ParseName(run);
          if (!c) return std::nullopt;
          return Key{c->durability, c->threads, c->engine};
        });
    std::map<std::pair<std::string, int>, std::map<std::string, double>> out;
    for (const auto& [key, rate] : medians) {
      const auto& [durability, threads, engine] = key;
      out[{durability, threads}][engine] = rate;
    }
    return out;
  }

  // The median of each BM_Paired ratio ("over_rocksdb", "over_sqlite") by
  // (durability, threads).
  std::map<std::pair<std::string, int>, std::map<std::string, double>>
  PairedRatios() const {
    using Key = std::pair<std::string, int>;
    // "BM_Paired/<durability>/<threads>".
    auto key_of = [](const Run& run) -> std::optional<Key> {
      std::string_view name = run.run_name.function_name;
      if (!name.starts_with("BM_Paired/")) return std::nullopt;
      name.remove_prefix(std::string_view("BM_Paired/").size());
      const size_t slash = name.find('/');
      if (slash == std::string_view::npos) return std::nullopt;
      return Key{std::string(name.substr(0, slash)),
                 std::atoi(std::string(name.substr(slash + 1)).c_str())};
    };
    std::map<Key, std::map<std::string, double>> out;
    for (const char* counter : {"over_rocksdb", "over_sqlite"}) {
      for (const auto& [key, ratio] : MedianCounter<Key>(counter, key_of)) {
        out[key][counter] = ratio;
      }
    }
    return out;
  }

  // One row of a ratio table: a configuration and agentlog's turns/s over
  // raw RocksDB's and over SQLite's ("-" where a figure is missing).
  static void PrintRow(std::ostream& out, const std::string& configuration,
                       std::optional<double> over_rocksdb,
                       std::optional<double> over_sqlite) {
    auto times = [](std::optional<double> ratio) {
      char buf[32] = "-";
      if (ratio) std::snprintf(buf, sizeof buf, "%.2fx", *ratio);
      return std::string(buf);
    };
    char line[128];
    std::snprintf(line, sizeof line, "%-24s %18s %18s\n",
                  configuration.c_str(), times(over_rocksdb).c_str(),
                  times(over_sqlite).c_str());
    out << line;
  }

  static void PrintHeader(std::ostream& out, const char* title) {
    char line[128];
    std::snprintf(line, sizeof line, "%-24s %18s %18s\n", "configuration",
                  "agentlog/rocksdb", "agentlog/sqlite");
    out << "\n" << title << "\n" << line;
  }

  static std::string Label(const std::pair<std::string, int>& config) {
    return config.first + ", " + std::to_string(config.second) +
           (config.second == 1 ? " thread" : " threads");
  }

  static std::optional<double> Find(const std::map<std::string, double>& m,
                                    const std::string& key) {
    const auto it = m.find(key);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }

  void PrintRatios() {
    std::ostream& out = GetOutputStream();
    if (const auto paired = PairedRatios(); !paired.empty()) {
      PrintHeader(out,
                  "agentlog turns/s over peer turns/s, paired (BM_Paired, "
                  "the ratios to trust):");
      for (const auto& [config, ratios] : paired) {
        PrintRow(out, Label(config), Find(ratios, "over_rocksdb"),
                 Find(ratios, "over_sqlite"));
      }
    }
    const auto rates = MedianRates();
    if (rates.empty()) return;
    PrintHeader(out, "agentlog turns/s over peer turns/s (medians, same run):");
    for (const auto& [config, engines] : rates) {
      PrintRow(out, Label(config), Ratio(engines, "rocksdb"),
               Ratio(engines, "sqlite"));
    }
  }

  // agentlog's items/s over `peer`'s, if both ran.
  static std::optional<double> Ratio(
      const std::map<std::string, double>& engines, const std::string& peer) {
    const std::optional<double> a = Find(engines, "agentlog");
    const std::optional<double> p = Find(engines, peer);
    if (!a || !p || *p <= 0) return std::nullopt;
    return *a / *p;
  }

  std::vector<std::vector<Run>> batches_;
};

int Run(int argc, char** argv) {
  const ConsoleFlags flags = ReadConsoleFlags(argc, argv);
  if (!InitializeWithDefaults(argc, argv, kDefaultFlags)) return 1;

  RegisterBenchmarks();
  const RecordSizes sizes = SampleRecordSizes();
  benchmark::AddCustomContext("turn_text_bytes",
                              std::to_string(kTurnTextBytes));
  benchmark::AddCustomContext("turn_record_bytes", std::to_string(sizes.turn));
  benchmark::AddCustomContext("session_record_bytes",
                              std::to_string(sizes.session));
  if (flags.console) {
    SortedRatioReporter reporter(flags.options);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace agentlog::bench

int main(int argc, char** argv) { return agentlog::bench::Run(argc, argv); }
