// KeyRegistry: the bastion's own file of SSH public keys per IAM uid.
//
// The file uses OpenSSH authorized_keys syntax (sshd(8), AUTHORIZED_KEYS FILE FORMAT), one key
// per line, with the owner given by a `uid` option:
//
//   # comment
//   uid="alice@example.com" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... alice's laptop
//   uid="ci",no-port-forwarding ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB... ci
//
// Options are comma-separated, `name` or `name="value"` with `\"` for a quote inside the value.
// `uid` is required. Options that restrict what the bastion never offers anyway (no-agent-,
// no-port-, no-X11-forwarding, no-user-rc) are accepted. Every other option (from, command,
// no-pty, restrict, expiry-time, cert-authority, ...) is rejected, because a restriction the
// bastion does not enforce must not look as if it were. A bad line is reported with its line
// number and skipped; the other lines still count.
//
// A key may be listed for several uids. Lookups answer which uids list a key blob.
//
// Thread-safe: every worker shares one registry. Lookups check the file's inode, size and
// modification time at most once per `check_interval` and re-read it when any changed, so edits
// take effect without a restart. A file that cannot be read after a change keeps the previous
// keys and logs an error.

#ifndef TASK_BASTION_AUTH_KEY_REGISTRY_H_
#define TASK_BASTION_AUTH_KEY_REGISTRY_H_

#include <sys/stat.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "auth/clock.h"
#include "common/status.h"

namespace tb::auth {

struct RegistryEntry {
  std::string uid;
  std::string type;         // "ssh-ed25519", ...
  std::string blob;         // decoded key blob
  std::string fingerprint;  // "SHA256:..."
  int line = 0;             // 1-based
};

struct ParsedRegistry {
  std::vector<RegistryEntry> entries;
  std::vector<std::string> errors;  // "line 3: unknown key type \"ssh-foo\""
};

// A registry file larger than this is rejected as a whole: it would be parsed on a worker loop.
inline constexpr std::size_t kMaxRegistryBytes = 4 << 20;

// Parses registry text. Never fails: bad lines become errors.
ParsedRegistry ParseKeyRegistry(std::string_view text);

class KeyRegistry {
 public:
  // `clock` must outlive the registry. An empty `path` means no registry: every lookup is empty.
  KeyRegistry(std::string path, Clock& clock, std::chrono::milliseconds check_interval);

  // Reads the file for the first time. InvalidArgument or NotFound when it cannot be read, so a
  // wrong path stops the start. Logs each bad line.
  Status Load();

  // Returns the uids that list `blob`, after re-reading the file when it changed.
  std::vector<std::string> UidsForKey(std::string_view blob);

  const std::string& path() const { return path_; }

 private:
  Status ReloadLocked(const struct stat& info);
  void RefreshLocked();

  const std::string path_;
  Clock& clock_;
  const std::chrono::milliseconds check_interval_;

  std::mutex mutex_;
  std::vector<RegistryEntry> entries_;          // guarded by mutex_
  Clock::MonotonicTime last_check_{};           // guarded by mutex_
  ino_t inode_ = 0;                             // guarded by mutex_
  off_t size_ = -1;                             // guarded by mutex_
  struct timespec modified_ {};                 // guarded by mutex_
};

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_KEY_REGISTRY_H_
