// WorkerLoop: the EventLoop of one worker thread, built on a libssh ssh_event.
//
// The ssh_event polls the worker's SSH sessions (libssh reads and decrypts their packets during
// the poll) together with the file descriptors that other code watches (libcurl's sockets). The
// fd callbacks that libssh calls during ssh_event_dopoll() only record what is ready; the
// registered handlers run after the poll returns, so they may change the watched set freely.
//
// One iteration: poll (sleeping until the next timer, or not at all when tasks are posted), run
// the recorded fd handlers, the due timers and the posted tasks, then the caller's `after_poll`
// hook, where connections advance their SSH state.
//
// Everything except Submit() must be called on the loop's own thread.

#ifndef TASK_BASTION_SERVER_WORKER_LOOP_H_
#define TASK_BASTION_SERVER_WORKER_LOOP_H_

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/event_loop.h"
#include "server/ssh_handles.h"

namespace tb::server {

class WorkerLoop final : public EventLoop {
 public:
  WorkerLoop();
  ~WorkerLoop() override;
  WorkerLoop(const WorkerLoop&) = delete;
  WorkerLoop& operator=(const WorkerLoop&) = delete;

  // EventLoop.
  void WatchFd(int fd, unsigned events, FdHandler handler) override;
  void UnwatchFd(int fd) override;
  TimerId StartTimer(std::chrono::milliseconds delay, Task task) override;
  void CancelTimer(TimerId id) override;
  void Post(Task task) override;

  // Queues `task` from any thread and wakes the loop.
  void Submit(Task task);

  // Adds or removes an SSH session to the set libssh polls. The session must stay alive while
  // it is added.
  void AddSession(ssh_session session);
  void RemoveSession(ssh_session session);

  // Runs iterations until Stop(); `after_poll` runs at the end of each one.
  void Run(const std::function<void()>& after_poll);
  // Makes Run() return after the current iteration. Any thread.
  void Stop();

 private:
  struct Watch {
    int fd;
    unsigned events;
    FdHandler handler;
    std::uint64_t generation;
    WorkerLoop* loop;
  };
  struct Ready {
    int fd;
    std::uint64_t generation;
    unsigned events;
  };

  static int OnFdReady(socket_t fd, int revents, void* userdata) noexcept;
  static void RunGuarded(const char* what, const std::function<void()>& function);
  int PollTimeoutMs() const;
  void RunReadyHandlers();
  void RunDueTimers();
  void RunPostedTasks();
  void DrainWakeFd();

  SshEvent event_;
  int wake_fd_ = -1;  // eventfd, written by Submit() and Stop()
  std::unordered_map<int, std::unique_ptr<Watch>> watches_;
  std::uint64_t next_generation_ = 1;
  std::vector<Ready> ready_;

  using Clock = std::chrono::steady_clock;
  std::multimap<Clock::time_point, TimerId> timer_queue_;
  std::unordered_map<TimerId, std::pair<Clock::time_point, Task>> timers_;
  TimerId next_timer_id_ = 1;

  std::deque<Task> posted_;

  std::mutex submitted_mutex_;
  std::vector<Task> submitted_;  // guarded by submitted_mutex_
  std::atomic<bool> stop_{false};
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_WORKER_LOOP_H_
