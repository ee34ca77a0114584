// A small agent host: three agents hold conversations in parallel, each in
// its own session, through the agentlog API. One retries a turn with the
// same idempotency key (as a host does after a timeout), one model call
// fails, one answer repeats an earlier one (echo detection marks it). After
// each answer the host saves its agent's state as a checkpoint, in the same
// atomic write as the turn. Each call's tokens are recorded and priced from
// the store's price table; a daily budget on the `prod` tag raises an alert.
// `./run demo` runs this, then shows the store with `agentlog`.
//
//   demo_host STORE_DIR

#include <agentlog/agentlog.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using agentlog::Message;
using agentlog::Role;

struct Exchange {
  std::string user;
  std::string assistant;  // Empty: the model call fails.
  std::string tool;       // A tool the assistant calls first, if any.
};

struct Agent {
  std::string name;
  std::string model;
  std::string title;
  std::vector<std::string> tags;
  std::vector<Exchange> exchanges;
};

// Fails loudly: a demo that hides an error teaches the wrong thing.
template <typename T>
T Must(agentlog::Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "demo: %s: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

void Converse(agentlog::Store& store, const Agent& agent) {
  agentlog::SessionSpec spec;
  spec.agent = agent.name;
  spec.model = agent.model;
  spec.title = agent.title;
  spec.tags = agent.tags;
  spec.context_window = 200'000;
  const agentlog::Session session =
      Must(store.CreateSession(spec), "create session");
  // Held while this agent works: counts against max_active_sessions, keeps
  // the session from eviction, and lets Shutdown wait for the work.
  agentlog::SessionHandle handle =
      Must(store.AcquireSession(session.id), "acquire session");

  int n = 0;
  std::optional<uint64_t> last_state;  // Version of the latest checkpoint.
  for (const Exchange& ex : agent.exchanges) {
    const std::string key = agent.name + "-request-" + std::to_string(++n);
    const std::vector<Message> input = {{Role::kUser, ex.user, "", ""}};
    auto begun = Must(store.BeginTurn(session.id, key, input), "begin turn");

    if (n == 2) {
      // The host timed out waiting for the store and retries the request
      // with the same idempotency key: agentlog returns the same turn.
      auto retry = Must(store.BeginTurn(session.id, key, input), "retry turn");
      std::printf("[%s] retried request %s: replayed=%s, still turn %llu\n",
                  agent.name.c_str(), key.c_str(),
                  retry.replayed ? "yes" : "no",
                  static_cast<unsigned long long>(retry.turn.number));
    }

    if (ex.assistant.empty()) {
      Must(store.FailTurn(session.id, begun.turn.number,
                          "model call timed out after 30 s"),
           "fail turn");
      std::printf("[%s] turn %llu failed: model call timed out\n",
                  agent.name.c_str(),
                  static_cast<unsigned long long>(begun.turn.number));
      continue;
    }
    std::vector<Message> output;
    if (!ex.tool.empty()) {
      output.push_back(
          {Role::kAssistant, "", "call_" + std::to_string(n), ex.tool});
      output.push_back({Role::kTool, "{\"ok\": true}",
                        "call_" + std::to_string(n), ex.tool});
    }
    output.push_back({Role::kAssistant, ex.assistant, "", ""});
    // What the model call consumed; the store prices it (cost left 0).
    agentlog::TurnUsage usage;
    usage.tokens.input = 40 * ex.user.size() / 10 + 120;
    usage.tokens.output = 30 * ex.assistant.size() / 10;
    usage.tokens.cache_read = n > 1 ? 1500 : 0;
    if (!ex.tool.empty()) {
      // The tool's result was embedded for retrieval: a call of its own,
      // deduplicated by the provider's id, of a model with no price.
      agentlog::UsageSpec embed;
      embed.message_id = "emb-" + key;
      embed.model = "text-embed";
      embed.operation = "embed";
      embed.tokens.input = 64;
      embed.in_context = false;  // Not part of the conversation's context.
      Must(store.RecordUsage(session.id, embed), "record usage");
    }
    // The agent's state after this step: what a host would resume from.
    const std::string state = "{\"agent\":\"" + agent.name +
                              "\",\"step\":" + std::to_string(n) +
                              ",\"last_answer\":\"" + ex.assistant + "\"}";
    agentlog::CheckpointSpec checkpoint;
    checkpoint.payload = state;
    const std::string step = "step " + std::to_string(n);
    checkpoint.metadata = step;  // A view: `step` must outlive the call.
    checkpoint.parent = last_state;
    const auto done = Must(
        store.CompleteTurnWithCheckpoint(session.id, begun.turn.number, output,
                                         usage, checkpoint),
        "complete turn");
    last_state = done.checkpoint.version;
    std::printf("[%s] turn %llu completed, state saved as checkpoint %llu\n",
                agent.name.c_str(),
                static_cast<unsigned long long>(done.turn.number),
                static_cast<unsigned long long>(done.checkpoint.version));
  }
  std::printf("[%s] session %s: %zu turns logged\n", agent.name.c_str(),
              session.id.ToString().c_str(), agent.exchanges.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: demo_host STORE_DIR\n");
    return 2;
  }
  agentlog::Options options;
  options.durability = agentlog::Durability::kSync;
  options.detect_echoes = true;  // Mark responses that repeat recent ones.
  options.alert_listener = [](const agentlog::BudgetAlert& a) {
    std::printf("[alert] %s threshold of the %s budget of %s '%s' crossed: "
                "spent %lld of %lld micro-dollars\n",
                std::string(agentlog::BudgetThresholdName(a.threshold)).c_str(),
                std::string(agentlog::UsagePeriodName(a.period)).c_str(),
                std::string(agentlog::UsageScopeName(a.scope)).c_str(),
                a.name.c_str(), static_cast<long long>(a.spent_micros),
                static_cast<long long>(a.limit_micros));
  };
  auto store = Must(agentlog::Store::Open(options, argv[1]), "open store");
  // Prices in micro-dollars per million tokens: input, output, cache read,
  // cache write.
  for (const agentlog::ModelPrice& price : {
           agentlog::ModelPrice{"claude-sonnet", 3'000'000, 15'000'000,
                                300'000, 3'750'000},
           agentlog::ModelPrice{"claude-haiku", 800'000, 4'000'000, 80'000,
                                1'000'000},
           agentlog::ModelPrice{"gpt-large", 2'500'000, 10'000'000,
                                1'250'000, 0}}) {
    Must(store->SetPrice(price), "set price");
  }
  agentlog::BudgetSpec prod;
  prod.scope = agentlog::UsageScope::kTag;
  prod.name = "prod";
  prod.period = agentlog::UsagePeriod::kDay;
  prod.limit_micros = 3'000;  // $0.003 a day.
  Must(store->SetBudget(prod), "set budget");
  std::printf(
      "opened %s: %llu sessions, %zu interrupted turns, %lld us\n", argv[1],
      static_cast<unsigned long long>(store->recovery_report().sessions),
      store->recovery_report().processing_turns.size(),
      static_cast<long long>(store->recovery_report().duration.count()));

  const std::vector<Agent> agents = {
      {"travel-planner",
       "claude-sonnet",
       "Long weekend in Lisbon",
       {"demo", "travel"},
       {{"Plan three days in Lisbon in March, mid budget.",
         "Day 1: Alfama and the castle; day 2: Belem; day 3: Sintra by train.",
         ""},
        {"Which day is best for the Sintra trip?",
         "A weekday: Pena Palace queues are far shorter than at weekends.",
         "check_opening_hours"},
        {"Book a table for Saturday dinner.",
         "Booked: 20:00 at a tasca in Mouraria for two.", "book_restaurant"}}},
      {"code-reviewer",
       "gpt-large",
       "Review PR #42: retry logic",
       {"demo", "code"},
       {{"Review the retry loop in client.cc.",
         "The loop retries on every error, including InvalidArgument; retry "
         "only transient codes and add jitter to the backoff.",
         "read_file"},
        {"Is the backoff capped?",
         "No: it doubles without bound. Cap it at 30 s.", ""}}},
      {"support-bot",
       "claude-haiku",
       "Refund for order 1187",
       {"demo", "support", "prod"},
       {{"My order 1187 arrived broken, can I get a refund?",
         "I'm sorry! I've opened refund request R-5521 for order 1187.",
         "create_refund"},
        {"How long will the refund take?", "", ""},
        {"How long will the refund take? (asking again)",
         "Refunds reach your card in 3 to 5 business days.", ""},
        // The bot answers the same again: echo detection marks it.
        {"So when do I get my money back?",
         "Refunds reach your card in 3 to 5 business days.", ""}}},
  };

  std::vector<std::thread> threads;
  for (const Agent& agent : agents) {
    threads.emplace_back([&store, &agent] { Converse(*store, agent); });
  }
  for (std::thread& t : threads) t.join();

  // A deploy: stop taking work, wait for the agents, make it all durable.
  const agentlog::ShutdownReport bye =
      Must(store->Shutdown(std::chrono::seconds(10)), "shut down");
  const agentlog::SessionLifecycle life = store->Lifecycle();
  std::printf(
      "shutdown in %lld us: %llu sessions active at start, %llu at end; "
      "handles released: %llu completed, %llu failed\n",
      static_cast<long long>(bye.duration.count()),
      static_cast<unsigned long long>(bye.active_at_start),
      static_cast<unsigned long long>(bye.active_at_end),
      static_cast<unsigned long long>(life.completed),
      static_cast<unsigned long long>(life.failed));
  return 0;
}
