# Checkpoint headers: the value of every key in the `checkpoints` column
# family. The payload itself lives under the same key in `checkpoint_data`,
# as the stored bytes alone (see docs/format.md): listing versions and
# deciding retention never touch payloads.
#
# This file is part of the on-disk format (docs/format.md). Evolve it only in
# ways Cap'n Proto keeps compatible: add fields with new ordinals at the end,
# never renumber, retype or remove one; new enum values go last.
@0xd1f4c3a7b2e95a61;

using Cxx = import "/capnp/c++.capnp";
using Json = import "/capnp/compat/json.capnp";
$Cxx.namespace("agentlog::schema");

enum CheckpointCodec {
  none @0;  # Stored as given: compression would not have shrunk it.
  lz4 @1;   # One LZ4 block (LZ4_compress_default) of the raw bytes.
}

struct CheckpointHeader {
  version @0 :UInt64;
  parent @1 :UInt64;        # 0: no parent.
  createdMs @2 :Int64;      # Unix milliseconds.
  rawBytes @3 :UInt64;      # Payload size as the host gave it.
  storedBytes @4 :UInt64;   # Size of the value in `checkpoint_data`.
  codec @5 :CheckpointCodec;
  xxh3 @6 :UInt64;          # XXH3-64 (seed 0) of the raw payload.
  metadata @7 :Data $Json.hex;
}
