// The DC/OS permissions an exec into a task needs, and how their resource ids (rids) are
// written in IAM URLs.
//
// DC/OS documents these grants for `dcos task exec` in strict security mode (DC/OS 2.2 docs,
// "Debugging permissions"), for the Marathon app id of the task:
//   dcos:adminrouter:ops:mesos                                    full
//   dcos:adminrouter:ops:slave                                    full
//   dcos:mesos:agent:nested_container_session:app_id:<app id>     create
//   dcos:mesos:agent:container:app_id:<app id>                    read
//   dcos:mesos:agent:container:app_id:<app id>                    update (with a TTY)
// The bastion asks for update on every session, not only with a pty: it attaches an input
// stream (ATTACH_CONTAINER_INPUT, which Mesos authorizes as update) in every mode, so that a
// command reading stdin gets its EOF.
//
// A grant counts when it is held for the action itself or for `full`, on the rid itself, on the
// rid of a parent group of the app id (a grant on /dev covers /dev/web), or on the rid without
// its optional app id section ("...:app_id", which DC/OS reads as every app).
// `dcos:superuser` with `full` covers everything.
// Pure functions.

#ifndef TASK_BASTION_AUTH_PERMISSIONS_H_
#define TASK_BASTION_AUTH_PERMISSIONS_H_

#include <string>
#include <string_view>
#include <vector>

namespace tb::auth {

struct Permission {
  std::string rid;
  std::string action;  // "create", "read", "update", "delete" or "full"

  // "dcos:mesos:agent:container:app_id:/dev/web update".
  std::string ToString() const { return rid + " " + action; }
  bool operator==(const Permission&) const = default;
};

inline constexpr std::string_view kSuperuserRid = "dcos:superuser";

// Returns the app id with one leading '/' and no trailing '/': "dev/web/" becomes "/dev/web".
std::string NormalizeAppId(std::string_view app_id);

// The permissions listed above for `app_id`, in that order.
std::vector<Permission> ExecPermissions(std::string_view app_id);

// The rids whose grant covers `rid`: `rid` itself, then for an ":app_id:/a/b/c" rid the parent
// groups ":app_id:/a/b" and ":app_id:/a", then the rid ending in ":app_id".
std::vector<std::string> CoveringRids(std::string_view rid);

// Writes a rid as one path segment of an IAM ACL URL. The IAM specification writes '/' as
// "%252F": Admin Router decodes the path once, the IAM a second time. Letters, digits and
// "-._~:*@" stay as they are; every other byte is encoded twice in the same way ("%25XX").
// NOTE: DC/OS documents only '/' and the literal ':' and '*'; the double encoding of the other
// bytes follows the same rule but is unconfirmed. Marathon app ids use only [a-z0-9-./].
std::string EncodeRidForPath(std::string_view rid);

// Percent-encodes one URL path segment once (a uid such as "alice@example.com"): letters,
// digits, "-._~" and "@" stay, every other byte becomes %XX.
std::string EncodePathSegment(std::string_view text);

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_PERMISSIONS_H_
