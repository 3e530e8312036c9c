// Waiters: callbacks parked until a shared piece of work (a key set fetch, a service login)
// finishes, each cancellable through the Operation handed to its owner.
//
// Single-threaded, on one worker loop. Completing calls each callback that was not cancelled. A
// callback may destroy any waiter's Operation, its own included. It may also add new waiters,
// which wait for the next completion.

#ifndef TASK_BASTION_AUTH_WAITERS_H_
#define TASK_BASTION_AUTH_WAITERS_H_

#include <functional>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "common/event_loop.h"
#include "common/operation.h"

namespace tb::auth {

template <typename... Args>
class Waiters {
 public:
  using Callback = std::function<void(Args...)>;

  // Parks `callback`; destroying the returned Operation cancels it.
  std::unique_ptr<Operation> Add(Callback callback) {
    auto waiter = std::make_shared<Waiter>();
    waiter->callback = std::move(callback);
    waiters_.push_back(waiter);
    return std::make_unique<Handle>(waiter);
  }

  // Calls every parked callback that was not cancelled, with `make_args()` computed for each.
  template <typename MakeArgs>
  void CompleteEach(MakeArgs make_args) {
    std::vector<std::shared_ptr<Waiter>> waiting;
    waiting.swap(waiters_);
    for (auto& waiter : waiting) {
      if (waiter->cancelled) continue;
      waiter->cancelled = true;  // runs once
      Callback callback = std::move(waiter->callback);
      std::apply(callback, make_args());
    }
  }

 private:
  struct Waiter {
    Callback callback;
    bool cancelled = false;
  };
  class Handle : public Operation {
   public:
    explicit Handle(std::shared_ptr<Waiter> waiter) : waiter_(std::move(waiter)) {}
    ~Handle() override {
      waiter_->cancelled = true;
      waiter_->callback = nullptr;
    }

   private:
    std::shared_ptr<Waiter> waiter_;
  };

  std::vector<std::shared_ptr<Waiter>> waiters_;
};

// Runs `task` from a task posted on `loop`, unless the returned Operation is destroyed first. For
// results that are known at once but must not be delivered from inside the requesting call.
inline std::unique_ptr<Operation> PostCancellable(EventLoop& loop, std::function<void()> task) {
  class Posted : public Operation {
   public:
    explicit Posted(std::shared_ptr<bool> wanted) : wanted_(std::move(wanted)) {}
    ~Posted() override { *wanted_ = false; }

   private:
    std::shared_ptr<bool> wanted_;
  };
  auto wanted = std::make_shared<bool>(true);
  loop.Post([wanted, task = std::move(task)] {
    if (*wanted) task();
  });
  return std::make_unique<Posted>(wanted);
}

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_WAITERS_H_
