#include "session_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>

#include "keys.h"
#include "status_macros.h"

namespace agentlog::internal {

namespace {

bool Indexable(SessionStatus status) {
  return status == SessionStatus::kActive || status == SessionStatus::kIdle ||
         status == SessionStatus::kArchived;
}

// The id right after `id`.
SessionId Successor(const SessionId& id) {
  std::array<uint8_t, SessionId::kBytes> bytes = id.bytes();
  for (size_t i = bytes.size(); i-- > 0;) {
    if (++bytes[i] != 0) break;
  }
  return SessionId::FromBytes(bytes);
}

// A position in a result order: the sort key and id of the last session a
// page returned. Opaque to hosts: "c1" and the hex of sort, direction, key
// (big-endian, sign bit flipped) and id.
struct Cursor {
  int64_t key = 0;
  SessionId id;
};

constexpr std::string_view kCursorTag = "c1";
constexpr size_t kCursorBytes = 2 + 8 + SessionId::kBytes;

std::string EncodeCursor(const SessionQuery& q, const Cursor& c) {
  std::string raw;
  raw.push_back(static_cast<char>(q.sort));
  raw.push_back(q.descending ? 1 : 0);
  AppendU64(&raw, static_cast<uint64_t>(c.key) ^ (1ULL << 63));
  raw.append(reinterpret_cast<const char*>(c.id.bytes().data()),
             SessionId::kBytes);
  return std::string(kCursorTag) + Hex(raw);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

Result<Cursor> DecodeCursor(const SessionQuery& q) {
  const std::string_view text = q.cursor;
  const auto invalid = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format(
        "SessionQuery::cursor '{}' {}", text.substr(0, 80), why));
  };
  if (!text.starts_with(kCursorTag) ||
      text.size() != kCursorTag.size() + 2 * kCursorBytes) {
    return invalid("is not a cursor Search returned");
  }
  std::string raw;
  for (size_t i = kCursorTag.size(); i < text.size(); i += 2) {
    const int hi = HexDigit(text[i]);
    const int lo = HexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) return invalid("is not a cursor Search returned");
    raw.push_back(static_cast<char>(hi << 4 | lo));
  }
  if (raw[0] != static_cast<char>(q.sort) ||
      raw[1] != (q.descending ? 1 : 0)) {
    return invalid("was returned for another sort order");
  }
  Cursor c;
  c.key = static_cast<int64_t>(DecodeU64(std::string_view(raw).substr(2, 8)) ^
                               (1ULL << 63));
  std::array<uint8_t, SessionId::kBytes> id;
  std::memcpy(id.data(), raw.data() + 10, id.size());
  c.id = SessionId::FromBytes(id);
  return c;
}

Status ValidateQuery(const SessionQuery& q) {
  for (SessionStatus s : q.statuses) {
    if (!Indexable(s)) {
      return Status::InvalidArgument(fmt::format(
          "SessionQuery::statuses names '{}'; sessions that are active, idle "
          "or archived can be searched",
          SessionStatusName(s)));
    }
  }
  if (static_cast<uint8_t>(q.sort) > static_cast<uint8_t>(SessionSort::kCost)) {
    return Status::InvalidArgument(
        fmt::format("SessionQuery::sort is {}; it must be a SessionSort",
                    static_cast<int>(q.sort)));
  }
  return Status::OK();
}

}  // namespace

// --- Dictionary ---

uint32_t SessionIndex::Dictionary::Intern(std::string_view name) {
  const auto it = codes_.find(name);
  if (it != codes_.end()) return it->second;
  const auto code = static_cast<uint32_t>(names_.size());
  codes_.emplace(std::string(name), code);
  names_.emplace_back(name);
  members_.emplace_back();
  return code;
}

const Roaring* SessionIndex::Dictionary::Find(
    std::string_view name) const {
  const auto it = codes_.find(name);
  return it == codes_.end() ? nullptr : &members_[it->second];
}

size_t SessionIndex::Dictionary::MemoryBytes() const {
  // A name lives in names_ and as the map's key, in a node with a hash
  // bucket: an estimate, as the standard library does not say.
  size_t bytes = codes_.bucket_count() * sizeof(void*) +
                 names_.capacity() * sizeof(std::string) +
                 members_.capacity() * sizeof(Roaring);
  for (size_t i = 0; i < names_.size(); ++i) {
    const size_t heap = names_[i].size() > 15 ? names_[i].capacity() : 0;
    bytes += 2 * heap + sizeof(std::string) + sizeof(uint32_t) +
             2 * sizeof(void*) + members_[i].getSizeInBytes();
  }
  return bytes;
}

// --- Building and keeping in step ---

uint32_t SessionIndex::LowerBound(const SessionId& id) const {
  return static_cast<uint32_t>(
      std::lower_bound(
          entries_.begin(), entries_.end(), id,
          [](const Entry& e, const SessionId& x) { return e.id < x; }) -
      entries_.begin());
}

uint32_t SessionIndex::Find(const SessionId& id) const {
  const uint32_t ord = LowerBound(id);
  if (ord == entries_.size() || entries_[ord].id != id) {
    return static_cast<uint32_t>(entries_.size());
  }
  return ord;
}

template <typename Tags>
void SessionIndex::AddTags(uint32_t ord, const Tags& tags) {
  Entry& e = entries_[ord];
  e.tags_at = static_cast<uint32_t>(tag_codes_.size());
  e.tag_count = static_cast<uint16_t>(tags.size());
  for (std::string_view tag : tags) {
    const uint32_t code = tags_.Intern(tag);
    tag_codes_.push_back(code);
    tags_.Add(code, ord, bulk_);
  }
}

void SessionIndex::RemoveTags(uint32_t ord) {
  Entry& e = entries_[ord];
  for (uint32_t i = 0; i < e.tag_count; ++i) {
    tags_.Members(tag_codes_[e.tags_at + i]).remove(ord);
  }
  stale_tag_codes_ += e.tag_count;
  e.tag_count = 0;
}

namespace {
uint64_t TokensOf(const Session& s) { return s.tokens.total(); }
uint64_t TokensOf(const SessionView& s) { return s.tokens; }
}  // namespace

template <typename S>
void SessionIndex::Entry::SetFigures(const S& s) {
  cost_micros = s.cost_micros;
  tokens = TokensOf(s);
  pinned = s.pinned;
  title_size = static_cast<uint8_t>(std::min<size_t>(s.title.size(), 255));
  std::memset(title, 0, kTitleBytes);
  std::memcpy(title, s.title.data(), std::min(s.title.size(), kTitleBytes));
}

template <typename S>
void SessionIndex::Index(uint32_t ord, const S& s) {
  Entry& e = entries_[ord];
  e.state = static_cast<uint8_t>(s.status);
  e.last_active_ms = s.last_active_ms;
  e.SetFigures(s);
  e.agent = agents_.Intern(s.agent);
  agents_.Add(e.agent, ord, bulk_);
  e.model = models_.Intern(s.model);
  models_.Add(e.model, ord, bulk_);
  AddTags(ord, s.tags);
  if (bulk_) {
    status_bulk_[e.state].push_back(ord);
  } else {
    by_status_[e.state].add(ord);
  }
  ++indexed_;
}

void SessionIndex::Unindex(uint32_t ord) {
  Entry& e = entries_[ord];
  by_status_[e.state].remove(ord);
  agents_.Members(e.agent).remove(ord);
  models_.Members(e.model).remove(ord);
  RemoveTags(ord);
  --indexed_;
}

void SessionIndex::ReserveCapacity(size_t sessions) {
  entries_.reserve(sessions);
  activity_ms_.reserve(sessions);
  activity_ord_.reserve(sessions);
}

void SessionIndex::Load(const SessionView& s) {
  BeginBulk();
  const auto ord = static_cast<uint32_t>(entries_.size());
  entries_.push_back(Entry{.id = s.id});
  last_id_ = std::max(last_id_, s.id);
  if (!Indexable(s.status)) {
    entries_.back().state = kGone;
    ++gone_;
    return;
  }
  Index(ord, s);
  // Sorted once, by FinishLoad.
  activity_ms_.push_back(s.last_active_ms);
  activity_ord_.push_back(ord);
}

void SessionIndex::Dictionary::ApplyBulk() {
  for (size_t code = 0; code < bulk_.size(); ++code) {
    members_[code].addMany(bulk_[code].size(), bulk_[code].data());
  }
  bulk_ = {};
}

void SessionIndex::ApplyBulk() {
  if (!bulk_) return;
  for (size_t s = 0; s < 3; ++s) {
    by_status_[s].addMany(status_bulk_[s].size(), status_bulk_[s].data());
    status_bulk_[s] = {};
  }
  agents_.ApplyBulk();
  models_.ApplyBulk();
  tags_.ApplyBulk();
  bulk_ = false;
}

void SessionIndex::FinishLoad() {
  std::unique_lock lock(mu_);
  ApplyBulk();
  SortActivity();
}

void SessionIndex::SortActivity() {
  std::vector<std::pair<int64_t, uint32_t>> order(activity_ms_.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = {activity_ms_[i], activity_ord_[i]};
  }
  std::sort(order.begin(), order.end());
  for (size_t i = 0; i < order.size(); ++i) {
    activity_ms_[i] = order[i].first;
    activity_ord_[i] = order[i].second;
  }
}

SessionId SessionIndex::Reserve(int64_t now_ms) {
  std::unique_lock lock(mu_);
  // Ids ascend with ordinals, which is what makes creation order a walk.
  SessionId id =
      SessionId::Generate(std::max(now_ms, last_id_.timestamp_ms()));
  if (id <= last_id_) id = Successor(last_id_);
  last_id_ = id;
  entries_.push_back(Entry{.id = id});
  return id;
}

void SessionIndex::Abandon(const SessionId& id) {
  std::unique_lock lock(mu_);
  const uint32_t ord = Find(id);
  if (ord == entries_.size() || entries_[ord].state != kReserved) return;
  entries_[ord].state = kGone;
  ++gone_;
  MaybeCompact();
}

void SessionIndex::Put(const Session& s) {
  std::unique_lock lock(mu_);
  uint32_t ord = Find(s.id);
  if (ord == entries_.size()) {
    // Not in the index: a session whose record had an unindexed status
    // (evicted, deleted) and was dropped at a renumbering. Place it in id
    // order and renumber; rare enough to afford.
    entries_.insert(entries_.begin() + LowerBound(s.id), Entry{.id = s.id});
    last_id_ = std::max(last_id_, s.id);
    Rebuild();
    ord = Find(s.id);
  }
  Entry& e = entries_[ord];
  if (!Indexable(s.status)) {
    if (e.indexed()) Unindex(ord);
    if (e.state != kGone) {
      e.state = kGone;
      ++gone_;
    }
    MaybeCompact();
    return;
  }
  if (!e.indexed()) {
    if (e.state == kGone) --gone_;
    Index(ord, s);
    AddActivity(s.last_active_ms, ord);
    return;
  }
  // A change to an indexed session: move only what moved.
  const auto state = static_cast<uint8_t>(s.status);
  if (e.state != state) {
    by_status_[e.state].remove(ord);
    by_status_[state].add(ord);
    e.state = state;
  }
  if (agents_.Name(e.agent) != s.agent) {
    agents_.Members(e.agent).remove(ord);
    e.agent = agents_.Intern(s.agent);
    agents_.Members(e.agent).add(ord);
  }
  if (models_.Name(e.model) != s.model) {
    models_.Members(e.model).remove(ord);
    e.model = models_.Intern(s.model);
    models_.Members(e.model).add(ord);
  }
  bool same_tags = e.tag_count == s.tags.size();
  for (size_t i = 0; same_tags && i < s.tags.size(); ++i) {
    same_tags = tags_.Name(tag_codes_[e.tags_at + i]) == s.tags[i];
  }
  if (!same_tags) {
    RemoveTags(ord);
    AddTags(ord, s.tags);
  }
  if (e.last_active_ms != s.last_active_ms) {
    e.last_active_ms = s.last_active_ms;
    AddActivity(s.last_active_ms, ord);  // The old position goes stale.
  }
  e.SetFigures(s);
  MaybeCompact();
}

void SessionIndex::Remove(const SessionId& id) {
  std::unique_lock lock(mu_);
  const uint32_t ord = Find(id);
  if (ord == entries_.size()) return;
  Entry& e = entries_[ord];
  if (e.indexed()) Unindex(ord);
  if (e.state != kGone) {
    e.state = kGone;
    ++gone_;
  }
  MaybeCompact();
}

void SessionIndex::AddActivity(int64_t ms, uint32_t ord) {
  // Writes arrive in about time order, so this is nearly always an append;
  // a write that raced another, or a clock stepped back, inserts.
  const auto before = [&](size_t pos) {
    return activity_ms_[pos] != ms ? activity_ms_[pos] < ms
                                   : activity_ord_[pos] < ord;
  };
  size_t pos = activity_ms_.size();
  if (pos > 0 && !before(pos - 1)) {
    size_t lo = 0;
    size_t hi = pos;
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (before(mid)) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    pos = lo;
  }
  activity_ms_.insert(activity_ms_.begin() + static_cast<ptrdiff_t>(pos), ms);
  activity_ord_.insert(activity_ord_.begin() + static_cast<ptrdiff_t>(pos),
                       ord);
}

bool SessionIndex::ActivityCurrent(size_t pos) const {
  const Entry& e = entries_[activity_ord_[pos]];
  return e.indexed() && e.last_active_ms == activity_ms_[pos];
}

size_t SessionIndex::ActivityBound(int64_t ms, const SessionId& id,
                                   bool inclusive) const {
  size_t lo = 0;
  size_t hi = activity_ms_.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const int64_t at_ms = activity_ms_[mid];
    const SessionId& at_id = entries_[activity_ord_[mid]].id;
    const bool below = at_ms != ms ? at_ms < ms
                                   : (inclusive ? at_id < id : at_id <= id);
    if (below) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

void SessionIndex::MaybeCompact() {
  constexpr size_t kSlack = 1024;
  if (gone_ > kSlack && gone_ > indexed_) {
    Rebuild();
    return;
  }
  if (activity_ms_.size() > 2 * indexed_ + kSlack) {
    size_t kept = 0;
    for (size_t pos = 0; pos < activity_ms_.size(); ++pos) {
      if (!ActivityCurrent(pos)) continue;
      activity_ms_[kept] = activity_ms_[pos];
      activity_ord_[kept] = activity_ord_[pos];
      ++kept;
    }
    activity_ms_.resize(kept);
    activity_ord_.resize(kept);
  }
  if (stale_tag_codes_ > tag_codes_.size() / 2 + kSlack) {
    std::vector<uint32_t> codes;
    codes.reserve(tag_codes_.size() - stale_tag_codes_);
    for (Entry& e : entries_) {
      const auto at = static_cast<uint32_t>(codes.size());
      codes.insert(codes.end(), tag_codes_.begin() + e.tags_at,
                   tag_codes_.begin() + e.tags_at + e.tag_count);
      e.tags_at = at;
    }
    tag_codes_ = std::move(codes);
    stale_tag_codes_ = 0;
  }
}

void SessionIndex::Rebuild() {
  // Renumbers the entries kept, in id order, and builds everything else
  // anew from them, dropping names no session has any more.
  std::vector<Entry> old = std::move(entries_);
  const Dictionary old_agents = std::move(agents_);
  const Dictionary old_models = std::move(models_);
  const Dictionary old_tags = std::move(tags_);
  const std::vector<uint32_t> old_codes = std::move(tag_codes_);
  entries_ = {};
  agents_ = Dictionary();
  models_ = Dictionary();
  tags_ = Dictionary();
  tag_codes_ = {};
  stale_tag_codes_ = 0;
  for (Roaring& b : by_status_) b = Roaring();
  activity_ms_.clear();
  activity_ord_.clear();
  indexed_ = 0;
  gone_ = 0;
  BeginBulk();
  for (const Entry& e : old) {
    if (e.state == kGone) continue;
    const auto ord = static_cast<uint32_t>(entries_.size());
    Entry& n = entries_.emplace_back(e);
    if (!e.indexed()) continue;  // Reserved: nothing to index yet.
    n.agent = agents_.Intern(old_agents.Name(e.agent));
    agents_.Add(n.agent, ord, true);
    n.model = models_.Intern(old_models.Name(e.model));
    models_.Add(n.model, ord, true);
    n.tags_at = static_cast<uint32_t>(tag_codes_.size());
    for (uint32_t i = 0; i < e.tag_count; ++i) {
      const uint32_t code =
          tags_.Intern(old_tags.Name(old_codes[e.tags_at + i]));
      tag_codes_.push_back(code);
      tags_.Add(code, ord, true);
    }
    status_bulk_[n.state].push_back(ord);
    ++indexed_;
    activity_ms_.push_back(n.last_active_ms);
    activity_ord_.push_back(ord);
  }
  ApplyBulk();
  SortActivity();
}

// --- Reading ---

Result<SessionPage> SessionIndex::Search(const SessionQuery& q,
                                         TitleReader read_title) const {
  AGENTLOG_RETURN_IF_ERROR(ValidateQuery(q));
  std::optional<Cursor> cursor;
  if (!q.cursor.empty()) {
    AGENTLOG_ASSIGN_OR_RETURN(cursor, DecodeCursor(q));
  }
  std::shared_lock lock(mu_);
  SessionPage page;

  // The equality filters, as one bitmap of candidate ordinals.
  Roaring candidates;
  if (q.statuses.empty()) {
    candidates |= by_status_[static_cast<uint8_t>(SessionStatus::kActive)];
    candidates |= by_status_[static_cast<uint8_t>(SessionStatus::kIdle)];
  }
  for (SessionStatus s : q.statuses) {
    candidates |= by_status_[static_cast<uint8_t>(s)];
  }
  const auto intersect = [&](const Dictionary& dict, std::string_view name) {
    const Roaring* members = dict.Find(name);
    if (members == nullptr) return false;
    candidates &= *members;
    return true;
  };
  if (q.agent && !intersect(agents_, *q.agent)) return page;
  if (q.model && !intersect(models_, *q.model)) return page;
  for (const std::string& tag : q.all_tags) {
    if (!intersect(tags_, tag)) return page;
  }
  if (!q.any_tags.empty()) {
    Roaring any;
    for (const std::string& tag : q.any_tags) {
      if (const Roaring* m = tags_.Find(tag)) any |= *m;
    }
    candidates &= any;
  }
  for (const std::string& tag : q.no_tags) {
    if (const Roaring* m = tags_.Find(tag)) candidates -= *m;
  }

  // Creation times ascend with ordinals (an id's time is its session's
  // creation time): a created range is an ordinal range.
  if (q.created_from_ms || q.created_before_ms) {
    const auto first_at = [&](int64_t ms) {
      return static_cast<uint64_t>(
          std::lower_bound(entries_.begin(), entries_.end(), ms,
                           [](const Entry& e, int64_t x) {
                             return e.id.timestamp_ms() < x;
                           }) -
          entries_.begin());
    };
    const uint64_t lo = q.created_from_ms ? first_at(*q.created_from_ms) : 0;
    const uint64_t hi =
        q.created_before_ms ? first_at(*q.created_before_ms) : entries_.size();
    Roaring range;
    if (lo < hi) range.addRange(lo, hi);
    candidates &= range;
  }

  // The range filters and the title, on the summary. A prefix longer than
  // a summary keeps is checked on the stored titles afterwards, without the
  // lock (a read must not hold up every writer).
  const bool read_titles = q.title_prefix.size() > kTitleBytes;
  const auto matches = [&](const Entry& e) {
    const int64_t created = e.id.timestamp_ms();
    if ((q.created_from_ms && created < *q.created_from_ms) ||
        (q.created_before_ms && created >= *q.created_before_ms) ||
        (q.active_from_ms && e.last_active_ms < *q.active_from_ms) ||
        (q.active_before_ms && e.last_active_ms >= *q.active_before_ms) ||
        (q.min_cost_micros && e.cost_micros < *q.min_cost_micros) ||
        (q.max_cost_micros && e.cost_micros > *q.max_cost_micros) ||
        (q.min_tokens && e.tokens < *q.min_tokens) ||
        (q.max_tokens && e.tokens > *q.max_tokens)) {
      return false;
    }
    const std::string& prefix = q.title_prefix;
    if (prefix.empty()) return true;
    if (e.title_size < 255 && prefix.size() > e.title_size) return false;
    const size_t kept = std::min(prefix.size(), kTitleBytes);
    return std::memcmp(e.title, prefix.data(), kept) == 0;
  };

  // Results in order, one more than the limit to learn whether more match.
  const auto key_of = [&](const Entry& e) -> int64_t {
    switch (q.sort) {
      case SessionSort::kCreated: return e.id.timestamp_ms();
      case SessionSort::kLastActive: return e.last_active_ms;
      case SessionSort::kCost: return e.cost_micros;
    }
    return 0;
  };
  // Whether (key, id) comes before (other_key, other_id) in the order.
  const auto precedes = [&](int64_t key, const SessionId& id,
                            int64_t other_key, const SessionId& other_id) {
    if (key != other_key) return q.descending ? key > other_key : key < other_key;
    return q.descending ? id > other_id : id < other_id;
  };
  constexpr size_t kAll = std::numeric_limits<size_t>::max();
  const size_t want = q.limit == 0 || q.limit == kAll || read_titles
                          ? kAll
                          : q.limit + 1;
  std::vector<uint32_t> hits;

  if (q.sort == SessionSort::kCreated) {
    // Ordinals ascend with ids, and ids with creation: walk the bitmap.
    roaring_uint32_iterator_t it;
    if (!q.descending) {
      // The first ordinal after the cursor's id.
      uint32_t start = 0;
      if (cursor) {
        start = LowerBound(cursor->id);
        if (start < entries_.size() && entries_[start].id == cursor->id) {
          ++start;
        }
      }
      roaring_init_iterator(&candidates.roaring, &it);
      roaring_move_uint32_iterator_equalorlarger(&it, start);
      for (; it.has_value && hits.size() < want;
           roaring_advance_uint32_iterator(&it)) {
        if (matches(entries_[it.current_value])) hits.push_back(it.current_value);
      }
    } else {
      const auto end = cursor ? LowerBound(cursor->id)
                              : static_cast<uint32_t>(entries_.size());
      // The greatest candidate below `end`.
      roaring_init_iterator(&candidates.roaring, &it);
      if (roaring_move_uint32_iterator_equalorlarger(&it, end)) {
        roaring_previous_uint32_iterator(&it);
      } else {
        roaring_init_iterator_last(&candidates.roaring, &it);
      }
      for (; it.has_value && hits.size() < want;
           roaring_previous_uint32_iterator(&it)) {
        if (matches(entries_[it.current_value])) hits.push_back(it.current_value);
      }
    }
  } else if (q.sort == SessionSort::kLastActive &&
             candidates.cardinality() * 8 >= indexed_) {
    // Many candidates (an eighth of the sessions or more): walk the
    // activity order from the cursor; about 8 (live) positions, and at most
    // 3 times that with the stale ones, per result.
    const auto visit = [&](size_t pos) {
      if (!ActivityCurrent(pos)) return;
      const uint32_t ord = activity_ord_[pos];
      if (candidates.contains(ord) && matches(entries_[ord])) {
        hits.push_back(ord);
      }
    };
    if (!q.descending) {
      size_t pos = cursor ? ActivityBound(cursor->key, cursor->id, false) : 0;
      for (; pos < activity_ms_.size() && hits.size() < want; ++pos) {
        visit(pos);
      }
    } else {
      size_t pos = cursor ? ActivityBound(cursor->key, cursor->id, true)
                          : activity_ms_.size();
      while (pos-- > 0 && hits.size() < want) visit(pos);
    }
  } else {
    // Few candidates, or an order the index does not keep: keep the best
    // `want` of them after the cursor in a heap, worst on top.
    const auto earlier = [&](uint32_t a, uint32_t b) {
      return precedes(key_of(entries_[a]), entries_[a].id,
                      key_of(entries_[b]), entries_[b].id);
    };
    roaring_uint32_iterator_t it;
    roaring_init_iterator(&candidates.roaring, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
      const uint32_t ord = it.current_value;
      const Entry& e = entries_[ord];
      const int64_t key = key_of(e);
      if (cursor && !precedes(cursor->key, cursor->id, key, e.id)) continue;
      if (hits.size() == want && !earlier(ord, hits.front())) continue;
      if (!matches(e)) continue;
      hits.push_back(ord);
      std::push_heap(hits.begin(), hits.end(), earlier);
      if (hits.size() > want) {
        std::pop_heap(hits.begin(), hits.end(), earlier);
        hits.pop_back();
      }
    }
    std::sort_heap(hits.begin(), hits.end(), earlier);
  }
  const size_t limit = q.limit == 0 ? kAll : q.limit;
  if (!read_titles) {
    if (hits.size() > limit) {
      hits.resize(limit);
      const Entry& last = entries_[hits.back()];
      page.next_cursor = EncodeCursor(q, {.key = key_of(last), .id = last.id});
    }
    page.sessions.reserve(hits.size());
    for (uint32_t ord : hits) page.sessions.push_back(Summarize(entries_[ord]));
    return page;
  }

  // Every candidate whose first bytes match, in order: read their titles
  // unlocked, then summarise the ones that match as the index has them now
  // (skipping any deleted meanwhile).
  std::vector<Cursor> ordered;
  ordered.reserve(hits.size());
  for (uint32_t ord : hits) {
    ordered.push_back({.key = key_of(entries_[ord]), .id = entries_[ord].id});
  }
  lock.unlock();
  std::vector<Cursor> matched;
  for (const Cursor& c : ordered) {
    if (matched.size() > limit) break;
    Result<std::string> title = read_title(c.id);
    if (title.status().IsNotFound()) continue;
    AGENTLOG_RETURN_IF_ERROR(title.status());
    if (title->starts_with(q.title_prefix)) matched.push_back(c);
  }
  if (matched.size() > limit) {
    matched.resize(limit);
    page.next_cursor = EncodeCursor(q, matched.back());
  }
  lock.lock();
  for (const Cursor& c : matched) {
    const uint32_t ord = Find(c.id);
    if (ord < entries_.size() && entries_[ord].indexed()) {
      page.sessions.push_back(Summarize(entries_[ord]));
    }
  }
  return page;
}

std::vector<SessionSummary> SessionIndex::Summaries() const {
  std::shared_lock lock(mu_);
  std::vector<SessionSummary> out;
  out.reserve(indexed_);
  for (const Entry& e : entries_) {
    if (e.indexed()) out.push_back(Summarize(e));
  }
  return out;
}

size_t SessionIndex::live() const {
  std::shared_lock lock(mu_);
  return indexed_;
}

bool SessionIndex::Contains(const SessionId& id) const {
  std::shared_lock lock(mu_);
  const uint32_t ord = Find(id);
  return ord < entries_.size() && entries_[ord].indexed();
}

std::array<uint64_t, 3> SessionIndex::StatusCounts() const {
  std::shared_lock lock(mu_);
  return {by_status_[0].cardinality(), by_status_[1].cardinality(),
          by_status_[2].cardinality()};
}

std::vector<SessionId> SessionIndex::EvictionOrder(
    size_t n, bool archived_first, SessionFilter pass_over) const {
  std::vector<SessionId> first;
  std::vector<SessionId> then;  // Never more than n are needed.
  std::shared_lock lock(mu_);
  for (size_t pos = 0; pos < activity_ms_.size() && first.size() < n; ++pos) {
    if (!ActivityCurrent(pos)) continue;
    const Entry& e = entries_[activity_ord_[pos]];
    if (e.pinned || pass_over(e.id)) continue;
    const bool archived =
        e.state == static_cast<uint8_t>(SessionStatus::kArchived);
    if (archived == archived_first) {
      first.push_back(e.id);
    } else if (then.size() < n) {
      then.push_back(e.id);
    }
  }
  then.resize(std::min(then.size(), n - first.size()));
  first.insert(first.end(), then.begin(), then.end());
  return first;
}

std::vector<SessionId> SessionIndex::InactiveBefore(
    SessionStatus status, int64_t before_ms, size_t n,
    SessionFilter pass_over) const {
  std::vector<SessionId> out;
  std::shared_lock lock(mu_);
  for (size_t pos = 0; pos < activity_ms_.size() &&
                       activity_ms_[pos] < before_ms && out.size() < n;
       ++pos) {
    if (!ActivityCurrent(pos)) continue;
    const Entry& e = entries_[activity_ord_[pos]];
    if (e.state != static_cast<uint8_t>(status) || e.pinned ||
        pass_over(e.id)) {
      continue;
    }
    out.push_back(e.id);
  }
  return out;
}

std::vector<SessionId> SessionIndex::AgeCandidates(
    SessionStatus status, const SessionId& after, int64_t created_before_ms,
    int64_t active_since_ms, size_t n) const {
  std::vector<SessionId> out;
  std::shared_lock lock(mu_);
  // Ordinals are in id order, and ids in creation order: the walk ends at
  // the first session created too late.
  for (size_t ord = LowerBound(after);
       ord < entries_.size() && out.size() < n; ++ord) {
    const Entry& e = entries_[ord];
    if (e.id.timestamp_ms() >= created_before_ms) break;
    if (e.id == after || e.state != static_cast<uint8_t>(status) ||
        e.pinned || e.last_active_ms < active_since_ms) {
      continue;
    }
    out.push_back(e.id);
  }
  return out;
}

SessionStats SessionIndex::Stats(int64_t now_ms) const {
  std::shared_lock lock(mu_);
  SessionStats stats;
  stats.sessions = indexed_;
  for (uint8_t s = 0; s < 3; ++s) {
    stats.by_status.emplace_back(static_cast<SessionStatus>(s),
                                 by_status_[s].cardinality());
  }
  const auto counts = [](const Dictionary& dict) {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (uint32_t code = 0; code < dict.size(); ++code) {
      const uint64_t n = dict.Members(code).cardinality();
      if (n > 0) out.emplace_back(dict.Name(code), n);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    return out;
  };
  stats.by_agent = counts(agents_);
  stats.by_model = counts(models_);
  stats.by_tag = counts(tags_);
  constexpr int64_t kHour = 3'600'000;
  constexpr int64_t kDay = 24 * kHour;
  for (int64_t bound :
       {kHour, kDay, 7 * kDay, 30 * kDay, 365 * kDay, int64_t{0}}) {
    stats.by_age.push_back({.younger_than_ms = bound});
  }
  for (const Entry& e : entries_) {
    if (!e.indexed()) continue;
    const int64_t age = now_ms - e.id.timestamp_ms();
    size_t b = 0;
    while (b + 1 < stats.by_age.size() &&
           age >= stats.by_age[b].younger_than_ms) {
      ++b;
    }
    ++stats.by_age[b].sessions;
  }
  stats.index_bytes = Bytes();
  return stats;
}

size_t SessionIndex::MemoryBytes() const {
  std::shared_lock lock(mu_);
  return Bytes();
}

size_t SessionIndex::Bytes() const {
  size_t bytes = sizeof(*this) + entries_.capacity() * sizeof(Entry) +
                 tag_codes_.capacity() * sizeof(uint32_t) +
                 activity_ms_.capacity() * sizeof(int64_t) +
                 activity_ord_.capacity() * sizeof(uint32_t) +
                 agents_.MemoryBytes() + models_.MemoryBytes() +
                 tags_.MemoryBytes();
  for (const Roaring& b : by_status_) bytes += b.getSizeInBytes();
  return bytes;
}

SessionSummary SessionIndex::Summarize(const Entry& e) const {
  SessionSummary out;
  out.id = e.id;
  out.agent = agents_.Name(e.agent);
  out.model = models_.Name(e.model);
  for (uint32_t i = 0; i < e.tag_count; ++i) {
    out.tags.push_back(tags_.Name(tag_codes_[e.tags_at + i]));
  }
  out.status = static_cast<SessionStatus>(e.state);
  out.pinned = e.pinned;
  out.created_ms = e.id.timestamp_ms();
  out.last_active_ms = e.last_active_ms;
  out.cost_micros = e.cost_micros;
  out.tokens = e.tokens;
  return out;
}

}  // namespace agentlog::internal
