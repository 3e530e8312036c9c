#include "server/host_key.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "server/ssh_handles.h"

namespace tb::server {

Status EnsureHostKey(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
      return Status::InvalidArgument(fmt::format(
          "host key {} is readable by group or others (mode {:03o}); run: chmod 600 {}", path,
          st.st_mode & 0777, path));
    }
    ssh_key raw = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
      return Status::InvalidArgument("host key " + path +
                                     " is not a readable unencrypted private key");
    }
    SshKey key(raw);
    return Status::Ok();
  }
  if (errno != ENOENT) {
    return Status::InvalidArgument("host key " + path + ": " + std::strerror(errno));
  }

  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    return Status::InvalidArgument("cannot create the directory of host key " + path + ": " +
                                   ec.message());
  }
  ssh_key raw = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
    return Status::Internal("generating an ed25519 host key failed");
  }
  SshKey key(raw);
  mode_t old_mask = umask(077);
  int rc = ssh_pki_export_privkey_file(key.get(), nullptr, nullptr, nullptr, path.c_str());
  umask(old_mask);
  if (rc != SSH_OK) {
    return Status::InvalidArgument("cannot write host key " + path);
  }
  chmod(path.c_str(), 0600);
  spdlog::info("generated a new ed25519 host key at {}", path);
  return Status::Ok();
}

}  // namespace tb::server
