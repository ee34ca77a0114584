// What usage accounting costs (docs/benchmarks.md), each case beside its
// baseline in one process run so that the ratios compare like with like.
//
// complete/*: one turn per iteration on a fresh store (Durability::
//   kBuffered), BeginTurn with a 256-byte prompt and then its completion
//   with a 1 KiB response, rotating over 64 sessions:
//     plain     CompleteTurn with no usage (no usage record is written);
//     usage     CompleteTurnWithUsage with one UsageSpec (a message id new
//               to the store, model "sonnet" priced by Store::SetPrice,
//               operation "chat"): priced, deduplicated and written
//               in the turn's batch, its scopes' totals, rate windows
//               and message id queued for the usage buffer's thread
//               (written every 8,192 records: usage_buffer.h);
//     budgeted  as usage, the sessions carrying three tags (three more
//               scopes of totals) and the store under a monthly budget it
//               never nears, so that budget admission is on the path of
//               both calls;
//     no_id     as usage with no message id: no dedup lookup, nothing for
//               usage_ids. Not a target; it weighs the dedup
//               (docs/benchmarks.md);
//     tagged    as plain, on sessions with budgeted's three tags: what
//               budgeted is compared with as well, since a plain turn of
//               a tagged session pays for the tags in its session record
//               too.
//   The target is usage at most 1.15x plain per turn, and budgeted at most
//   1.15x tagged.
// complete/paired: the same five, in one loop on five stores that take
//   turns in timed blocks (BM_CompletePaired): the ratios to trust on a
//   noisy machine.
// totals/*: GetUsageTotals(kStore, "", kLifetime) on a store holding N
//   usage records (N = 10^3 to 10^6, one RecordUsage call each, from
//   several threads over 64 sessions, Durability::kNone), for every N read
//   first as filled (the totals of the last records still pending in
//   memory, the merge operands written since the last memtable flush of
//   usage_totals still in the memtable) and then after Store::Compact() has
//   folded every operand. The claim is a time flat in N.
//
// After the usual console table the program prints the median times, the
// ratios over plain, and the totals reads with the fill and compaction
// times.

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "agentlog/agentlog.h"
#include "bench_flags.h"
#include "temp_dir.h"
#include "text_payload.h"

namespace agentlog::bench {
namespace {

// Defaults that flags on the command line override: three repetitions,
// summaries of medians. Unlike the other bench programs, no random
// interleaving: each N's store is filled once and compacted for the second
// of its two benchmarks, so the as-filled one must run first (with
// --benchmark_enable_random_interleaving=true the program still measures
// the right states, but refills a store whenever its as-filled benchmark
// comes after its compacted one). The complete/* benchmarks run one after
// another in the same process, each repetition on a fresh store.
constexpr const char* kDefaultFlags[] = {
    "--benchmark_min_time=1",
    "--benchmark_repetitions=3",
    "--benchmark_display_aggregates_only=true",
};

constexpr size_t kPromptBytes = 256;
constexpr size_t kResponseBytes = 1024;
constexpr int kSessions = 64;
constexpr const char* kModel = "sonnet";

// $3, $15, $0.30 and $3.75 per million input, output, cache-read and
// cache-write tokens.
ModelPrice Price() {
  return {.model = kModel,
          .input = 3'000'000,
          .output = 15'000'000,
          .cache_read = 300'000,
          .cache_write = 3'750'000};
}

// One call's usage: 11,250 micro-dollars at Price().
UsageSpec Usage() {
  return {.message_id = {},
          .model = kModel,
          .operation = "chat",
          .tokens = {.input = 1200,
                     .output = 350,
                     .cache_read = 8000,
                     .cache_write = 0},
          .cost_micros = std::nullopt};
}

// Writes "<prefix><24 base-62 characters>" into `id`, reusing its buffer:
// a message id no other call of the run has (the first 11 characters are a
// bijection of `n`), without an allocation per call. Random-looking, as
// providers issue them ("msg_01XFDUDYJgAACzvnptvVoYEL"): ids counting up
// would each land at the end of `usage_ids`, the cheapest place there is.
void SetMessageId(std::string& id, std::string_view prefix, uint64_t n) {
  static constexpr char kBase62[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  // SplitMix64's finaliser: a bijection on 64 bits.
  auto mix = [](uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
    x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
    return x ^ (x >> 31);
  };
  id.resize(prefix.size() + 24);
  std::copy(prefix.begin(), prefix.end(), id.begin());
  char* out = id.data() + prefix.size();
  uint64_t unique = mix(n);
  uint64_t filler = mix(n ^ 0x9e3779b97f4a7c15);
  for (int i = 0; i < 11; ++i, unique /= 62) out[i] = kBase62[unique % 62];
  for (int i = 11; i < 24; ++i, filler /= 62) out[i] = kBase62[filler % 62];
}

// Writes `n` as 16 hex digits over the start of `text` (at least 16 bytes),
// keeping it UTF-8: every turn's text then differs.
void StampText(std::string& text, uint64_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, n >>= 4) text[i] = kHex[n & 0xf];
}

// CPU seconds of every thread of the process so far (the store's
// background threads included).
double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

// --- complete/* ---------------------------------------------------------------

enum class Variant { kPlain, kUsage, kBudgeted, kNoId, kTagged };

struct VariantName {
  const char* name;
  Variant variant;
};
constexpr VariantName kVariants[] = {
    {"plain", Variant::kPlain},
    {"usage", Variant::kUsage},
    {"budgeted", Variant::kBudgeted},
    {"no_id", Variant::kNoId},
    {"tagged", Variant::kTagged},
};

struct TurnStore {
  TempDir dir;
  std::unique_ptr<Store> store;
  std::vector<SessionId> sessions;
};

// A fresh store shaped for `variant`: every variant has the price and 64
// sessions of the same agent and model; tagged adds three tags to each
// session, budgeted the tags and a store budget of $10^9 a month.
Status OpenTurnStore(Variant variant, TurnStore& out) {
  if (out.dir.path().empty()) {
    return Status::IOError("cannot create a temporary directory");
  }
  Options options;
  options.durability = Durability::kBuffered;
  Result<std::unique_ptr<Store>> opened =
      Store::Open(options, out.dir.path() + "/db");
  if (!opened.ok()) return opened.status();
  out.store = std::move(opened).value();
  if (auto price = out.store->SetPrice(Price()); !price.ok()) {
    return price.status();
  }
  SessionSpec spec;
  spec.agent = "bench-agent";
  spec.model = kModel;
  spec.title = "usage benchmark session";
  spec.context_window = 200'000;
  if (variant == Variant::kBudgeted || variant == Variant::kTagged) {
    spec.tags = {"team-search", "project-atlas", "env-prod"};
  }
  if (variant == Variant::kBudgeted) {
    BudgetSpec budget;
    budget.scope = UsageScope::kStore;
    budget.period = UsagePeriod::kMonth;
    budget.limit_micros = int64_t{1'000'000'000} * 1'000'000;
    if (auto set = out.store->SetBudget(budget); !set.ok()) {
      return set.status();
    }
  }
  for (int i = 0; i < kSessions; ++i) {
    Result<Session> session = out.store->CreateSession(spec);
    if (!session.ok()) return session.status();
    out.sessions.push_back(session->id);
  }
  return Status::OK();
}

// One turn's messages and usage, stamped per turn.
struct TurnWork {
  std::vector<Message> input = {
      {Role::kUser, MakeTextPayload(kPromptBytes, 1), "", ""}};
  std::vector<Message> output = {
      {Role::kAssistant, MakeTextPayload(kResponseBytes, 2), "", ""}};
  std::vector<UsageSpec> usage = {Usage()};
};

// Turn `n` of `rig` (1-based): BeginTurn, then its completion as `variant`
// completes it.
Status RunTurn(TurnStore& rig, Variant variant, uint64_t n, TurnWork& work) {
  const SessionId& session = rig.sessions[n % kSessions];
  // Every turn's text differs, as the input digest and LZ4 would see it.
  StampText(work.input[0].content, n);
  StampText(work.output[0].content, n);
  Result<BeginTurnResult> begun = rig.store->BeginTurn(session, "", work.input);
  if (!begun.ok()) return begun.status();
  const uint64_t number = begun->turn.number;
  if (variant == Variant::kPlain || variant == Variant::kTagged) {
    return rig.store->CompleteTurn(session, number, work.output).status();
  }
  if (variant == Variant::kNoId) {
    work.usage[0].message_id.clear();
  } else {
    SetMessageId(work.usage[0].message_id, "msg_", n);
  }
  return rig.store
      ->CompleteTurnWithUsage(session, number, work.output, work.usage)
      .status();
}

void BM_Complete(benchmark::State& state, Variant variant) {
  TurnStore rig;
  if (Status s = OpenTurnStore(variant, rig); !s.ok()) {
    return state.SkipWithError(s.ToString().c_str());
  }
  TurnWork work;
  uint64_t n = 0;
  for (auto _ : state) {
    if (Status s = RunTurn(rig, variant, ++n, work); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kResponseBytes);
  // Closing (a WAL sync, waiting for flushes) is outside the timed loop.
}

// complete/paired: the five variants side by side in one loop, each on its
// own store, taking turns in blocks of kSessions turns (one per session) in
// an order that rotates every iteration, each block timed on its own. Drift
// in the machine's speed (other tenants, frequency, the page cache) then
// falls on all five alike, which runs of complete/* one after another
// cannot promise: their ratios moved by 0.1x between runs of the same
// build. The counters are each variant's time per turn over plain's, and
// budgeted's over tagged's.
void BM_CompletePaired(benchmark::State& state) {
  constexpr size_t kCount = std::size(kVariants);
  TurnStore rigs[kCount];
  for (size_t v = 0; v < kCount; ++v) {
    if (Status s = OpenTurnStore(kVariants[v].variant, rigs[v]); !s.ok()) {
      return state.SkipWithError(s.ToString().c_str());
    }
  }
  TurnWork work;
  double seconds[kCount] = {};
  uint64_t n = 0;  // Turns of each store so far.
  uint64_t iteration = 0;
  for (auto _ : state) {
    for (size_t k = 0; k < kCount; ++k) {
      const size_t v = (iteration + k) % kCount;
      const auto start = std::chrono::steady_clock::now();
      for (int t = 1; t <= kSessions; ++t) {
        if (Status s = RunTurn(rigs[v], kVariants[v].variant, n + t, work);
            !s.ok()) {
          return state.SkipWithError(s.ToString().c_str());
        }
      }
      seconds[v] += SecondsSince(start);
    }
    n += kSessions;
    ++iteration;
  }
  const double turns = static_cast<double>(n);
  state.counters["plain_us"] = seconds[0] / turns * 1e6;
  size_t budgeted = 0, tagged = 0;
  for (size_t v = 1; v < kCount; ++v) {
    state.counters[std::string(kVariants[v].name) + "_x"] =
        seconds[v] / seconds[0];
    if (kVariants[v].variant == Variant::kBudgeted) budgeted = v;
    if (kVariants[v].variant == Variant::kTagged) tagged = v;
  }
  state.counters["budgeted_over_tagged_x"] =
      seconds[budgeted] / seconds[tagged];
  state.SetItemsProcessed(static_cast<int64_t>(n * kCount));
}

// --- totals/* -----------------------------------------------------------------

constexpr int kFillAgents = 4;

// Writer threads of a fill: one per core, at least two, each with its own
// sessions.
int FillThreads() {
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 2,
                    16);
}

// A store holding `records` usage records, kept for the whole run.
struct FilledStore {
  TempDir dir;
  std::unique_ptr<Store> store;
  double fill_seconds = 0;
  bool compacted = false;
  double compact_seconds = 0;
};

// Records `records` usage records (message ids "fill_<i>") over kSessions
// sessions of kFillAgents agents, thread t of `threads` writing to
// sessions t, t + threads, ...
Status Fill(Store& store, int64_t records, int threads) {
  if (auto price = store.SetPrice(Price()); !price.ok()) return price.status();
  std::vector<SessionId> sessions;
  for (int i = 0; i < kSessions; ++i) {
    SessionSpec spec;
    spec.agent = "agent-" + std::to_string(i % kFillAgents);
    spec.model = kModel;
    Result<Session> session = store.CreateSession(spec);
    if (!session.ok()) return session.status();
    sessions.push_back(session->id);
  }
  std::mutex mu;
  Status first_error;
  std::atomic<bool> failed{false};
  auto writer = [&](int t) {
    UsageSpec usage = Usage();
    const int own = (kSessions - t + threads - 1) / threads;
    int64_t calls = 0;
    for (int64_t i = t; i < records && !failed.load(); i += threads) {
      const int slot = t + threads * static_cast<int>(calls++ % own);
      SetMessageId(usage.message_id, "fill_", static_cast<uint64_t>(i));
      Result<RecordUsageResult> recorded =
          store.RecordUsage(sessions[slot], usage);
      if (!recorded.ok() || recorded->duplicate) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.exchange(true)) {
          first_error = recorded.ok()
                            ? Status::Corruption("fill message id " +
                                                 usage.message_id +
                                                 " read as a duplicate")
                            : recorded.status();
        }
      }
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(writer, t);
  for (std::thread& worker : workers) worker.join();
  return first_error;
}

// The stores of totals/*, by records, filled when first used and compacted
// when a compacted benchmark first needs it.
std::map<int64_t, std::unique_ptr<FilledStore>> g_filled;

Result<FilledStore*> FilledFor(int64_t records, bool compacted) {
  std::unique_ptr<FilledStore>& slot = g_filled[records];
  // Only when benchmarks run out of registration order.
  if (slot != nullptr && slot->compacted && !compacted) slot.reset();
  if (slot == nullptr) {
    auto filled = std::make_unique<FilledStore>();
    if (filled->dir.path().empty()) {
      return Status::IOError("cannot create a temporary directory");
    }
    Options options;
    options.durability = Durability::kNone;
    Result<std::unique_ptr<Store>> opened =
        Store::Open(options, filled->dir.path() + "/db");
    if (!opened.ok()) return opened.status();
    filled->store = std::move(opened).value();
    const int threads = FillThreads();
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ProcessCpuSeconds();
    if (Status s = Fill(*filled->store, records, threads); !s.ok()) return s;
    filled->fill_seconds = SecondsSince(start);
    std::fprintf(stderr,
                 "usage_bench: filled %lld records in %.1f s (%.1f s of CPU, "
                 "%d writer threads)\n",
                 static_cast<long long>(records), filled->fill_seconds,
                 ProcessCpuSeconds() - cpu_start, threads);
    slot = std::move(filled);
  }
  if (compacted && !slot->compacted) {
    const auto start = std::chrono::steady_clock::now();
    if (Status s = slot->store->Compact(); !s.ok()) return s;
    slot->compact_seconds = SecondsSince(start);
    slot->compacted = true;
    std::fprintf(stderr, "usage_bench: compacted %lld records in %.1f s\n",
                 static_cast<long long>(records), slot->compact_seconds);
  }
  return slot.get();
}

void BM_Totals(benchmark::State& state, bool compacted) {
  const int64_t records = state.range(0);
  Result<FilledStore*> filled = FilledFor(records, compacted);
  if (!filled.ok()) {
    return state.SkipWithError(filled.status().ToString().c_str());
  }
  Store& store = *(*filled)->store;
  Result<UsageTotals> check =
      store.GetUsageTotals(UsageScope::kStore, "", UsagePeriod::kLifetime);
  if (!check.ok()) return state.SkipWithError(check.status().ToString().c_str());
  if (check->records != static_cast<uint64_t>(records)) {
    return state.SkipWithError("store totals do not count every record");
  }
  for (auto _ : state) {
    Result<UsageTotals> totals =
        store.GetUsageTotals(UsageScope::kStore, "", UsagePeriod::kLifetime);
    if (!totals.ok()) {
      state.SkipWithError(totals.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(totals);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["records"] = static_cast<double>(records);
  // Where the totals' merge operands are: unflushed ones are what an
  // as-filled read folds one by one.
  if (Result<StoreInfo> info = store.Info(); info.ok()) {
    for (const ColumnFamilyInfo& cf : info->column_families) {
      if (cf.name != "usage_totals") continue;
      state.counters["totals_mem_kib"] = cf.memtable_bytes / 1024.0;
      state.counters["totals_sst_kib"] = cf.sst_bytes / 1024.0;
    }
  }
  state.counters["fill_s"] = (*filled)->fill_seconds;
  if (compacted) state.counters["compact_s"] = (*filled)->compact_seconds;
}

// --- Registration and summary -------------------------------------------------

constexpr int64_t kRecordCounts[] = {1'000, 10'000, 100'000, 1'000'000};

// "function/args" of every benchmark, in the order the reporter prints them.
std::vector<std::string> g_order;

// Real time: the store's background threads (flushes, the WAL syncer) are
// part of what a write costs.
void RegisterBenchmarks() {
  for (const VariantName& v : kVariants) {
    const std::string name = std::string("complete/") + v.name;
    benchmark::RegisterBenchmark(name.c_str(), BM_Complete, v.variant)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
    g_order.push_back(name);
  }
  benchmark::RegisterBenchmark("complete/paired", BM_CompletePaired)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  g_order.push_back("complete/paired");
  for (const int64_t records : kRecordCounts) {
    for (const bool compacted : {false, true}) {
      const std::string name =
          compacted ? "totals/compacted" : "totals/as_filled";
      benchmark::RegisterBenchmark(name.c_str(), BM_Totals, compacted)
          ->Arg(records)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
      g_order.push_back(name + "/" + std::to_string(records));
    }
  }
}

// The console table, held back until every run is done and printed in
// registration order (which --benchmark_enable_random_interleaving would
// shuffle), then the summary of medians.
class UsageReporter final : public benchmark::ConsoleReporter {
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
    PrintSummary();
  }

 private:
  // The median of a benchmark's repetitions: real and CPU time (of the
  // benchmark's thread) per iteration in nanoseconds, and its counters.
  struct Median {
    double ns = 0;
    double cpu_ns = 0;
    std::map<std::string, double> counters;
  };

  static std::string Key(const Run& run) {
    std::string key = run.run_name.function_name;
    if (!run.run_name.args.empty()) key += "/" + run.run_name.args;
    return key;
  }

  static size_t Order(const Run& run) {
    return std::find(g_order.begin(), g_order.end(), Key(run)) -
           g_order.begin();
  }

  static double Nanos(const Run& run) {
    return run.GetAdjustedRealTime() /
           benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e9;
  }
  static double CpuNanos(const Run& run) {
    return run.GetAdjustedCPUTime() /
           benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e9;
  }

  // The library's median aggregate where there is one (repetitions), else
  // the median of the plain runs.
  std::map<std::string, Median> Medians() const {
    std::map<std::string, Median> out;
    std::map<std::string, std::vector<const Run*>> samples;
    for (const std::vector<Run>& batch : batches_) {
      for (const Run& run : batch) {
        if (run.error_occurred) continue;
        if (run.run_type == Run::RT_Iteration) {
          samples[Key(run)].push_back(&run);
        } else if (run.aggregate_name == "median") {
          out[Key(run)] = FromRun(run);
        }
      }
    }
    for (auto& [key, runs] : samples) {
      if (out.contains(key)) continue;
      std::sort(runs.begin(), runs.end(), [](const Run* a, const Run* b) {
        return Nanos(*a) < Nanos(*b);
      });
      out[key] = FromRun(*runs[runs.size() / 2]);
    }
    return out;
  }

  static Median FromRun(const Run& run) {
    Median m{.ns = Nanos(run), .cpu_ns = CpuNanos(run), .counters = {}};
    for (const auto& [name, counter] : run.counters) {
      m.counters[name] = counter.value;
    }
    return m;
  }

  void PrintSummary() {
    const std::map<std::string, Median> medians = Medians();
    std::ostream& out = GetOutputStream();
    char line[160];
    const auto plain = medians.find("complete/plain");
    const double plain_ns = plain == medians.end() ? 0 : plain->second.ns;
    const double plain_cpu_ns =
        plain == medians.end() ? 0 : plain->second.cpu_ns;
    bool header = false;
    for (const VariantName& v : kVariants) {
      const auto m = medians.find(std::string("complete/") + v.name);
      if (m == medians.end()) continue;
      if (!header) {
        // CPU time is the benchmark thread's only, but a machine busy with
        // other work inflates it less than real time.
        out << "\nturn (BeginTurn + completion), medians per turn, same "
               "run:\n";
        std::snprintf(line, sizeof line, "  %-10s %12s %14s %12s %14s\n", "",
                      "real", "real / plain", "CPU", "CPU / plain");
        out << line;
        header = true;
      }
      auto ratio = [](double value, double base) {
        if (base <= 0) return std::string("-");
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3fx", value / base);
        return std::string(buf);
      };
      std::snprintf(line, sizeof line,
                    "  %-10s %9.2f us %14s %9.2f us %14s\n", v.name,
                    m->second.ns / 1e3,
                    ratio(m->second.ns, plain_ns).c_str(),
                    m->second.cpu_ns / 1e3,
                    ratio(m->second.cpu_ns, plain_cpu_ns).c_str());
      out << line;
    }
    if (const auto paired = medians.find("complete/paired");
        paired != medians.end()) {
      const std::map<std::string, double>& c = paired->second.counters;
      auto get = [&](const char* name) {
        const auto it = c.find(name);
        return it == c.end() ? 0.0 : it->second;
      };
      out << "\nthe same, paired (complete/paired: the five stores taking "
             "turns in blocks of\n"
          << kSessions << " turns, rotating), median of the repetitions:\n";
      std::snprintf(line, sizeof line,
                    "  plain %.2f us per turn, usage %.3fx, budgeted %.3fx\n",
                    get("plain_us"), get("usage_x"), get("budgeted_x"));
      out << line;
      std::snprintf(line, sizeof line,
                    "  budgeted over tagged (plain turns of sessions with the "
                    "same tags) %.3fx\n",
                    get("budgeted_over_tagged_x"));
      out << line;
      std::snprintf(line, sizeof line,
                    "  (usage without a message id %.3fx: the dedup's weight, "
                    "not a target)\n",
                    get("no_id_x"));
      out << line;
      header = true;
    }
    if (header) {
      out << "  target: usage at most 1.15x plain, budgeted at most 1.15x "
             "tagged\n";
    }

    header = false;
    for (const int64_t records : kRecordCounts) {
      const auto filled = medians.find("totals/as_filled/" +
                                       std::to_string(records));
      const auto compacted = medians.find("totals/compacted/" +
                                          std::to_string(records));
      if (filled == medians.end() && compacted == medians.end()) continue;
      if (!header) {
        out << "\nGetUsageTotals(kStore, \"\", kLifetime), median real time "
               "per call, with the\nusage_totals memtable as filled:\n";
        std::snprintf(line, sizeof line, "  %10s %14s %14s %14s %8s %10s\n",
                      "records", "as filled", "memtable KiB", "compacted",
                      "fill s", "compact s");
        out << line;
        header = true;
      }
      auto us = [](const auto& it, const auto& end) {
        if (it == end) return std::string("-");
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f us", it->second.ns / 1e3);
        return std::string(buf);
      };
      auto counter = [](const auto& it, const auto& end, const char* name,
                        const char* format) {
        if (it == end) return std::string("-");
        const auto c = it->second.counters.find(name);
        if (c == it->second.counters.end()) return std::string("-");
        char buf[32];
        std::snprintf(buf, sizeof buf, format, c->second);
        return std::string(buf);
      };
      const auto end = medians.end();
      std::snprintf(
          line, sizeof line, "  %10lld %14s %14s %14s %8s %10s\n",
          static_cast<long long>(records), us(filled, end).c_str(),
          counter(filled, end, "totals_mem_kib", "%.0f").c_str(),
          us(compacted, end).c_str(),
          counter(filled, end, "fill_s", "%.1f").c_str(),
          counter(compacted, end, "compact_s", "%.1f").c_str());
      out << line;
    }
  }

  std::vector<std::vector<Run>> batches_;
};

int Run(int argc, char** argv) {
  const ConsoleFlags console = ReadConsoleFlags(argc, argv);
  if (!InitializeWithDefaults(argc, argv, kDefaultFlags)) return 1;
  benchmark::AddCustomContext("turn_durability", "kBuffered");
  benchmark::AddCustomContext("fill_durability", "kNone");
  benchmark::AddCustomContext("sessions", std::to_string(kSessions));
  RegisterBenchmarks();
  if (console.console) {
    UsageReporter reporter(console.options);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  // Closing the filled stores (waiting for their compactions) and removing
  // their directories.
  g_filled.clear();
  return 0;
}

}  // namespace
}  // namespace agentlog::bench

int main(int argc, char** argv) { return agentlog::bench::Run(argc, argv); }
