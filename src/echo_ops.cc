// Echo detection in StoreImpl: judging a completed turn's response against
// the session's recent ones (src/echo.h), and CheckEcho / GetEchoStats.

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "keys.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"
#include "validation.h"

namespace agentlog::internal {

std::optional<EchoFingerprint> StoreImpl::FingerprintForEcho(
    std::span<const Message> output) const {
  if (!options_.detect_echoes) return std::nullopt;
  return FingerprintOutput(output);
}

Result<EchoWindow*> StoreImpl::EchoWindowFor(const Session& s) {
  std::optional<EchoWindow>* slot = stripes_.For(s.id).cache.Echo(s.id);
  if (slot->has_value()) return &**slot;
  // Rebuild from the newest turns down to the look-back limit: under the
  // lock no turn of this session changes meanwhile, so the window holds
  // what completions would have kept, as far as Check looks.
  EchoWindow window(options_.echo_window);
  if (s.turn_count > 0) {
    // Not below the age floor: pruned turns are gone for echoes too.
    const std::string lower = TurnKey(
        s.id, std::max(EchoLookbackStart(s.turn_count, options_.echo_window),
                       s.oldest_turn));
    const rocksdb::Slice lower_slice(lower);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_slice;
    ro.prefix_same_as_start = true;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(ro, handle(Cf::kTurns)));
    for (it->SeekForPrev(TurnKey(s.id, s.turn_count));
         it->Valid() && !window.full(); it->Prev()) {
      AGENTLOG_ASSIGN_OR_RETURN(Turn t,
                                DecodeTurn(s.id, it->value().ToStringView()));
      if (t.status != TurnStatus::kCompleted) continue;
      EchoFingerprint fp = FingerprintOutput(t.output);
      if (fp.chars >= options_.echo_min_chars) window.Add(t.number, std::move(fp));
    }
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "scan turns for echoes"));
  }
  return &slot->emplace(std::move(window));
}

Status StoreImpl::RecordEcho(Session& s, Turn& t, const EchoFingerprint* fp,
                             const WriteOptions& wo) {
  if (fp == nullptr) return Status::OK();
  if (fp->chars < options_.echo_min_chars) {
    t.echo = {.kind = EchoKind::kSkipped};
    ++s.echo.skipped;
    return Status::OK();
  }
  AGENTLOG_ASSIGN_OR_RETURN(EchoWindow * window, EchoWindowFor(s));
  // Against earlier turns only: turns may complete out of order.
  t.echo = window->Check(*fp, options_.echo_near_threshold,
                         EchoLookbackStart(s.turn_count, options_.echo_window),
                         t.number);
  if (t.echo.kind == EchoKind::kExact && wo.refuse_exact_echo) {
    return Status::Conflict(fmt::format(
        "the output of turn {} of session {} repeats turn {} exactly; "
        "refused (WriteOptions::refuse_exact_echo)",
        t.number, s.id.ToString(), t.echo.turn));
  }
  ++s.echo.checked;
  s.echo.exact += t.echo.kind == EchoKind::kExact;
  s.echo.near += t.echo.kind == EchoKind::kNear;
  window->Add(t.number, *fp);
  return Status::OK();
}

void StoreImpl::ForgetEcho(Session& s, const Turn& removed) {
  auto take = [](uint64_t& count) { count -= count > 0; };
  switch (removed.echo.kind) {
    case EchoKind::kNone:
      break;
    case EchoKind::kSkipped:
      take(s.echo.skipped);
      break;
    case EchoKind::kExact:
      take(s.echo.exact);
      take(s.echo.checked);
      break;
    case EchoKind::kNear:
      take(s.echo.near);
      take(s.echo.checked);
      break;
    case EchoKind::kNew:
      take(s.echo.checked);
      break;
  }
  // The turn below the window's oldest should come back in; a rebuild is
  // the simple way to get exactly that.
  DropEchoWindow(s.id);
}

void StoreImpl::DropEchoWindow(const SessionId& id) {
  if (std::optional<EchoWindow>* slot = stripes_.For(id).cache.Echo(id)) {
    slot->reset();
  }
}

Result<EchoVerdict> StoreImpl::CheckEcho(const SessionId& id,
                                         std::string_view text) {
  if (!options_.detect_echoes) {
    return Status::FailedPrecondition(
        "echo detection is off: Options::detect_echoes is false");
  }
  AGENTLOG_RETURN_IF_ERROR(CheckText(text, "text", options_.max_turn_content_bytes,
                                     "max_turn_content_bytes", false));
  const EchoFingerprint fp = FingerprintText(text);
  SessionStripes::Stripe& stripe = stripes_.For(id);
  std::lock_guard<std::mutex> lock(stripe.mu);
  const Session* session = stripe.cache.Find(id);
  if (session == nullptr) {
    AGENTLOG_ASSIGN_OR_RETURN(Session loaded, LoadSession(id));
    session = stripe.cache.Put(std::move(loaded));
  }
  if (fp.chars < options_.echo_min_chars) {
    return EchoVerdict{.kind = EchoKind::kSkipped};
  }
  Result<EchoWindow*> window = EchoWindowFor(*session);
  if (!window.ok()) {
    stripe.cache.Erase(id);
    return window.status();
  }
  return (*window)->Check(
      fp, options_.echo_near_threshold,
      EchoLookbackStart(session->turn_count, options_.echo_window),
      std::numeric_limits<uint64_t>::max());
}

Result<EchoStats> StoreImpl::GetEchoStats(const SessionId& id) {
  AGENTLOG_ASSIGN_OR_RETURN(const Session session, LoadSession(id));
  return session.echo;
}

}  // namespace agentlog::internal
