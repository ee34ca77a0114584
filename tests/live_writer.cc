// A service stand-in for cli_test: holds a store open and appends turns to
// one session until killed. Prints the session id, then each acknowledged
// turn number, one per line, flushed.
//
//   live_writer STORE_DIR

#include <cstdio>
#include <string>

#include "agentlog/agentlog.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  agentlog::Options options;
  options.durability = agentlog::Durability::kBuffered;
  auto store = agentlog::Store::Open(options, argv[1]);
  if (!store.ok()) return 1;
  auto session = (*store)->CreateSession({.agent = "writer", .title = "live"});
  if (!session.ok()) return 1;
  std::printf("%s\n", session->id.ToString().c_str());
  std::fflush(stdout);
  const std::vector<agentlog::Message> output = {
      {agentlog::Role::kAssistant, std::string(2000, 'a'), "", ""}};
  for (uint64_t n = 1;; ++n) {
    const std::vector<agentlog::Message> input = {
        {agentlog::Role::kUser, "question " + std::to_string(n), "", ""}};
    auto t = (*store)->AppendTurn(session->id, "k" + std::to_string(n), input,
                                  output);
    if (!t.ok()) return 1;
    std::printf("%llu\n", static_cast<unsigned long long>(n));
    std::fflush(stdout);
  }
}
