"""The IAM's permission model: users, groups, grants and how a grant covers a request.

A grant gives a principal (a uid or a gid) actions on a resource id (rid). A user holds
an action on a rid when the user, or a group the user belongs to, has a grant that
covers it:

* the grant's actions include the action or `full`;
* the grant's rid is the rid itself, the rid of a parent group of a Marathon app id
  (`...:app_id:/dev` covers `...:app_id:/dev/web`), or the rid with optional trailing
  sections left out (`dcos:mesos:agent:container:app_id` covers every app);
* or the principal has a grant on `dcos:superuser` (any action), which covers everything.

NOTE: DC/OS documents `full`, `dcos:superuser` and omitted trailing sections; whether the
real IAM's /acls/{rid}/users/{uid}/{action} answer counts groups and parent groups is not
documented. The emulator counts them, and the bastion asks about parent rids itself.
"""

ACTIONS = ("create", "read", "update", "delete", "full")
SUPERUSER_RID = "dcos:superuser"


def grant_covers(grant_rid: str, rid: str) -> bool:
    """Return True when a grant on `grant_rid` applies to `rid`."""
    if grant_rid == rid:
        return True
    # Optional trailing sections left out: "a:b" covers "a:b:c".
    if rid.startswith(grant_rid + ":"):
        return True
    # A Marathon group covers the apps and groups under it: ":app_id:/dev" covers ":app_id:/dev/web".
    if ":app_id:/" in grant_rid and rid.startswith(grant_rid.rstrip("/") + "/"):
        return True
    return False


class Grant:
    def __init__(self, principal_kind, principal, rid, actions):
        self.principal_kind = principal_kind  # "user" or "group"
        self.principal = principal
        self.rid = rid
        self.actions = tuple(actions)

    def as_json(self):
        return {"uid" if self.principal_kind == "user" else "gid": self.principal,
                "rid": self.rid, "actions": list(self.actions)}


class Policy:
    """Grants and group memberships; read-only after loading, so no lock is needed."""

    def __init__(self, grants, memberships):
        self.grants = list(grants)
        # uid -> set of gids
        self.memberships = memberships

    def grants_of(self, uid):
        """Every grant that applies to `uid`, direct ones first."""
        groups = self.memberships.get(uid, set())
        direct = [g for g in self.grants if g.principal_kind == "user" and g.principal == uid]
        via_groups = [g for g in self.grants if g.principal_kind == "group" and g.principal in groups]
        return direct + via_groups

    def is_superuser(self, uid) -> bool:
        return any(g.rid == SUPERUSER_RID for g in self.grants_of(uid))

    def allowed(self, uid, rid, action) -> bool:
        """Return whether `uid` holds `action` on `rid`."""
        for grant in self.grants_of(uid):
            if grant.rid == SUPERUSER_RID:
                return True
            if grant_covers(grant.rid, rid) and (action in grant.actions or "full" in grant.actions):
                return True
        return False

    def missing(self, uid, permissions):
        """Return the (rid, action) pairs of `permissions` that `uid` does not hold."""
        return [(rid, action) for rid, action in permissions if not self.allowed(uid, rid, action)]
