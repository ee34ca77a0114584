// Bad input gets its error code and a message naming the field, and leaves
// the store exactly as it was: same RocksDB sequence number (nothing was
// written) and the same bytes in every column family.

#include <gtest/gtest.h>

#include <functional>

#include "column_families.h"
#include "pricing.h"
#include "validation.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using internal::Cf;
using internal::StoreImpl;

struct BadCase {
  std::string name;
  std::function<Status(Store*, const Session&)> call;
  Code code;
  std::string message_names;  // A substring the message must contain.
};

class BadInputTest : public StoreTest {
 protected:
  // Every key and value of every column family, in order.
  std::vector<std::pair<std::string, std::string>> Contents() {
    auto* impl = static_cast<StoreImpl*>(store_.get());
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
      rocksdb::ColumnFamilyHandle* h = impl->handle(static_cast<Cf>(i));
      if (h == nullptr) continue;
      rocksdb::ReadOptions ro;
      ro.total_order_seek = true;
      std::unique_ptr<rocksdb::Iterator> it(impl->db()->NewIterator(ro, h));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        out.emplace_back(std::string(internal::CfName(static_cast<Cf>(i))) +
                             "/" + it->key().ToString(),
                         it->value().ToString());
      }
    }
    return out;
  }
  uint64_t Sequence() {
    return static_cast<StoreImpl*>(store_.get())
        ->db()
        ->GetLatestSequenceNumber();
  }
};

std::vector<Message> Msgs(Role role, std::string content) {
  return {Message{role, std::move(content), "", ""}};
}

Status St(const auto& r) { return r.status(); }

TEST_F(BadInputTest, EachBadInputIsRefusedWithItsCodeAndWritesNothing) {
  options_.max_metadata_bytes = 64;
  Reopen();
  // Fixtures: an active session with a completed, a failed and a processing
  // turn, and an archived session.
  Session s = MakeSession();
  ASSERT_OK(store_
                ->AppendTurn(s.id, "done", Msgs(Role::kUser, "q1"),
                             Msgs(Role::kAssistant, "a1"), {{1, 1, 0, 0}, 1})
                .status());
  ASSERT_OK(
      store_->BeginTurn(s.id, "failed", Msgs(Role::kUser, "q2")).status());
  ASSERT_OK(store_->FailTurn(s.id, 2, "boom").status());
  ASSERT_OK(store_->BeginTurn(s.id, "open", Msgs(Role::kUser, "q3")).status());
  Session archived = MakeSession();
  ASSERT_OK(store_->ArchiveSession(archived.id));
  Session empty = MakeSession();
  // Usage fixtures: a price at the limit, and a session whose budget is
  // spent.
  ASSERT_OK(store_
                ->SetPrice({.model = "costly",
                            .input = internal::kMaxPricePerMillion,
                            .output = internal::kMaxPricePerMillion,
                            .cache_read = internal::kMaxPricePerMillion,
                            .cache_write = internal::kMaxPricePerMillion})
                .status());
  ASSERT_OK(store_
                ->SetBudget({.scope = UsageScope::kSession,
                             .name = empty.id.ToString(),
                             .period = UsagePeriod::kLifetime,
                             .limit_micros = 1})
                .status());
  ASSERT_OK(store_->RecordUsage(empty.id, {.model = "m", .cost_micros = 1})
                .status());
  const uint64_t kTooMany = internal::kMaxTokensPerCall + 1;
  const TokenCounts max_tokens = {
      internal::kMaxTokensPerCall, internal::kMaxTokensPerCall,
      internal::kMaxTokensPerCall, internal::kMaxTokensPerCall};

  const SessionId unknown = SessionId::Generate(1);
  const std::string big_metadata(65, 'm');
  const std::string bad_utf8 = "\xff\xfe";
  const std::vector<Message> none;
  const std::vector<Message> too_many(options_.max_messages_per_turn + 1,
                                      Message{Role::kUser, "x", "", ""});
  const std::vector<Message> bad_role = {
      Message{static_cast<Role>(9), "x", "", ""}};
  const std::vector<Message> huge =
      Msgs(Role::kUser, std::string(options_.max_turn_content_bytes + 1, 'x'));
  const std::vector<std::string> empty_tag = {""};
  const std::vector<std::string> long_tag = {
      std::string(options_.max_tag_bytes + 1, 't')};

  const std::vector<BadCase> cases = {
      // Sessions: empty, oversized and invalid fields.
      {"empty agent",
       [](Store* st, const Session&) { return St(st->CreateSession({})); },
       Code::kInvalidArgument, "SessionSpec::agent"},
      {"agent too long",
       [&](Store* st, const Session&) {
         return St(st->CreateSession(
             {.agent = std::string(options_.max_name_bytes + 1, 'a')}));
       },
       Code::kInvalidArgument, "max_name_bytes"},
      {"model not UTF-8",
       [&](Store* st, const Session&) {
         return St(st->CreateSession({.agent = "a", .model = bad_utf8}));
       },
       Code::kInvalidArgument, "SessionSpec::model"},
      {"title too long",
       [&](Store* st, const Session&) {
         return St(st->CreateSession(
             {.agent = "a",
              .title = std::string(options_.max_title_bytes + 1, 't')}));
       },
       Code::kInvalidArgument, "max_title_bytes"},
      {"metadata too large",
       [&](Store* st, const Session&) {
         return St(st->CreateSession({.agent = "a", .metadata = big_metadata}));
       },
       Code::kInvalidArgument, "metadata is 65 bytes; limit is 64"},
      {"empty tag",
       [&](Store* st, const Session&) {
         return St(st->CreateSession({.agent = "a", .tags = empty_tag}));
       },
       Code::kInvalidArgument, "SessionSpec::tags[0]"},
      {"too many tags",
       [&](Store* st, const Session&) {
         std::vector<std::string> tags;
         for (size_t i = 0; i <= options_.max_tags; ++i) {
           tags.push_back("t" + std::to_string(i));
         }
         return St(st->CreateSession({.agent = "a", .tags = tags}));
       },
       Code::kInvalidArgument, "max_tags"},
      {"update metadata too large",
       [&](Store* st, const Session& s) {
         return St(st->UpdateSession(s.id, {.metadata = big_metadata}));
       },
       Code::kInvalidArgument, "SessionUpdate::metadata"},
      {"tag too long",
       [&](Store* st, const Session& s) {
         return St(st->TagSession(s.id, long_tag));
       },
       Code::kInvalidArgument, "max_tag_bytes"},
      {"untag empty",
       [&](Store* st, const Session& s) {
         return St(st->UntagSession(s.id, empty_tag));
       },
       Code::kInvalidArgument, "tags[0]"},
      // Unknown sessions.
      {"get unknown session",
       [&](Store* st, const Session&) { return St(st->GetSession(unknown)); },
       Code::kNotFound, unknown.ToString()},
      {"update unknown session",
       [&](Store* st, const Session&) {
         return St(st->UpdateSession(unknown, {.title = "x"}));
       },
       Code::kNotFound, unknown.ToString()},
      {"touch unknown session",
       [&](Store* st, const Session&) { return st->TouchSession(unknown); },
       Code::kNotFound, unknown.ToString()},
      {"delete unknown session",
       [&](Store* st, const Session&) { return st->DeleteSession(unknown); },
       Code::kNotFound, unknown.ToString()},
      {"begin on unknown session",
       [&](Store* st, const Session&) {
         return St(st->BeginTurn(unknown, "k", Msgs(Role::kUser, "x")));
       },
       Code::kNotFound, unknown.ToString()},
      {"archive unknown session",
       [&](Store* st, const Session&) { return st->ArchiveSession(unknown); },
       Code::kNotFound, unknown.ToString()},
      // Turns: empty, oversized and invalid fields.
      {"empty input",
       [&](Store* st, const Session& s) {
         return St(st->BeginTurn(s.id, "k", none));
       },
       Code::kInvalidArgument, "input has no messages"},
      {"too many messages",
       [&](Store* st, const Session& s) {
         return St(st->BeginTurn(s.id, "k", too_many));
       },
       Code::kInvalidArgument, "max_messages_per_turn"},
      {"content too large",
       [&](Store* st, const Session& s) {
         return St(st->BeginTurn(s.id, "k", huge));
       },
       Code::kInvalidArgument, "max_turn_content_bytes"},
      {"content not UTF-8",
       [&](Store* st, const Session& s) {
         return St(st->BeginTurn(s.id, "k", Msgs(Role::kUser, bad_utf8)));
       },
       Code::kInvalidArgument, "input[0].content"},
      {"unknown role",
       [&](Store* st, const Session& s) {
         return St(st->BeginTurn(s.id, "k", bad_role));
       },
       Code::kInvalidArgument, "input[0].role"},
      {"idempotency key too long",
       [&](Store* st, const Session& s) {
         return St(st->BeginTurn(
             s.id, std::string(options_.max_idempotency_key_bytes + 1, 'k'),
             Msgs(Role::kUser, "x")));
       },
       Code::kInvalidArgument, "max_idempotency_key_bytes"},
      {"output not UTF-8",
       [&](Store* st, const Session& s) {
         return St(st->CompleteTurn(s.id, 3, Msgs(Role::kAssistant, bad_utf8)));
       },
       Code::kInvalidArgument, "output[0].content"},
      {"negative cost",
       [&](Store* st, const Session& s) {
         return St(
             st->CompleteTurn(s.id, 3, Msgs(Role::kAssistant, "a"), {{}, -1}));
       },
       Code::kInvalidArgument, "cost_micros"},
      {"token total overflow",
       [&](Store* st, const Session& s) {
         return St(st->CompleteTurn(s.id, 3, Msgs(Role::kAssistant, "a"),
                                    {{~0ULL, 0, 0, 0}, 0}));
       },
       Code::kInvalidArgument, "tokens.input"},
      {"empty error text",
       [&](Store* st, const Session& s) {
         return St(st->FailTurn(s.id, 3, ""));
       },
       Code::kInvalidArgument, "error is empty"},
      {"error text too long",
       [&](Store* st, const Session& s) {
         return St(st->FailTurn(
             s.id, 3, std::string(options_.max_error_bytes + 1, 'e')));
       },
       Code::kInvalidArgument, "max_error_bytes"},
      {"empty key lookup",
       [&](Store* st, const Session& s) {
         return St(st->GetTurnByKey(s.id, ""));
       },
       Code::kInvalidArgument, "idempotency_key"},
      // Invalid state transitions.
      {"complete a completed turn",
       [&](Store* st, const Session& s) {
         return St(st->CompleteTurn(s.id, 1, Msgs(Role::kAssistant, "a")));
       },
       Code::kFailedPrecondition, "turn 1 of session"},
      {"fail a completed turn",
       [&](Store* st, const Session& s) {
         return St(st->FailTurn(s.id, 1, "x"));
       },
       Code::kFailedPrecondition, "is completed"},
      {"complete a failed turn",
       [&](Store* st, const Session& s) {
         return St(st->CompleteTurn(s.id, 2, Msgs(Role::kAssistant, "a")));
       },
       Code::kFailedPrecondition, "is failed"},
      {"complete a turn that does not exist",
       [&](Store* st, const Session& s) {
         return St(st->CompleteTurn(s.id, 99, Msgs(Role::kAssistant, "a")));
       },
       Code::kNotFound, "turn 99"},
      {"pop from an empty session",
       [&](Store* st, const Session&) { return St(st->PopTurn(empty.id)); },
       Code::kNotFound, "no turns"},
      {"unarchive an active session",
       [&](Store* st, const Session& s) { return st->UnarchiveSession(s.id); },
       Code::kFailedPrecondition, "not archived"},
      {"key reused with another input",
       [&](Store* st, const Session& s) {
         return St(st->BeginTurn(s.id, "done", Msgs(Role::kUser, "different")));
       },
       Code::kConflict, "idempotency_key 'done'"},
      // Writes to an archived session.
      {"begin on archived",
       [&](Store* st, const Session&) {
         return St(st->BeginTurn(archived.id, "k", Msgs(Role::kUser, "x")));
       },
       Code::kFailedPrecondition, "archived"},
      {"append on archived",
       [&](Store* st, const Session&) {
         return St(st->AppendTurn(archived.id, "k", Msgs(Role::kUser, "x"),
                                  Msgs(Role::kAssistant, "y")));
       },
       Code::kFailedPrecondition, "archived"},
      {"update archived",
       [&](Store* st, const Session&) {
         return St(st->UpdateSession(archived.id, {.title = "x"}));
       },
       Code::kFailedPrecondition, "archived"},
      {"tag archived",
       [&](Store* st, const Session&) {
         const std::vector<std::string> t = {"x"};
         return St(st->TagSession(archived.id, t));
       },
       Code::kFailedPrecondition, "archived"},
      {"clear archived",
       [&](Store* st, const Session&) { return st->ClearTurns(archived.id); },
       Code::kFailedPrecondition, "archived"},
      {"archive archived",
       [&](Store* st, const Session&) {
         return st->ArchiveSession(archived.id);
       },
       Code::kFailedPrecondition, "already archived"},
      // Usage, prices and budgets.
      {"negative token count",
       [&](Store* st, const Session& s) {
         return St(st->RecordUsage(
             s.id, {.tokens = {static_cast<uint64_t>(-1), 0, 0, 0}}));
       },
       Code::kInvalidArgument, "UsageSpec::tokens.input"},
      {"token count over the limit",
       [&](Store* st, const Session& s) {
         return St(st->RecordUsage(s.id, {.tokens = {0, kTooMany, 0, 0}}));
       },
       Code::kInvalidArgument, "UsageSpec::tokens.output"},
      {"negative host cost",
       [&](Store* st, const Session& s) {
         return St(st->RecordUsage(s.id, {.cost_micros = -5}));
       },
       Code::kInvalidArgument, "UsageSpec::cost_micros"},
      {"host cost over the limit",
       [&](Store* st, const Session& s) {
         return St(st->RecordUsage(
             s.id, {.cost_micros = internal::kMaxCallCostMicros + 1}));
       },
       Code::kInvalidArgument, "UsageSpec::cost_micros"},
      {"message id too long",
       [&](Store* st, const Session& s) {
         return St(st->RecordUsage(
             s.id, {.message_id = std::string(
                        options_.max_idempotency_key_bytes + 1, 'm')}));
       },
       Code::kInvalidArgument, "UsageSpec::message_id"},
      {"operation not UTF-8",
       [&](Store* st, const Session& s) {
         return St(st->RecordUsage(s.id, {.operation = bad_utf8}));
       },
       Code::kInvalidArgument, "UsageSpec::operation"},
      {"cost of one call overflows int64",
       [&](Store* st, const Session& s) {
         // Each costs 4 x 2^40 x 10^12 / 10^6, about 4.4e18: three pass
         // INT64_MAX.
         const std::vector<UsageSpec> calls(
             3, UsageSpec{.model = "costly", .tokens = max_tokens});
         return St(st->CompleteTurnWithUsage(s.id, 3, Msgs(Role::kAssistant, "a"),
                                             calls));
       },
       Code::kInvalidArgument, "overflow int64"},
      {"usage of an unknown session",
       [&](Store* st, const Session&) {
         return St(st->RecordUsage(unknown, {.model = "m"}));
       },
       Code::kNotFound, "not found"},
      {"usage of an archived session",
       [&](Store* st, const Session&) {
         return St(st->RecordUsage(archived.id, {.model = "m"}));
       },
       Code::kFailedPrecondition, "archived"},
      {"usage past a spent budget",
       [&](Store* st, const Session&) {
         return St(st->RecordUsage(empty.id, {.model = "m", .cost_micros = 1}));
       },
       Code::kBudgetExceeded, "hard threshold"},
      {"turn past a spent budget",
       [&](Store* st, const Session&) {
         return St(st->BeginTurn(empty.id, "", Msgs(Role::kUser, "q")));
       },
       Code::kBudgetExceeded, "hard threshold"},
      {"price over the limit",
       [&](Store* st, const Session&) {
         return St(st->SetPrice(
             {.model = "p", .input = internal::kMaxPricePerMillion + 1}));
       },
       Code::kInvalidArgument, "ModelPrice::input"},
      {"negative price",
       [&](Store* st, const Session&) {
         return St(st->SetPrice({.model = "p", .cache_write = -1}));
       },
       Code::kInvalidArgument, "ModelPrice::cache_write"},
      {"price without a model",
       [&](Store* st, const Session&) { return St(st->SetPrice({})); },
       Code::kInvalidArgument, "ModelPrice::model"},
      {"budget thresholds out of order",
       [&](Store* st, const Session&) {
         return St(st->SetBudget({.limit_micros = 10,
                                  .soft_percent = 90,
                                  .hard_percent = 90}));
       },
       Code::kInvalidArgument, "thresholds"},
      {"budget of an unknown scope",
       [&](Store* st, const Session&) {
         return St(st->SetBudget(
             {.scope = static_cast<UsageScope>(42), .limit_micros = 10}));
       },
       Code::kInvalidArgument, "budget scope"},
      {"budget of a model",
       [&](Store* st, const Session&) {
         return St(st->SetBudget(
             {.scope = UsageScope::kModel, .name = "m", .limit_micros = 10}));
       },
       Code::kInvalidArgument, "store, session, agent or tag"},
      {"budget limit over int64 range",
       [&](Store* st, const Session&) {
         return St(st->SetBudget({.limit_micros = internal::kMaxCostMicros + 1}));
       },
       Code::kInvalidArgument, "BudgetSpec::limit_micros"},
      {"lift a budget that is not blocked",
       [&](Store* st, const Session&) {
         return St(st->LiftBudgetBlock(UsageScope::kSession, empty.id.ToString(),
                                       UsagePeriod::kLifetime));
       },
       Code::kFailedPrecondition, "not blocked"},
      {"remove a budget that does not exist",
       [&](Store* st, const Session&) {
         return st->RemoveBudget(UsageScope::kAgent, "nobody",
                                 UsagePeriod::kDay);
       },
       Code::kNotFound, "agent 'nobody'"},
      {"totals of an unknown scope",
       [&](Store* st, const Session&) {
         return St(st->GetUsageTotals(static_cast<UsageScope>(7), ""));
       },
       Code::kInvalidArgument, "usage scope"},
      {"totals of a day before 1970",
       [&](Store* st, const Session&) {
         return St(st->GetUsageTotals(UsageScope::kStore, "", UsagePeriod::kDay,
                                      -1));
       },
       Code::kInvalidArgument, "at_ms is -1"},
      {"totals of a day past 9999",
       [&](Store* st, const Session&) {
         return St(st->GetUsageTotals(UsageScope::kStore, "", UsagePeriod::kDay,
                                      int64_t{1} << 62));
       },
       Code::kInvalidArgument, "at_ms is"},
  };

  // At rest: closing writes the setup's usage totals, which the store
  // buffers (usage_buffer.h), so that reopening below changes nothing.
  Reopen();
  const auto before = Contents();
  const uint64_t sequence = Sequence();
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Status status = c.call(store_.get(), s);
    EXPECT_EQ(status.code(), c.code) << status.ToString();
    EXPECT_NE(status.message().find(c.message_names), std::string::npos)
        << "message: " << status.message()
        << "\nshould name: " << c.message_names;
    EXPECT_EQ(Sequence(), sequence) << "something was written";
  }
  EXPECT_EQ(Contents(), before);
  // And after reopening, byte for byte.
  Reopen();
  EXPECT_EQ(Contents(), before);
}

TEST(BadIdTest, InvalidIdTextIsInvalidArgumentNamingIt) {
  for (std::string_view text :
       {"", "not-an-id", "0123456789ABCDEFGHJKMNPQR!"}) {
    auto id = SessionId::Parse(text);
    ASSERT_FALSE(id.ok());
    EXPECT_TRUE(id.status().IsInvalidArgument());
    EXPECT_NE(id.status().message().find("session id"), std::string::npos);
  }
}

}  // namespace
}  // namespace agentlog::testing
