#include "server/connection.h"

#include <spdlog/spdlog.h>

#include "auth/login_name.h"
#include "server/worker.h"

namespace tb::server {
namespace {

constexpr int kAuthMethods = SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE;

const char* AuthMethodName(int subtype) {
  switch (subtype) {
    case SSH_AUTH_METHOD_NONE: return "none";
    case SSH_AUTH_METHOD_PASSWORD: return "password";
    case SSH_AUTH_METHOD_PUBLICKEY: return "publickey";
    case SSH_AUTH_METHOD_HOSTBASED: return "hostbased";
    case SSH_AUTH_METHOD_INTERACTIVE: return "keyboard-interactive";
    case SSH_AUTH_METHOD_GSSAPI_MIC: return "gssapi-with-mic";
    default: return "unknown";
  }
}

}  // namespace

Connection::Connection(Worker& worker, SshSession session, std::uint64_t id, std::string peer)
    : worker_(worker), session_(std::move(session)), id_(id), peer_(std::move(peer)) {
  spdlog::info("conn={} accepted from {}", id_, peer_);
  ssh_set_blocking(session_.get(), 0);
  ssh_set_auth_methods(session_.get(), kAuthMethods);
  // The first call sends the banner and creates the session's poll context, which
  // ssh_event_add_session() then moves into the worker's event.
  ContinueKeyExchange();
  worker_.loop().AddSession(session_.get());
  grace_timer_ = worker_.loop().StartTimer(worker_.config().login_grace_time, [this] {
    grace_timer_ = 0;
    if (phase_ == Phase::kKeyExchange || phase_ == Phase::kAuthentication) {
      spdlog::info("conn={} from {}: not authenticated within the login grace time of {} s",
                   id_, peer_, worker_.config().login_grace_time.count());
      Close("login grace time exceeded");
    }
  });
}

Connection::~Connection() {
  if (grace_timer_ != 0) worker_.loop().CancelTimer(grace_timer_);
  login_.reset();
  pending_auth_.reset();
  sessions_.clear();
  worker_.loop().RemoveSession(session_.get());
}

bool Connection::SessionAlive() {
  int status = ssh_get_status(session_.get());
  return ssh_is_connected(session_.get()) && !(status & (SSH_CLOSED | SSH_CLOSED_ERROR));
}

void Connection::Close(const std::string& reason) {
  if (phase_ == Phase::kClosed) return;
  spdlog::info("conn={} from {} closed: {}", id_, peer_, reason);
  login_.reset();
  pending_auth_.reset();
  sessions_.clear();  // destroys the agent sessions: their containers end
  phase_ = Phase::kClosed;
}

void Connection::Process() {
  if (phase_ == Phase::kClosed) return;
  if (!SessionAlive()) {
    const char* error = ssh_get_error(session_.get());
    Close(error != nullptr && *error != '\0' ? std::string("disconnected: ") + error
                                             : "client disconnected");
    return;
  }

  if (phase_ == Phase::kKeyExchange) ContinueKeyExchange();

  while (phase_ == Phase::kAuthentication && !pending_auth_) {
    ssh_message raw = ssh_message_get(session_.get());
    if (raw == nullptr) break;
    HandleAuthRequest(SshMessage(raw));
  }

  if (phase_ == Phase::kOpen) {
    while (phase_ == Phase::kOpen) {
      ssh_message raw = ssh_message_get(session_.get());
      if (raw == nullptr) break;
      HandleOpenMessage(SshMessage(raw));
    }
    for (auto& session : sessions_) session->Pump();
    std::erase_if(sessions_, [](const std::unique_ptr<ExecSession>& s) {
      return s->state() == ExecSession::State::kClosed;
    });
  }
}

void Connection::ContinueKeyExchange() {
  int rc = ssh_handle_key_exchange(session_.get());
  if (rc == SSH_AGAIN) return;
  if (rc != SSH_OK) {
    Close(std::string("key exchange failed: ") + ssh_get_error(session_.get()));
    return;
  }
  spdlog::debug("conn={} key exchange done", id_);
  phase_ = Phase::kAuthentication;
}

// --- Authentication -------------------------------------------------------------------------

void Connection::HandleAuthRequest(SshMessage message) {
  if (ssh_message_type(message.get()) != SSH_REQUEST_AUTH) {
    // Anything but authentication before it succeeds (a channel open, say) is refused.
    ssh_message_reply_default(message.get());
    return;
  }
  int method = ssh_message_subtype(message.get());
  if (method == SSH_AUTH_METHOD_INTERACTIVE && ssh_message_auth_kbdint_is_response(message.get())) {
    // An INFO_RESPONSE carries no user name because it replies to the request parsed before.
    HandleInteractive(std::move(message));
    return;
  }
  const char* user = ssh_message_auth_user(message.get());
  user_ = user != nullptr ? user : "";
  Result<auth::LoginName> name = auth::ParseLoginName(user_);
  if (!name.ok()) {
    RejectAttempt(std::move(message), AuthMethodName(method), name.status().message());
    return;
  }
  login_uid_ = name->uid;
  task_selector_ = name->task;

  switch (method) {
    case SSH_AUTH_METHOD_PASSWORD: {
      if (login_uid_.empty()) {
        RejectAttempt(std::move(message), "password",
                      "password login needs the user name form <uid>@<task>");
        return;
      }
      const char* password = ssh_message_auth_password(message.get());
      std::string secret = password != nullptr ? password : "";
      StartLogin(std::move(message), login_uid_, std::move(secret), "password");
      return;
    }
    case SSH_AUTH_METHOD_INTERACTIVE:
      HandleInteractive(std::move(message));
      return;
    default:
      // "none" probes and methods we do not offer: list the ones we do, without counting it as
      // a failed attempt, as sshd does for "none".
      ssh_message_auth_set_methods(message.get(), kAuthMethods);
      ssh_message_reply_default(message.get());
      if (method != SSH_AUTH_METHOD_NONE) {
        spdlog::debug("conn={} from {}: method {} not offered for user '{}'", id_, peer_,
                      AuthMethodName(method), user_);
      }
      return;
  }
}

void Connection::HandleInteractive(SshMessage message) {
  if (!ssh_message_auth_kbdint_is_response(message.get())) {
    // First round: ask for what the user name did not give.
    if (login_uid_.empty()) {
      const char* prompts[] = {"IAM user: ", "Password: "};
      char echo[] = {1, 0};
      ssh_message_auth_interactive_request(message.get(), "", "", 2, prompts, echo);
    } else {
      const char* prompts[] = {"Password: "};
      char echo[] = {0};
      ssh_message_auth_interactive_request(message.get(), "", "", 1, prompts, echo);
    }
    return;
  }

  int expected = login_uid_.empty() ? 2 : 1;
  int answers = ssh_userauth_kbdint_getnanswers(session_.get());
  if (answers != expected) {
    RejectAttempt(std::move(message), "keyboard-interactive",
                  "expected " + std::to_string(expected) + " answers, got " +
                      std::to_string(answers));
    return;
  }
  std::string uid = login_uid_;
  int password_index = 0;
  if (uid.empty()) {
    const char* answer = ssh_userauth_kbdint_getanswer(session_.get(), 0);
    uid = answer != nullptr ? answer : "";
    password_index = 1;
  }
  const char* password = ssh_userauth_kbdint_getanswer(session_.get(), password_index);
  std::string secret = password != nullptr ? password : "";
  if (uid.empty()) {
    RejectAttempt(std::move(message), "keyboard-interactive", "empty IAM user");
    return;
  }
  StartLogin(std::move(message), std::move(uid), std::move(secret), "keyboard-interactive");
}

void Connection::StartLogin(SshMessage message, std::string uid, std::string password,
                            const char* method) {
  pending_auth_ = std::move(message);
  login_ = worker_.iam().Login(uid, std::move(password),
                               [this, uid, method](Result<std::string> token) {
                                 OnLoginResult(uid, method, std::move(token));
                               });
}

void Connection::OnLoginResult(const std::string& uid, const char* method,
                               Result<std::string> token) {
  SshMessage message = std::move(pending_auth_);
  // The Operation that called us must not be destroyed from inside its own callback.
  worker_.loop().Post([operation = std::shared_ptr<Operation>(std::move(login_))] {});
  if (!message || phase_ != Phase::kAuthentication) return;

  if (!token.ok()) {
    RejectAttempt(std::move(message), method, token.status().message());
    return;
  }
  uid_ = uid;
  authorization_ = "token=" + *token;
  ssh_message_auth_reply_success(message.get(), 0);
  phase_ = Phase::kOpen;
  if (grace_timer_ != 0) {
    worker_.loop().CancelTimer(grace_timer_);
    grace_timer_ = 0;
  }
  spdlog::info("conn={} uid={} authenticated from {} with {} for task '{}'", id_, uid_, peer_,
               method, task_selector_);
}

void Connection::RejectAttempt(SshMessage message, const char* method, const std::string& why) {
  ++failed_attempts_;
  spdlog::info("conn={} from {}: {} attempt {} for user '{}' rejected: {}", id_, peer_, method,
               failed_attempts_, user_, why);
  if (failed_attempts_ >= worker_.config().max_auth_tries) {
    message.reset();
    ssh_disconnect(session_.get());
    Close("too many authentication failures (" + std::to_string(failed_attempts_) + ")");
    return;
  }
  ssh_message_auth_set_methods(message.get(), kAuthMethods);
  ssh_message_reply_default(message.get());
}

// --- Channels -------------------------------------------------------------------------------

void Connection::HandleOpenMessage(SshMessage message) {
  switch (ssh_message_type(message.get())) {
    case SSH_REQUEST_CHANNEL_OPEN:
      HandleChannelOpen(std::move(message));
      return;
    case SSH_REQUEST_CHANNEL:
      HandleChannelRequest(std::move(message));
      return;
    case SSH_REQUEST_AUTH:
      // Already authenticated: RFC 4252 section 5.1 requires later requests to be ignored.
      return;
    default:
      // Global requests (tcpip-forward, keepalive@openssh.com, ...) get a failure reply.
      ssh_message_reply_default(message.get());
      return;
  }
}

void Connection::HandleChannelOpen(SshMessage message) {
  int type = ssh_message_subtype(message.get());
  if (type != SSH_CHANNEL_SESSION) {
    spdlog::info("conn={} uid={}: channel type {} rejected: only session channels are supported",
                 id_, uid_, type);
    ssh_message_reply_default(message.get());
    return;
  }
  ssh_channel channel = ssh_message_channel_request_open_reply_accept(message.get());
  if (channel == nullptr) {
    spdlog::warn("conn={} uid={}: accepting a session channel failed: {}", id_, uid_,
                 ssh_get_error(session_.get()));
    return;
  }
  SessionContext context;
  context.id = std::to_string(id_) + "." + std::to_string(next_session_++);
  context.peer = peer_;
  context.uid = uid_;
  context.task_selector = task_selector_;
  context.authorization = authorization_;
  spdlog::debug("session={} uid={}: session channel opened", context.id, uid_);
  sessions_.push_back(std::make_unique<ExecSession>(worker_, std::move(context), channel));
}

ExecSession* Connection::FindSession(ssh_channel channel) {
  for (auto& session : sessions_) {
    if (session->channel() == channel) return session.get();
  }
  return nullptr;
}

void Connection::HandleChannelRequest(SshMessage message) {
  ssh_message m = message.get();
  ExecSession* session = FindSession(ssh_message_channel_request_channel(m));
  if (session == nullptr) {
    ssh_message_reply_default(m);
    return;
  }
  Status status;
  const char* name = "unknown";
  switch (ssh_message_subtype(m)) {
    case SSH_CHANNEL_REQUEST_PTY: {
      name = "pty-req";
      const char* term = ssh_message_channel_request_pty_term(m);
      status = session->OnPtyRequest(term != nullptr ? term : "",
                                     ssh_message_channel_request_pty_width(m),
                                     ssh_message_channel_request_pty_height(m));
      break;
    }
    case SSH_CHANNEL_REQUEST_ENV: {
      name = "env";
      const char* env_name = ssh_message_channel_request_env_name(m);
      const char* env_value = ssh_message_channel_request_env_value(m);
      status = session->OnEnv(env_name != nullptr ? env_name : "",
                              env_value != nullptr ? env_value : "");
      break;
    }
    case SSH_CHANNEL_REQUEST_EXEC: {
      name = "exec";
      const char* command = ssh_message_channel_request_command(m);
      status = session->OnExec(command != nullptr ? command : "");
      break;
    }
    case SSH_CHANNEL_REQUEST_SHELL:
      name = "shell";
      status = session->OnShell();
      break;
    case SSH_CHANNEL_REQUEST_WINDOW_CHANGE:
      name = "window-change";
      status = session->OnWindowChange(ssh_message_channel_request_pty_width(m),
                                       ssh_message_channel_request_pty_height(m));
      break;
    case SSH_CHANNEL_REQUEST_SUBSYSTEM: {
      name = "subsystem";
      const char* subsystem = ssh_message_channel_request_subsystem(m);
      status = Status::InvalidArgument(std::string("subsystem '") +
                                       (subsystem != nullptr ? subsystem : "") +
                                       "' is not supported");
      break;
    }
    case SSH_CHANNEL_REQUEST_X11:
      name = "x11-req";
      status = Status::InvalidArgument("X11 forwarding is not supported");
      break;
    default:
      status = Status::InvalidArgument("request not supported");
      break;
  }
  if (status.ok()) {
    ssh_message_channel_request_reply_success(m);
    spdlog::debug("session={} uid={}: {} accepted", session->context().id, uid_, name);
  } else {
    ssh_message_reply_default(m);
    spdlog::debug("session={} uid={}: {} rejected: {}", session->context().id, uid_, name,
                  status.message());
  }
}

}  // namespace tb::server
