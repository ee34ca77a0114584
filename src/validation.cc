#include "validation.h"

#include <fmt/format.h>

#include "status_macros.h"

#include <cstring>
#include <limits>

namespace agentlog::internal {
namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;
constexpr size_t kGiB = 1024 * kMiB;
constexpr size_t kTiB = 1024 * kGiB;
constexpr int64_t kHundredYearsSeconds = int64_t{100} * 366 * 24 * 3600;

template <typename T>
Status CheckRange(T value, T min, T max, const char* field) {
  if (value < min || value > max) {
    return Status::InvalidArgument(
        fmt::format("Options::{} is {}; allowed range is {} to {}", field,
                    value, min, max));
  }
  return Status::OK();
}

// The memory budget's fields; comparisons are written so that NaN fails.
Status ValidateMemoryOptions(const Options& o) {
  if (o.memory_budget_bytes != 0 &&
      (o.memory_budget_bytes < 16 * kMiB || o.memory_budget_bytes > kTiB)) {
    return Status::InvalidArgument(fmt::format(
        "Options::memory_budget_bytes is {}; allowed are 0 (no budget) or {} "
        "to {}",
        o.memory_budget_bytes, 16 * kMiB, kTiB));
  }
  if (!(o.memory_warning_fraction > 0 && o.memory_warning_fraction < 1)) {
    return Status::InvalidArgument(fmt::format(
        "Options::memory_warning_fraction is {}; allowed range is over 0 to "
        "under 1",
        o.memory_warning_fraction));
  }
  if (!(o.memory_emergency_fraction > o.memory_warning_fraction &&
        o.memory_emergency_fraction <= 1)) {
    return Status::InvalidArgument(fmt::format(
        "Options::memory_emergency_fraction is {}; allowed range is over "
        "memory_warning_fraction ({}) to 1",
        o.memory_emergency_fraction, o.memory_warning_fraction));
  }
  return CheckRange<int64_t>(o.memory_check_interval.count(), 10, 3'600'000,
                             "memory_check_interval (ms)");
}

Status CheckAges(const Options::AgeLimits& ages, std::string_view name) {
  const std::pair<std::chrono::seconds, std::string_view> each[] = {
      {ages.active, "active"}, {ages.idle, "idle"}, {ages.archived, "archived"}};
  for (const auto& [age, status] : each) {
    AGENTLOG_RETURN_IF_ERROR(
        CheckRange<int64_t>(age.count(), 0, kHundredYearsSeconds,
                            fmt::format("{}.{} (s)", name, status).c_str()));
  }
  return Status::OK();
}

}  // namespace

Status ValidateOptions(const Options& o) {
  const Status checks[] = {
      CheckRange<int64_t>(o.sync_interval.count(), 1, 60'000,
                          "sync_interval (ms)"),
      CheckRange<size_t>(o.max_metadata_bytes, 0, 16 * kMiB,
                         "max_metadata_bytes"),
      CheckRange<size_t>(o.max_title_bytes, 1, 64 * kKiB, "max_title_bytes"),
      CheckRange<size_t>(o.max_name_bytes, 1, 4 * kKiB, "max_name_bytes"),
      CheckRange<size_t>(o.max_tags, 0, 1024, "max_tags"),
      CheckRange<size_t>(o.max_tag_bytes, 1, kKiB, "max_tag_bytes"),
      CheckRange<size_t>(o.max_idempotency_key_bytes, 1, 4 * kKiB,
                         "max_idempotency_key_bytes"),
      CheckRange<size_t>(o.max_messages_per_turn, 1, 65536,
                         "max_messages_per_turn"),
      CheckRange<size_t>(o.max_turn_content_bytes, 1, 256 * kMiB,
                         "max_turn_content_bytes"),
      CheckRange<size_t>(o.max_error_bytes, 1, kMiB, "max_error_bytes"),
      CheckRange<size_t>(o.block_cache_bytes, kMiB, kTiB, "block_cache_bytes"),
      CheckRange<size_t>(o.write_buffer_bytes, kMiB, 4 * kGiB,
                         "write_buffer_bytes"),
      CheckRange<int>(o.background_jobs, 1, 64, "background_jobs"),
      CheckRange<size_t>(o.max_active_sessions, 1, 1'000'000,
                         "max_active_sessions"),
      CheckRange<uint64_t>(o.max_sessions, 0, uint64_t{1} << 32,
                           "max_sessions"),
      CheckAges(o.evict_inactive_after, "evict_inactive_after"),
      CheckAges(o.turn_max_age, "turn_max_age"),
      CheckAges(o.usage_max_age, "usage_max_age"),
      CheckAges(o.checkpoint_max_age, "checkpoint_max_age"),
      CheckRange<int64_t>(o.retention_check_interval.count(), 1, 86'400,
                          "retention_check_interval (s)"),
      CheckRange<size_t>(o.max_checkpoint_bytes, 1, kGiB,
                         "max_checkpoint_bytes"),
      CheckRange<size_t>(o.max_lease_owner_bytes, 1, 4 * kKiB,
                         "max_lease_owner_bytes"),
      CheckRange<size_t>(o.max_run_once_result_bytes, 0, 16 * kMiB,
                         "max_run_once_result_bytes"),
      CheckRange<size_t>(o.echo_window, 1, 1000, "echo_window"),
      CheckRange<size_t>(o.echo_min_chars, 0, kMiB, "echo_min_chars"),
      CheckRange<uint32_t>(o.checkpoint_keep_last, 1, kMaxKeepLast,
                           "checkpoint_keep_last"),
      CheckRange<int64_t>(o.retention_compaction_period.count(), 60,
                          365 * 24 * 3600, "retention_compaction_period (s)"),
      CheckRange<uint32_t>(o.context_warning_percent, 1, 100,
                           "context_warning_percent"),
      CheckRange<int64_t>(o.max_rate_window.count(), 1000, 86'400'000,
                          "max_rate_window (ms)"),
  };
  for (const Status& s : checks) {
    if (!s.ok()) return s;
  }
  if (o.max_bytes != 0 &&
      (o.max_bytes < kMiB || o.max_bytes > uint64_t{1} << 50)) {
    return Status::InvalidArgument(fmt::format(
        "Options::max_bytes is {}; allowed is 0 (no limit) or {} to {}",
        o.max_bytes, kMiB, uint64_t{1} << 50));
  }
  AGENTLOG_RETURN_IF_ERROR(ValidateMemoryOptions(o));
  // Written so that NaN fails too.
  if (!(o.echo_near_threshold > 0 && o.echo_near_threshold <= 1)) {
    return Status::InvalidArgument(fmt::format(
        "Options::echo_near_threshold is {}; allowed range is over 0 to 1",
        o.echo_near_threshold));
  }
  switch (o.durability) {
    case Durability::kSync:
    case Durability::kBuffered:
    case Durability::kNone:
      return Status::OK();
  }
  return Status::InvalidArgument(
      fmt::format("Options::durability is {}; allowed values are kSync, "
                  "kBuffered and kNone",
                  static_cast<int>(o.durability)));
}

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    // Most text is ASCII: skip it eight bytes at a time.
    uint64_t word;
    while (end - p >= 8 &&
           (std::memcpy(&word, p, 8), (word & 0x8080808080808080ULL) == 0)) {
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

Status CheckText(std::string_view text, std::string_view field, size_t limit,
                 const char* option, bool required) {
  if (required && text.empty()) {
    return Status::InvalidArgument(
        fmt::format("{} is empty; it is required", field));
  }
  if (text.size() > limit) {
    return Status::InvalidArgument(
        fmt::format("{} is {} bytes; limit is {} (Options::{})", field,
                    text.size(), limit, option));
  }
  if (!IsValidUtf8(text)) {
    return Status::InvalidArgument(fmt::format("{} is not valid UTF-8", field));
  }
  return Status::OK();
}

Status ValidateTags(const Options& o, std::span<const std::string> tags,
                    std::string_view field, std::vector<std::string>* merged) {
  merged->clear();
  for (size_t i = 0; i < tags.size(); ++i) {
    const Status s = CheckText(tags[i], fmt::format("{}[{}]", field, i),
                               o.max_tag_bytes, "max_tag_bytes", true);
    if (!s.ok()) return s;
    bool seen = false;
    for (const std::string& t : *merged) seen = seen || t == tags[i];
    if (!seen) merged->push_back(tags[i]);
  }
  if (merged->size() > o.max_tags) {
    return Status::InvalidArgument(
        fmt::format("{} has {} distinct tags; limit is {} (Options::max_tags)",
                    field, merged->size(), o.max_tags));
  }
  return Status::OK();
}

static Status CheckMetadata(const Options& o, std::string_view metadata,
                            std::string_view field) {
  if (metadata.size() > o.max_metadata_bytes) {
    return Status::InvalidArgument(
        fmt::format("{} is {} bytes; limit is {} (Options::max_metadata_bytes)",
                    field, metadata.size(), o.max_metadata_bytes));
  }
  return Status::OK();
}

Status ValidateSessionSpec(const Options& o, const SessionSpec& spec,
                           std::vector<std::string>* merged_tags) {
  const Status checks[] = {
      CheckText(spec.agent, "SessionSpec::agent", o.max_name_bytes,
                "max_name_bytes", true),
      CheckText(spec.model, "SessionSpec::model", o.max_name_bytes,
                "max_name_bytes", false),
      CheckText(spec.title, "SessionSpec::title", o.max_title_bytes,
                "max_title_bytes", false),
      ValidateTags(o, spec.tags, "SessionSpec::tags", merged_tags),
      CheckMetadata(o, spec.metadata, "SessionSpec::metadata"),
  };
  for (const Status& s : checks) {
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status ValidateSessionUpdate(const Options& o, const SessionUpdate& u,
                             std::vector<std::string>* merged_tags) {
  merged_tags->clear();
  if (u.title) {
    Status s = CheckText(*u.title, "SessionUpdate::title", o.max_title_bytes,
                         "max_title_bytes", false);
    if (!s.ok()) return s;
  }
  if (u.tags) {
    Status s = ValidateTags(o, *u.tags, "SessionUpdate::tags", merged_tags);
    if (!s.ok()) return s;
  }
  if (u.metadata) {
    Status s = CheckMetadata(o, *u.metadata, "SessionUpdate::metadata");
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status ValidateIdempotencyKey(const Options& o, std::string_view key) {
  if (key.size() > o.max_idempotency_key_bytes) {
    return Status::InvalidArgument(
        fmt::format("idempotency_key is {} bytes; limit is {} "
                    "(Options::max_idempotency_key_bytes)",
                    key.size(), o.max_idempotency_key_bytes));
  }
  return Status::OK();
}

Status ValidateMessages(const Options& o, std::span<const Message> msgs,
                        std::string_view field, bool required) {
  if (required && msgs.empty()) {
    return Status::InvalidArgument(
        fmt::format("{} has no messages; at least one is required", field));
  }
  if (msgs.size() > o.max_messages_per_turn) {
    return Status::InvalidArgument(fmt::format(
        "{} has {} messages; limit is {} (Options::max_messages_per_turn)",
        field, msgs.size(), o.max_messages_per_turn));
  }
  size_t total = 0;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const Message& m = msgs[i];
    if (static_cast<uint8_t>(m.role) > static_cast<uint8_t>(Role::kTool)) {
      return Status::InvalidArgument(
          fmt::format("{}[{}].role is {}; allowed values are kSystem, kUser, "
                      "kAssistant and kTool",
                      field, i, static_cast<int>(m.role)));
    }
    const std::string_view names[] = {"content", "tool_call_id", "tool_name"};
    const std::string* values[] = {&m.content, &m.tool_call_id, &m.tool_name};
    for (int f = 0; f < 3; ++f) {
      if (!IsValidUtf8(*values[f])) {
        return Status::InvalidArgument(
            fmt::format("{}[{}].{} is not valid UTF-8", field, i, names[f]));
      }
      total += values[f]->size();
    }
  }
  if (total > o.max_turn_content_bytes) {
    return Status::InvalidArgument(fmt::format(
        "{} is {} bytes; limit is {} (Options::max_turn_content_bytes)", field,
        total, o.max_turn_content_bytes));
  }
  return Status::OK();
}

Status ValidateUsage(const TurnUsage& usage) {
  AGENTLOG_RETURN_IF_ERROR(ValidateTokens(usage.tokens, "TurnUsage::tokens"));
  if (usage.cost_micros < 0 || usage.cost_micros > kMaxCallCostMicros) {
    return Status::InvalidArgument(fmt::format(
        "TurnUsage::cost_micros is {}; allowed range is 0 to {}",
        usage.cost_micros, kMaxCallCostMicros));
  }
  return Status::OK();
}

Status ValidateTokens(const TokenCounts& tokens, std::string_view field) {
  const std::pair<uint64_t, const char*> counts[] = {
      {tokens.input, "input"},
      {tokens.output, "output"},
      {tokens.cache_read, "cache_read"},
      {tokens.cache_write, "cache_write"}};
  for (const auto& [count, name] : counts) {
    if (count > kMaxTokensPerCall) {
      // A negative count cast to uint64 lands here too.
      return Status::InvalidArgument(fmt::format(
          "{}.{} is {}; limit is {} per call (negative counts wrap to "
          "huge ones)",
          field, name, count, kMaxTokensPerCall));
    }
  }
  return Status::OK();
}

Status ValidateUsageSpec(const Options& o, const UsageSpec& spec) {
  if (spec.message_id.size() > o.max_idempotency_key_bytes) {
    return Status::InvalidArgument(fmt::format(
        "UsageSpec::message_id is {} bytes; limit is {} "
        "(Options::max_idempotency_key_bytes)",
        spec.message_id.size(), o.max_idempotency_key_bytes));
  }
  AGENTLOG_RETURN_IF_ERROR(CheckText(spec.model, "UsageSpec::model",
                                     o.max_name_bytes, "max_name_bytes",
                                     false));
  AGENTLOG_RETURN_IF_ERROR(CheckText(spec.operation, "UsageSpec::operation",
                                     o.max_name_bytes, "max_name_bytes",
                                     false));
  AGENTLOG_RETURN_IF_ERROR(ValidateTokens(spec.tokens, "UsageSpec::tokens"));
  if (spec.cost_micros &&
      (*spec.cost_micros < 0 || *spec.cost_micros > kMaxCallCostMicros)) {
    return Status::InvalidArgument(fmt::format(
        "UsageSpec::cost_micros is {}; allowed range is 0 to {}",
        *spec.cost_micros, kMaxCallCostMicros));
  }
  return Status::OK();
}

Status ValidateBudgetScope(const Options& o, UsageScope scope,
                           std::string_view name) {
  switch (scope) {
    case UsageScope::kStore:
      if (!name.empty()) {
        return Status::InvalidArgument(fmt::format(
            "budget name is '{}'; the store scope takes no name", name));
      }
      return Status::OK();
    case UsageScope::kSession:
      if (!SessionId::Parse(name).ok()) {
        return Status::InvalidArgument(fmt::format(
            "budget name '{}' is not a session id (26 characters of "
            "Crockford base32)",
            name));
      }
      return Status::OK();
    case UsageScope::kAgent:
      return CheckText(name, "budget name (agent)", o.max_name_bytes,
                       "max_name_bytes", true);
    case UsageScope::kTag:
      return CheckText(name, "budget name (tag)", o.max_tag_bytes,
                       "max_tag_bytes", true);
    case UsageScope::kModel:
    case UsageScope::kOperation:
      break;
  }
  return Status::InvalidArgument(fmt::format(
      "budget scope is {} ({}); budgets apply to store, session, agent or tag",
      static_cast<int>(scope), UsageScopeName(scope)));
}

Status ValidatePeriod(UsagePeriod period) {
  switch (period) {
    case UsagePeriod::kLifetime:
    case UsagePeriod::kDay:
    case UsagePeriod::kMonth:
      return Status::OK();
  }
  return Status::InvalidArgument(fmt::format(
      "period is {}; it must be lifetime, day or month",
      static_cast<int>(period)));
}

Status ValidateBudgetSpec(const Options& o, const BudgetSpec& spec) {
  AGENTLOG_RETURN_IF_ERROR(ValidateBudgetScope(o, spec.scope, spec.name));
  AGENTLOG_RETURN_IF_ERROR(ValidatePeriod(spec.period));
  if (spec.limit_micros < 1 || spec.limit_micros > kMaxCostMicros) {
    return Status::InvalidArgument(fmt::format(
        "BudgetSpec::limit_micros is {}; allowed range is 1 to {}",
        spec.limit_micros, kMaxCostMicros));
  }
  if (!(spec.soft_percent >= 1 && spec.soft_percent < spec.hard_percent &&
        spec.hard_percent < spec.emergency_percent &&
        spec.emergency_percent <= kMaxBudgetPercent)) {
    return Status::InvalidArgument(fmt::format(
        "BudgetSpec thresholds are soft {} %, hard {} %, emergency {} %; they "
        "must rise strictly, from 1 to {}",
        spec.soft_percent, spec.hard_percent, spec.emergency_percent,
        kMaxBudgetPercent));
  }
  return Status::OK();
}

Status ValidateError(const Options& o, std::string_view error) {
  return CheckText(error, "error", o.max_error_bytes, "max_error_bytes", true);
}

Status ValidateCheckpointSpec(const Options& o, const CheckpointSpec& spec) {
  if (spec.payload.size() > o.max_checkpoint_bytes) {
    return Status::InvalidArgument(fmt::format(
        "CheckpointSpec::payload is {} bytes; limit is {} "
        "(Options::max_checkpoint_bytes)",
        spec.payload.size(), o.max_checkpoint_bytes));
  }
  if (spec.parent && *spec.parent == 0) {
    return Status::InvalidArgument(
        "CheckpointSpec::parent is 0; versions start at 1 (leave it empty for "
        "no parent)");
  }
  return CheckMetadata(o, spec.metadata, "CheckpointSpec::metadata");
}

Status ValidateLeaseOwner(const Options& o, std::string_view owner) {
  return CheckText(owner, "owner", o.max_lease_owner_bytes,
                   "max_lease_owner_bytes", true);
}

namespace {
constexpr int64_t kDayMs = 24 * 3600 * 1000;
}  // namespace

Status ValidateLeaseTtl(std::chrono::milliseconds ttl) {
  if (ttl.count() < 1 || ttl.count() > kDayMs) {
    return Status::InvalidArgument(fmt::format(
        "ttl is {} ms; allowed range is 1 ms to 1 day", ttl.count()));
  }
  return Status::OK();
}

Status ValidateLeaseWait(std::chrono::milliseconds wait_timeout) {
  if (wait_timeout.count() < 0 || wait_timeout.count() > kDayMs) {
    return Status::InvalidArgument(fmt::format(
        "wait_timeout is {} ms; allowed range is 0 to 1 day",
        wait_timeout.count()));
  }
  return Status::OK();
}

Status ValidateRunOnceKey(const Options& o, std::string_view key) {
  if (key.empty()) {
    return Status::InvalidArgument("run-once key is empty; it is required");
  }
  if (key.size() > o.max_idempotency_key_bytes) {
    return Status::InvalidArgument(fmt::format(
        "run-once key is {} bytes; limit is {} "
        "(Options::max_idempotency_key_bytes)",
        key.size(), o.max_idempotency_key_bytes));
  }
  return Status::OK();
}

Status ValidateRunOnceTtl(std::chrono::milliseconds ttl) {
  if (ttl.count() < 1 || ttl.count() > 365 * kDayMs) {
    return Status::InvalidArgument(fmt::format(
        "ttl is {} ms; allowed range is 1 ms to 365 days", ttl.count()));
  }
  return Status::OK();
}

Status ValidateKeepLast(uint32_t keep_last) {
  if (keep_last > kMaxKeepLast) {
    return Status::InvalidArgument(
        fmt::format("keep_last is {}; allowed range is 1 to {} (0: the store "
                    "default)",
                    keep_last, kMaxKeepLast));
  }
  return Status::OK();
}

}  // namespace agentlog::internal
