# Turn records: the value of every key in the `turns` column family.
#
# This file is part of the on-disk format (docs/format.md). Evolve it only in
# ways Cap'n Proto keeps compatible: add fields with new ordinals at the end,
# never renumber, retype or remove one; new enum values go last.
@0xa966ff5a42df5dd7;

using Cxx = import "/capnp/c++.capnp";
using Json = import "/capnp/compat/json.capnp";
using Session = import "session.capnp";
$Cxx.namespace("agentlog::schema");

enum Role {
  system @0;
  user @1;
  assistant @2;
  tool @3;
}

struct Message {
  role @0 :Role;
  content @1 :Text;
  toolCallId @2 :Text;
  toolName @3 :Text;
}

enum TurnStatus {
  processing @0;
  completed @1;
  failed @2;
}

# How a completed turn's response compared with the session's recent ones
# (format 5). Turns written before format 5 read as none.
enum EchoKind {
  none @0;
  new @1;
  exact @2;
  near @3;
  skipped @4;
}

struct Turn {
  number @0 :UInt64;
  idempotencyKey @1 :Data $Json.hex;
  status @2 :TurnStatus;
  input @3 :List(Message);
  output @4 :List(Message);
  inputDigest @5 :Data $Json.hex;  # XXH3-128 of the normalised input, 16 bytes.
  error @6 :Text;
  startedMs @7 :Int64;
  finishedMs @8 :Int64;             # 0 while processing.
  tokens @9 :Session.TokenCounts;
  costMicros @10 :Int64;
  echoKind @11 :EchoKind;
  echoTurn @12 :UInt64;         # The turn an exact or near echo repeats.
  echoSimilarity @13 :Float64;  # Estimated Jaccard similarity with it.
}
