// Mesos ContainerID values (v1/mesos.proto): {"value": "...", "parent": {<ContainerID>}}.
//
// A container id is kept as the JSON object the master returned and copied verbatim, never
// rebuilt from parts. A task's id can be several levels deep (a pod task is nested under its
// executor's container), and the agent resolves a nested container by its whole chain.

#ifndef TASK_BASTION_MESOS_CONTAINER_ID_H_
#define TASK_BASTION_MESOS_CONTAINER_ID_H_

#include <nlohmann/json.hpp>
#include <string>

namespace tb::mesos {

// Returns a random (version 4) UUID in lower-case 8-4-4-4-12 hex form, from OpenSSL's RAND_bytes.
// Each exec session needs a fresh one, because the agent responds to a launch with an existing id
// with 202 and no output stream. Aborts the process if RAND_bytes fails, because the CSPRNG then
// cannot be seeded and any fallback would risk repeating ids.
std::string NewUuid4();

// Returns the id of a nested container directly under `parent`: {"value": value, "parent":
// parent}, with `parent` (the whole chain) copied unchanged.
nlohmann::json SessionContainerId(const nlohmann::json& parent, std::string value);

// Returns the chain's values from the root down, joined with '.', for logs: for
// {"value": "s", "parent": {"value": "t", "parent": {"value": "e"}}} that is "e.t.s". A level
// without a string `value` shows as "?", and a non-object `id` gives "".
std::string ContainerIdPath(const nlohmann::json& id);

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_CONTAINER_ID_H_
