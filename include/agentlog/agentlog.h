#ifndef AGENTLOG_AGENTLOG_H_
#define AGENTLOG_AGENTLOG_H_

// The whole public API of agentlog. A host includes this header and links
// libagentlog (pkg-config: agentlog).

#include "agentlog/backup.h"
#include "agentlog/checkpoint.h"
#include "agentlog/clock.h"
#include "agentlog/echo.h"
#include "agentlog/lease.h"
#include "agentlog/lifecycle.h"
#include "agentlog/metrics.h"
#include "agentlog/options.h"
#include "agentlog/result.h"
#include "agentlog/run_once.h"
#include "agentlog/search.h"
#include "agentlog/session.h"
#include "agentlog/session_id.h"
#include "agentlog/status.h"
#include "agentlog/store.h"
#include "agentlog/turn.h"
#include "agentlog/usage.h"

#endif  // AGENTLOG_AGENTLOG_H_
