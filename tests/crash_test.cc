// Kill -9 and reopen. A child process appends synced turns and puts
// checkpoints (alone, and in one commit with a turn's completion) to several
// sessions from a few threads, and acknowledges every call that returned OK
// with one line on a pipe; the parent SIGKILLs it after a random number of
// acknowledgements (or while it opens the store), reopens the store and
// checks that every acknowledged turn is there with its contents, that
// numbering has no gaps, that every record decodes and agrees with the
// session totals, that the recovery report names exactly the turns left
// processing, and that every acknowledged checkpoint version retention keeps
// reads back and verifies. The child also takes and releases session
// leases and runs run-once keys: every acknowledged lease's fencing token is
// still covered by the session's after the kill (tokens are never reissued),
// and every acknowledged run-once key reads back with its result. It
// records usage too (with turns and alone, some of it duplicates): every
// acknowledged record reads back, every usage total equals the sum of the
// records it covers, and every acknowledged message id still counts once.
// One store directory serves every cycle, so state accumulates (and
// retention prunes).
//
// The child is this binary executed again (fork + exec), not a bare fork:
// the parent has run RocksDB in earlier cycles, and a forked child would
// inherit thread pools without their threads.
//
// AGENTLOG_CRASH_CYCLES sets the number of cycles (default 50).
// AGENTLOG_CRASH_SEED fixes the base seed, which every run prints; cycle c
// uses seed base + c. Thread interleaving in the child is not reproducible,
// but every random choice is.

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "test_util.h"
#include "usage_oracle.h"

namespace agentlog::testing {
namespace {

// Set (to the child's configuration) only in the child's environment.
constexpr char kChildEnv[] = "AGENTLOG_CRASH_CHILD";
constexpr int kSessions = 4;
constexpr int kChildThreads = 3;
constexpr uint64_t kMaxAcksPerCycle = 200;

// --- Turn contents: a pure function of the idempotency key, so the parent
// can check any turn it finds, acknowledged or not. ---

std::vector<Message> InputFor(const std::string& key) {
  return {Message{Role::kUser, "question " + key, "", ""},
          Message{Role::kTool, "result for " + key, "call-" + key, "search"}};
}

// A checkpoint payload: text-like bytes from a few hundred bytes (inline in
// SSTs) to tens of KiB (blob files). Its key is also its metadata.
std::string PayloadFor(const std::string& key) {
  const uint64_t h = Fnv1a(key);
  const size_t size = 300 + h % 40'000;
  std::string out;
  out.reserve(size + 64);
  for (uint64_t i = 0; out.size() < size; ++i) {
    out += fmt::format("{} step {} value {};", key, i, (h >> (i % 48)) % 977);
  }
  out.resize(size);
  return out;
}

// What a run-once key's operation returns.
std::string RunOnceResultFor(const std::string& key) { return "did " + key; }

// A call's usage, priced (at kPrice) for about half the keys. The sessions'
// own model has no price, so the turns' usage keeps the cost UsageFor says.
constexpr std::string_view kPricedModel = "priced-model";
UsageSpec UsageSpecFor(const std::string& key) {
  UsageSpec spec;
  spec.message_id = key;
  spec.model = Fnv1a(key) % 2 == 0 ? std::string(kPricedModel) : "unpriced-model";
  spec.operation = "tool";
  spec.tokens = UsageFor(key).tokens;
  return spec;
}

CheckpointSpec CheckpointFor(const std::string& key) {
  thread_local std::string payload;
  payload = PayloadFor(key);
  CheckpointSpec spec;
  spec.payload = payload;
  spec.metadata = key;
  return spec;
}

// --- The child ---

// What the child was told: "<store path>|<ack fd>|<seed>|<cycle>|<id>,<id>..".
struct ChildConfig {
  std::string path;
  int fd = -1;
  uint64_t seed = 0;
  uint64_t cycle = 0;
  std::vector<SessionId> sessions;
};

std::string FormatChildConfig(const ChildConfig& c) {
  std::string ids;
  for (const SessionId& id : c.sessions) {
    if (!ids.empty()) ids += ',';
    ids += id.ToString();
  }
  return fmt::format("{}|{}|{}|{}|{}", c.path, c.fd, c.seed, c.cycle, ids);
}

std::optional<ChildConfig> ParseChildConfig(std::string_view text) {
  std::vector<std::string> parts;
  std::stringstream in{std::string(text)};
  for (std::string part; std::getline(in, part, '|');) parts.push_back(part);
  if (parts.size() != 5) return std::nullopt;
  ChildConfig c;
  c.path = parts[0];
  c.fd = std::stoi(parts[1]);
  c.seed = std::stoull(parts[2]);
  c.cycle = std::stoull(parts[3]);
  std::stringstream ids(parts[4]);
  for (std::string id; std::getline(ids, id, ',');) {
    Result<SessionId> parsed = SessionId::Parse(id);
    if (!parsed.ok()) return std::nullopt;
    c.sessions.push_back(*parsed);
  }
  if (c.sessions.size() != kSessions) return std::nullopt;
  return c;
}

void SendAck(int fd, char kind, int session, uint64_t number,
             const std::string& key) {
  Send(fd, fmt::format("{} {} {} {}\n", kind, session, number, key));
}

int IndexOf(const ChildConfig& c, const SessionId& id) {
  const auto it = std::find(c.sessions.begin(), c.sessions.end(), id);
  return it == c.sessions.end() ? -1
                                : static_cast<int>(it - c.sessions.begin());
}

// Completes a turn, with a checkpoint in the same commit when told to, and
// acknowledges what the call did.
void CompleteAndAck(Store& store, int fd, int s, const SessionId& id,
                    uint64_t number, const std::string& key,
                    bool with_checkpoint) {
  if (!with_checkpoint) {
    Result<Turn> done = store.CompleteTurn(id, number, OutputFor(key),
                                           UsageFor(key));
    if (!done.ok()) Die(fd, "CompleteTurn: " + done.status().ToString());
    SendAck(fd, 'C', s, number, key);
    return;
  }
  Result<TurnWithCheckpoint> done = store.CompleteTurnWithCheckpoint(
      id, number, OutputFor(key), UsageFor(key), CheckpointFor(key));
  if (!done.ok()) {
    Die(fd, "CompleteTurnWithCheckpoint: " + done.status().ToString());
  }
  // One call, one commit: both lines describe what it made durable.
  Send(fd, fmt::format("C {} {} {}\nK {} {} {}\n", s, number, key, s,
                       done->checkpoint.version, key));
}

// One writer thread of the child; never returns.
void ChildWorker(Store& store, const ChildConfig& c, int thread,
                 const std::vector<TurnRef>& resume) {
  std::seed_seq seq{c.seed, static_cast<uint64_t>(thread)};
  std::mt19937_64 rng(seq);
  const int fd = c.fd;

  // First settle (most of) this thread's share of the turns the last crash
  // left processing, as a host resuming work would.
  for (const TurnRef& ref : resume) {
    const int s = IndexOf(c, ref.session);
    if (s < 0) Die(fd, "recovery report names an unknown session");
    Result<Turn> turn = store.GetTurn(ref.session, ref.number);
    if (!turn.ok()) Die(fd, "GetTurn: " + turn.status().ToString());
    const std::string key = turn->idempotency_key;
    switch (rng() % 4) {
      case 0:
      case 1: {
        CompleteAndAck(store, fd, s, ref.session, ref.number, key,
                       rng() % 2 == 0);
        break;
      }
      case 2: {
        Result<Turn> done =
            store.FailTurn(ref.session, ref.number, ErrorFor(key));
        if (!done.ok()) Die(fd, "FailTurn: " + done.status().ToString());
        SendAck(fd, 'F', s, ref.number, key);
        break;
      }
      default:
        break;  // Stays processing for a later cycle.
    }
  }

  // The newest turn this thread made in each session, for replays.
  std::vector<std::pair<std::string, uint64_t>> last(kSessions);
  std::string last_usage_id;  // Recorded again, it must count once.
  for (uint64_t i = 0;; ++i) {
    const int s = static_cast<int>(rng() % kSessions);
    const SessionId& id = c.sessions[s];
    const std::string key = fmt::format("k{}.{}.{}", c.cycle, thread, i);
    const uint64_t dice = rng() % 100;
    if (dice < 15) {
      Result<BeginTurnResult> r = store.AppendTurn(
          id, key, InputFor(key), OutputFor(key), UsageFor(key));
      if (!r.ok()) Die(fd, "AppendTurn: " + r.status().ToString());
      if (r->replayed) Die(fd, "AppendTurn with a new key replayed " + key);
      SendAck(fd, 'A', s, r->turn.number, key);
      last[s] = {key, r->turn.number};
    } else if (dice < 35) {
      Result<CheckpointInfo> put = store.PutCheckpoint(id, CheckpointFor(key));
      if (!put.ok()) Die(fd, "PutCheckpoint: " + put.status().ToString());
      SendAck(fd, 'K', s, put->version, key);
    } else if (dice < 39) {
      // A lease, sometimes released at once; a lease left held (or held
      // by another thread) makes the next attempt Busy until it expires.
      Result<Lease> lease = store.AcquireLease(
          id, fmt::format("worker-{}", thread), std::chrono::milliseconds(200));
      if (lease.status().IsBusy()) continue;
      if (!lease.ok()) Die(fd, "AcquireLease: " + lease.status().ToString());
      SendAck(fd, 'L', s, lease->token, key);
      if (rng() % 2 == 0) {
        const Status released = store.ReleaseLease(id, lease->token);
        // Conflict is right when the lease expired (a slow fsync) and
        // another worker took it since.
        Result<Lease> now = store.GetLease(id);
        const bool taken = released.IsConflict() && now.ok() &&
                           now->token > lease->token;
        if (!released.ok() && !taken) {
          Die(fd, "ReleaseLease: " + released.ToString());
        }
      }
    } else if (dice < 42) {
      Result<RunOnceOutcome> ran = store.RunOnce(
          key, std::chrono::hours(24),
          [&]() -> Result<std::string> { return RunOnceResultFor(key); });
      if (!ran.ok()) Die(fd, "RunOnce: " + ran.status().ToString());
      if (!ran->ran) Die(fd, "RunOnce of a new key did not run: " + key);
      SendAck(fd, 'Q', s, 0, key);
    } else if (dice < 45) {
      // Usage on its own (turns' usage goes through CompleteTurn): priced
      // or not, and now and then a message id already recorded.
      const bool again = !last_usage_id.empty() && rng() % 4 == 0;
      const std::string usage_id = again ? last_usage_id : key;
      Result<RecordUsageResult> r = store.RecordUsage(id, UsageSpecFor(usage_id));
      if (!r.ok()) Die(fd, "RecordUsage: " + r.status().ToString());
      if (r->duplicate != again) {
        Die(fd, fmt::format("RecordUsage of {} said duplicate = {}", usage_id,
                            r->duplicate));
      }
      if (!again) {
        SendAck(fd, 'U', s, r->record.seq, usage_id);
        last_usage_id = usage_id;
      }
    } else if (dice < 48 && !last[s].first.empty()) {
      const auto& [old_key, old_number] = last[s];
      Result<BeginTurnResult> r =
          store.BeginTurn(id, old_key, InputFor(old_key));
      if (!r.ok()) Die(fd, "BeginTurn (replay): " + r.status().ToString());
      if (!r->replayed || r->turn.number != old_number) {
        Die(fd, fmt::format("replaying {} gave turn {} (replayed {}); "
                            "expected turn {}",
                            old_key, r->turn.number, r->replayed, old_number));
      }
      SendAck(fd, 'R', s, old_number, old_key);
    } else {
      Result<BeginTurnResult> r = store.BeginTurn(id, key, InputFor(key));
      if (!r.ok()) Die(fd, "BeginTurn: " + r.status().ToString());
      if (r->replayed) Die(fd, "BeginTurn with a new key replayed " + key);
      const uint64_t n = r->turn.number;
      SendAck(fd, 'B', s, n, key);
      last[s] = {key, n};
      switch (rng() % 4) {
        case 0:
        case 1: {
          CompleteAndAck(store, fd, s, id, n, key, rng() % 3 == 0);
          break;
        }
        case 2: {
          Result<Turn> done = store.FailTurn(id, n, ErrorFor(key));
          if (!done.ok()) Die(fd, "FailTurn: " + done.status().ToString());
          SendAck(fd, 'F', s, n, key);
          break;
        }
        default:
          break;  // Left processing: the crash interrupts it.
      }
    }
  }
}

// The child's whole life: open, write until killed.
[[noreturn]] void RunChild(const char* spec) {
  const std::optional<ChildConfig> parsed = ParseChildConfig(spec);
  if (!parsed) ::_exit(4);
  const ChildConfig& c = *parsed;
  Send(c.fd, "P\n");  // About to open.
  Options options;
  options.durability = Durability::kSync;
  // Completions then also write echo verdicts and counts, which Verify
  // checks agree after every kill.
  options.detect_echoes = true;
  Result<std::unique_ptr<Store>> opened = Store::Open(options, c.path);
  if (!opened.ok()) Die(c.fd, "Open: " + opened.status().ToString());
  std::unique_ptr<Store> store = std::move(opened).value();
  Result<std::vector<PriceVersion>> prices = store->ListPrices();
  if (!prices.ok()) Die(c.fd, "ListPrices: " + prices.status().ToString());
  if (prices->empty()) {
    const Status priced =
        store
            ->SetPrice({.model = std::string(kPricedModel),
                        .input = 3'000'000,
                        .output = 15'000'000,
                        .cache_read = 300'000,
                        .cache_write = 3'750'000})
            .status();
    if (!priced.ok()) Die(c.fd, "SetPrice: " + priced.ToString());
  }
  Send(c.fd, "O\n");

  std::vector<std::vector<TurnRef>> resume(kChildThreads);
  const auto& processing = store->recovery_report().processing_turns;
  for (size_t i = 0; i < processing.size(); ++i) {
    resume[i % kChildThreads].push_back(processing[i]);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kChildThreads; ++t) {
    threads.emplace_back(ChildWorker, std::ref(*store), std::cref(c), t,
                         std::cref(resume[t]));
  }
  for (std::thread& t : threads) t.join();  // Never: the parent kills us.
  ::_exit(5);
}

// --- The parent ---

// One acknowledgement: kind is B(egun), A(ppended), R(eplayed), C(ompleted),
// F(ailed), K (checkpoint put; `number` is its version), L (lease acquired;
// `number` is its token), Q (run-once key `key` ran) or U (usage recorded
// with message id `key`; `number` is its seq).
struct Ack {
  char kind = 0;
  int session = 0;
  uint64_t number = 0;
  std::string key;
};

// Where in the child's life the kill lands.
enum class KillAt { kOpening, kOpened, kAfterAcks };

// What the parent has seen of one turn at the end of the previous cycle.
struct KnownTurn {
  std::string key;
  TurnStatus status = TurnStatus::kProcessing;
};

uint64_t CyclesFromEnv() {
  const char* v = std::getenv("AGENTLOG_CRASH_CYCLES");
  return v != nullptr && *v != '\0' ? std::stoull(v) : 50;
}

uint64_t BaseSeedFromEnv() {
  const char* v = std::getenv("AGENTLOG_CRASH_SEED");
  if (v != nullptr && *v != '\0') return std::stoull(v);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) | rd();
}

std::string Describe(const VerifyReport& report) {
  std::string out;
  for (const VerifyProblem& p : report.problems) {
    out += fmt::format("\n  {} {}: {}", p.column_family, p.key, p.what);
  }
  return out;
}

class CrashTest : public ::testing::Test {
 protected:
  std::string path() const { return dir_->Sub("store"); }

  // Creates the sessions the children write to, in id order (the order of
  // the recovery report).
  void CreateSessions() {
    dir_.emplace();
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store,
                         Store::Open(Options(), path()));
    for (int s = 0; s < kSessions; ++s) {
      SessionSpec spec;
      spec.agent = "crash-agent";
      spec.title = fmt::format("session {}", s);
      ASSERT_OK_AND_ASSIGN(Session session, store->CreateSession(spec));
      sessions_.push_back(session.id);
    }
    std::sort(sessions_.begin(), sessions_.end());
    known_.assign(kSessions, {});
    keys_.assign(kSessions, {});
    last_checkpoint_.assign(kSessions, 0);
    lease_token_.assign(kSessions, 0);
    lease_tokens_.assign(kSessions, {});
  }

  // Starts the child: this test again, told by kChildEnv to play the child.
  pid_t SpawnChild(const ChildConfig& config) {
    return SpawnSelf(kChildEnv, FormatChildConfig(config), config.fd);
  }

  // Runs one child to its death and collects what it acknowledged.
  void RunChildUntilKilled(uint64_t cycle, uint64_t seed,
                           std::vector<Ack>* acks) {
    std::mt19937_64 rng(seed);
    const uint64_t dice = rng() % 100;
    const KillAt kill_at = dice < 10   ? KillAt::kOpening
                           : dice < 20 ? KillAt::kOpened
                                       : KillAt::kAfterAcks;
    const uint64_t target = 1 + rng() % kMaxAcksPerCycle;
    SCOPED_TRACE(kill_at == KillAt::kOpening ? "kill while opening"
                 : kill_at == KillAt::kOpened
                     ? "kill once open"
                     : fmt::format("kill after {} acks", target));

    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    ChildConfig config{path(), fds[1], seed, cycle, sessions_};
    const pid_t pid = SpawnChild(config);
    ::close(fds[1]);
    ASSERT_GT(pid, 0) << "cannot start the child";

    const ChildEnd end = RunChildToItsEnd(
        pid, fds[0],
        [&](const std::string& line, std::vector<std::string>& errors) {
          const bool kill =
              line[0] == 'P'   ? kill_at == KillAt::kOpening
              : line[0] == 'O' ? kill_at == KillAt::kOpened
                               : !TakeAck(line, acks, errors) ||
                                     (acks->size() >= target &&
                                      kill_at == KillAt::kAfterAcks);
          return kill ? LineVerdict::kKill : LineVerdict::kGoOn;
        });
    for (const std::string& e : end.errors) ADD_FAILURE() << "child: " << e;
    ASSERT_TRUE(end.errors.empty());
    ASSERT_TRUE(end.killed) << "the child ended by itself with status "
                            << end.status;
    ASSERT_TRUE(WIFSIGNALED(end.status) && WTERMSIG(end.status) == SIGKILL)
        << "wait status " << end.status;
  }

  // Parses an acknowledgement line into `acks`; false (and a line in
  // `errors`) when it is malformed.
  static bool TakeAck(const std::string& line, std::vector<Ack>* acks,
                      std::vector<std::string>& errors) {
    Ack ack;
    std::istringstream in(line);
    in >> ack.kind >> ack.session >> ack.number >> ack.key;
    if (!in || ack.session < 0 || ack.session >= kSessions ||
        std::string_view("BARCFKLQU").find(ack.kind) == std::string::npos) {
      errors.push_back("malformed ack: " + line);
      return false;
    }
    acks->push_back(std::move(ack));
    return true;
  }

  // Checks one session's turns and totals; appends its processing turns to
  // `processing`.
  void CheckSession(int s, const Session& session,
                    const std::vector<Turn>& turns,
                    std::vector<TurnRef>* processing) {
    SCOPED_TRACE(fmt::format("session {} ({})", s, session.id.ToString()));
    ASSERT_EQ(turns.size(), session.turn_count);
    ASSERT_GE(turns.size(), known_[s].size())
        << "turns seen after an earlier crash are gone";
    Session totals;
    std::vector<uint64_t> processing_numbers;
    for (size_t i = 0; i < turns.size(); ++i) {
      const Turn& t = turns[i];
      const std::string& key = t.idempotency_key;
      SCOPED_TRACE(fmt::format("turn {} key {}", i + 1, key));
      ASSERT_EQ(t.number, i + 1) << "numbering has a gap";
      ASSERT_FALSE(key.empty());
      if (i < known_[s].size()) {
        const KnownTurn& before = known_[s][i];
        ASSERT_EQ(key, before.key);
        if (before.status != TurnStatus::kProcessing) {
          EXPECT_EQ(t.status, before.status) << "a final status changed";
        }
      } else {
        EXPECT_TRUE(keys_[s].insert(key).second) << "key used twice";
      }
      EXPECT_EQ(t.input, InputFor(key));
      EXPECT_EQ(t.input_digest, ComputeInputDigest(InputFor(key)));
      switch (t.status) {
        case TurnStatus::kProcessing:
          EXPECT_TRUE(t.output.empty());
          EXPECT_EQ(t.finished_ms, 0);
          processing_numbers.push_back(t.number);
          processing->push_back({session.id, t.number});
          break;
        case TurnStatus::kCompleted: {
          const TurnUsage usage = UsageFor(key);
          EXPECT_EQ(t.output, OutputFor(key));
          EXPECT_EQ(t.usage.tokens, usage.tokens);
          EXPECT_EQ(t.usage.cost_micros, usage.cost_micros);
          EXPECT_TRUE(t.error.empty());
          AddCompleted(usage, &totals);
          break;
        }
        case TurnStatus::kFailed:
          EXPECT_EQ(t.error, ErrorFor(key));
          EXPECT_TRUE(t.output.empty());
          ++totals.failed_turns;
          break;
      }
    }
    EXPECT_EQ(session.completed_turns, totals.completed_turns);
    EXPECT_EQ(session.failed_turns, totals.failed_turns);
    EXPECT_EQ(session.tokens, totals.tokens);
    EXPECT_EQ(session.cost_micros, totals.cost_micros);
    EXPECT_EQ(session.processing_turns, processing_numbers);
  }

  // Checks one session's checkpoints: the versions retention keeps (the
  // newest kDefaultKeep) are contiguous, read back and verify, and match the
  // key in their metadata; nothing went backwards since the last cycle.
  void CheckCheckpoints(Store& store, int s, const Session& session,
                        const std::vector<Turn>& turns) {
    SCOPED_TRACE(fmt::format("checkpoints of session {}", s));
    constexpr uint64_t kDefaultKeep = 10;
    ASSERT_GE(session.last_checkpoint, last_checkpoint_[s])
        << "checkpoint versions seen after an earlier crash are gone";
    ASSERT_GE(session.lease.token, lease_token_[s])
        << "the fencing token went backwards across a crash";
    lease_token_[s] = session.lease.token;
    last_checkpoint_[s] = session.last_checkpoint;
    const uint64_t last = session.last_checkpoint;
    const uint64_t oldest =
        last == 0 ? 0 : (last > kDefaultKeep ? last - kDefaultKeep + 1 : 1);
    ASSERT_EQ(session.oldest_checkpoint, oldest);
    ASSERT_OK_AND_ASSIGN(std::vector<CheckpointInfo> versions,
                         store.ListCheckpoints(session.id));
    ASSERT_EQ(versions.size(), last == 0 ? 0 : last - oldest + 1);
    for (size_t i = 0; i < versions.size(); ++i) {
      ASSERT_EQ(versions[i].version, oldest + i);
      ASSERT_OK_AND_ASSIGN(Checkpoint c,
                           store.GetCheckpoint(session.id, oldest + i));
      ASSERT_EQ(c.payload, PayloadFor(c.info.metadata)) << c.info.version;
      // A version saved with a turn's completion, acknowledged or not: the
      // turn it names completed in the same commit.
      for (const Turn& t : turns) {
        if (t.idempotency_key == c.info.metadata) {
          EXPECT_EQ(t.status, TurnStatus::kCompleted)
              << "checkpoint " << c.info.version << " without its turn";
        }
      }
    }
    checkpoints_checked_ += versions.size();
  }

  // Every acknowledged call's effect is in the reopened store.
  void CheckAck(Store& store, const Ack& ack, const std::vector<Turn>& turns,
                const std::vector<UsageRecord>& usage) {
    SCOPED_TRACE(fmt::format("ack {} {} {} {}", ack.kind, ack.session,
                             ack.number, ack.key));
    if (ack.kind == 'U') {
      ASSERT_LE(ack.number, usage.size())
          << "an acknowledged usage record is missing";
      const UsageRecord& u = usage[ack.number - 1];
      EXPECT_EQ(u.message_id, ack.key);
      EXPECT_EQ(u.tokens, UsageFor(ack.key).tokens);
      EXPECT_EQ(u.cost_source, u.model == kPricedModel ? CostSource::kPriced
                                                       : CostSource::kUnpriced);
      ++usage_checked_;
      return;
    }
    if (ack.kind == 'L') {
      // The token went to a worker: it must be new (above every token the
      // store held at the last check, and never handed out before), and the
      // session's can only be at or past it.
      EXPECT_GT(ack.number, lease_token_before_[ack.session])
          << "a fencing token was handed out again after a crash";
      EXPECT_TRUE(lease_tokens_[ack.session].insert(ack.number).second)
          << "a fencing token was handed out twice";
      ASSERT_OK_AND_ASSIGN(Lease lease, store.GetLease(sessions_[ack.session]));
      EXPECT_GE(lease.token, ack.number) << "a fencing token went backwards";
      return;
    }
    if (ack.kind == 'Q') {
      ASSERT_OK_AND_ASSIGN(RunOnceOutcome ran, store.GetRunOnce(ack.key));
      EXPECT_EQ(ran.result, RunOnceResultFor(ack.key));
      ++run_once_checked_;
      return;
    }
    if (ack.kind == 'K') {
      const SessionId& id = sessions_[ack.session];
      ASSERT_LE(ack.number, last_checkpoint_[ack.session])
          << "an acknowledged checkpoint version is missing";
      Result<Checkpoint> c = store.GetCheckpoint(id, ack.number);
      if (c.status().IsNotFound() &&
          ack.number + 10 <= last_checkpoint_[ack.session]) {
        return;  // Pruned by keep-last-10: newer versions replaced it.
      }
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      EXPECT_EQ(c->info.metadata, ack.key);
      EXPECT_EQ(c->payload, PayloadFor(ack.key));
      return;
    }
    ASSERT_GE(ack.number, 1u);
    ASSERT_LE(ack.number, turns.size()) << "an acknowledged turn is missing";
    const Turn& t = turns[ack.number - 1];
    EXPECT_EQ(t.idempotency_key, ack.key);
    switch (ack.kind) {
      case 'A':
      case 'C':
        EXPECT_EQ(t.status, TurnStatus::kCompleted);
        break;
      case 'F':
        EXPECT_EQ(t.status, TurnStatus::kFailed);
        break;
      default:
        break;  // Begun: any status (completing may have been unacked).
    }
    if (ack.kind == 'B' || ack.kind == 'A' || ack.kind == 'R') {
      ASSERT_OK_AND_ASSIGN(Turn by_key,
                           store.GetTurnByKey(sessions_[ack.session], ack.key));
      EXPECT_EQ(by_key.number, ack.number);
    }
  }

  // Reopens the store after a kill and checks it against the acks.
  void CheckReopenedStore(const std::vector<Ack>& acks) {
    lease_token_before_ = lease_token_;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store,
                         Store::Open(Options(), path()));
    const RecoveryReport& report = store->recovery_report();
    EXPECT_FALSE(report.created);
    EXPECT_EQ(report.sessions, static_cast<uint64_t>(kSessions));

    std::vector<std::vector<Turn>> turns(kSessions);
    std::vector<std::vector<UsageRecord>> usage(kSessions);
    std::vector<TurnRef> processing;
    std::vector<SessionSummary> summaries;
    for (int s = 0; s < kSessions; ++s) {
      ASSERT_OK_AND_ASSIGN(Session session, store->GetSession(sessions_[s]));
      summaries.push_back(SummaryOf(session));
      ASSERT_OK_AND_ASSIGN(turns[s], store->ListTurns(sessions_[s]));
      ASSERT_OK_AND_ASSIGN(usage[s], store->ListUsage(sessions_[s]));
      // Usage records are numbered 1..n without gaps, n in the session.
      ASSERT_EQ(usage[s].size(), session.usage_records);
      for (size_t i = 0; i < usage[s].size(); ++i) {
        ASSERT_EQ(usage[s][i].seq, i + 1);
      }
      ASSERT_NO_FATAL_FAILURE(CheckSession(s, session, turns[s], &processing));
      ASSERT_NO_FATAL_FAILURE(CheckCheckpoints(*store, s, session, turns[s]));
    }
    // The session index rebuilt at open holds what the records say.
    ASSERT_OK_AND_ASSIGN(
        const SessionPage indexed,
        store->Search({.statuses = {SessionStatus::kActive,
                                    SessionStatus::kIdle,
                                    SessionStatus::kArchived},
                       .limit = 0}));
    EXPECT_EQ(indexed.sessions, summaries);
    // Interrupted turns are reported: exactly those still processing.
    EXPECT_EQ(report.processing_turns, processing);
    reported_processing_ += report.processing_turns.size();

    for (const Ack& ack : acks) {
      ASSERT_NO_FATAL_FAILURE(
          CheckAck(*store, ack, turns[ack.session], usage[ack.session]));
    }
    // Every total, of every scope and period, is the sum of the records:
    // the merges of a write landed with its records or not at all.
    EXPECT_EQ(Stored(*store), BruteForce(*store));
    ASSERT_OK_AND_ASSIGN(VerifyReport verify, store->Verify());
    EXPECT_TRUE(verify.clean()) << Describe(verify);
    EXPECT_GT(verify.records_checked, 0u);
    // Every acknowledged message id still counts once, whether it reached
    // usage_ids before the kill or open took it again from its record:
    // recorded again it is a duplicate, which writes nothing.
    for (const Ack& ack : acks) {
      if (ack.kind != 'U') continue;
      ASSERT_OK_AND_ASSIGN(
          RecordUsageResult again,
          store->RecordUsage(sessions_[ack.session], UsageSpecFor(ack.key)));
      EXPECT_TRUE(again.duplicate) << "message id " << ack.key;
      EXPECT_EQ(again.record.session, sessions_[ack.session]);
      EXPECT_EQ(again.record.seq, ack.number);
    }

    for (int s = 0; s < kSessions; ++s) {
      known_[s].clear();
      for (const Turn& t : turns[s]) {
        known_[s].push_back({t.idempotency_key, t.status});
      }
    }
  }

  // Made by the parent only: a child never lives to remove a directory.
  std::optional<TempDir> dir_;
  std::vector<SessionId> sessions_;  // In id order.
  // Per session, what the previous check saw, and every key seen.
  std::vector<std::vector<KnownTurn>> known_;
  std::vector<std::set<std::string>> keys_;
  std::vector<uint64_t> last_checkpoint_;  // Per session, newest version.
  std::vector<uint64_t> lease_token_;      // Per session, newest token.
  std::vector<uint64_t> lease_token_before_;  // The same, a check earlier.
  std::vector<std::set<uint64_t>> lease_tokens_;  // Every token acked.
  uint64_t run_once_checked_ = 0;
  uint64_t usage_checked_ = 0;
  uint64_t reported_processing_ = 0;
  uint64_t checkpoints_checked_ = 0;
};

TEST_F(CrashTest, AcknowledgedTurnsSurviveSigkill) {
  if (const char* spec = std::getenv(kChildEnv)) RunChild(spec);

  const uint64_t cycles = CyclesFromEnv();
  const uint64_t base_seed = BaseSeedFromEnv();
  std::cout << "[ crash    ] " << cycles
            << " cycles, AGENTLOG_CRASH_SEED=" << base_seed << std::endl;
  RecordProperty("seed", std::to_string(base_seed));
  ASSERT_NO_FATAL_FAILURE(CreateSessions());

  uint64_t total_acks = 0;
  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    const uint64_t seed = base_seed + cycle;
    SCOPED_TRACE(fmt::format("cycle {} seed {} (AGENTLOG_CRASH_SEED={})", cycle,
                             seed, base_seed));
    std::vector<Ack> acks;
    ASSERT_NO_FATAL_FAILURE(RunChildUntilKilled(cycle, seed, &acks));
    total_acks += acks.size();
    ASSERT_NO_FATAL_FAILURE(CheckReopenedStore(acks));
    if (HasFailure()) break;  // One broken cycle explains the rest.
  }
  uint64_t turns = 0;
  for (const auto& known : known_) turns += known.size();
  uint64_t versions = 0;
  for (uint64_t last : last_checkpoint_) versions += last;
  uint64_t leases = 0;
  for (uint64_t token : lease_token_) leases += token;
  std::cout << "[ crash    ] " << total_acks << " acks, " << turns << " turns, "
            << reported_processing_ << " processing turns reported, "
            << versions << " checkpoint versions put, " << checkpoints_checked_
            << " read back and verified, " << leases << " leases, "
            << run_once_checked_ << " run-once keys read back, "
            << usage_checked_ << " usage records read back" << std::endl;
  // Guard against a test that kills children before they do anything.
  if (cycles >= 10) {
    EXPECT_GT(total_acks, 0u);
    EXPECT_GT(turns, 0u);
    EXPECT_GT(versions, 0u);
    EXPECT_GT(leases, 0u);
    EXPECT_GT(run_once_checked_, 0u);
    EXPECT_GT(usage_checked_, 0u);
  }
}

}  // namespace
}  // namespace agentlog::testing
