// Checkpoint put and get: agentlog against raw RocksDB (the same bytes in a
// column family tuned as agentlog's checkpoint_data) and SQLite (WAL mode),
// for 64 KiB, 1 MiB and 8 MiB payloads, single-threaded, all in one process
// run so that the ratios compare like with like. The stores are in
// checkpoint_stores.h, the payloads in text_payload.h; what they do and the
// results are in docs/benchmarks.md.
//
// Besides the engines, "floor" benchmarks time agentlog's own per-payload
// work alone: LZ4 decompression plus XXH3 (what a get must do at least),
// LZ4 compression plus XXH3 (what a put must do at least) and a plain
// memcpy. After the usual console table the program prints MB/s per engine,
// agentlog's ratios over each peer and agentlog's times over the floors.

#include <benchmark/benchmark.h>
#include <lz4.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "bench_flags.h"
#include "checkpoint_stores.h"
#include "temp_dir.h"
#include "text_payload.h"

namespace agentlog::bench {
namespace {

// Defaults that flags on the command line override, as turn_append_bench's:
// three repetitions interleaved at random with the other benchmarks, ratios
// of medians. 0.5 s per repetition (rather than 1 s) keeps the whole run
// under two minutes on two cores. An 8 MiB put takes 50 to 100 ms, so the
// slowest benchmark still gets about ten operations per repetition; what
// costs time besides is untimed setup, since Google Benchmark calls a
// benchmark two or three times per repetition while it sizes the loop, and
// every call of a get benchmark first writes, settles and verifies its ten
// versions.
constexpr const char* kDefaultFlags[] = {
    "--benchmark_min_time=0.5",
    "--benchmark_repetitions=3",
    "--benchmark_enable_random_interleaving=true",
    "--benchmark_display_aggregates_only=true",
};

struct PayloadSize {
  const char* label;
  size_t bytes;
};
constexpr PayloadSize kSizes[] = {
    {"64KiB", size_t{64} << 10},
    {"1MiB", size_t{1} << 20},
    {"8MiB", size_t{8} << 20},
};
constexpr size_t kSizeCount = std::size(kSizes);

struct Engine {
  const char* name;
  OpenCheckpointStoreFn open;
};
constexpr Engine kEngines[] = {
    {"agentlog", &OpenAgentlogCheckpoints},
    {"rocksdb", &OpenRocksDbCheckpoints},
    {"sqlite", &OpenSqliteCheckpoints},
};

// Floor benchmarks, named "floor/<kind>/<size>".
constexpr const char* kDecompressFloor = "lz4_decompress+xxh3";
constexpr const char* kCompressFloor = "lz4_compress+xxh3";
constexpr const char* kMemcpyFloor = "memcpy";
constexpr const char* kFloors[] = {kDecompressFloor, kCompressFloor,
                                   kMemcpyFloor};

// One payload per size, made once before any benchmark runs; each benchmark
// stamps its own copy. Every engine stores the same bytes.
std::array<std::string, kSizeCount> g_payloads;

// The payload of size `size` stamped with `n`, as the n-th put writes it.
std::string StampedPayload(size_t size, uint64_t n) {
  std::string payload = g_payloads[size];
  StampPayload(&payload, n);
  return payload;
}

// A store over a fresh database, or nullptr after SkipWithError.
std::unique_ptr<CheckpointStore> OpenStore(benchmark::State& state,
                                           const TempDir& dir,
                                           OpenCheckpointStoreFn open) {
  if (dir.path().empty()) {
    state.SkipWithError("cannot create a temporary directory");
    return nullptr;
  }
  std::string error;
  std::unique_ptr<CheckpointStore> store = open(dir.path() + "/db", &error);
  if (store == nullptr) state.SkipWithError(error.c_str());
  return store;
}

// Every iteration puts the next version, with its own stamp so that no two
// versions are the same bytes.
void BM_Put(benchmark::State& state, OpenCheckpointStoreFn open, size_t size) {
  const TempDir dir;
  // Opened before the timed loop; closed (RocksDB waits for its flushes,
  // agentlog syncs its WAL) after it, when `store` goes.
  const std::unique_ptr<CheckpointStore> store = OpenStore(state, dir, open);
  if (store == nullptr) return;
  std::string payload = g_payloads[size];
  std::string error;
  uint64_t n = 0;
  for (auto _ : state) {
    StampPayload(&payload, ++n);
    if (!store->Put(payload, &error)) {
      state.SkipWithError(error.c_str());
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(kSizes[size].bytes));
}

// Every iteration reads one of kKeepLast versions, in turn, into a string the
// benchmark owns. The versions are written, and settled into the database
// files, before the timed loop: a get reads what was put long before.
void BM_Get(benchmark::State& state, OpenCheckpointStoreFn open, size_t size) {
  const TempDir dir;
  const std::unique_ptr<CheckpointStore> store = OpenStore(state, dir, open);
  if (store == nullptr) return;
  std::string error;
  for (uint64_t v = 1; v <= kKeepLast; ++v) {
    if (!store->Put(StampedPayload(size, v), &error)) {
      state.SkipWithError(error.c_str());
      return;
    }
  }
  if (!store->Settle(&error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  std::string payload;
  // Each engine must give back the bytes it was given.
  for (uint64_t v = 1; v <= kKeepLast; ++v) {
    if (!store->Get(v, &payload, &error)) {
      state.SkipWithError(error.c_str());
      return;
    }
    if (payload != StampedPayload(size, v)) {
      state.SkipWithError("a get returned other bytes than were put");
      return;
    }
  }
  uint64_t i = 0;
  for (auto _ : state) {
    const uint64_t version = 1 + i++ % kKeepLast;
    if (!store->Get(version, &payload, &error)) {
      state.SkipWithError(error.c_str());
      break;
    }
    benchmark::DoNotOptimize(payload.data());
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(kSizes[size].bytes));
}

// LZ4_decompress_safe of the payload's LZ4 block and XXH3_64bits of the
// result, into a buffer allocated once: the least a verified get of an
// LZ4-stored payload can cost.
void BM_FloorDecompress(benchmark::State& state, size_t size) {
  const std::string& raw = g_payloads[size];
  const int raw_bytes = static_cast<int>(raw.size());
  std::string block(static_cast<size_t>(LZ4_compressBound(raw_bytes)), '\0');
  const int block_bytes = LZ4_compress_default(
      raw.data(), block.data(), raw_bytes, static_cast<int>(block.size()));
  if (block_bytes <= 0) {
    state.SkipWithError("LZ4 compression failed");
    return;
  }
  const uint64_t checksum = XXH3_64bits(raw.data(), raw.size());
  std::string out(raw.size(), '\0');
  for (auto _ : state) {
    const int n =
        LZ4_decompress_safe(block.data(), out.data(), block_bytes, raw_bytes);
    if (n != raw_bytes || XXH3_64bits(out.data(), out.size()) != checksum) {
      state.SkipWithError("LZ4 round trip or checksum failed");
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * raw_bytes);
}

// LZ4_compress_default and XXH3_64bits of the payload: the least a put that
// compresses and checksums must cost.
void BM_FloorCompress(benchmark::State& state, size_t size) {
  const std::string& raw = g_payloads[size];
  const int raw_bytes = static_cast<int>(raw.size());
  std::string block(static_cast<size_t>(LZ4_compressBound(raw_bytes)), '\0');
  for (auto _ : state) {
    const int n = LZ4_compress_default(raw.data(), block.data(), raw_bytes,
                                       static_cast<int>(block.size()));
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(XXH3_64bits(raw.data(), raw.size()));
  }
  state.SetBytesProcessed(state.iterations() * raw_bytes);
}

// One memcpy of the payload into a buffer allocated once: what one copy of
// the bytes costs, to tell copies from decompression.
void BM_FloorMemcpy(benchmark::State& state, size_t size) {
  const std::string& raw = g_payloads[size];
  std::string out(raw.size(), '\0');
  for (auto _ : state) {
    std::memcpy(out.data(), raw.data(), raw.size());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(raw.size()));
}

// Registered in the order the reporter prints them. Real time: the engines'
// background threads (flushes, blob garbage collection, agentlog's WAL
// syncer) are part of what a put costs.
void RegisterBenchmarks() {
  for (const char* op : {"put", "get"}) {
    const bool put = std::string_view(op) == "put";
    for (size_t size = 0; size < kSizeCount; ++size) {
      for (const Engine& engine : kEngines) {
        const std::string name =
            std::string(op) + "/" + engine.name + "/" + kSizes[size].label;
        benchmark::RegisterBenchmark(name.c_str(), put ? BM_Put : BM_Get,
                                     engine.open, size)
            ->UseRealTime();
      }
    }
  }
  // The floors are plain CPU loops whose spread is small: 0.2 s each
  // (whatever --benchmark_min_time says) is enough, and keeps the default
  // run under two minutes.
  constexpr double kFloorMinTime = 0.2;
  for (size_t size = 0; size < kSizeCount; ++size) {
    const std::string suffix = std::string("/") + kSizes[size].label;
    const std::pair<const char*, void (*)(benchmark::State&, size_t)> floors[] =
        {{kDecompressFloor, BM_FloorDecompress},
         {kCompressFloor, BM_FloorCompress},
         {kMemcpyFloor, BM_FloorMemcpy}};
    for (const auto& [kind, fn] : floors) {
      benchmark::RegisterBenchmark(
          (std::string("floor/") + kind + suffix).c_str(), fn, size)
          ->MinTime(kFloorMinTime)
          ->UseRealTime();
    }
  }
}

// The console table, held back until every run is done and printed in
// registration order (random interleaving shuffles the order in which runs
// finish), followed by the MB/s of every engine, agentlog's ratios over each
// peer (of median bytes/s) and agentlog's times per operation over the
// floors.
class CheckpointReporter final : public benchmark::ConsoleReporter {
 public:
  CheckpointReporter(OutputOptions options,
                     std::array<double, kSizeCount> lz4_ratios)
      : ConsoleReporter(options), lz4_ratios_(lz4_ratios) {}

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
    PrintSummary();
  }

 private:
  // What "<op>/<engine or floor>/<size>" names.
  struct Name {
    std::string op;
    std::string who;
    std::string size;
    friend bool operator<(const Name& a, const Name& b) {
      return std::tie(a.op, a.who, a.size) < std::tie(b.op, b.who, b.size);
    }
  };

  static std::optional<Name> ParseName(const Run& run) {
    std::string_view name = run.run_name.function_name;
    const size_t first = name.find('/');
    const size_t last = name.rfind('/');
    if (first == std::string_view::npos || first == last) return std::nullopt;
    return Name{std::string(name.substr(0, first)),
                std::string(name.substr(first + 1, last - first - 1)),
                std::string(name.substr(last + 1))};
  }

  template <typename T, size_t N, typename F>
  static int RankIn(const T (&list)[N], std::string_view value, F key) {
    for (size_t i = 0; i < N; ++i) {
      if (key(list[i]) == value) return static_cast<int>(i);
    }
    return static_cast<int>(N);
  }
  static int OpRank(std::string_view op) {
    constexpr const char* kOps[] = {"put", "get", "floor"};
    return RankIn(kOps, op, [](const char* o) { return std::string_view(o); });
  }
  static int SizeRank(std::string_view size) {
    return RankIn(kSizes, size, [](const PayloadSize& s) {
      return std::string_view(s.label);
    });
  }
  static int WhoRank(std::string_view who) {
    const int engine = RankIn(kEngines, who, [](const Engine& e) {
      return std::string_view(e.name);
    });
    if (engine < static_cast<int>(std::size(kEngines))) return engine;
    return engine + RankIn(kFloors, who,
                           [](const char* f) { return std::string_view(f); });
  }

  static std::tuple<int, int, int, std::string> Order(const Run& run) {
    const std::optional<Name> n = ParseName(run);
    if (!n) return {OpRank(""), 0, 0, run.run_name.function_name};
    return {OpRank(n->op), SizeRank(n->size), WhoRank(n->who), ""};
  }

  static double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t mid = v.size() / 2;
    return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  }

  // Median bytes/s of every benchmark that ran: the library's median
  // aggregate when there is one (repetitions), else the median of the plain
  // runs.
  std::map<Name, double> MedianRates() const {
    std::map<Name, std::vector<double>> samples;
    std::map<Name, double> medians;
    for (const std::vector<Run>& batch : batches_) {
      for (const Run& run : batch) {
        const std::optional<Name> name = ParseName(run);
        const auto rate = run.counters.find("bytes_per_second");
        if (run.error_occurred || !name || rate == run.counters.end()) {
          continue;
        }
        if (run.run_type == Run::RT_Iteration) {
          samples[*name].push_back(rate->second.value);
        } else if (run.aggregate_name == "median") {
          medians[*name] = rate->second.value;
        }
      }
    }
    for (const auto& [name, values] : samples) {
      medians.try_emplace(name, Median(values));
    }
    return medians;
  }

  static std::optional<double> Find(const std::map<Name, double>& rates,
                                    std::string_view op, std::string_view who,
                                    std::string_view size) {
    const auto it =
        rates.find(Name{std::string(op), std::string(who), std::string(size)});
    if (it == rates.end() || it->second <= 0) return std::nullopt;
    return it->second;
  }

  static std::string Format(std::optional<double> value, const char* format) {
    if (!value) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, format, *value);
    return buf;
  }

  static std::optional<double> Ratio(std::optional<double> a,
                                     std::optional<double> b) {
    if (!a || !b) return std::nullopt;
    return *a / *b;
  }

  // Microseconds per operation on `bytes` at `rate` bytes/s.
  static std::optional<double> Micros(std::optional<double> rate,
                                      size_t bytes) {
    if (!rate) return std::nullopt;
    return static_cast<double>(bytes) / *rate * 1e6;
  }

  void PrintSummary() {
    const std::map<Name, double> rates = MedianRates();
    if (rates.empty()) return;
    std::ostream& out = GetOutputStream();
    char line[160];

    out << "\nPayload LZ4 ratio (raw / LZ4 block):";
    for (size_t size = 0; size < kSizeCount; ++size) {
      std::snprintf(line, sizeof line, " %s %.2fx", kSizes[size].label,
                    lz4_ratios_[size]);
      out << line;
    }
    out << "\n\nMB/s of raw payload (1 MB = 10^6 bytes; medians, same run) "
           "and agentlog over each peer:\n";
    std::snprintf(line, sizeof line, "%-4s %-6s %10s %10s %10s %17s %16s\n",
                  "op", "size", "agentlog", "rocksdb", "sqlite",
                  "agentlog/rocksdb", "agentlog/sqlite");
    out << line;
    for (const char* op : {"put", "get"}) {
      for (const PayloadSize& size : kSizes) {
        const auto agentlog = Find(rates, op, "agentlog", size.label);
        const auto rocksdb = Find(rates, op, "rocksdb", size.label);
        const auto sqlite = Find(rates, op, "sqlite", size.label);
        if (!agentlog && !rocksdb && !sqlite) continue;
        auto mbs = [](std::optional<double> rate) -> std::optional<double> {
          if (!rate) return std::nullopt;
          return *rate / 1e6;
        };
        std::snprintf(line, sizeof line, "%-4s %-6s %10s %10s %10s %17s %16s\n",
                      op, size.label, Format(mbs(agentlog), "%.0f").c_str(),
                      Format(mbs(rocksdb), "%.0f").c_str(),
                      Format(mbs(sqlite), "%.0f").c_str(),
                      Format(Ratio(agentlog, rocksdb), "%.2fx").c_str(),
                      Format(Ratio(agentlog, sqlite), "%.2fx").c_str());
        out << line;
      }
    }

    out << "\nagentlog per operation against its floors (microseconds, "
           "medians):\n";
    std::snprintf(line, sizeof line,
                  "%-6s %12s %14s %10s %10s %12s %14s %10s\n", "size",
                  "agentlog get", "decomp+xxh3", "memcpy", "get/floor",
                  "agentlog put", "compress+xxh3", "put/floor");
    out << line;
    for (const PayloadSize& size : kSizes) {
      const auto get =
          Micros(Find(rates, "get", "agentlog", size.label), size.bytes);
      const auto decompress = Micros(
          Find(rates, "floor", kDecompressFloor, size.label), size.bytes);
      const auto copy =
          Micros(Find(rates, "floor", kMemcpyFloor, size.label), size.bytes);
      const auto put =
          Micros(Find(rates, "put", "agentlog", size.label), size.bytes);
      const auto compress =
          Micros(Find(rates, "floor", kCompressFloor, size.label), size.bytes);
      if (!get && !decompress && !copy && !put && !compress) continue;
      std::snprintf(
          line, sizeof line, "%-6s %12s %14s %10s %10s %12s %14s %10s\n",
          size.label, Format(get, "%.1f").c_str(),
          Format(decompress, "%.1f").c_str(), Format(copy, "%.1f").c_str(),
          Format(Ratio(get, decompress), "%.2fx").c_str(),
          Format(put, "%.1f").c_str(), Format(compress, "%.1f").c_str(),
          Format(Ratio(put, compress), "%.2fx").c_str());
      out << line;
    }
  }

  std::array<double, kSizeCount> lz4_ratios_;
  std::vector<std::vector<Run>> batches_;
};

int Run(int argc, char** argv) {
  const ConsoleFlags console = ReadConsoleFlags(argc, argv);
  if (!InitializeWithDefaults(argc, argv, kDefaultFlags)) return 1;

  std::array<double, kSizeCount> lz4_ratios{};
  for (size_t size = 0; size < kSizeCount; ++size) {
    // A fixed seed per size: every run measures the same bytes.
    g_payloads[size] = MakeTextPayload(kSizes[size].bytes, 1000 + size);
    lz4_ratios[size] = Lz4Ratio(g_payloads[size]);
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.2f", lz4_ratios[size]);
    benchmark::AddCustomContext(
        std::string("payload_lz4_ratio_") + kSizes[size].label, ratio);
  }
  benchmark::AddCustomContext("agentlog_durability", "kBuffered");
  benchmark::AddCustomContext("versions_kept", std::to_string(kKeepLast));
  RegisterBenchmarks();
  if (console.console) {
    CheckpointReporter reporter(console.options, lz4_ratios);
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
