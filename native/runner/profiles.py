"""The isolation tiers as values: profiles.json, beside this file, is the one
table (JS and the C++ build read it too). The runner asks a property of its
tier's profile, never compares the tier's name."""
import json
import os

_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles.json")


class Profile:
    __slots__ = ("name", "namespaces", "per_run_namespaces", "per_run_uid", "drops_capabilities",
                 "seccomp", "cgroup_limits", "binds_paths", "installer_jail", "landlock_fs")

    def __init__(self, row):
        self.name = row["name"]
        self.namespaces = row["namespaces"]
        self.per_run_namespaces = row["perRunNamespaces"]
        self.per_run_uid = row["perRunUid"]
        self.drops_capabilities = row["dropsCapabilities"]
        self.seccomp = row["seccomp"]
        self.cgroup_limits = row["cgroupLimits"]
        self.binds_paths = row["bindsPaths"]
        self.installer_jail = row["installerJail"]
        self.landlock_fs = row["landlockFs"]


def _load():
    with open(_TABLE, encoding="utf-8") as f:
        return {row["name"]: Profile(row) for row in json.load(f)["profiles"]}


PROFILES = _load()


def profile_of(tier):
    """The profile of a tier name; KeyError for a name that is no tier."""
    return PROFILES[tier]
