// Clock: the time source of every expiry and rate-limit decision in auth/, so tests can move time.
//
// Wall time (system_clock) is for token claims such as `exp`, which are Unix seconds. Monotonic
// time (steady_clock) is for intervals: the JWKS refetch limit, cache ages, failure counters.

#ifndef TASK_BASTION_AUTH_CLOCK_H_
#define TASK_BASTION_AUTH_CLOCK_H_

#include <chrono>

namespace tb::auth {

class Clock {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  using MonotonicTime = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual WallTime Now() const = 0;
  virtual MonotonicTime Monotonic() const = 0;
};

// The process's real clocks. Thread-safe; lives for the whole program.
Clock& SystemClock();

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_CLOCK_H_
