#include "auth/login_guard.h"

#include <gtest/gtest.h>

#include "tests/unit/auth_fakes.h"

namespace tb::auth {
namespace {

using ::tb::testing::FakeClock;
using std::chrono::milliseconds;

LoginGuardOptions Options() {
  LoginGuardOptions options;
  options.max_startups = {2, 50, 4};
  options.free_failures = 3;
  options.initial_delay = milliseconds(500);
  options.max_delay = milliseconds(4000);
  options.forget_after = milliseconds(600000);
  return options;
}

TEST(MaxStartupsTest, ParsesSshdForms) {
  Result<MaxStartups> full = ParseMaxStartups("10:30:100");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->ToString(), "10:30:100");
  Result<MaxStartups> single = ParseMaxStartups("7");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->ToString(), "7:100:7");
}

TEST(MaxStartupsTest, RejectsInvalidForms) {
  for (const char* text : {"", "a:b:c", "10:30", "10:0:100", "10:101:100", "20:30:10", "0:30:10",
                           "10:30:100:1", "1 0"}) {
    Result<MaxStartups> parsed = ParseMaxStartups(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.status().message().find("max_startups"), std::string::npos) << text;
  }
}

TEST(LoginGuardTest, AdmitsBelowStartAndDropsAtFull) {
  FakeClock clock;
  LoginGuard guard(Options(), clock, 1);
  std::vector<std::unique_ptr<LoginGuard::Slot>> slots;
  for (int i = 0; i < 2; ++i) {
    LoginGuard::Admission admission = guard.Admit();
    ASSERT_NE(admission.slot, nullptr) << i;
    EXPECT_EQ(admission.unauthenticated, i);
    slots.push_back(std::move(admission.slot));
  }
  // Between start and full some are dropped; fill up to full.
  while (guard.unauthenticated() < 4) {
    LoginGuard::Admission admission = guard.Admit();
    if (admission.slot) slots.push_back(std::move(admission.slot));
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(guard.Admit().slot, nullptr);
  slots.pop_back();
  EXPECT_EQ(guard.unauthenticated(), 3);
  slots[0]->Release();
  slots[0]->Release();  // a second release changes nothing
  EXPECT_EQ(guard.unauthenticated(), 2);
}

TEST(LoginGuardTest, DropRateBetweenStartAndFull) {
  FakeClock clock;
  LoginGuardOptions options = Options();
  options.max_startups = {1, 30, 1000};
  LoginGuard guard(options, clock, 42);
  auto held = guard.Admit().slot;  // one unauthenticated connection: at start, rate 30%
  int dropped = 0;
  for (int i = 0; i < 1000; ++i) {
    LoginGuard::Admission admission = guard.Admit();
    if (!admission.slot) ++dropped;
  }
  // The count grows as connections are admitted, so the rate rises a little above 30%.
  EXPECT_GT(dropped, 250);
  EXPECT_LT(dropped, 700);
}

TEST(LoginGuardTest, DropsLoggedOncePerSecondWithCount) {
  FakeClock clock;
  LoginGuardOptions options = Options();
  options.max_startups = {1, 100, 1};
  LoginGuard guard(options, clock, 1);
  auto held = guard.Admit().slot;
  EXPECT_EQ(guard.Admit().drops_to_log, 1u);
  EXPECT_EQ(guard.Admit().drops_to_log, 0u);
  EXPECT_EQ(guard.Admit().drops_to_log, 0u);
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(guard.Admit().drops_to_log, 3u);
}

TEST(LoginGuardTest, DelaysGrowAfterFreeFailures) {
  FakeClock clock;
  LoginGuard guard(Options(), clock, 1);
  std::vector<milliseconds> delays;
  for (int i = 0; i < 8; ++i) delays.push_back(guard.RecordFailure("10.0.0.1", "").delay);
  EXPECT_EQ(delays, (std::vector<milliseconds>{milliseconds(0), milliseconds(0), milliseconds(0),
                                               milliseconds(500), milliseconds(1000),
                                               milliseconds(2000), milliseconds(4000),
                                               milliseconds(4000)}));
}

TEST(LoginGuardTest, AddressAndUidCountedApart) {
  FakeClock clock;
  LoginGuard guard(Options(), clock, 1);
  for (int i = 0; i < 5; ++i) guard.RecordFailure("10.0.0.1", "demo");
  LoginGuard::Failure other_uid = guard.RecordFailure("10.0.0.1", "alice");
  EXPECT_EQ(other_uid.address_failures, 6);
  EXPECT_EQ(other_uid.uid_failures, 1);
  EXPECT_EQ(other_uid.delay, milliseconds(2000));
  LoginGuard::Failure other_address = guard.RecordFailure("10.0.0.2", "demo");
  EXPECT_EQ(other_address.address_failures, 1);
  EXPECT_EQ(other_address.uid_failures, 6);
  EXPECT_EQ(other_address.delay, milliseconds(2000));
  LoginGuard::Failure fresh = guard.RecordFailure("10.0.0.3", "carol");
  EXPECT_EQ(fresh.delay, milliseconds(0));
}

TEST(LoginGuardTest, CountersForgottenAfterWindow) {
  FakeClock clock;
  LoginGuard guard(Options(), clock, 1);
  for (int i = 0; i < 6; ++i) guard.RecordFailure("10.0.0.1", "demo");
  clock.Advance(milliseconds(600000));
  LoginGuard::Failure failure = guard.RecordFailure("10.0.0.1", "demo");
  EXPECT_EQ(failure.address_failures, 1);
  EXPECT_EQ(failure.uid_failures, 1);
  EXPECT_EQ(failure.delay, milliseconds(0));
}

}  // namespace
}  // namespace tb::auth
