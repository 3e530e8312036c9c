// EventLoop: the interface a worker's loop offers to the code that runs on it.
//
// Each worker thread runs one loop. Everything registered on a loop (file descriptors, timers,
// posted tasks) is called back on that loop's thread only, so code owned by one worker needs no
// locks. The server implements this interface on a libssh ssh_event (server/worker_loop.h); tests
// use a plain poll() loop (tests/unit/poll_loop.h).
//
// Handlers run outside the poll call: a handler may watch or unwatch any fd, start or cancel any
// timer, and destroy the object that registered it. No handler may block.

#ifndef TASK_BASTION_COMMON_EVENT_LOOP_H_
#define TASK_BASTION_COMMON_EVENT_LOOP_H_

#include <chrono>
#include <cstdint>
#include <functional>

namespace tb {

class EventLoop {
 public:
  // Bits of the `events` masks below.
  static constexpr unsigned kReadable = 1;
  static constexpr unsigned kWritable = 2;
  static constexpr unsigned kError = 4;  // POLLERR, POLLHUP or POLLNVAL; only reported

  using FdHandler = std::function<void(unsigned events)>;
  using Task = std::function<void()>;
  using TimerId = std::uint64_t;

  virtual ~EventLoop() = default;

  // Calls `handler` when `fd` is ready for any of `events`. Replaces an earlier registration of
  // the same fd. The loop does not own the fd: unwatch it before closing it.
  virtual void WatchFd(int fd, unsigned events, FdHandler handler) = 0;
  virtual void UnwatchFd(int fd) = 0;

  // Calls `task` once after `delay`. Returns an id that is never 0.
  virtual TimerId StartTimer(std::chrono::milliseconds delay, Task task) = 0;
  // Cancels a timer that has not fired; ids of fired or cancelled timers are ignored.
  virtual void CancelTimer(TimerId id) = 0;

  // Runs `task` on this loop's thread after the current handler returns, before the loop next
  // sleeps. Only the loop's own thread may call Post.
  virtual void Post(Task task) = 0;
};

}  // namespace tb

#endif  // TASK_BASTION_COMMON_EVENT_LOOP_H_
