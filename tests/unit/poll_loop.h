// PollLoop: a poll(2)-based EventLoop for unit tests, run on the test's own thread.
//
// RunUntil() runs handlers until a predicate returns true or a deadline passes. Each turn runs the posted
// tasks, then the expired timers, then one poll() of at most kMaxPollWait, so a predicate that
// reads state set by another thread (a test server) is seen within that time even when no fd
// or timer fires.
//
// Single-threaded: every method, including Post, must be called on the thread running RunUntil.

#ifndef TASK_BASTION_TESTS_UNIT_POLL_LOOP_H_
#define TASK_BASTION_TESTS_UNIT_POLL_LOOP_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <utility>

#include "common/event_loop.h"

namespace tb::testing {

class PollLoop final : public EventLoop {
 public:
  static constexpr std::chrono::milliseconds kMaxPollWait{10};

  PollLoop() = default;
  PollLoop(const PollLoop&) = delete;
  PollLoop& operator=(const PollLoop&) = delete;

  void WatchFd(int fd, unsigned events, FdHandler handler) override;
  void UnwatchFd(int fd) override;
  TimerId StartTimer(std::chrono::milliseconds delay, Task task) override;
  void CancelTimer(TimerId id) override;
  void Post(Task task) override;

  // Runs the loop until `done()` returns true or `timeout` passes; returns the last `done()`.
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

  std::size_t watched_fd_count() const { return watches_.size(); }

 private:
  using Clock = std::chrono::steady_clock;

  struct Watch {
    unsigned events;
    FdHandler handler;
    std::uint64_t generation;  // distinguishes a re-registered fd from the one poll() reported
  };

  void RunPosted();
  void RunExpiredTimers();
  void PollOnce(std::chrono::milliseconds max_wait);

  std::map<int, Watch> watches_;
  std::map<std::pair<Clock::time_point, TimerId>, Task> timers_;
  std::map<TimerId, Clock::time_point> timer_deadlines_;
  std::deque<Task> posted_;
  TimerId next_timer_id_ = 1;
  std::uint64_t next_generation_ = 1;
};

}  // namespace tb::testing

#endif  // TASK_BASTION_TESTS_UNIT_POLL_LOOP_H_
