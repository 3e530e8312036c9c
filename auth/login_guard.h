// LoginGuard: the limits that slow down password guessing and connection floods, shared by
// every worker.
//
//  * Unauthenticated connections (sshd's MaxStartups "start:rate:full"): below `start` every new
//    connection is admitted. From `start` on, a new one is dropped at once with a probability
//    of rate%, rising linearly to 100% at `full`. A connection counts until it authenticates or
//    closes.
//  * Failure counters per source address and per uid: each rejected attempt adds one. After
//    `free_failures`, the reply to every further failure waits initial_delay, doubling up to
//    max_delay. The larger of the address's and the uid's count decides. A counter
//    is forgotten `forget_after` after its last failure. Only failures wait: an accepted login
//    is answered at once, so a user whose account is under attack from elsewhere still gets in
//    without delay, and a guesser, who must wait for each failure, is slowed.
//
// Thread-safe (one mutex). The caller applies the delay with a loop timer; nothing here sleeps.

#ifndef TASK_BASTION_AUTH_LOGIN_GUARD_H_
#define TASK_BASTION_AUTH_LOGIN_GUARD_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>

#include "auth/clock.h"
#include "common/status.h"

namespace tb::auth {

struct MaxStartups {
  int start = 10;
  int rate = 30;  // percent
  int full = 100;

  // "10:30:100", as sshd_config(5) writes it.
  std::string ToString() const;
};

// Parses "start:rate:full" or a single number N (meaning N:100:N, as sshd reads it).
// InvalidArgument unless 1 <= start <= full and 1 <= rate <= 100.
Result<MaxStartups> ParseMaxStartups(std::string_view text);

struct LoginGuardOptions {
  MaxStartups max_startups;
  int free_failures = 3;
  std::chrono::milliseconds initial_delay{500};
  std::chrono::milliseconds max_delay{10000};
  std::chrono::milliseconds forget_after{600000};
};

class LoginGuard {
 public:
  // Holds a place among the unauthenticated connections until destroyed or released.
  class Slot {
   public:
    explicit Slot(LoginGuard& guard) : guard_(&guard) {}
    ~Slot() { Release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    void Release();

   private:
    LoginGuard* guard_;
  };

  struct Admission {
    std::unique_ptr<Slot> slot;  // null: drop the connection
    int unauthenticated = 0;     // connections counted before this one
    // The number of drops to report in a log line now, this one included; 0 when less than a
    // second has passed since the last report.
    std::uint64_t drops_to_log = 0;
  };

  struct Failure {
    int address_failures = 0;
    int uid_failures = 0;  // 0 when the uid is unknown
    std::chrono::milliseconds delay{0};
  };

  // `clock` must outlive the guard. `seed` feeds the random drops, so tests can repeat them.
  LoginGuard(LoginGuardOptions options, Clock& clock, std::uint32_t seed = std::random_device{}());

  Admission Admit();

  // Counts a rejected attempt from `address` (an IP address without port) for `uid` (empty
  // when unknown) and returns the counts and the delay before the reply.
  Failure RecordFailure(const std::string& address, const std::string& uid);

  int unauthenticated() const;
  const LoginGuardOptions& options() const { return options_; }

 private:
  struct Counter {
    int failures = 0;
    Clock::MonotonicTime last{};
  };

  int CountLocked(std::unordered_map<std::string, Counter>& counters, const std::string& key,
                  Clock::MonotonicTime now);
  void PruneLocked(Clock::MonotonicTime now);
  std::chrono::milliseconds DelayFor(int failures) const;

  const LoginGuardOptions options_;
  Clock& clock_;

  mutable std::mutex mutex_;
  int unauthenticated_ = 0;                               // guarded by mutex_
  std::mt19937 random_;                                    // guarded by mutex_
  std::uint64_t drops_since_log_ = 0;                      // guarded by mutex_
  Clock::MonotonicTime last_drop_log_{};                   // guarded by mutex_
  std::unordered_map<std::string, Counter> by_address_;    // guarded by mutex_
  std::unordered_map<std::string, Counter> by_uid_;        // guarded by mutex_
  std::uint64_t failures_since_prune_ = 0;                 // guarded by mutex_
};

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_LOGIN_GUARD_H_
