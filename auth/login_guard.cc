#include "auth/login_guard.h"

#include <algorithm>
#include <charconv>

namespace tb::auth {
namespace {

// Counters are pruned after this many failures, so a flood from many addresses cannot grow the
// maps without bound between prunes.
constexpr std::uint64_t kPruneEvery = 1024;

Result<int> ParseField(std::string_view text, const char* name) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument(std::string("max_startups: ") + name + " \"" +
                                   std::string(text) + "\" is not a whole number");
  }
  return value;
}

}  // namespace

std::string MaxStartups::ToString() const {
  return std::to_string(start) + ":" + std::to_string(rate) + ":" + std::to_string(full);
}

Result<MaxStartups> ParseMaxStartups(std::string_view text) {
  MaxStartups limits;
  std::size_t first = text.find(':');
  if (first == std::string_view::npos) {
    Result<int> n = ParseField(text, "start");
    if (!n.ok()) return n.status();
    limits = {*n, 100, *n};
  } else {
    std::size_t second = text.find(':', first + 1);
    if (second == std::string_view::npos) {
      return Status::InvalidArgument("max_startups: expected start:rate:full, got \"" +
                                     std::string(text) + "\"");
    }
    Result<int> start = ParseField(text.substr(0, first), "start");
    if (!start.ok()) return start.status();
    Result<int> rate = ParseField(text.substr(first + 1, second - first - 1), "rate");
    if (!rate.ok()) return rate.status();
    Result<int> full = ParseField(text.substr(second + 1), "full");
    if (!full.ok()) return full.status();
    limits = {*start, *rate, *full};
  }
  if (limits.start < 1 || limits.full < limits.start || limits.rate < 1 || limits.rate > 100) {
    return Status::InvalidArgument("max_startups: \"" + std::string(text) +
                                   "\" needs 1 <= start <= full and a rate from 1 to 100");
  }
  return limits;
}

void LoginGuard::Slot::Release() {
  if (guard_ == nullptr) return;
  std::lock_guard<std::mutex> lock(guard_->mutex_);
  --guard_->unauthenticated_;
  guard_ = nullptr;
}

LoginGuard::LoginGuard(LoginGuardOptions options, Clock& clock, std::uint32_t seed)
    : options_(options), clock_(clock), random_(seed) {}

int LoginGuard::unauthenticated() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return unauthenticated_;
}

LoginGuard::Admission LoginGuard::Admit() {
  std::lock_guard<std::mutex> lock(mutex_);
  Admission admission;
  admission.unauthenticated = unauthenticated_;
  const MaxStartups& limits = options_.max_startups;

  bool drop = false;
  if (unauthenticated_ >= limits.full) {
    drop = true;
  } else if (unauthenticated_ >= limits.start) {
    // sshd's formula: rate% at start, rising linearly to 100% at full.
    int span = std::max(1, limits.full - limits.start);
    int percent = limits.rate + (100 - limits.rate) * (unauthenticated_ - limits.start) / span;
    drop = static_cast<int>(random_() % 100) < percent;
  }
  if (drop) {
    ++drops_since_log_;
    Clock::MonotonicTime now = clock_.Monotonic();
    if (now - last_drop_log_ >= std::chrono::seconds(1)) {
      admission.drops_to_log = drops_since_log_;
      drops_since_log_ = 0;
      last_drop_log_ = now;
    }
    return admission;
  }
  ++unauthenticated_;
  admission.slot = std::make_unique<Slot>(*this);
  return admission;
}

int LoginGuard::CountLocked(std::unordered_map<std::string, Counter>& counters,
                            const std::string& key, Clock::MonotonicTime now) {
  Counter& counter = counters[key];
  if (counter.failures > 0 && now - counter.last >= options_.forget_after) counter.failures = 0;
  ++counter.failures;
  counter.last = now;
  return counter.failures;
}

void LoginGuard::PruneLocked(Clock::MonotonicTime now) {
  for (auto* counters : {&by_address_, &by_uid_}) {
    std::erase_if(*counters, [&](const auto& entry) {
      return now - entry.second.last >= options_.forget_after;
    });
  }
}

std::chrono::milliseconds LoginGuard::DelayFor(int failures) const {
  int over = failures - options_.free_failures;
  if (over <= 0) return std::chrono::milliseconds(0);
  std::chrono::milliseconds delay = options_.initial_delay;
  for (int i = 1; i < over && delay < options_.max_delay; ++i) delay *= 2;
  return std::min(delay, options_.max_delay);
}

LoginGuard::Failure LoginGuard::RecordFailure(const std::string& address, const std::string& uid) {
  std::lock_guard<std::mutex> lock(mutex_);
  Clock::MonotonicTime now = clock_.Monotonic();
  if (++failures_since_prune_ >= kPruneEvery) {
    failures_since_prune_ = 0;
    PruneLocked(now);
  }
  Failure failure;
  failure.address_failures = CountLocked(by_address_, address, now);
  if (!uid.empty()) failure.uid_failures = CountLocked(by_uid_, uid, now);
  failure.delay = DelayFor(std::max(failure.address_failures, failure.uid_failures));
  return failure;
}

}  // namespace tb::auth
