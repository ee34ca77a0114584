#ifndef AGENTLOG_SRC_STATUS_MACROS_H_
#define AGENTLOG_SRC_STATUS_MACROS_H_

#include "agentlog/result.h"
#include "agentlog/status.h"

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define AGENTLOG_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::agentlog::Status _agentlog_status = (expr);        \
    if (!_agentlog_status.ok()) return _agentlog_status; \
  } while (0)

#define AGENTLOG_CONCAT_INNER_(a, b) a##b
#define AGENTLOG_CONCAT_(a, b) AGENTLOG_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (a Result<T>); on error returns its Status, otherwise
// moves the value into `lhs` (which may be a declaration).
#define AGENTLOG_ASSIGN_OR_RETURN(lhs, rexpr) \
  AGENTLOG_ASSIGN_OR_RETURN_IMPL_(            \
      AGENTLOG_CONCAT_(_agentlog_result_, __LINE__), lhs, rexpr)

#define AGENTLOG_ASSIGN_OR_RETURN_IMPL_(result, lhs, rexpr) \
  auto result = (rexpr);                                    \
  if (!result.ok()) return std::move(result).status();      \
  lhs = std::move(result).value()

#endif  // AGENTLOG_SRC_STATUS_MACROS_H_
