// Run-once keys: one run per key under a race, the result handed to every
// other caller, failures recorded as nothing, expiry honoured at once and
// reclaimed by compaction.

#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "column_families.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using namespace std::chrono_literals;

class RunOnceTest : public StoreTest {
 protected:
  internal::StoreImpl& impl() {
    return static_cast<internal::StoreImpl&>(*store_);
  }
  bool OnDisk(std::string_view key) {
    std::string value;
    return impl()
        .db()
        ->Get(rocksdb::ReadOptions(), impl().handle(internal::Cf::kRunOnce),
              rocksdb::Slice(key), &value)
        .ok();
  }
};

TEST_F(RunOnceTest, SixteenRacersOneRunEveryoneGetsItsResult) {
  constexpr int kThreads = 16;
  std::atomic<int> runs{0};
  std::atomic<bool> go{false};
  std::vector<Result<RunOnceOutcome>> outcomes(
      kThreads, Status::FailedPrecondition("not run"));
  std::atomic<int> entered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      ++entered;
      outcomes[t] = store_->RunOnce("charge-card/order-1187", 1h, [&, t] {
        ++runs;
        // Hold the run until every racer has called RunOnce, so that they
        // meet it running rather than find its record.
        while (entered.load() < kThreads) std::this_thread::yield();
        return Result<std::string>("receipt from thread " + std::to_string(t));
      });
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(runs.load(), 1);
  int ran = 0;
  std::string result;
  for (const auto& outcome : outcomes) {
    ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
    ran += outcome->ran ? 1 : 0;
    if (outcome->ran) result = outcome->result;
  }
  EXPECT_EQ(ran, 1);
  for (const auto& outcome : outcomes) EXPECT_EQ(outcome->result, result);

  Reopen();  // The record is durable.
  ASSERT_OK_AND_ASSIGN(RunOnceOutcome again,
                       store_->RunOnce("charge-card/order-1187", 1h, [] {
                         ADD_FAILURE() << "ran twice";
                         return Result<std::string>("");
                       }));
  EXPECT_FALSE(again.ran);
  EXPECT_EQ(again.result, result);
}

TEST_F(RunOnceTest, AFailedRunRecordsNothing) {
  const Status failed =
      store_->RunOnce("send-mail", 1h, [] {
        return Result<std::string>(Status::Busy("smtp down"));
      }).status();
  EXPECT_EQ(failed.code(), Code::kBusy);
  EXPECT_TRUE(store_->GetRunOnce("send-mail").status().IsNotFound());
  ASSERT_OK_AND_ASSIGN(RunOnceOutcome retried,
                       store_->RunOnce("send-mail", 1h, [] {
                         return Result<std::string>("sent");
                       }));
  EXPECT_TRUE(retried.ran);
  EXPECT_EQ(retried.result, "sent");
}

// After its TTL a key reads as absent at once, runs again if asked, and
// compaction removes the old record from disk.
TEST_F(RunOnceTest, ExpiredKeysReadAbsentAtOnceAndLeaveTheDisk) {
  auto op = [](const char* r) {
    return [r] { return Result<std::string>(r); };
  };
  ASSERT_OK(store_->RunOnce("a", 1000ms, op("first")).status());
  ASSERT_OK(store_->RunOnce("b", 10h, op("kept")).status());
  ASSERT_OK(store_->Compact());
  EXPECT_TRUE(OnDisk("a"));  // Not expired: the filter keeps it.

  clock_->Advance(1000);
  EXPECT_TRUE(store_->GetRunOnce("a").status().IsNotFound());
  ASSERT_OK(store_->Compact());
  EXPECT_FALSE(OnDisk("a"));
  EXPECT_TRUE(OnDisk("b"));
  ASSERT_OK_AND_ASSIGN(RunOnceOutcome b, store_->GetRunOnce("b"));
  EXPECT_EQ(b.result, "kept");
  EXPECT_EQ(b.expires_ms, b.recorded_ms + 10 * 3600 * 1000);

  ASSERT_OK_AND_ASSIGN(RunOnceOutcome rerun,
                       store_->RunOnce("a", 1000ms, op("second")));
  EXPECT_TRUE(rerun.ran);
  EXPECT_EQ(rerun.result, "second");
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean());
}

// The host's operation throwing must not escape agentlog's API, nor leave
// the key stuck as running.
TEST_F(RunOnceTest, AThrowingOperationIsAnErrorAndTheKeyStaysUsable) {
  const Status threw =
      store_
          ->RunOnce("k", 1h,
                    []() -> Result<std::string> {
                      throw std::runtime_error("tool crashed");
                    })
          .status();
  EXPECT_EQ(threw.code(), Code::kFailedPrecondition);
  EXPECT_NE(threw.message().find("tool crashed"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(RunOnceOutcome ok, store_->RunOnce("k", 1h, [] {
    return Result<std::string>("fine");
  }));
  EXPECT_TRUE(ok.ran);
  EXPECT_EQ(store_->RunOnce("k", 1h, nullptr).status().code(),
            Code::kInvalidArgument);
}

TEST_F(RunOnceTest, BadCallsAreRefusedAndWriteNothing) {
  const uint64_t sequence = impl().db()->GetLatestSequenceNumber();
  int runs = 0;
  auto op = [&] {
    ++runs;
    return Result<std::string>("x");
  };
  EXPECT_EQ(store_->RunOnce("", 1h, op).status().code(),
            Code::kInvalidArgument);
  const std::string long_key(options_.max_idempotency_key_bytes + 1, 'k');
  const Status too_long = store_->RunOnce(long_key, 1h, op).status();
  EXPECT_NE(too_long.message().find("max_idempotency_key_bytes"),
            std::string::npos);
  EXPECT_EQ(store_->RunOnce("k", 0ms, op).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(runs, 0);
  // A result over the limit: the operation ran, nothing is recorded.
  const Status big = store_
                         ->RunOnce("big", 1h,
                                   [&] {
                                     return Result<std::string>(std::string(
                                         options_.max_run_once_result_bytes +
                                             1,
                                         'r'));
                                   })
                         .status();
  EXPECT_EQ(big.code(), Code::kInvalidArgument);
  EXPECT_NE(big.message().find("nothing is recorded"), std::string::npos);
  EXPECT_EQ(impl().db()->GetLatestSequenceNumber(), sequence);
}

}  // namespace
}  // namespace agentlog::testing
