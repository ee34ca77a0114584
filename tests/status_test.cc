#include "agentlog/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "agentlog/result.h"

namespace agentlog {
namespace {

TEST(StatusTest, DefaultIsOkWithEmptyMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, EveryFactoryCarriesItsCodeAndMessage) {
  struct Case {
    Status status;
    Code code;
    bool (Status::*predicate)() const;
    std::string_view name;
  };
  const Case cases[] = {
      {Status::InvalidArgument("m"), Code::kInvalidArgument,
       &Status::IsInvalidArgument, "InvalidArgument"},
      {Status::NotFound("m"), Code::kNotFound, &Status::IsNotFound, "NotFound"},
      {Status::AlreadyExists("m"), Code::kAlreadyExists,
       &Status::IsAlreadyExists, "AlreadyExists"},
      {Status::FailedPrecondition("m"), Code::kFailedPrecondition,
       &Status::IsFailedPrecondition, "FailedPrecondition"},
      {Status::ResourceExhausted("m"), Code::kResourceExhausted,
       &Status::IsResourceExhausted, "ResourceExhausted"},
      {Status::BudgetExceeded("m"), Code::kBudgetExceeded,
       &Status::IsBudgetExceeded, "BudgetExceeded"},
      {Status::Conflict("m"), Code::kConflict, &Status::IsConflict, "Conflict"},
      {Status::Corruption("m"), Code::kCorruption, &Status::IsCorruption,
       "Corruption"},
      {Status::IOError("m"), Code::kIOError, &Status::IsIOError, "IOError"},
      {Status::Busy("m"), Code::kBusy, &Status::IsBusy, "Busy"},
      {Status::ShuttingDown("m"), Code::kShuttingDown, &Status::IsShuttingDown,
       "ShuttingDown"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_TRUE((c.status.*c.predicate)());
    EXPECT_EQ(CodeName(c.code), c.name);
    EXPECT_EQ(c.status.ToString(), std::string(c.name) + ": m");
    // No predicate but its own is true.
    EXPECT_EQ(c.status.IsNotFound(), c.code == Code::kNotFound);
  }
}

TEST(ResultTest, HoldsValueOrError) {
  Result<std::string> value = std::string("x");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, "x");
  EXPECT_EQ(value->size(), 1u);
  EXPECT_TRUE(value.status().ok());

  Result<std::string> error = Status::NotFound("gone");
  EXPECT_FALSE(error.ok());
  EXPECT_TRUE(error.status().IsNotFound());
  EXPECT_EQ(error.value_or("fallback"), "fallback");
}

TEST(ResultTest, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);
}

}  // namespace
}  // namespace agentlog
