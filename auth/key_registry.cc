#include "auth/key_registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "auth/public_key.h"
#include "auth/quote.h"
#include "common/base64.h"

namespace tb::auth {
namespace {

constexpr std::array<std::string_view, 7> kKeyTypes = {
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};

// Options that only forbid what the bastion never offers (forwarding, ~/.ssh/rc). "restrict"
// is not among them because it also forbids a pty, which the bastion does offer.
constexpr std::array<std::string_view, 4> kHarmlessOptions = {
    "no-agent-forwarding", "no-port-forwarding", "no-x11-forwarding", "no-user-rc",
};

bool IsKeyType(std::string_view word) {
  for (std::string_view type : kKeyTypes) {
    if (word == type) return true;
  }
  return false;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Splits off the next field: up to the first space or tab outside double quotes.
std::string_view NextField(std::string_view* rest) {
  std::size_t i = 0;
  bool quoted = false;
  for (; i < rest->size(); ++i) {
    char c = (*rest)[i];
    if (c == '\\' && quoted && i + 1 < rest->size()) {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (IsSpace(c) && !quoted) {
      break;
    }
  }
  std::string_view field = rest->substr(0, i);
  rest->remove_prefix(i);
  while (!rest->empty() && IsSpace(rest->front())) rest->remove_prefix(1);
  return field;
}

// Reads the options field and returns the uid it names.
Result<std::string> ReadOptions(std::string_view options) {
  std::string uid;
  bool have_uid = false;
  std::size_t i = 0;
  while (i <= options.size()) {
    std::size_t start = i;
    while (i < options.size() && options[i] != '=' && options[i] != ',') ++i;
    std::string name = Lower(options.substr(start, i - start));
    if (name.empty()) return Status::InvalidArgument("empty option");

    std::string value;
    bool has_value = false;
    if (i < options.size() && options[i] == '=') {
      ++i;
      if (i >= options.size() || options[i] != '"') {
        return Status::InvalidArgument("option " + name + ": the value must be in double quotes");
      }
      ++i;
      bool closed = false;
      for (; i < options.size(); ++i) {
        char c = options[i];
        if (c == '\\' && i + 1 < options.size() && options[i + 1] == '"') {
          value.push_back('"');
          ++i;
        } else if (c == '"') {
          closed = true;
          ++i;
          break;
        } else {
          value.push_back(c);
        }
      }
      if (!closed) return Status::InvalidArgument("option " + name + ": missing closing quote");
      has_value = true;
    }

    if (name == "uid") {
      if (have_uid) return Status::InvalidArgument("uid is given twice");
      if (!has_value || value.empty()) return Status::InvalidArgument("uid has no value");
      for (char c : value) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          return Status::InvalidArgument("uid contains a control character");
        }
      }
      uid = value;
      have_uid = true;
    } else {
      bool harmless = false;
      for (std::string_view option : kHarmlessOptions) harmless = harmless || name == option;
      if (!harmless || has_value) {
        return Status::InvalidArgument("option " + Quote(name, 40) +
                                       " is not supported: the bastion enforces only uid");
      }
    }

    if (i == options.size()) break;
    if (options[i] != ',') return Status::InvalidArgument("expected ',' after option " + name);
    ++i;
  }
  if (!have_uid) return Status::InvalidArgument("the uid=\"...\" option is missing");
  return uid;
}

Result<RegistryEntry> ParseLine(std::string_view line) {
  std::string_view rest = line;
  std::string_view first = NextField(&rest);
  std::string_view options;
  std::string_view type = first;
  if (!IsKeyType(first)) {
    options = first;
    type = NextField(&rest);
  }
  if (options.empty()) return Status::InvalidArgument("the uid=\"...\" option is missing");
  if (!IsKeyType(type)) {
    return Status::InvalidArgument("unknown key type " + Quote(type, 40));
  }
  Result<std::string> uid = ReadOptions(options);
  if (!uid.ok()) return uid.status();

  std::string_view encoded = NextField(&rest);
  if (encoded.empty()) return Status::InvalidArgument("the key is missing after its type");
  Result<std::string> blob = Base64Decode(encoded);
  if (!blob.ok()) return blob.status().Annotate("key");
  Result<std::string> blob_type = SshBlobType(*blob);
  if (!blob_type.ok()) return blob_type.status();
  if (*blob_type != type) {
    return Status::InvalidArgument("the key is of type " + Quote(*blob_type, 40) + ", not " +
                                   std::string(type));
  }

  RegistryEntry entry;
  entry.uid = std::move(uid).value();
  entry.type = std::string(type);
  entry.fingerprint = SshFingerprint(*blob);
  entry.blob = std::move(blob).value();
  return entry;
}

}  // namespace

ParsedRegistry ParseKeyRegistry(std::string_view text) {
  ParsedRegistry parsed;
  int number = 0;
  while (!text.empty()) {
    ++number;
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && IsSpace(line.front())) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;

    Result<RegistryEntry> entry = ParseLine(line);
    if (!entry.ok()) {
      parsed.errors.push_back("line " + std::to_string(number) + ": " + entry.status().message());
      continue;
    }
    entry->line = number;
    parsed.entries.push_back(std::move(entry).value());
  }
  return parsed;
}

KeyRegistry::KeyRegistry(std::string path, Clock& clock, std::chrono::milliseconds check_interval)
    : path_(std::move(path)), clock_(clock), check_interval_(check_interval) {}

Status KeyRegistry::Load() {
  if (path_.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mutex_);
  last_check_ = clock_.Monotonic();
  struct stat info {};
  if (stat(path_.c_str(), &info) != 0) {
    return Status::NotFound("key registry " + path_ + ": " + std::strerror(errno));
  }
  return ReloadLocked(info);
}

Status KeyRegistry::ReloadLocked(const struct stat& info) {
  if (!S_ISREG(info.st_mode)) {
    return Status::InvalidArgument("key registry " + path_ + " is not a regular file");
  }
  if (static_cast<std::size_t>(info.st_size) > kMaxRegistryBytes) {
    return Status::InvalidArgument("key registry " + path_ + " is larger than " +
                                   std::to_string(kMaxRegistryBytes) + " bytes");
  }
  int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::InvalidArgument("key registry " + path_ + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[65536];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxRegistryBytes) break;
  }
  close(fd);
  if (text.size() > kMaxRegistryBytes) {
    return Status::InvalidArgument("key registry " + path_ + " grew beyond " +
                                   std::to_string(kMaxRegistryBytes) + " bytes while read");
  }

  ParsedRegistry parsed = ParseKeyRegistry(text);
  for (const std::string& error : parsed.errors) {
    spdlog::warn("key registry {}: {}; the line is skipped", path_, error);
  }
  spdlog::info("key registry {}: loaded {} keys ({} bad lines skipped)", path_,
               parsed.entries.size(), parsed.errors.size());
  entries_ = std::move(parsed.entries);
  inode_ = info.st_ino;
  size_ = info.st_size;
  modified_ = info.st_mtim;
  return Status::Ok();
}

void KeyRegistry::RefreshLocked() {
  Clock::MonotonicTime now = clock_.Monotonic();
  if (now - last_check_ < check_interval_) return;
  last_check_ = now;
  struct stat info {};
  if (stat(path_.c_str(), &info) != 0) {
    spdlog::error("key registry {}: {}; keeping the {} keys read before", path_,
                  std::strerror(errno), entries_.size());
    return;
  }
  if (info.st_ino == inode_ && info.st_size == size_ &&
      info.st_mtim.tv_sec == modified_.tv_sec && info.st_mtim.tv_nsec == modified_.tv_nsec) {
    return;
  }
  Status s = ReloadLocked(info);
  if (!s.ok()) {
    spdlog::error("{}; keeping the {} keys read before", s.message(), entries_.size());
  }
}

std::vector<std::string> KeyRegistry::UidsForKey(std::string_view blob) {
  std::vector<std::string> uids;
  if (path_.empty()) return uids;
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshLocked();
  for (const RegistryEntry& entry : entries_) {
    if (entry.blob != blob) continue;
    bool seen = false;
    for (const std::string& uid : uids) seen = seen || uid == entry.uid;
    if (!seen) uids.push_back(entry.uid);
  }
  return uids;
}

}  // namespace tb::auth
