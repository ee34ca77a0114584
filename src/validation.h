#ifndef AGENTLOG_SRC_VALIDATION_H_
#define AGENTLOG_SRC_VALIDATION_H_

// Checks of caller input against Options, run before anything is written.
// Every error is InvalidArgument naming the field, the size and the limit.

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/checkpoint.h"
#include "agentlog/options.h"
#include "agentlog/session.h"
#include "agentlog/status.h"
#include "agentlog/turn.h"
#include "agentlog/usage.h"

namespace agentlog::internal {

Status ValidateOptions(const Options& options);

bool IsValidUtf8(std::string_view text);

// `field` names the field in messages, e.g. "SessionSpec::title".
Status CheckText(std::string_view text, std::string_view field, size_t limit,
                 const char* option, bool required);

// Both return the tags with duplicates merged in `merged_tags` (left empty
// when the update sets no tags), so that callers validate them only once.
Status ValidateSessionSpec(const Options& options, const SessionSpec& spec,
                           std::vector<std::string>* merged_tags);
Status ValidateSessionUpdate(const Options& options,
                             const SessionUpdate& update,
                             std::vector<std::string>* merged_tags);
// Checks tags and returns them with duplicates merged (first kept).
Status ValidateTags(const Options& options, std::span<const std::string> tags,
                    std::string_view field, std::vector<std::string>* merged);
Status ValidateIdempotencyKey(const Options& options, std::string_view key);
// `field` is "input" or "output"; input must not be empty.
Status ValidateMessages(const Options& options, std::span<const Message> msgs,
                        std::string_view field, bool required);
Status ValidateUsage(const TurnUsage& usage);
Status ValidateError(const Options& options, std::string_view error);

// Usage: a call's token counts are at most kMaxTokensPerCall each (so that
// negative counts cast to uint64 are caught); a host's cost of one call at
// most kMaxCallCostMicros ($1.1 billion); budget limits at most
// kMaxCostMicros ($4.6 trillion). A priced call costs at most
// 4 x 2^40 x 10^6 (about 2^62): the cost of one call, summed over its
// records, is checked, and totals over calls saturate (usage_totals.h).
inline constexpr uint64_t kMaxTokensPerCall = uint64_t{1} << 40;
inline constexpr int64_t kMaxCallCostMicros = int64_t{1} << 50;
inline constexpr int64_t kMaxCostMicros = int64_t{1} << 62;
inline constexpr uint32_t kMaxBudgetPercent = 10'000;
Status ValidateTokens(const TokenCounts& tokens, std::string_view field);
Status ValidateUsageSpec(const Options& options, const UsageSpec& spec);
// Budgets apply to store (no name), session (an id's text), agent or tag.
Status ValidateBudgetScope(const Options& options, UsageScope scope,
                           std::string_view name);
Status ValidatePeriod(UsagePeriod period);
Status ValidateBudgetSpec(const Options& options, const BudgetSpec& spec);
Status ValidateCheckpointSpec(const Options& options,
                              const CheckpointSpec& spec);

// A lease's owner, TTL and wait.
Status ValidateLeaseOwner(const Options& options, std::string_view owner);
Status ValidateLeaseTtl(std::chrono::milliseconds ttl);
Status ValidateLeaseWait(std::chrono::milliseconds wait_timeout);

// A run-once key (bytes, not text) and its TTL.
Status ValidateRunOnceKey(const Options& options, std::string_view key);
Status ValidateRunOnceTtl(std::chrono::milliseconds ttl);

// Checkpoint versions a session may be told to keep.
inline constexpr uint32_t kMaxKeepLast = 1'000'000;
Status ValidateKeepLast(uint32_t keep_last);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_VALIDATION_H_
