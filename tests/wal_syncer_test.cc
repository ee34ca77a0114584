// The background WAL sync behind Durability::kBuffered. Each test waits for
// the sync call it expects, which signals from the syncer's thread.

#include "wal_syncer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

namespace agentlog::internal {
namespace {

using std::chrono_literals::operator""ms;

TEST(WalSyncerTest, AWriteMarkedDirtyIsSyncedByTheNextTick) {
  std::promise<void> synced;
  int calls = 0;  // The syncer's thread alone touches it.
  WalSyncer syncer(
      [&] {
        if (++calls == 1) synced.set_value();
        return true;
      },
      1ms);
  syncer.MarkDirty();
  synced.get_future().wait();
  EXPECT_FALSE(syncer.dirty());
}

TEST(WalSyncerTest, AFailedSyncIsRetried) {
  std::promise<void> retried;
  int calls = 0;  // The syncer's thread alone touches it.
  WalSyncer syncer(
      [&] {
        if (++calls == 2) retried.set_value();
        return calls >= 2;  // The first sync fails.
      },
      1ms);
  syncer.MarkDirty();
  // Without the retry the first failure would leave the write unsynced and
  // this wait would never end (the test's timeout names it).
  retried.get_future().wait();
  EXPECT_FALSE(syncer.dirty());
}

}  // namespace
}  // namespace agentlog::internal
