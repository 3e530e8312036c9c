#include "auth/authorizer.h"

#include <optional>
#include <utility>
#include <vector>

#include "auth/permissions.h"

namespace tb::auth {
namespace {

struct Question {
  std::string rid;
  std::string action;
  std::optional<Result<bool>> answer;
  std::unique_ptr<Operation> call;
};

// All questions of one check in flight. Destroying it cancels every question.
class ExecCheck : public Operation {
 public:
  ExecCheck(ExecTarget target, std::function<void(Status)> done)
      : target_(std::move(target)), done_(std::move(done)) {
    target_.app_id = NormalizeAppId(target_.app_id);
    permissions_ = ExecPermissions(target_.app_id);
    Ask(std::string(kSuperuserRid), "full");
    for (const Permission& permission : permissions_) {
      for (const std::string& rid : CoveringRids(permission.rid)) {
        Ask(rid, permission.action);
        Ask(rid, "full");
      }
    }
  }

  void Start(IamClient& iam, EventLoop& loop, ServiceAccount& account) {
    unanswered_ = questions_.size();
    for (std::size_t i = 0; i < questions_.size(); ++i) {
      Question& question = questions_[i];
      std::function<std::unique_ptr<Operation>(const Token&, std::function<void(Result<bool>)>)>
          call = [&iam, this, i](const Token& token, std::function<void(Result<bool>)> answer) {
            return iam.CheckPermission(target_.uid, questions_[i].rid, questions_[i].action,
                                       token.AuthorizationHeader(), std::move(answer));
          };
      question.call = WithServiceToken<bool>(account, loop, std::move(call),
                                             [this, i, &loop](Result<bool> answer) {
                                               OnAnswer(i, std::move(answer), loop);
                                             });
    }
  }

 private:
  void Ask(std::string rid, std::string action) {
    for (const Question& question : questions_) {
      if (question.rid == rid && question.action == action) return;
    }
    questions_.push_back(Question{std::move(rid), std::move(action), std::nullopt, nullptr});
  }

  // Returns the IAM's result for (rid, action): true, false or the error; nullptr when not asked.
  const Result<bool>* AnswerTo(const std::string& rid, const std::string& action) const {
    for (const Question& question : questions_) {
      if (question.rid == rid && question.action == action && question.answer) {
        return &*question.answer;
      }
    }
    return nullptr;
  }

  void OnAnswer(std::size_t index, Result<bool> answer, EventLoop& loop) {
    questions_[index].answer = std::move(answer);
    loop.Post([finished = std::shared_ptr<Operation>(std::move(questions_[index].call))] {});
    if (--unanswered_ > 0) return;
    Status decision = Decide();
    auto done = std::move(done_);
    done(decision);  // may destroy this check
  }

  Status Decide() const {
    const Result<bool>* superuser = AnswerTo(std::string(kSuperuserRid), "full");
    if (superuser != nullptr && superuser->ok() && superuser->value()) return Status::Ok();

    std::vector<std::string> missing;
    std::optional<Status> failure;
    if (superuser != nullptr && !superuser->ok()) failure = superuser->status();
    for (const Permission& permission : permissions_) {
      bool held = false;
      for (const std::string& rid : CoveringRids(permission.rid)) {
        for (const std::string& action : {permission.action, std::string("full")}) {
          const Result<bool>* answer = AnswerTo(rid, action);
          if (answer == nullptr) continue;
          if (!answer->ok()) {
            if (!failure) failure = answer->status();
          } else if (answer->value()) {
            held = true;
          }
        }
      }
      if (!held) missing.push_back(permission.ToString());
    }
    if (missing.empty()) return Status::Ok();

    // A question that failed may have hidden a grant, so the message reports that the check
    // failed rather than that a permission is missing.
    if (failure) {
      return Status(failure->code(), "cannot check the permissions of user '" + target_.uid +
                                         "' for task '" + target_.task_id +
                                         "': " + failure->message());
    }
    std::string list;
    for (const std::string& permission : missing) list += (list.empty() ? "" : ", ") + permission;
    return Status::PermissionDenied("user '" + target_.uid + "' may not exec into task '" +
                                    target_.task_id + "' (app " + target_.app_id +
                                    "): missing permission" + (missing.size() > 1 ? "s " : " ") +
                                    list);
  }

  ExecTarget target_;
  std::function<void(Status)> done_;
  std::vector<Permission> permissions_;
  std::vector<Question> questions_;
  std::size_t unanswered_ = 0;
};

}  // namespace

Authorizer::Authorizer(IamClient& iam, EventLoop& loop, ServiceAccount& account)
    : iam_(iam), loop_(loop), account_(account) {}

std::unique_ptr<Operation> Authorizer::CheckExec(ExecTarget target,
                                                 std::function<void(Status)> done) {
  auto check = std::make_unique<ExecCheck>(std::move(target), std::move(done));
  check->Start(iam_, loop_, account_);
  return check;
}

}  // namespace tb::auth
