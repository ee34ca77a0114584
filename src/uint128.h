#ifndef AGENTLOG_SRC_UINT128_H_
#define AGENTLOG_SRC_UINT128_H_

namespace agentlog::internal {

// The compiler's 128-bit unsigned integer, for money arithmetic that must
// not overflow in between. __extension__ keeps -Wpedantic quiet about it.
__extension__ typedef unsigned __int128 Uint128;

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_UINT128_H_
