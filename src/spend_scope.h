#ifndef AGENTLOG_SRC_SPEND_SCOPE_H_
#define AGENTLOG_SRC_SPEND_SCOPE_H_

// The scopes usage counts in. Budgets, rate windows and totals all use the
// same ones: the store, the session, its agent and each of its tags, plus
// (for totals and rates, not budgets) the record's model and operation.

#include <string>
#include <string_view>
#include <vector>

#include "agentlog/usage.h"

namespace agentlog::internal {

// A scope a write spends in.
struct SpendScope {
  UsageScope scope = UsageScope::kStore;
  std::string_view name;
};

// The scopes of a session's spending: the store, the session (`id_text`,
// its id's text form), its agent and each of its tags (strings or views).
// The views point into the arguments.
template <typename Tags>
std::vector<SpendScope> SessionScopes(std::string_view id_text,
                                      std::string_view agent,
                                      const Tags& tags) {
  std::vector<SpendScope> scopes;
  scopes.reserve(3 + tags.size() + 2);  // Room for a model and operation.
  scopes.push_back({UsageScope::kStore, ""});
  scopes.push_back({UsageScope::kSession, id_text});
  scopes.push_back({UsageScope::kAgent, agent});
  for (std::string_view tag : tags) {
    scopes.push_back({UsageScope::kTag, tag});
  }
  return scopes;
}

// Whether totals of `scope` are kept per day and month as well as for the
// lifetime: only for the scopes budgets apply to.
inline bool HasPeriods(UsageScope scope) {
  return scope == UsageScope::kStore || scope == UsageScope::kSession ||
         scope == UsageScope::kAgent || scope == UsageScope::kTag;
}

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_SPEND_SCOPE_H_
