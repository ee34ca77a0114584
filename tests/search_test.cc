// Store::Search and the session index against a brute-force oracle over the
// stored sessions, and the index rebuilt at open against the one kept in
// step with writes.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using internal::StoreImpl;

const std::vector<std::string> kTags = {
    "prod", "staging", "eu", "us", "vip", "batch", "retry", "beta",
    "p0",   "p1",      "p2", "a",  "b",   "c",     "long-tag-name", "x"};
const std::vector<std::string> kAgents = {"planner", "coder", "reviewer",
                                          "support", "triage"};
const std::vector<std::string> kModels = {"model-a", "model-b", "model-c", ""};
// Titles sharing prefixes shorter and longer than the 7 bytes a summary
// keeps, so that both ways of matching a prefix are exercised.
const std::vector<std::string> kTitles = {
    "",           "fix",          "fix login",      "fix login bug",
    "fix logout", "refactor db",  "refactor dbase", "summarise the thread",
    "summarise",  "summarise it", "zz"};

// What Search must return for `q`, computed from every stored session.
std::vector<SessionId> Oracle(const std::vector<Session>& all,
                              const SessionQuery& q) {
  std::vector<const Session*> hits;
  const auto has = [](const Session& s, const std::string& tag) {
    return std::find(s.tags.begin(), s.tags.end(), tag) != s.tags.end();
  };
  for (const Session& s : all) {
    const bool status_ok =
        q.statuses.empty()
            ? s.status != SessionStatus::kArchived
            : std::find(q.statuses.begin(), q.statuses.end(), s.status) !=
                  q.statuses.end();
    if (!status_ok) continue;
    if (q.agent && s.agent != *q.agent) continue;
    if (q.model && s.model != *q.model) continue;
    if (!std::all_of(q.all_tags.begin(), q.all_tags.end(),
                     [&](const std::string& t) { return has(s, t); })) {
      continue;
    }
    if (!q.any_tags.empty() &&
        std::none_of(q.any_tags.begin(), q.any_tags.end(),
                     [&](const std::string& t) { return has(s, t); })) {
      continue;
    }
    if (std::any_of(q.no_tags.begin(), q.no_tags.end(),
                    [&](const std::string& t) { return has(s, t); })) {
      continue;
    }
    if (q.created_from_ms && s.created_ms < *q.created_from_ms) continue;
    if (q.created_before_ms && s.created_ms >= *q.created_before_ms) continue;
    if (q.active_from_ms && s.last_active_ms < *q.active_from_ms) continue;
    if (q.active_before_ms && s.last_active_ms >= *q.active_before_ms) continue;
    if (q.min_cost_micros && s.cost_micros < *q.min_cost_micros) continue;
    if (q.max_cost_micros && s.cost_micros > *q.max_cost_micros) continue;
    if (q.min_tokens && s.tokens.total() < *q.min_tokens) continue;
    if (q.max_tokens && s.tokens.total() > *q.max_tokens) continue;
    if (!s.title.starts_with(q.title_prefix)) continue;
    hits.push_back(&s);
  }
  const auto key = [&](const Session& s) {
    switch (q.sort) {
      case SessionSort::kCreated: return s.created_ms;
      case SessionSort::kLastActive: return s.last_active_ms;
      case SessionSort::kCost: return s.cost_micros;
    }
    return int64_t{0};
  };
  std::sort(hits.begin(), hits.end(), [&](const Session* a, const Session* b) {
    const auto ka = std::make_pair(key(*a), a->id);
    const auto kb = std::make_pair(key(*b), b->id);
    return q.descending ? ka > kb : ka < kb;
  });
  if (q.limit != 0 && hits.size() > q.limit) hits.resize(q.limit);
  std::vector<SessionId> ids;
  for (const Session* s : hits) ids.push_back(s->id);
  return ids;
}

std::vector<SessionId> Ids(const SessionPage& page) {
  std::vector<SessionId> ids;
  for (const SessionSummary& s : page.sessions) ids.push_back(s.id);
  return ids;
}

class SearchTest : public StoreTest {
 protected:
  StoreImpl& impl() { return static_cast<StoreImpl&>(*store_); }

  std::vector<Session> AllSessions() {
    auto all = store_->ListSessions();
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    return all.ok() ? *all : std::vector<Session>{};
  }

  // The index must hold exactly the stored sessions.
  void ExpectIndexMatchesStore() {
    std::vector<SessionSummary> expected;
    for (const Session& s : AllSessions()) expected.push_back(SummaryOf(s));
    const std::vector<SessionSummary> indexed = impl().index().Summaries();
    ASSERT_EQ(indexed.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(indexed[i], expected[i]) << "at " << i << ", session "
                                         << expected[i].id.ToString();
    }
  }

  std::vector<std::string> RandomTags(std::mt19937_64& rng, size_t max) {
    std::vector<std::string> tags;
    const size_t n = rng() % (max + 1);
    for (size_t i = 0; i < n; ++i) {
      const std::string& t = kTags[rng() % kTags.size()];
      if (std::find(tags.begin(), tags.end(), t) == tags.end()) {
        tags.push_back(t);
      }
    }
    return tags;
  }

  // Creates `n` sessions over simulated weeks, then works on some of them:
  // turns with usage, retags, touches, archives and deletes.
  void RandomWorkload(std::mt19937_64& rng, size_t n) {
    std::vector<SessionId> ids;
    for (size_t i = 0; i < n; ++i) {
      clock_->Advance(static_cast<int64_t>(rng() % 60'000));
      SessionSpec spec{.agent = kAgents[rng() % kAgents.size()],
                       .model = kModels[rng() % kModels.size()],
                       .title = kTitles[rng() % kTitles.size()],
                       .tags = RandomTags(rng, 4),
                       .pinned = rng() % 10 == 0};
      ASSERT_OK_AND_ASSIGN(Session s, store_->CreateSession(spec));
      ids.push_back(s.id);
    }
    for (size_t i = 0; i < n / 2; ++i) {
      clock_->Advance(static_cast<int64_t>(rng() % 120'000));
      const SessionId& id = ids[rng() % ids.size()];
      switch (rng() % 8) {
        case 0:
        case 1:
        case 2: {
          TurnUsage usage;
          usage.tokens.input = rng() % 5000;
          usage.tokens.output = rng() % 2000;
          usage.cost_micros = static_cast<int64_t>(rng() % 100'000);
          const Status s =
              store_
                  ->AppendTurn(id, "k" + std::to_string(i), UserInput("q"),
                               AssistantOutput("an answer"), usage)
                  .status();
          ASSERT_TRUE(s.ok() || s.IsNotFound() || s.IsFailedPrecondition())
              << s.ToString();
          break;
        }
        case 3: {
          SessionUpdate update;
          update.tags = RandomTags(rng, 3);
          const Status s = store_->UpdateSession(id, update).status();
          ASSERT_TRUE(s.ok() || s.IsNotFound() || s.IsFailedPrecondition())
              << s.ToString();
          break;
        }
        case 4: {
          const Status s = store_->TouchSession(id);
          ASSERT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
          break;
        }
        case 5: {
          const Status s = store_->ArchiveSession(id);
          ASSERT_TRUE(s.ok() || s.IsNotFound() || s.IsFailedPrecondition())
              << s.ToString();
          break;
        }
        case 6: {
          const Status s = store_->UnarchiveSession(id);
          ASSERT_TRUE(s.ok() || s.IsNotFound() || s.IsFailedPrecondition())
              << s.ToString();
          break;
        }
        case 7: {
          const Status s = store_->DeleteSession(id);
          ASSERT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
          break;
        }
      }
    }
  }

  SessionQuery RandomQuery(std::mt19937_64& rng, int64_t t0, int64_t t1) {
    SessionQuery q;
    const auto chance = [&](int percent) {
      return static_cast<int>(rng() % 100) < percent;
    };
    const auto time_in = [&] {
      return t0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(
                                                   std::max<int64_t>(1, t1 - t0)));
    };
    if (chance(40)) q.all_tags = RandomTags(rng, 2);
    if (chance(25)) q.any_tags = RandomTags(rng, 3);
    if (chance(25)) q.no_tags = RandomTags(rng, 2);
    if (chance(30)) {
      static const std::vector<SessionStatus> kStatuses = {
          SessionStatus::kActive, SessionStatus::kIdle,
          SessionStatus::kArchived};
      for (SessionStatus s : kStatuses) {
        if (chance(50)) q.statuses.push_back(s);
      }
    }
    if (chance(30)) q.agent = kAgents[rng() % kAgents.size()];
    if (chance(5)) q.agent = "nobody";
    if (chance(20)) q.model = kModels[rng() % kModels.size()];
    if (chance(25)) q.created_from_ms = time_in();
    if (chance(25)) q.created_before_ms = time_in();
    if (chance(25)) q.active_from_ms = time_in();
    if (chance(25)) q.active_before_ms = time_in();
    if (chance(20)) q.min_cost_micros = static_cast<int64_t>(rng() % 100'000);
    if (chance(20)) q.max_cost_micros = static_cast<int64_t>(rng() % 200'000);
    if (chance(20)) q.min_tokens = rng() % 8000;
    if (chance(20)) q.max_tokens = rng() % 16000;
    if (chance(20)) {
      const std::string& t = kTitles[rng() % kTitles.size()];
      q.title_prefix = t.substr(0, rng() % (t.size() + 1));
    }
    q.sort = static_cast<SessionSort>(rng() % 3);
    q.descending = chance(50);
    q.limit = chance(10) ? 0 : 1 + rng() % 200;
    return q;
  }
};

TEST_F(SearchTest, RandomQueriesMatchABruteForceOracle) {
  std::mt19937_64 rng(20261124);
  const int64_t t0 = clock_->NowMillis();
  // meson test sets the size; 100,000 unless under a sanitizer.
  const char* sessions = std::getenv("AGENTLOG_SEARCH_SESSIONS");
  const size_t n = sessions != nullptr ? std::strtoull(sessions, nullptr, 10)
                                       : 100'000;
  RandomWorkload(rng, n);
  const int64_t t1 = clock_->NowMillis();
  const std::vector<Session> all = AllSessions();
  ASSERT_GT(all.size(), n * 4 / 5);
  for (int i = 0; i < 1000; ++i) {
    const SessionQuery q = RandomQuery(rng, t0, t1);
    ASSERT_OK_AND_ASSIGN(const SessionPage page, store_->Search(q));
    SessionQuery unlimited = q;
    unlimited.limit = 0;
    const std::vector<SessionId> full = Oracle(all, unlimited);
    std::vector<SessionId> expected = full;
    // A full page says whether more match.
    const bool truncated = q.limit != 0 && expected.size() > q.limit;
    if (truncated) expected.resize(q.limit);
    ASSERT_EQ(Ids(page), expected) << "query " << i;
    EXPECT_EQ(!page.next_cursor.empty(), truncated) << "query " << i;
    // Every tenth query pages on: each page is the oracle's next slice.
    SessionQuery next = q;
    next.cursor = page.next_cursor;
    for (size_t at = q.limit; i % 10 == 0 && !next.cursor.empty();
         at += q.limit) {
      ASSERT_OK_AND_ASSIGN(const SessionPage more, store_->Search(next));
      const std::vector<SessionId> slice(
          full.begin() + static_cast<ptrdiff_t>(at),
          full.begin() +
              static_cast<ptrdiff_t>(std::min(full.size(), at + q.limit)));
      ASSERT_EQ(Ids(more), slice) << "query " << i << " from " << at;
      next.cursor = more.next_cursor;
    }
  }
}

TEST_F(SearchTest, CursorsVisitEachResultOnceWhileSessionsAreAdded) {
  std::mt19937_64 rng(7);
  RandomWorkload(rng, 3000);
  for (SessionSort sort :
       {SessionSort::kCreated, SessionSort::kCost, SessionSort::kLastActive}) {
    for (bool descending : {false, true}) {
      SessionQuery q{.any_tags = {"prod", "eu", "p0"},
                     .sort = sort,
                     .descending = descending,
                     .limit = 37};
      SessionQuery everything = q;
      everything.limit = 0;
      ASSERT_OK_AND_ASSIGN(const SessionPage before, store_->Search(everything));
      ASSERT_GT(before.sessions.size(), 200u);
      std::map<SessionId, int> seen;
      for (int pages = 0;; ++pages) {
        ASSERT_LT(pages, 1000);
        ASSERT_OK_AND_ASSIGN(const SessionPage page, store_->Search(q));
        for (const SessionSummary& s : page.sessions) ++seen[s.id];
        if (page.next_cursor.empty()) break;
        q.cursor = page.next_cursor;
        // New sessions, some of them matching, between pages. (Changing
        // the sort keys of existing ones would move them past the cursor.)
        for (int k = 0; k < 5; ++k) {
          clock_->Advance(1000);
          ASSERT_OK(store_->CreateSession(
              {.agent = "late", .tags = {k % 2 == 0 ? "prod" : "other"}})
                        .status());
        }
      }
      for (const SessionSummary& s : before.sessions) {
        EXPECT_EQ(seen[s.id], 1) << s.id.ToString();
      }
      for (const auto& [id, times] : seen) EXPECT_EQ(times, 1);
    }
  }
}

TEST_F(SearchTest, IndexBuiltAtOpenEqualsIndexKeptInStep) {
  std::mt19937_64 rng(99);
  RandomWorkload(rng, 5000);
  ExpectIndexMatchesStore();
  const std::vector<SessionSummary> kept = impl().index().Summaries();
  Reopen();
  EXPECT_EQ(impl().index().Summaries(), kept);
  // And it stays in step after reopening.
  RandomWorkload(rng, 2000);
  ExpectIndexMatchesStore();
}

TEST_F(SearchTest, IdsAscendEvenWhenTheClockStepsBack) {
  ASSERT_OK_AND_ASSIGN(const Session first, store_->CreateSession({.agent = "a"}));
  clock_->Advance(-3'600'000);
  ASSERT_OK_AND_ASSIGN(const Session second,
                       store_->CreateSession({.agent = "a"}));
  EXPECT_LT(first.id, second.id);
  EXPECT_EQ(second.created_ms, first.created_ms);
  EXPECT_EQ(second.created_ms, second.id.timestamp_ms());
  ASSERT_OK_AND_ASSIGN(const SessionPage page,
                       store_->Search({.sort = SessionSort::kCreated}));
  EXPECT_EQ(Ids(page), (std::vector<SessionId>{first.id, second.id}));
}

TEST_F(SearchTest, DefaultSearchesLeaveArchivedSessionsOut) {
  const Session kept = MakeSession();
  const Session archived = MakeSession();
  ASSERT_OK(store_->ArchiveSession(archived.id));
  ASSERT_OK_AND_ASSIGN(SessionPage page, store_->Search({}));
  EXPECT_EQ(Ids(page), std::vector<SessionId>{kept.id});
  ASSERT_OK_AND_ASSIGN(
      page, store_->Search({.statuses = {SessionStatus::kArchived}}));
  EXPECT_EQ(Ids(page), std::vector<SessionId>{archived.id});
}

TEST_F(SearchTest, DeletedSessionsLeaveTheIndex) {
  const Session a = MakeSession();
  const Session b = MakeSession();
  ASSERT_OK(store_->DeleteSession(a.id));
  ASSERT_OK_AND_ASSIGN(const SessionPage page, store_->Search({}));
  EXPECT_EQ(Ids(page), std::vector<SessionId>{b.id});
  ASSERT_OK_AND_ASSIGN(const SessionStats stats, store_->Stats());
  EXPECT_EQ(stats.sessions, 1u);
}

TEST_F(SearchTest, ManyDeletesRenumberWithoutLosingSessions) {
  // Deleting most sessions makes the index renumber; what is left must
  // still be found, in order, and new sessions come after it.
  std::vector<SessionId> kept;
  for (int i = 0; i < 3000; ++i) {
    const Session s = MakeSession(i % 3 == 0 ? "keep" : "drop");
    if (i % 3 == 0) {
      kept.push_back(s.id);
    }
  }
  ASSERT_OK_AND_ASSIGN(
      const SessionPage drops,
      store_->Search({.agent = "drop", .limit = 0}));
  for (const SessionSummary& s : drops.sessions) {
    ASSERT_OK(store_->DeleteSession(s.id));
  }
  kept.push_back(MakeSession("keep").id);
  ASSERT_OK_AND_ASSIGN(const SessionPage page,
                       store_->Search({.limit = 0}));
  EXPECT_EQ(Ids(page), kept);
  ExpectIndexMatchesStore();
}

TEST_F(SearchTest, TheLargestLimitMeansEveryResult) {
  // limit + 1 must not wrap to 0: every order returns all three.
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(store_->CreateSession({.agent = "a", .title = "summarise it"})
                  .status());
  }
  for (SessionSort sort :
       {SessionSort::kCreated, SessionSort::kLastActive, SessionSort::kCost}) {
    for (const std::string prefix : {"", "summarise it"}) {
      ASSERT_OK_AND_ASSIGN(
          const SessionPage page,
          store_->Search({.title_prefix = prefix,
                          .sort = sort,
                          .limit = std::numeric_limits<size_t>::max()}));
      EXPECT_EQ(page.sessions.size(), 3u);
      EXPECT_TRUE(page.next_cursor.empty());
    }
  }
}

TEST_F(SearchTest, LongTitlePrefixesPageLikeShortOnes) {
  // Prefixes past the 7 bytes a summary keeps read the stored titles;
  // paging through them must give each match once, in order.
  std::vector<SessionId> expected;
  for (int i = 0; i < 25; ++i) {
    clock_->Advance(1000);
    const std::string title = i % 3 == 0 ? "summarise the call" : "summarise it";
    ASSERT_OK_AND_ASSIGN(const Session s,
                         store_->CreateSession({.agent = "a", .title = title}));
    if (i % 3 == 0) expected.push_back(s.id);
  }
  SessionQuery q{.title_prefix = "summarise the", .limit = 4};
  std::vector<SessionId> seen;
  for (int pages = 0; pages < 10; ++pages) {
    ASSERT_OK_AND_ASSIGN(const SessionPage page, store_->Search(q));
    for (const SessionSummary& s : page.sessions) seen.push_back(s.id);
    if (page.next_cursor.empty()) break;
    q.cursor = page.next_cursor;
  }
  EXPECT_EQ(seen, expected);
}

TEST_F(SearchTest, DroppingStaleActivityAndTagCodesKeepsResults) {
  // Thousands of touches and retags on few sessions leave far more stale
  // activity positions and tag codes than live ones, so the index drops
  // them several times; searches must not notice.
  // Cold sessions, tagged and never written again, keep their first
  // positions and codes through every drop; hot ones are rewritten.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 40; ++i) {
    clock_->Advance(1);
    ASSERT_OK(store_
                  ->CreateSession({.agent = "cold",
                                   .tags = {kTags[i % kTags.size()], "x"}})
                  .status());
  }
  std::vector<SessionId> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(MakeSession().id);
  for (int i = 0; i < 4000; ++i) {
    clock_->Advance(1 + static_cast<int64_t>(rng() % 3));
    const SessionId& id = ids[rng() % ids.size()];
    if (i % 2 == 0) {
      ASSERT_OK(store_->TouchSession(id));
    } else {
      SessionUpdate update;
      update.tags = RandomTags(rng, 4);
      ASSERT_OK(store_->UpdateSession(id, update).status());
    }
  }
  ExpectIndexMatchesStore();
  const std::vector<Session> all = AllSessions();
  for (const char* tag : {"prod", "eu", "x"}) {
    const SessionQuery q{.all_tags = {tag},
                         .sort = SessionSort::kLastActive,
                         .descending = true,
                         .limit = 0};
    ASSERT_OK_AND_ASSIGN(const SessionPage page, store_->Search(q));
    EXPECT_EQ(Ids(page), Oracle(all, q)) << tag;
  }
  const SessionQuery recent{.sort = SessionSort::kLastActive, .limit = 0};
  ASSERT_OK_AND_ASSIGN(const SessionPage page, store_->Search(recent));
  EXPECT_EQ(Ids(page), Oracle(all, recent));
}

TEST_F(SearchTest, BadQueriesAreInvalidArguments) {
  MakeSession();
  Result<SessionPage> r =
      store_->Search({.statuses = {SessionStatus::kDeleted}});
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("SessionQuery::statuses"),
            std::string::npos);
  r = store_->Search({.cursor = "not a cursor"});
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("SessionQuery::cursor"),
            std::string::npos);
  // A cursor belongs to its order.
  MakeSession();
  ASSERT_OK_AND_ASSIGN(const SessionPage page, store_->Search({.limit = 1}));
  ASSERT_FALSE(page.next_cursor.empty());
  r = store_->Search(
      {.sort = SessionSort::kCost, .limit = 1, .cursor = page.next_cursor});
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
}

TEST_F(SearchTest, StatsCountByStatusAgentModelTagAndAge) {
  ASSERT_OK(store_->CreateSession(
      {.agent = "a", .model = "m1", .tags = {"prod", "eu"}}).status());
  clock_->Advance(2 * 86'400'000);
  ASSERT_OK(store_->CreateSession({.agent = "a", .model = "m2", .tags = {"prod"}}).status());
  ASSERT_OK_AND_ASSIGN(const Session b, store_->CreateSession({.agent = "b"}));
  ASSERT_OK(store_->ArchiveSession(b.id));
  ASSERT_OK_AND_ASSIGN(const SessionStats stats, store_->Stats());
  EXPECT_EQ(stats.sessions, 3u);
  using Counts = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(stats.by_agent, (Counts{{"a", 2}, {"b", 1}}));
  EXPECT_EQ(stats.by_model, (Counts{{"", 1}, {"m1", 1}, {"m2", 1}}));
  EXPECT_EQ(stats.by_tag, (Counts{{"prod", 2}, {"eu", 1}}));
  EXPECT_EQ(stats.by_status,
            (std::vector<std::pair<SessionStatus, uint64_t>>{
                {SessionStatus::kActive, 2},
                {SessionStatus::kIdle, 0},
                {SessionStatus::kArchived, 1}}));
  ASSERT_EQ(stats.by_age.size(), 6u);
  EXPECT_EQ(stats.by_age[0].sessions, 2u);  // Under an hour.
  EXPECT_EQ(stats.by_age[2].sessions, 1u);  // Under a week.
  EXPECT_GT(stats.index_bytes, 0u);
}

}  // namespace
}  // namespace agentlog::testing
