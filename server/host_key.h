// Host keys: loaded from the configured paths, or generated on first start.

#ifndef TASK_BASTION_SERVER_HOST_KEY_H_
#define TASK_BASTION_SERVER_HOST_KEY_H_

#include <string>

#include "common/status.h"

namespace tb::server {

// Makes sure `path` holds a private host key. A missing file is created with a new ed25519 key,
// mode 0600 (its directory is created too). An existing file must be readable, not writable or
// readable by group or others, and parse as an OpenSSH or PEM private key.
Status EnsureHostKey(const std::string& path);

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_HOST_KEY_H_
