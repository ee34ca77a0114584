# Usage, prices, budgets and alerts (format 6): the values of the `usage`
# and `alerts` column families and of the `price/` and `budget/` keys of
# `meta`. Totals in `usage_totals` are fixed-width counters, not messages
# (docs/format.md).
#
# This file is part of the on-disk format (docs/format.md). Evolve it only in
# ways Cap'n Proto keeps compatible: add fields with new ordinals at the end,
# never renumber, retype or remove one; new enum values go last.
@0xe94c020eec9cc30b;

using Cxx = import "/capnp/c++.capnp";
using Session = import "session.capnp";
$Cxx.namespace("agentlog::schema");

enum CostSource {
  priced @0;    # From the price table.
  host @1;      # Given by the host.
  unpriced @2;  # No price for the model: cost 0.
}

struct UsageRecord {
  seq @0 :UInt64;
  turn @1 :UInt64;          # 0: recorded on its own.
  messageId @2 :Text;       # Empty: not deduplicated.
  model @3 :Text;
  operation @4 :Text;
  tokens @5 :Session.TokenCounts;
  costMicros @6 :Int64;
  savedMicros @7 :Int64;
  costSource @8 :CostSource;
  priceVersion @9 :UInt32;
  recordedMs @10 :Int64;
}

struct Price {
  model @0 :Text;
  version @1 :UInt32;
  effectiveMs @2 :Int64;
  setMs @3 :Int64;
  # Micro-dollars per million tokens.
  input @4 :Int64;
  output @5 :Int64;
  cacheRead @6 :Int64;
  cacheWrite @7 :Int64;
}

enum UsageScope {
  store @0;
  session @1;
  agent @2;
  tag @3;
  model @4;
  operation @5;
}

enum UsagePeriod {
  lifetime @0;
  day @1;
  month @2;
}

struct Budget {
  scope @0 :UsageScope;
  name @1 :Text;
  period @2 :UsagePeriod;
  limitMicros @3 :Int64;
  softPercent @4 :UInt32;
  hardPercent @5 :UInt32;
  emergencyPercent @6 :UInt32;
  # Emergency alerts of this generation up to this seq are lifted
  # (LiftBudgetBlock); a later one blocks the scope.
  liftedThroughSeq @7 :UInt64;
  createdMs @8 :Int64;
  # Changes with every change of limit or thresholds: alerts belong to one
  # generation, so a changed budget's thresholds can fire again.
  generation @9 :UInt64;
}

enum BudgetThreshold {
  soft @0;
  hard @1;
  emergency @2;
}

struct Alert {
  seq @0 :UInt64;
  scope @1 :UsageScope;
  name @2 :Text;
  period @3 :UsagePeriod;
  periodStartMs @4 :Int64;
  threshold @5 :BudgetThreshold;
  limitMicros @6 :Int64;
  thresholdMicros @7 :Int64;
  spentMicros @8 :Int64;
  session @9 :Data;         # 16-byte id of the session whose usage crossed it.
  raisedMs @10 :Int64;
  budgetGeneration @11 :UInt64;
}
