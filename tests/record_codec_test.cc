#include "record_codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "session.capnp.h"

namespace agentlog::internal {
namespace {

Session FullSession() {
  Session s;
  s.id = SessionId::Generate(1'700'000'000'000);
  s.agent = "planner";
  s.model = "model-x";
  s.title = "Trip to Lisbon \xe2\x9c\x88";
  s.tags = {"prod", "eu"};
  s.metadata = std::string("\x00\x01\xff binary", 10);
  s.status = SessionStatus::kArchived;
  s.created_ms = 1'700'000'000'000;
  s.last_active_ms = 1'700'000'000'500;
  s.context_window = 200'000;
  s.pinned = true;
  s.turn_count = 9;
  s.completed_turns = 6;
  s.failed_turns = 1;
  s.tokens = {100, 200, 300, 400};
  s.cost_micros = 123'456;
  s.processing_turns = {8, 9};
  s.last_checkpoint = 12;
  s.oldest_checkpoint = 3;
  s.checkpoint_keep_last = 10;
  s.lease = {.session = s.id,
             .owner = "worker-7",
             .token = 5,
             .acquired_ms = 1'700'000'000'100,
             .expires_ms = 1'700'000'030'100};
  s.echo = {.checked = 6, .exact = 2, .near = 1, .skipped = 3};
  s.usage_records = 12;
  s.context_tokens = 4321;
  return s;
}

void ExpectSameSession(const Session& a, const Session& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.agent, b.agent);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.title, b.title);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.created_ms, b.created_ms);
  EXPECT_EQ(a.last_active_ms, b.last_active_ms);
  EXPECT_EQ(a.context_window, b.context_window);
  EXPECT_EQ(a.pinned, b.pinned);
  EXPECT_EQ(a.turn_count, b.turn_count);
  EXPECT_EQ(a.completed_turns, b.completed_turns);
  EXPECT_EQ(a.failed_turns, b.failed_turns);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.cost_micros, b.cost_micros);
  EXPECT_EQ(a.processing_turns, b.processing_turns);
  EXPECT_EQ(a.last_checkpoint, b.last_checkpoint);
  EXPECT_EQ(a.oldest_checkpoint, b.oldest_checkpoint);
  EXPECT_EQ(a.checkpoint_keep_last, b.checkpoint_keep_last);
  EXPECT_TRUE(a.lease == b.lease);
  EXPECT_EQ(a.echo, b.echo);
  EXPECT_EQ(a.usage_records, b.usage_records);
  EXPECT_EQ(a.context_tokens, b.context_tokens);
}

TEST(RecordCodecTest, SessionRoundTrips) {
  const Session s = FullSession();
  const EncodedRecord record = EncodeSession(s);
  auto decoded = DecodeSession(s.id, record.bytes());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSameSession(s, *decoded);
}

TEST(RecordCodecTest, EmptySessionRoundTrips) {
  Session s;
  s.id = SessionId::Generate(1);
  s.lease.session = s.id;  // Always the session's own id once decoded.
  auto decoded = DecodeSession(s.id, EncodeSession(s).bytes());
  ASSERT_TRUE(decoded.ok());
  ExpectSameSession(s, *decoded);
}

// The recovery scan's view must say what DecodeSession says: the same
// fields, and Corruption on the same records with the same message.
void ExpectViewMatches(const SessionId& id, std::string_view bytes,
                       SessionViewDecoder& decoder) {
  const Result<Session> full = DecodeSession(id, bytes);
  const Result<SessionView> view = decoder.Decode(id, bytes);
  ASSERT_EQ(full.ok(), view.ok())
      << full.status().ToString() << " / " << view.status().ToString();
  if (!full.ok()) {
    EXPECT_EQ(full.status().ToString(), view.status().ToString());
    return;
  }
  const Session& s = *full;
  const SessionView& v = *view;
  EXPECT_EQ(v.id, s.id);
  EXPECT_EQ(v.status, s.status);
  EXPECT_EQ(v.agent, s.agent);
  EXPECT_EQ(v.model, s.model);
  EXPECT_EQ(v.title, s.title);
  EXPECT_EQ(std::vector<std::string>(v.tags.begin(), v.tags.end()), s.tags);
  EXPECT_EQ(v.last_active_ms, s.last_active_ms);
  EXPECT_EQ(v.cost_micros, s.cost_micros);
  EXPECT_EQ(v.tokens, s.tokens.total());
  EXPECT_EQ(v.pinned, s.pinned);
  EXPECT_EQ(std::vector<uint64_t>(v.processing_turns.begin(),
                                  v.processing_turns.end()),
            s.processing_turns);
  EXPECT_EQ(v.oldest_checkpoint, s.oldest_checkpoint);
  EXPECT_EQ(v.usage_records, s.usage_records);
  EXPECT_EQ(v.metadata_bytes, s.metadata.size());
}

TEST(RecordCodecTest, SessionViewReadsWhatDecodeSessionReads) {
  SessionViewDecoder decoder;
  const Session full = FullSession();
  ExpectViewMatches(full.id, EncodeSession(full).bytes(), decoder);
  Session empty;
  empty.id = SessionId::Generate(1);
  ExpectViewMatches(empty.id, EncodeSession(empty).bytes(), decoder);
  // Unaligned bytes go through the decoder's reused copy; a bigger record
  // after a smaller one grows it.
  Session big = FullSession();
  big.tags.assign(40, std::string(60, 't'));
  const Session* const order[] = {&full, &big, &full};
  for (const Session* s : order) {
    const std::string shifted = "x" + std::string(EncodeSession(*s).bytes());
    ExpectViewMatches(s->id, std::string_view(shifted).substr(1), decoder);
  }
  Session bad_floor = FullSession();
  bad_floor.oldest_checkpoint = bad_floor.last_checkpoint + 1;
  ExpectViewMatches(bad_floor.id, EncodeSession(bad_floor).bytes(), decoder);
}

TEST(RecordCodecTest, CountsNoStoreReachesAreCorruption) {
  // A count of 2^64 - 1 would pass the floor checks (last + 1 wraps to 0)
  // and have a reader size a list by it.
  SessionViewDecoder decoder;
  for (int field = 0; field < 2; ++field) {
    Session s = FullSession();
    s.oldest_turn = 0;
    s.oldest_usage = 0;
    (field == 0 ? s.turn_count : s.usage_records) =
        std::numeric_limits<uint64_t>::max();
    const std::string bytes(EncodeSession(s).bytes());
    const Result<Session> decoded = DecodeSession(s.id, bytes);
    EXPECT_EQ(decoded.status().code(), Code::kCorruption)
        << decoded.status().ToString();
    EXPECT_NE(decoded.status().message().find("past 2^62"), std::string::npos)
        << decoded.status().message();
    ExpectViewMatches(s.id, bytes, decoder);
  }
}

TEST(RecordCodecTest, SessionViewFailsWhereDecodeSessionFails) {
  // Damaged copies of a real record, and random words: every field the
  // full decode validates, the view validates, in the same order.
  std::mt19937_64 rng(11);
  SessionViewDecoder decoder;
  const Session s = FullSession();
  const std::string bytes(EncodeSession(s).bytes());
  for (int i = 0; i < 5000; ++i) {
    std::string damaged = bytes;
    for (int n = 1 + static_cast<int>(rng() % 4); n > 0; --n) {
      damaged[rng() % damaged.size()] = static_cast<char>(rng());
    }
    if (i % 7 == 0) damaged.resize(damaged.size() / 8 * 8 - 8 * (rng() % 4));
    ExpectViewMatches(s.id, damaged, decoder);
  }
  for (int i = 0; i < 2000; ++i) {
    std::string random((1 + rng() % 16) * 8, '\0');
    for (char& c : random) c = static_cast<char>(rng());
    const uint32_t words = static_cast<uint32_t>(random.size() / 8 - 1);
    std::memset(random.data(), 0, 4);
    std::memcpy(random.data() + 4, &words, 4);
    ExpectViewMatches(s.id, random, decoder);
  }
}

TEST(RecordCodecTest, TurnRoundTrips) {
  Turn t;
  t.session = SessionId::Generate(3);
  t.number = 42;
  t.idempotency_key = std::string("k\0y", 3);
  t.status = TurnStatus::kFailed;
  t.input = {Message{Role::kSystem, "be brief", "", ""},
             Message{Role::kUser, "weather?", "", ""}};
  t.output = {Message{Role::kAssistant, "", "call-1", "weather"},
              Message{Role::kTool, "sunny", "call-1", "weather"}};
  t.input_digest = ComputeInputDigest(t.input);
  t.error = "upstream timed out";
  t.started_ms = 10;
  t.finished_ms = 20;
  t.usage = {{1, 2, 3, 4}, 99};
  t.echo = {.kind = EchoKind::kNear, .turn = 40, .similarity = 0.9375};
  auto decoded = DecodeTurn(t.session, EncodeTurn(t).bytes());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->session, t.session);
  EXPECT_EQ(decoded->number, t.number);
  EXPECT_EQ(decoded->idempotency_key, t.idempotency_key);
  EXPECT_EQ(decoded->status, t.status);
  EXPECT_EQ(decoded->input, t.input);
  EXPECT_EQ(decoded->output, t.output);
  EXPECT_EQ(decoded->input_digest, t.input_digest);
  EXPECT_EQ(decoded->error, t.error);
  EXPECT_EQ(decoded->started_ms, t.started_ms);
  EXPECT_EQ(decoded->finished_ms, t.finished_ms);
  EXPECT_EQ(decoded->usage.tokens, t.usage.tokens);
  EXPECT_EQ(decoded->usage.cost_micros, t.usage.cost_micros);
  EXPECT_EQ(decoded->echo, t.echo);
}

TEST(RecordCodecTest, RecordsLargerThanTheScratchSegmentRoundTrip) {
  Turn t;
  t.session = SessionId::Generate(3);
  t.number = 1;
  t.input = {Message{Role::kUser, std::string(300 * 1024, 'q'), "", ""}};
  t.output = {Message{Role::kAssistant, std::string(200 * 1024, 'a'), "", ""}};
  auto decoded = DecodeTurn(t.session, EncodeTurn(t).bytes());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->input, t.input);
  EXPECT_EQ(decoded->output, t.output);
}

TEST(RecordCodecTest, EncodingIsDeterministicAcrossReuseOfScratchSpace) {
  // Records are built in reused per-thread scratch space: a big record
  // followed by a small one must leave nothing of the first in the second.
  const Session small = FullSession();
  const std::string first(EncodeSession(small).bytes());
  Session big = FullSession();
  big.metadata = std::string(20000, 'x');
  big.tags.assign(50, std::string(100, 't'));
  EncodeSession(big).bytes();
  EXPECT_EQ(std::string(EncodeSession(small).bytes()), first);
}

TEST(RecordCodecTest, UnalignedBytesDecode) {
  const Session s = FullSession();
  const EncodedRecord record = EncodeSession(s);
  std::string shifted = "x" + std::string(record.bytes());
  auto decoded = DecodeSession(s.id, std::string_view(shifted).substr(1));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSameSession(s, *decoded);
}

TEST(RecordCodecTest, MalformedBytesAreCorruptionNamingTheRecord) {
  const SessionId id = SessionId::Generate(1);
  const std::string bytes(EncodeSession(FullSession()).bytes());
  const std::string cases[] = {
      "",                       // empty
      "1234567",                // not whole words
      std::string(16, '\xff'),  // a segment table claiming a huge size
      bytes.substr(0, bytes.size() - 8),  // truncated
  };
  for (const std::string& c : cases) {
    auto decoded = DecodeSession(id, c);
    ASSERT_FALSE(decoded.ok());
    EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status().ToString();
    EXPECT_NE(decoded.status().message().find("sessions/" + id.ToString()),
              std::string::npos)
        << decoded.status().message();
  }
}

TEST(RecordCodecTest, UnknownEnumValueIsCorruption) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<schema::Session>();
  b.setAgent("a");
  b.setStatus(static_cast<schema::SessionStatus>(77));
  auto flat = capnp::messageToFlatArray(message);
  const std::string_view bytes(reinterpret_cast<const char*>(flat.begin()),
                               flat.size() * sizeof(capnp::word));
  auto decoded = DecodeSession(SessionId::Generate(1), bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_TRUE(decoded.status().IsCorruption());
  EXPECT_NE(decoded.status().message().find("status 77"), std::string::npos);
}

TEST(RecordCodecTest, DeeplyNestedGarbageStaysWithinLimits) {
  // Random words must never crash the decoder or read out of bounds.
  std::mt19937_64 rng(7);
  const SessionId id = SessionId::Generate(1);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes((1 + rng() % 16) * 8, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    // Keep a sane segment table half of the time so decoding goes deeper.
    if (i % 2 == 0) {
      const uint32_t words = static_cast<uint32_t>(bytes.size() / 8 - 1);
      std::memset(bytes.data(), 0, 4);
      std::memcpy(bytes.data() + 4, &words, 4);
    }
    auto s = DecodeSession(id, bytes);
    auto t = DecodeTurn(id, bytes);
    if (!s.ok()) {
      EXPECT_TRUE(s.status().IsCorruption()) << s.status().ToString();
    }
    if (!t.ok()) {
      EXPECT_TRUE(t.status().IsCorruption()) << t.status().ToString();
    }
  }
}

}  // namespace
}  // namespace agentlog::internal
