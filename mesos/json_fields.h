// Typed access to fields of Mesos JSON responses. A missing or mistyped field becomes an
// InvalidArgument whose message starts with the field's path ("get_tasks.tasks[2].state:
// missing"), so a malformed response from a master or agent points at its own defect.
//
// `path` arguments are the full path of the field being read. Returned pointers borrow from
// the JSON value and stay valid while it is alive and unmodified.

#ifndef TASK_BASTION_MESOS_JSON_FIELDS_H_
#define TASK_BASTION_MESOS_JSON_FIELDS_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tb::mesos {

// Parses `text`. On a syntax error returns InvalidArgument "<document>: invalid JSON at byte N",
// without quoting the text, which may carry process output or credentials.
Result<nlohmann::json> ParseJson(std::string_view text, std::string_view document);

// Returns "parent.key", or "key" when `parent` is empty.
std::string FieldPath(std::string_view parent, std::string_view key);
// Returns "parent[index]".
std::string ElementPath(std::string_view parent, std::size_t index);

// Each returns nullptr when the key is absent or null (the protobuf JSON mapping writes unset
// fields either way) and an error when the value has another JSON type or `object` is not an
// object.
Result<const std::string*> OptionalString(const nlohmann::json& object, const char* key,
                                          std::string_view path);
Result<const nlohmann::json*> OptionalObject(const nlohmann::json& object, const char* key,
                                             std::string_view path);
Result<const nlohmann::json*> OptionalArray(const nlohmann::json& object, const char* key,
                                            std::string_view path);

// As above, but an absent or null field is InvalidArgument "<path>: missing".
Result<const std::string*> RequiredString(const nlohmann::json& object, const char* key,
                                          std::string_view path);
Result<const nlohmann::json*> RequiredObject(const nlohmann::json& object, const char* key,
                                             std::string_view path);

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_JSON_FIELDS_H_
