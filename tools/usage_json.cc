#include "usage_json.h"

#include "command_util.h"

namespace agentlog::tools {

JsonObject& AddTotals(JsonObject& o, const UsageTotals& t) {
  return o.Add("records", t.records)
      .Add("input", t.tokens.input)
      .Add("output", t.tokens.output)
      .Add("cache_read", t.tokens.cache_read)
      .Add("cache_write", t.tokens.cache_write)
      .Add("cost_micros", t.cost_micros)
      .Add("saved_micros", t.saved_micros);
}

JsonObject& AddBudgetSpec(JsonObject& o, const BudgetSpec& spec) {
  return o.Add("scope", UsageScopeName(spec.scope))
      .Add("name", spec.name)
      .Add("period", UsagePeriodName(spec.period))
      .Add("limit_micros", spec.limit_micros)
      .Add("soft_percent", static_cast<uint64_t>(spec.soft_percent))
      .Add("hard_percent", static_cast<uint64_t>(spec.hard_percent))
      .Add("emergency_percent", static_cast<uint64_t>(spec.emergency_percent));
}

std::string UsageRecordJson(const UsageRecord& u) {
  return JsonObject()
      .Add("session", u.session.ToString())
      .Add("seq", u.seq)
      .Add("turn", u.turn)
      .Add("message_id", u.message_id)
      .Add("model", u.model)
      .Add("operation", u.operation)
      .Add("input", u.tokens.input)
      .Add("output", u.tokens.output)
      .Add("cache_read", u.tokens.cache_read)
      .Add("cache_write", u.tokens.cache_write)
      .Add("cost_micros", u.cost_micros)
      .Add("saved_micros", u.saved_micros)
      .Add("cost_source", CostSourceName(u.cost_source))
      .Add("price_version", static_cast<uint64_t>(u.price_version))
      .Add("recorded_ms", u.recorded_ms)
      .Finish();
}

std::string AlertJson(const BudgetAlert& a) {
  return JsonObject()
      .Add("seq", a.seq)
      .Add("raised", IsoTimestamp(a.raised_ms))
      .Add("raised_ms", a.raised_ms)
      .Add("scope", UsageScopeName(a.scope))
      .Add("name", a.name)
      .Add("period", UsagePeriodName(a.period))
      .Add("period_start_ms", a.period_start_ms)
      .Add("threshold", BudgetThresholdName(a.threshold))
      .Add("limit_micros", a.limit_micros)
      .Add("threshold_micros", a.threshold_micros)
      .Add("spent_micros", a.spent_micros)
      .Add("session", a.session.ToString())
      .Add("budget_generation", a.budget_generation)
      .Finish();
}

std::string PriceJson(const PriceVersion& p) {
  return JsonObject()
      .Add("model", p.price.model)
      .Add("version", static_cast<uint64_t>(p.version))
      .Add("effective_ms", p.effective_ms)
      .Add("set_ms", p.set_ms)
      .Add("input", p.price.input)
      .Add("output", p.price.output)
      .Add("cache_read", p.price.cache_read)
      .Add("cache_write", p.price.cache_write)
      .Finish();
}

}  // namespace agentlog::tools
