#include "auth/permissions.h"

namespace tb::auth {
namespace {

constexpr std::string_view kAppIdSection = ":app_id:";
constexpr char kHex[] = "0123456789ABCDEF";

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void AppendPercent(unsigned char byte, std::string* out) {
  out->push_back('%');
  out->push_back(kHex[byte >> 4]);
  out->push_back(kHex[byte & 0xf]);
}

}  // namespace

std::string NormalizeAppId(std::string_view app_id) {
  while (!app_id.empty() && app_id.front() == '/') app_id.remove_prefix(1);
  while (!app_id.empty() && app_id.back() == '/') app_id.remove_suffix(1);
  return "/" + std::string(app_id);
}

std::vector<Permission> ExecPermissions(std::string_view app_id) {
  const std::string app = NormalizeAppId(app_id);
  return {
      {"dcos:adminrouter:ops:mesos", "full"},
      {"dcos:adminrouter:ops:slave", "full"},
      {"dcos:mesos:agent:nested_container_session:app_id:" + app, "create"},
      {"dcos:mesos:agent:container:app_id:" + app, "read"},
      {"dcos:mesos:agent:container:app_id:" + app, "update"},
  };
}

std::vector<std::string> CoveringRids(std::string_view rid) {
  std::vector<std::string> rids = {std::string(rid)};
  std::size_t section = rid.find(kAppIdSection);
  if (section == std::string_view::npos) return rids;

  std::string_view prefix = rid.substr(0, section + kAppIdSection.size());
  std::string_view path = rid.substr(prefix.size());
  while (true) {
    std::size_t slash = path.rfind('/');
    if (slash == std::string_view::npos || slash == 0) break;
    path = path.substr(0, slash);
    rids.push_back(std::string(prefix) + std::string(path));
  }
  // Without the optional app id section: "...:app_id" stands for every app.
  rids.push_back(std::string(rid.substr(0, section + kAppIdSection.size() - 1)));
  return rids;
}

std::string EncodeRidForPath(std::string_view rid) {
  std::string out;
  for (char c : rid) {
    if (IsUnreserved(c) || c == ':' || c == '*' || c == '@') {
      out.push_back(c);
    } else {
      // "%" itself encoded, then the byte: "/" becomes "%252F".
      out += "%25";
      unsigned char byte = static_cast<unsigned char>(c);
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

std::string EncodePathSegment(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (IsUnreserved(c) || c == '@') {
      out.push_back(c);
    } else {
      AppendPercent(static_cast<unsigned char>(c), &out);
    }
  }
  return out;
}

}  // namespace tb::auth
