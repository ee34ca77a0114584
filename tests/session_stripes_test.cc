#include "session_stripes.h"

#include <gtest/gtest.h>

#include <set>

namespace agentlog::internal {
namespace {

Session Named(int64_t ms, const std::string& title) {
  Session s;
  s.id = SessionId::Generate(ms);
  s.title = title;
  return s;
}

TEST(SessionCacheTest, FindsWhatWasPutAndForgetsWhatWasErased) {
  SessionCache cache;
  const Session a = Named(1, "a");
  EXPECT_EQ(cache.Find(a.id), nullptr);
  cache.Put(a);
  ASSERT_NE(cache.Find(a.id), nullptr);
  EXPECT_EQ(cache.Find(a.id)->title, "a");
  Session changed = a;
  changed.title = "a2";
  cache.Put(changed);  // Replaces, never duplicates.
  EXPECT_EQ(cache.Find(a.id)->title, "a2");
  cache.Erase(a.id);
  EXPECT_EQ(cache.Find(a.id), nullptr);
}

TEST(SessionCacheTest, EvictsTheLeastRecentlyUsedWhenFull) {
  SessionCache cache;
  std::vector<Session> sessions;
  for (size_t i = 0; i < SessionCache::kCapacity; ++i) {
    sessions.push_back(Named(static_cast<int64_t>(i), std::to_string(i)));
    cache.Put(sessions.back());
  }
  // Touch all but the second; it is now the least recently used.
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (i != 1) {
      ASSERT_NE(cache.Find(sessions[i].id), nullptr);
    }
  }
  const Session extra = Named(100, "extra");
  cache.Put(extra);
  EXPECT_EQ(cache.Find(sessions[1].id), nullptr);
  EXPECT_NE(cache.Find(extra.id), nullptr);
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (i != 1) {
      EXPECT_NE(cache.Find(sessions[i].id), nullptr) << i;
    }
  }
}

TEST(SessionStripesTest, OneSessionAlwaysMapsToOneStripe) {
  SessionStripes stripes;
  const SessionId id = SessionId::Generate(5);
  EXPECT_EQ(&stripes.For(id), &stripes.For(id));
  // Different sessions spread over the stripes.
  std::set<const void*> used;
  for (int i = 0; i < 64; ++i)
    used.insert(&stripes.For(SessionId::Generate(i)));
  EXPECT_GT(used.size(), 32u);
}

}  // namespace
}  // namespace agentlog::internal
