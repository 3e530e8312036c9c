#include "server/connection.h"

#include <spdlog/spdlog.h>

#include "auth/jwt.h"
#include "auth/login_name.h"
#include "auth/quote.h"
#include "common/base64.h"
#include "server/worker.h"

namespace tb::server {
namespace {

struct SshStringDeleter {
  void operator()(ssh_string text) const noexcept { ssh_string_free(text); }
};
using SshString = std::unique_ptr<ssh_string_struct, SshStringDeleter>;

struct CharDeleter {
  void operator()(char* text) const noexcept { ssh_string_free_char(text); }
};
struct HashDeleter {
  void operator()(unsigned char* hash) const noexcept { ssh_clean_pubkey_hash(&hash); }
};

// Converts a client's public key to the plain values auth/ takes: the type name, the blob (from
// libssh's OpenSSH base64 export) and libssh's SHA256 fingerprint.
Result<auth::SshPublicKey> ToSshPublicKey(ssh_key key) {
  if (key == nullptr) return Status::InvalidArgument("the request carries no public key");
  auth::SshPublicKey plain;
  const char* type = ssh_key_type_to_char(ssh_key_type(key));
  if (type == nullptr) return Status::InvalidArgument("unknown public key type");
  plain.type = type;

  char* base64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &base64) != SSH_OK || base64 == nullptr) {
    return Status::InvalidArgument("the public key cannot be exported");
  }
  std::unique_ptr<char, CharDeleter> base64_owner(base64);
  Result<std::string> blob = Base64Decode(base64);
  if (!blob.ok()) return blob.status().Annotate("public key");
  plain.blob = std::move(blob).value();

  unsigned char* hash = nullptr;
  size_t hash_length = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_length) != 0) {
    return Status::InvalidArgument("the public key cannot be hashed");
  }
  std::unique_ptr<unsigned char, HashDeleter> hash_owner(hash);
  std::unique_ptr<char, CharDeleter> fingerprint(
      ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_length));
  if (!fingerprint) return Status::InvalidArgument("the public key cannot be fingerprinted");
  plain.fingerprint = fingerprint.get();
  return plain;
}

// The address part of "address:port" or "[v6 address]:port", for the per-address counters.
std::string PeerAddress(const std::string& peer) {
  if (!peer.empty() && peer.front() == '[') {
    std::size_t end = peer.find(']');
    return end == std::string::npos ? peer : peer.substr(1, end - 1);
  }
  std::size_t colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

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

const char* ChannelTypeName(int type) {
  switch (type) {
    case SSH_CHANNEL_SESSION: return "session";
    case SSH_CHANNEL_DIRECT_TCPIP: return "direct-tcpip";
    case SSH_CHANNEL_FORWARDED_TCPIP: return "forwarded-tcpip";
    case SSH_CHANNEL_X11: return "x11";
    case SSH_CHANNEL_AUTH_AGENT: return "auth-agent@openssh.com";
    default: return "unknown";
  }
}

}  // namespace

Connection::Connection(Worker& worker, SshSession session, std::uint64_t id, std::string peer)
    : worker_(worker), session_(std::move(session)), id_(id), peer_(std::move(peer)) {
  spdlog::info("conn={} accepted from {}", id_, peer_);
  auth::LoginGuard::Admission admission = worker_.login_guard().Admit();
  if (!admission.slot) {
    // Dropped before the key exchange, as sshd does past MaxStartups. LoginGuard reports a drop
    // to log at most once a second, with the number of drops since the last line.
    if (admission.drops_to_log > 0) {
      spdlog::warn("conn={} from {} dropped: {} unauthenticated connections reach [auth] "
                   "max_startups {} ({} connections dropped since the last report)",
                   id_, peer_, admission.unauthenticated,
                   worker_.login_guard().options().max_startups.ToString(),
                   admission.drops_to_log);
    }
    phase_ = Phase::kClosed;
    return;
  }
  startup_slot_ = std::move(admission.slot);
  ssh_set_blocking(session_.get(), 0);
  ssh_set_auth_methods(session_.get(), AuthMethods());
  // The first call sends the banner and creates the session's poll context, which
  // ssh_event_add_session() then moves into the worker's event.
  ContinueKeyExchange();
  worker_.loop().AddSession(session_.get());
  polled_ = true;
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
  if (reply_timer_ != 0) worker_.loop().CancelTimer(reply_timer_);
  login_.reset();
  pending_auth_.reset();
  sessions_.clear();
  if (polled_) worker_.loop().RemoveSession(session_.get());
}

bool Connection::SessionAlive() {
  int status = ssh_get_status(session_.get());
  return ssh_is_connected(session_.get()) && !(status & (SSH_CLOSED | SSH_CLOSED_ERROR));
}

void Connection::Close(const std::string& reason) {
  if (phase_ == Phase::kClosed) return;
  spdlog::info("conn={} from {} closed: {}", id_, peer_, reason);
  login_.reset();
  if (reply_timer_ != 0) {
    worker_.loop().CancelTimer(reply_timer_);
    reply_timer_ = 0;
  }
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

int Connection::AuthMethods() {
  int methods = SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE;
  if (worker_.authenticator().accepts_public_keys()) methods |= SSH_AUTH_METHOD_PUBLICKEY;
  return methods;
}

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
  attempt_uid_.clear();
  Result<auth::LoginName> name = auth::ParseLoginName(user_);
  if (!name.ok()) {
    RejectAttempt(std::move(message), AuthMethodName(method), name.status(), false);
    return;
  }
  login_uid_ = name->uid;
  task_selector_ = name->task;
  attempt_uid_ = login_uid_;

  switch (method) {
    case SSH_AUTH_METHOD_PASSWORD: {
      const char* password = ssh_message_auth_password(message.get());
      std::string secret = password != nullptr ? password : "";
      StartLogin(std::move(message), login_uid_, std::move(secret), "password");
      return;
    }
    case SSH_AUTH_METHOD_INTERACTIVE:
      HandleInteractive(std::move(message));
      return;
    case SSH_AUTH_METHOD_PUBLICKEY:
      if (AuthMethods() & SSH_AUTH_METHOD_PUBLICKEY) {
        HandlePublicKey(std::move(message));
        return;
      }
      [[fallthrough]];
    default:
      // "none" probes and methods we do not offer: list the ones we do, without counting it as
      // a failed attempt, as sshd does for "none".
      ssh_message_auth_set_methods(message.get(), AuthMethods());
      ssh_message_reply_default(message.get());
      spdlog::debug("conn={} from {}: method {} not offered for user {}", id_, peer_,
                    AuthMethodName(method), auth::Quote(user_));
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
                  Status::InvalidArgument("expected " + std::to_string(expected) +
                                          " answers, got " + std::to_string(answers)));
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
  if (password_index == 1 && auth::LooksLikeJwt(uid)) {
    // A token pasted at "IAM user:" is taken as the token, so it is never logged as a uid.
    secret = std::move(uid);
    uid.clear();
  }
  // An empty "IAM user:" response is accepted when the password is a token, which names its uid.
  attempt_uid_ = uid;
  StartLogin(std::move(message), std::move(uid), std::move(secret), "keyboard-interactive");
}

void Connection::HandlePublicKey(SshMessage message) {
  // A probe (no signature) queries whether the key would be accepted. A signed request, whose
  // signature libssh has already verified against the session id, logs in.
  const ssh_publickey_state_e state = ssh_message_auth_publickey_state(message.get());
  if (state == SSH_PUBLICKEY_STATE_WRONG) {
    RejectAttempt(std::move(message), "publickey",
                  Status::Unauthenticated("the signature does not verify"), false);
    return;
  }
  Result<auth::SshPublicKey> key = ToSshPublicKey(ssh_message_auth_pubkey(message.get()));
  if (!key.ok()) {
    RejectAttempt(std::move(message), "publickey", key.status(), false);
    return;
  }
  const bool probe = state != SSH_PUBLICKEY_STATE_VALID;
  spdlog::debug("conn={} from {}: publickey {} {} for user {}", id_, peer_,
                probe ? "probe of" : "login with", key->fingerprint, auth::Quote(user_));
  pending_auth_ = std::move(message);
  login_ = worker_.authenticator().CheckPublicKey(
      login_uid_, std::move(key).value(), !probe, [this, probe](Result<auth::Identity> identity) {
        OnLoginResult(std::move(pending_auth_), "publickey", probe, std::move(identity));
      });
}

void Connection::StartLogin(SshMessage message, std::string uid, std::string password,
                            const char* method) {
  pending_auth_ = std::move(message);
  std::string name = method;
  login_ = worker_.authenticator().CheckPassword(
      std::move(uid), std::move(password), name, [this, name](Result<auth::Identity> identity) {
        OnLoginResult(std::move(pending_auth_), name, false, std::move(identity));
      });
}

void Connection::OnLoginResult(SshMessage message, const std::string& method, bool probe,
                               Result<auth::Identity> identity) {
  // The Operation that called us must not be destroyed from inside its own callback.
  worker_.loop().Post([operation = std::shared_ptr<Operation>(std::move(login_))] {});
  if (!message || phase_ != Phase::kAuthentication) return;

  if (!identity.ok()) {
    // Keys cannot be guessed, so a rejected key does not feed the failure delays.
    RejectAttempt(std::move(message), method, identity.status(), method != "publickey");
    return;
  }
  if (probe) {
    // The key would be accepted: tell the client to sign with it (SSH_MSG_USERAUTH_PK_OK).
    ssh_message_auth_reply_pk_ok_simple(message.get());
    return;
  }
  AcceptLogin(std::move(message), *identity);
}

void Connection::AcceptLogin(SshMessage message, const auth::Identity& identity) {
  uid_ = identity.uid;
  // NOTE: the token is fixed for the connection. For a public-key user it is the service
  // account's token of the moment, so sessions opened after it expires (5 days by default) get
  // a 401 from the cluster although the service account has renewed its own token since.
  authorization_ = identity.cluster_token ? identity.cluster_token->AuthorizationHeader() : "";
  ssh_message_auth_reply_success(message.get(), 0);
  phase_ = Phase::kOpen;
  startup_slot_.reset();
  keepalive_ = std::make_unique<ClientKeepalive>(
      worker_.loop(), session_.get(), worker_.config().client_alive_interval,
      worker_.config().client_alive_count_max, [this](int missed) {
        // Deferred: this runs in the keepalive's own timer, which Close() destroys.
        worker_.loop().Post([this, missed] {
          Close("the client did not answer " + std::to_string(missed) + " keepalives");
        });
      });
  if (grace_timer_ != 0) {
    worker_.loop().CancelTimer(grace_timer_);
    grace_timer_ = 0;
  }
  std::string key;
  if (!identity.key_fingerprint.empty()) {
    key = " (key " + identity.key_fingerprint + " from the " + identity.key_source + ")";
  }
  spdlog::info("conn={} uid={} authenticated from {} with {}{} for task '{}'", id_, uid_, peer_,
               identity.method, key, task_selector_);
}

void Connection::RejectAttempt(SshMessage message, const std::string& method, const Status& why,
                               bool guessable) {
  ++failed_attempts_;
  const bool unavailable = why.code() == StatusCode::kUnavailable ||
                           why.code() == StatusCode::kDeadlineExceeded ||
                           why.code() == StatusCode::kInternal;
  std::string uid = attempt_uid_.empty() ? "" : ", uid " + auth::Quote(attempt_uid_);
  if (unavailable) {
    // Not the user's fault: the IAM failed to respond usefully. The client gets the reason in a
    // banner, which OpenSSH prints at its default log level (INFO).
    spdlog::error("conn={} from {}: {} attempt {} for user {}{} denied: {}", id_, peer_, method,
                  failed_attempts_, auth::Quote(user_), uid, why.message());
    std::string text = "task-bastion: login denied: " + why.message() + "\r\n";
    SshString banner(ssh_string_from_char(text.c_str()));
    if (banner) ssh_send_issue_banner(session_.get(), banner.get());
  } else if (guessable) {
    auth::LoginGuard::Failure failure =
        worker_.login_guard().RecordFailure(PeerAddress(peer_), attempt_uid_);
    std::string counts = "; failures from " + PeerAddress(peer_) + ": " +
                         std::to_string(failure.address_failures);
    if (!attempt_uid_.empty()) {
      counts += ", for uid " + auth::Quote(attempt_uid_) + ": " +
                std::to_string(failure.uid_failures);
    }
    if (failure.delay.count() > 0) {
      counts += "; failure reply delayed " + std::to_string(failure.delay.count()) + " ms";
    }
    spdlog::info("conn={} from {}: {} attempt {} for user {}{} rejected: {}{}", id_, peer_,
                 method, failed_attempts_, auth::Quote(user_), uid, why.message(), counts);
    if (failure.delay.count() > 0 && failed_attempts_ < worker_.config().max_auth_tries) {
      pending_auth_ = std::move(message);
      reply_timer_ = worker_.loop().StartTimer(failure.delay, [this] {
        reply_timer_ = 0;
        ReplyFailure(std::move(pending_auth_));
      });
      return;
    }
  } else {
    spdlog::info("conn={} from {}: {} attempt {} for user {}{} rejected: {}", id_, peer_, method,
                 failed_attempts_, auth::Quote(user_), uid, why.message());
  }
  ReplyFailure(std::move(message));
}

void Connection::ReplyFailure(SshMessage message) {
  if (!message || phase_ != Phase::kAuthentication) return;
  if (failed_attempts_ >= worker_.config().max_auth_tries) {
    message.reset();
    ssh_disconnect(session_.get());
    Close("too many authentication failures (" + std::to_string(failed_attempts_) + ")");
    return;
  }
  ssh_message_auth_set_methods(message.get(), AuthMethods());
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
    case SSH_REQUEST_GLOBAL:
      // libssh replies to keepalive@openssh.com itself and to unknown global requests with
      // failure, so only tcpip-forward (ssh -R) and cancel-tcpip-forward arrive here. A global
      // request failure has no reason field: OpenSSH's client reports "remote port forwarding
      // failed".
      if (ssh_message_subtype(message.get()) == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
        spdlog::info("conn={} uid={}: remote port forwarding rejected: not supported", id_, uid_);
      }
      ssh_message_reply_default(message.get());
      return;
    default:
      ssh_message_reply_default(message.get());
      return;
  }
}

void Connection::HandleChannelOpen(SshMessage message) {
  int type = ssh_message_subtype(message.get());
  if (type != SSH_CHANNEL_SESSION) {
    // ssh -L, -W and ProxyJump open direct-tcpip channels. libssh 0.10 rejects with the reason
    // code "administratively prohibited" and an empty description, and offers no call that sends
    // a description, so the client shows only the code.
    spdlog::info("conn={} uid={}: {} channel rejected: only session channels are supported", id_,
                 uid_, ChannelTypeName(type));
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
      status = session->OnSubsystem(subsystem != nullptr ? subsystem : "");
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
