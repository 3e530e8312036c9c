#include "server/worker_loop.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace tb::server {

WorkerLoop::WorkerLoop() : event_(ssh_event_new()) {
  if (!event_) throw std::runtime_error("ssh_event_new failed");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  WatchFd(wake_fd_, kReadable, [this](unsigned) { DrainWakeFd(); });
}

WorkerLoop::~WorkerLoop() {
  for (auto& [fd, watch] : watches_) ssh_event_remove_fd(event_.get(), fd);
  watches_.clear();
  close(wake_fd_);
}

void WorkerLoop::WatchFd(int fd, unsigned events, FdHandler handler) {
  auto it = watches_.find(fd);
  if (it != watches_.end()) {
    ssh_event_remove_fd(event_.get(), fd);
    watches_.erase(it);
  }
  auto watch = std::make_unique<Watch>(
      Watch{fd, events, std::move(handler), next_generation_++, this});
  short poll_events = 0;
  if (events & kReadable) poll_events |= POLLIN;
  if (events & kWritable) poll_events |= POLLOUT;
  if (ssh_event_add_fd(event_.get(), fd, poll_events, &WorkerLoop::OnFdReady, watch.get()) !=
      SSH_OK) {
    spdlog::error("worker loop: ssh_event_add_fd failed for fd {}", fd);
    return;
  }
  watches_[fd] = std::move(watch);
}

void WorkerLoop::UnwatchFd(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  ssh_event_remove_fd(event_.get(), fd);
  watches_.erase(it);
}

EventLoop::TimerId WorkerLoop::StartTimer(std::chrono::milliseconds delay, Task task) {
  TimerId id = next_timer_id_++;
  auto due = Clock::now() + delay;
  timers_.emplace(id, std::make_pair(due, std::move(task)));
  timer_queue_.emplace(due, id);
  return id;
}

void WorkerLoop::CancelTimer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto [first, last] = timer_queue_.equal_range(it->second.first);
  for (auto q = first; q != last; ++q) {
    if (q->second == id) {
      timer_queue_.erase(q);
      break;
    }
  }
  timers_.erase(it);
}

void WorkerLoop::Post(Task task) { posted_.push_back(std::move(task)); }

void WorkerLoop::Submit(Task task) {
  {
    std::lock_guard<std::mutex> lock(submitted_mutex_);
    submitted_.push_back(std::move(task));
  }
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof one);
  (void)ignored;  // a full counter still wakes the loop
}

void WorkerLoop::Stop() {
  stop_ = true;
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof one);
  (void)ignored;
}

void WorkerLoop::AddSession(ssh_session session) {
  if (ssh_event_add_session(event_.get(), session) != SSH_OK) {
    spdlog::error("worker loop: ssh_event_add_session failed");
  }
}

void WorkerLoop::RemoveSession(ssh_session session) {
  ssh_event_remove_session(event_.get(), session);
}

// Runs one handler. An exception escaping a handler is a bug: it is logged and the loop goes
// on, so one broken session does not end every connection on the worker.
void WorkerLoop::RunGuarded(const char* what, const std::function<void()>& function) {
  try {
    function();
  } catch (const std::exception& e) {
    spdlog::error("worker loop: a {} threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("worker loop: a {} threw a non-standard exception", what);
  }
}

// Called by libssh inside ssh_event_dopoll(); only records the readiness.
int WorkerLoop::OnFdReady(socket_t fd, int revents, void* userdata) noexcept {
  auto* watch = static_cast<Watch*>(userdata);
  unsigned events = 0;
  if (revents & POLLIN) events |= kReadable;
  if (revents & POLLOUT) events |= kWritable;
  if (revents & (POLLERR | POLLHUP | POLLNVAL)) events |= kError;
  watch->loop->ready_.push_back(Ready{fd, watch->generation, events});
  return 0;
}

int WorkerLoop::PollTimeoutMs() const {
  // ready_ is not empty when libssh polled inside a call such as ssh_message_get().
  if (!posted_.empty() || !ready_.empty() || stop_) return 0;
  if (timer_queue_.empty()) return -1;
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(timer_queue_.begin()->first -
                                                                    Clock::now());
  if (wait.count() <= 0) return 0;
  // Round up so a timer is never polled for a moment too early.
  return static_cast<int>(std::min<int64_t>(wait.count() + 1, 60'000));
}

void WorkerLoop::RunReadyHandlers() {
  std::vector<Ready> ready;
  ready.swap(ready_);
  for (const Ready& r : ready) {
    auto it = watches_.find(r.fd);
    // Skip an fd that a previous handler unwatched, or unwatched and watched again.
    if (it == watches_.end() || it->second->generation != r.generation) continue;
    FdHandler handler = it->second->handler;  // the handler may unwatch its own fd
    RunGuarded("fd handler", [&] { handler(r.events); });
  }
}

void WorkerLoop::RunDueTimers() {
  auto now = Clock::now();
  while (!timer_queue_.empty() && timer_queue_.begin()->first <= now) {
    TimerId id = timer_queue_.begin()->second;
    timer_queue_.erase(timer_queue_.begin());
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    Task task = std::move(it->second.second);
    timers_.erase(it);
    RunGuarded("timer", task);
  }
}

void WorkerLoop::RunPostedTasks() {
  // Tasks posted by these tasks run in the next iteration, after a non-sleeping poll.
  std::deque<Task> tasks;
  tasks.swap(posted_);
  for (Task& task : tasks) RunGuarded("posted task", task);
}

void WorkerLoop::DrainWakeFd() {
  uint64_t count = 0;
  ssize_t ignored = read(wake_fd_, &count, sizeof count);
  (void)ignored;
  std::vector<Task> tasks;
  {
    std::lock_guard<std::mutex> lock(submitted_mutex_);
    tasks.swap(submitted_);
  }
  for (Task& task : tasks) RunGuarded("submitted task", task);
}

void WorkerLoop::Run(const std::function<void()>& after_poll) {
  while (!stop_) {
    int rc = ssh_event_dopoll(event_.get(), PollTimeoutMs());
    // SSH_ERROR means a session's socket failed; the connection notices in after_poll.
    (void)rc;
    RunReadyHandlers();
    RunDueTimers();
    RunPostedTasks();
    RunGuarded("connection pass", after_poll);
  }
}

}  // namespace tb::server
