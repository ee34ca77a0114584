// Text names of the public enums, as printed by the agentlog command and in
// JSON exports.

#include "agentlog/checkpoint.h"
#include "agentlog/echo.h"
#include "agentlog/session.h"
#include "agentlog/turn.h"
#include "agentlog/usage.h"

namespace agentlog {

std::string_view SessionStatusName(SessionStatus status) {
  switch (status) {
    case SessionStatus::kActive:
      return "active";
    case SessionStatus::kIdle:
      return "idle";
    case SessionStatus::kArchived:
      return "archived";
    case SessionStatus::kEvicted:
      return "evicted";
    case SessionStatus::kDeleted:
      return "deleted";
  }
  return "unknown";
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSystem:
      return "system";
    case Role::kUser:
      return "user";
    case Role::kAssistant:
      return "assistant";
    case Role::kTool:
      return "tool";
  }
  return "unknown";
}

std::string_view TurnStatusName(TurnStatus status) {
  switch (status) {
    case TurnStatus::kProcessing:
      return "processing";
    case TurnStatus::kCompleted:
      return "completed";
    case TurnStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string_view CheckpointCodecName(CheckpointCodec codec) {
  switch (codec) {
    case CheckpointCodec::kNone:
      return "none";
    case CheckpointCodec::kLz4:
      return "lz4";
  }
  return "unknown";
}

std::string_view EchoKindName(EchoKind kind) {
  switch (kind) {
    case EchoKind::kNone:
      return "none";
    case EchoKind::kNew:
      return "new";
    case EchoKind::kExact:
      return "exact";
    case EchoKind::kNear:
      return "near";
    case EchoKind::kSkipped:
      return "skipped";
  }
  return "unknown";
}

std::string_view CostSourceName(CostSource source) {
  switch (source) {
    case CostSource::kPriced:
      return "priced";
    case CostSource::kHost:
      return "host";
    case CostSource::kUnpriced:
      return "unpriced";
  }
  return "unknown";
}

std::string_view UsageScopeName(UsageScope scope) {
  switch (scope) {
    case UsageScope::kStore:
      return "store";
    case UsageScope::kSession:
      return "session";
    case UsageScope::kAgent:
      return "agent";
    case UsageScope::kTag:
      return "tag";
    case UsageScope::kModel:
      return "model";
    case UsageScope::kOperation:
      return "operation";
  }
  return "unknown";
}

std::string_view UsagePeriodName(UsagePeriod period) {
  switch (period) {
    case UsagePeriod::kLifetime:
      return "lifetime";
    case UsagePeriod::kDay:
      return "day";
    case UsagePeriod::kMonth:
      return "month";
  }
  return "unknown";
}

std::string_view BudgetThresholdName(BudgetThreshold threshold) {
  switch (threshold) {
    case BudgetThreshold::kSoft:
      return "soft";
    case BudgetThreshold::kHard:
      return "hard";
    case BudgetThreshold::kEmergency:
      return "emergency";
  }
  return "unknown";
}

}  // namespace agentlog
