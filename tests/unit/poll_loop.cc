#include "tests/unit/poll_loop.h"

#include <poll.h>

#include <algorithm>
#include <vector>

namespace tb::testing {

void PollLoop::WatchFd(int fd, unsigned events, FdHandler handler) {
  watches_[fd] = Watch{events, std::move(handler), next_generation_++};
}

void PollLoop::UnwatchFd(int fd) { watches_.erase(fd); }

EventLoop::TimerId PollLoop::StartTimer(std::chrono::milliseconds delay, Task task) {
  TimerId id = next_timer_id_++;
  Clock::time_point deadline = Clock::now() + delay;
  timers_.emplace(std::make_pair(deadline, id), std::move(task));
  timer_deadlines_.emplace(id, deadline);
  return id;
}

void PollLoop::CancelTimer(TimerId id) {
  auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase(std::make_pair(it->second, id));
  timer_deadlines_.erase(it);
}

void PollLoop::Post(Task task) { posted_.push_back(std::move(task)); }

bool PollLoop::RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!done()) {
    Clock::time_point now = Clock::now();
    if (now >= deadline) return false;

    RunPosted();
    if (done()) return true;
    RunExpiredTimers();
    if (done()) return true;

    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    PollOnce(std::min(remaining, kMaxPollWait));
  }
  return true;
}

void PollLoop::RunPosted() {
  // Tasks posted by these tasks run in the same pass, as EventLoop::Post promises that they run
  // before the loop next sleeps.
  while (!posted_.empty()) {
    Task task = std::move(posted_.front());
    posted_.pop_front();
    task();
  }
}

void PollLoop::RunExpiredTimers() {
  const Clock::time_point now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto it = timers_.begin();
    Task task = std::move(it->second);
    timer_deadlines_.erase(it->first.second);
    timers_.erase(it);
    task();
  }
}

void PollLoop::PollOnce(std::chrono::milliseconds max_wait) {
  std::chrono::milliseconds wait = max_wait;
  if (!posted_.empty()) wait = std::chrono::milliseconds(0);
  if (!timers_.empty()) {
    auto until_timer = std::chrono::duration_cast<std::chrono::milliseconds>(
        timers_.begin()->first.first - Clock::now());
    wait = std::clamp(until_timer, std::chrono::milliseconds(0), wait);
  }

  std::vector<pollfd> fds;
  std::vector<std::uint64_t> generations;
  for (const auto& [fd, watch] : watches_) {
    short events = 0;
    if (watch.events & kReadable) events |= POLLIN;
    if (watch.events & kWritable) events |= POLLOUT;
    fds.push_back(pollfd{fd, events, 0});
    generations.push_back(watch.generation);
  }

  int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
  if (ready <= 0) return;

  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    // An earlier handler of this pass may have unwatched or replaced this fd.
    auto it = watches_.find(fds[i].fd);
    if (it == watches_.end() || it->second.generation != generations[i]) continue;

    unsigned events = 0;
    if (fds[i].revents & POLLIN) events |= kReadable;
    if (fds[i].revents & POLLOUT) events |= kWritable;
    if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) events |= kError;
    // A copy, because the handler may unwatch its own fd and so destroy the stored one.
    FdHandler handler = it->second.handler;
    handler(events);
  }
}

}  // namespace tb::testing
