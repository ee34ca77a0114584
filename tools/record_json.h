#ifndef AGENTLOG_TOOLS_RECORD_JSON_H_
#define AGENTLOG_TOOLS_RECORD_JSON_H_

#include <string>
#include <string_view>

#include "agentlog/result.h"
#include "column_families.h"

namespace agentlog::tools {

// One raw record of column family `cf` as a JSON object with its decoded key
// and value: {"cf":"turns","key":{...},"value":{...}}. Sessions, turns and
// checkpoint headers are printed by Cap'n Proto's JSON codec (64-bit
// integers as strings, Data as hex); the usage families, prices and budgets
// as `agentlog usage`, `budgets` and `alerts` print them (usage_json.h).
// Families with no decoder print key and value as hex strings.
// Errors: Corruption naming the record when it does not decode, or when its
// key does not match it.
Result<std::string> RecordToJson(internal::Cf cf, std::string_view key,
                                 std::string_view value);

}  // namespace agentlog::tools

#endif  // AGENTLOG_TOOLS_RECORD_JSON_H_
