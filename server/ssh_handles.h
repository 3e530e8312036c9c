// Owning smart pointers for libssh handles, each with a stateless deleter.
//
// Destruction order matters: ssh_free() also frees every channel of its session, so an object
// that holds both must declare the SshSession before anything that uses its channels, and must
// drop channel pointers before the session goes.

#ifndef TASK_BASTION_SERVER_SSH_HANDLES_H_
#define TASK_BASTION_SERVER_SSH_HANDLES_H_

#include <memory>

#include <libssh/libssh.h>
#include <libssh/server.h>

namespace tb::server {

struct SshBindDeleter {
  void operator()(ssh_bind bind) const noexcept { ssh_bind_free(bind); }
};
struct SshSessionDeleter {
  void operator()(ssh_session session) const noexcept {
    ssh_disconnect(session);
    ssh_free(session);
  }
};
struct SshEventDeleter {
  void operator()(ssh_event event) const noexcept { ssh_event_free(event); }
};
struct SshKeyDeleter {
  void operator()(ssh_key key) const noexcept { ssh_key_free(key); }
};
struct SshMessageDeleter {
  void operator()(ssh_message message) const noexcept { ssh_message_free(message); }
};

using SshBind = std::unique_ptr<ssh_bind_struct, SshBindDeleter>;
using SshSession = std::unique_ptr<ssh_session_struct, SshSessionDeleter>;
using SshEvent = std::unique_ptr<ssh_event_struct, SshEventDeleter>;
using SshKey = std::unique_ptr<ssh_key_struct, SshKeyDeleter>;
using SshMessage = std::unique_ptr<ssh_message_struct, SshMessageDeleter>;

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_SSH_HANDLES_H_
