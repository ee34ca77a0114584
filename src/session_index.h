#ifndef AGENTLOG_SRC_SESSION_INDEX_H_
#define AGENTLOG_SRC_SESSION_INDEX_H_

// CRoaring 0.2 (Debian 12) declares Roaring in the global namespace.
#include <roaring/roaring.hh>

#include <array>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agentlog/result.h"
#include "agentlog/search.h"
#include "agentlog/session.h"
#include "agentlog/session_id.h"
#include "function_ref.h"
#include "session_view.h"

namespace agentlog::internal {

// The in-memory session index that answers Store::Search and Store::Stats
// without touching RocksDB.
//
// Sessions are numbered by ordinal in id order: the index is built at open
// from the scan of `sessions` (which is in id order), and every new id is
// greater than every id before it (Reserve), so a new session always comes
// last. Each ordinal has a 64-byte summary; a Roaring bitmap of ordinals per
// status, agent, model and tag turns the equality filters into bitmap
// intersections, and ordinals in id order make creation order a walk of the
// result bitmap. Last activity is kept as (time, ordinal) pairs sorted by
// time, to which a write that moves a session's time appends; the entry it
// leaves behind is skipped by readers and dropped when the stale ones
// outnumber the live. Deleted sessions leave a hole in the ordinals until the
// holes outnumber the sessions, when the index renumbers.
//
// Kept in step by StoreImpl, under the session's stripe lock, after each
// write is acknowledged: a search sees a write once it returned.
//
// Thread-safe: searches share a lock, changes take it alone.
class SessionIndex {
 public:
  SessionIndex() = default;
  SessionIndex(const SessionIndex&) = delete;
  SessionIndex& operator=(const SessionIndex&) = delete;

  // --- Building at open ---

  // Room for about `sessions` sessions, before the Loads.
  void ReserveCapacity(size_t sessions);
  // Adds a stored session, as the recovery scan read it. REQUIRES: ids
  // ascend from call to call.
  void Load(const SessionView& s);
  // Orders what Load added; call once, after the last Load.
  void FinishLoad();

  // --- Keeping in step ---

  // A new session id for a creation at `now_ms`: time-ordered, and greater
  // than every id before it even when the clock stepped back (its time is
  // then the newest id's). Takes its ordinal; call Put or Abandon after.
  SessionId Reserve(int64_t now_ms);
  // A Reserve whose write failed.
  void Abandon(const SessionId& id);
  // `s` as just written (created or changed). Statuses evicted and deleted
  // remove it.
  void Put(const Session& s);
  // A deleted session.
  void Remove(const SessionId& id);

  // --- Reading ---

  // The full title of a session, for title prefixes longer than the
  // summary keeps; called without the index's lock. NotFound counts as no
  // match.
  using TitleReader = FunctionRef<Result<std::string>(const SessionId&)>;
  // Store::Search. Errors: InvalidArgument (query or cursor); what
  // `read_title` returns other than NotFound.
  Result<SessionPage> Search(const SessionQuery& query,
                             TitleReader read_title) const;
  // Store::Stats at `now_ms`.
  SessionStats Stats(int64_t now_ms) const;
  // Every indexed session in id order (tests compare indexes with it).
  std::vector<SessionSummary> Summaries() const;
  // Bytes the index holds.
  size_t MemoryBytes() const;
  // Sessions indexed (every status but evicted and deleted).
  size_t live() const;
  // Whether `id` is indexed.
  bool Contains(const SessionId& id) const;
  // Sessions indexed with status active, idle and archived.
  std::array<uint64_t, 3> StatusCounts() const;

  // --- Choosing sessions to evict ---

  // Says whether a session must be passed over (held, just created...).
  // Called under the index's shared lock: it must not call the index.
  using SessionFilter = FunctionRef<bool(const SessionId&)>;
  // Up to `n` unpinned sessions not passed over, least recently active
  // first: the ones not archived before the archived ones, or the reverse
  // with `archived_first`. Walks the activity order from its oldest end.
  std::vector<SessionId> EvictionOrder(size_t n, bool archived_first,
                                       SessionFilter pass_over) const;
  // The unpinned sessions of `status` last active before `before_ms`, not
  // passed over, oldest first, at most `n`.
  std::vector<SessionId> InactiveBefore(SessionStatus status,
                                        int64_t before_ms, size_t n,
                                        SessionFilter pass_over) const;

  // --- Choosing sessions to prune by age ---

  // Up to `n` unpinned sessions of `status` with ids above `after`, created
  // (by their ids' time) before `created_before_ms` and last active at or
  // after `active_since_ms`, in id order.
  std::vector<SessionId> AgeCandidates(SessionStatus status,
                                       const SessionId& after,
                                       int64_t created_before_ms,
                                       int64_t active_since_ms,
                                       size_t n) const;

 private:
  // Entry::state beyond the SessionStatus values it can hold.
  static constexpr uint8_t kReserved = 0xfe;  // Reserve'd, not yet Put.
  static constexpr uint8_t kGone = 0xff;      // Deleted or abandoned.
  static constexpr size_t kTitleBytes = 7;

  struct Entry {
    SessionId id;
    int64_t last_active_ms = 0;
    int64_t cost_micros = 0;
    uint64_t tokens = 0;
    uint32_t agent = 0;    // Dictionary codes.
    uint32_t model = 0;
    uint32_t tags_at = 0;  // Its tag codes: tag_codes_[tags_at, +tag_count).
    uint16_t tag_count = 0;
    uint8_t state = kReserved;  // A SessionStatus value, kReserved or kGone.
    bool pinned = false;
    uint8_t title_size = 0;  // The title's size, saturating at 255.
    char title[kTitleBytes] = {};  // Its first bytes.

    bool indexed() const { return state < kReserved; }
    // Copies what no bitmap or order holds: cost, tokens, pinned, title.
    // S is Session or SessionView.
    template <typename S>
    void SetFigures(const S& s);
  };
  static_assert(sizeof(Entry) == 64);

  // Names (agents, models, tags) to dense codes, each with the bitmap of
  // the ordinals that have it.
  class Dictionary {
   public:
    uint32_t Intern(std::string_view name);
    // The members of `name`, or null when no session ever had it.
    const Roaring* Find(std::string_view name) const;
    const std::string& Name(uint32_t code) const { return names_[code]; }
    Roaring& Members(uint32_t code) { return members_[code]; }
    // Adds `ord` to the members of `code`, or with `bulk` queues it for
    // ApplyBulk. REQUIRES: bulk ordinals ascend per code.
    void Add(uint32_t code, uint32_t ord, bool bulk) {
      if (!bulk) {
        members_[code].add(ord);
        return;
      }
      if (bulk_.size() <= code) bulk_.resize(code + 1);
      bulk_[code].push_back(ord);
    }
    void ApplyBulk();
    const Roaring& Members(uint32_t code) const {
      return members_[code];
    }
    size_t size() const { return names_.size(); }
    size_t MemoryBytes() const;

   private:
    struct Hash {
      using is_transparent = void;
      size_t operator()(std::string_view s) const {
        return std::hash<std::string_view>()(s);
      }
    };
    std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> codes_;
    std::vector<std::string> names_;
    std::vector<Roaring> members_;
    std::vector<std::vector<uint32_t>> bulk_;
  };

  // The first ordinal whose id is `id` or greater. REQUIRES: mu_ held.
  uint32_t LowerBound(const SessionId& id) const;
  // The ordinal of `id`, or entries_.size(). REQUIRES: mu_ held.
  uint32_t Find(const SessionId& id) const;
  // Gives entries_[ord] the codes of `tags` (strings or string_views) and
  // adds it to their bitmaps; takes it out of its tags' bitmaps, its codes
  // going stale. REQUIRES: mu_ held exclusively.
  template <typename Tags>
  void AddTags(uint32_t ord, const Tags& tags);
  void RemoveTags(uint32_t ord);
  // Sorts the activity order (loading and renumbering append unsorted).
  void SortActivity();
  // Fills entries_[ord] from `s` (a Session or SessionView) and adds it to
  // the bitmaps; the activity order is the caller's. REQUIRES: mu_ held
  // exclusively, the entry not indexed.
  template <typename S>
  void Index(uint32_t ord, const S& s);
  // Takes entries_[ord] out of every bitmap. REQUIRES: as Index.
  void Unindex(uint32_t ord);
  // Adds (ms, ord) to the activity order, keeping it sorted.
  void AddActivity(int64_t ms, uint32_t ord);
  // Whether activity position `pos` is its session's current one.
  bool ActivityCurrent(size_t pos) const;
  // The first activity position above (ms, id), or at or above it when
  // `inclusive`.
  size_t ActivityBound(int64_t ms, const SessionId& id, bool inclusive) const;
  SessionSummary Summarize(const Entry& e) const;
  size_t Bytes() const;  // MemoryBytes, with mu_ held.
  // Renumbers when holes outnumber sessions; drops stale activity.
  void MaybeCompact();
  void Rebuild();

  // Loading and renumbering add ascending ordinals in bulk: one addMany
  // per bitmap is several times faster than adding them one by one.
  void BeginBulk() { bulk_ = true; }
  void ApplyBulk();

  mutable std::shared_mutex mu_;
  std::vector<Entry> entries_;  // By ordinal, in id order.
  SessionId last_id_;           // The greatest id loaded or reserved.
  size_t indexed_ = 0;          // Entries with indexed().
  size_t gone_ = 0;             // Entries in state kGone.
  // Tag codes of every entry, with the stale ones a retag left.
  std::vector<uint32_t> tag_codes_;
  size_t stale_tag_codes_ = 0;
  // The activity order: (activity_ms_[i], entries_[activity_ord_[i]].id)
  // ascends with i; stale positions included (ActivityCurrent).
  std::vector<int64_t> activity_ms_;
  std::vector<uint32_t> activity_ord_;
  // Active, idle, archived.
  Roaring by_status_[3];
  bool bulk_ = false;
  std::vector<uint32_t> status_bulk_[3];
  Dictionary agents_;
  Dictionary models_;
  Dictionary tags_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_SESSION_INDEX_H_
