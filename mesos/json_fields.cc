#include "mesos/json_fields.h"

namespace tb::mesos {

namespace {

using Json = nlohmann::json;

// Finds `key` in `object`: nullptr when absent or null, an error when `object` is not an object
// or the value's type is not `expected`.
Result<const Json*> FindTyped(const Json& object, const char* key, std::string_view path,
                              Json::value_t expected, const char* expected_name) {
  if (!object.is_object()) {
    return Status::InvalidArgument(std::string(path) + ": the enclosing value is a " +
                                   object.type_name() + ", not an object");
  }
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return static_cast<const Json*>(nullptr);
  if (it->type() != expected) {
    return Status::InvalidArgument(std::string(path) + ": expected " + expected_name + ", got " +
                                   it->type_name());
  }
  return &*it;
}

Status Missing(std::string_view path) {
  return Status::InvalidArgument(std::string(path) + ": missing");
}

}  // namespace

Result<Json> ParseJson(std::string_view text, std::string_view document) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // e.what() quotes part of the input, which is why only the position is reported.
    return Status::InvalidArgument(std::string(document) + ": invalid JSON at byte " +
                                   std::to_string(e.byte));
  }
}

std::string FieldPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string path(parent);
  path += '.';
  path += key;
  return path;
}

std::string ElementPath(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

Result<const std::string*> OptionalString(const Json& object, const char* key,
                                          std::string_view path) {
  Result<const Json*> field = FindTyped(object, key, path, Json::value_t::string, "a string");
  if (!field.ok()) return field.status();
  if (*field == nullptr) return static_cast<const std::string*>(nullptr);
  return (*field)->get_ptr<const std::string*>();
}

Result<const Json*> OptionalObject(const Json& object, const char* key, std::string_view path) {
  return FindTyped(object, key, path, Json::value_t::object, "an object");
}

Result<const Json*> OptionalArray(const Json& object, const char* key, std::string_view path) {
  return FindTyped(object, key, path, Json::value_t::array, "an array");
}

Result<const std::string*> RequiredString(const Json& object, const char* key,
                                          std::string_view path) {
  Result<const std::string*> field = OptionalString(object, key, path);
  if (field.ok() && *field == nullptr) return Missing(path);
  return field;
}

Result<const Json*> RequiredObject(const Json& object, const char* key, std::string_view path) {
  Result<const Json*> field = OptionalObject(object, key, path);
  if (field.ok() && *field == nullptr) return Missing(path);
  return field;
}

}  // namespace tb::mesos
