#ifndef AGENTLOG_TOOLS_SESSION_JSON_H_
#define AGENTLOG_TOOLS_SESSION_JSON_H_

#include <string>
#include <vector>

#include "agentlog/session.h"

namespace agentlog::tools {

// "a,b,c".
std::string TagsText(const std::vector<std::string>& tags);
// A session as one JSON object, as `sessions --json` and `show --json`
// print it.
std::string SessionJson(const Session& s);

}  // namespace agentlog::tools

#endif  // AGENTLOG_TOOLS_SESSION_JSON_H_
