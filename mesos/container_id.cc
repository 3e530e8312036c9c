#include "mesos/container_id.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <utility>
#include <vector>

namespace tb::mesos {

std::string NewUuid4() {
  std::array<unsigned char, 16> bytes;
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    spdlog::critical("OpenSSL RAND_bytes failed; cannot create container ids");
    std::abort();
  }
  // RFC 4122 section 4.4: version 4 in the high nibble of byte 6, variant 10xx in byte 8.
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0x0f]);
  }
  return out;
}

nlohmann::json SessionContainerId(const nlohmann::json& parent, std::string value) {
  return nlohmann::json{{"value", std::move(value)}, {"parent", parent}};
}

std::string ContainerIdPath(const nlohmann::json& id) {
  std::vector<std::string> values;
  const nlohmann::json* level = &id;
  while (level != nullptr && level->is_object()) {
    auto value = level->find("value");
    values.push_back(value != level->end() && value->is_string() ? value->get<std::string>() : "?");
    auto parent = level->find("parent");
    level = parent != level->end() ? &*parent : nullptr;
  }

  std::string path;
  for (auto it = values.rbegin(); it != values.rend(); ++it) {
    if (!path.empty()) path.push_back('.');
    path += *it;
  }
  return path;
}

}  // namespace tb::mesos
