# Session records: the value of every key in the `sessions` column family.
#
# This file is part of the on-disk format (docs/format.md). Evolve it only in
# ways Cap'n Proto keeps compatible: add fields with new ordinals at the end,
# never renumber, retype or remove one; new enum values go last.
@0x825ad0d19b9eedcf;

using Cxx = import "/capnp/c++.capnp";
using Json = import "/capnp/compat/json.capnp";
$Cxx.namespace("agentlog::schema");

struct TokenCounts {
  input @0 :UInt64;
  output @1 :UInt64;
  cacheRead @2 :UInt64;
  cacheWrite @3 :UInt64;
}

enum SessionStatus {
  active @0;
  idle @1;
  archived @2;
  evicted @3;
  deleted @4;
}

struct Session {
  agent @0 :Text;
  model @1 :Text;
  title @2 :Text;
  tags @3 :List(Text);
  metadata @4 :Data $Json.hex;
  status @5 :SessionStatus;
  createdMs @6 :Int64;      # Unix milliseconds.
  lastActiveMs @7 :Int64;   # Unix milliseconds.
  contextWindow @8 :UInt64; # Tokens; 0 when unknown.
  pinned @9 :Bool;

  # Running totals, updated in the same WriteBatch as the turn that changes
  # them, so they always agree with the `turns` column family.
  lastTurn @10 :UInt64;     # Number of the newest turn; 0 when there is none.
  completedTurns @11 :UInt64;
  failedTurns @12 :UInt64;
  tokens @13 :TokenCounts;
  costMicros @14 :Int64;    # Integer micro-dollars.

  # Turns still `processing`, ascending. Kept here so that open can report
  # turns interrupted by a crash from one scan of `sessions`.
  processingTurns @15 :List(UInt64);

  # Checkpoints. Versions lastCheckpoint - n + 1 .. lastCheckpoint exist
  # for some n; checkpointFloor is the retention decision: versions below it
  # read as NotFound and compaction drops them (docs/architecture.md).
  lastCheckpoint @16 :UInt64;   # 0 when there is none.
  checkpointFloor @17 :UInt64;  # Oldest version kept; 0 or 1: none pruned.
  checkpointKeepLast @18 :UInt32;  # Per-session keep-last-N; 0: store default.

  # The lease (format 3). leaseToken is the fencing token of the newest
  # lease and only grows; leaseOwner is empty once released.
  leaseOwner @19 :Text;
  leaseToken @20 :UInt64;
  leaseAcquiredMs @21 :Int64;
  leaseExpiresMs @22 :Int64;

  # Echo verdicts of the session's turns, counted (format 5): EchoStats.
  echoChecked @23 :UInt64;
  echoExact @24 :UInt64;
  echoNear @25 :UInt64;
  echoSkipped @26 :UInt64;

  # Usage (format 6): the seq of the newest usage record, and the prompt
  # plus response tokens of that record (the context the next call resends).
  lastUsageSeq @27 :UInt64;
  contextTokens @28 :UInt64;

  # Retention by age (format 9): the oldest turn and the oldest usage record
  # kept. Turns below turnFloor and usage records below usageFloor read as
  # NotFound and compaction drops them (with the idempotency and input
  # keys of those turns). 0 or 1: none pruned. Floors only rise, except
  # that clearing the turns resets turnFloor with the numbering.
  turnFloor @29 :UInt64;
  usageFloor @30 :UInt64;
}
