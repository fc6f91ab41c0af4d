// User namespace: the parent (still in the host user namespace, where its
// credentials count) writes the child's maps; the child then takes uid/gid 0
// of the new namespace.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace pycage::jail::user_ns {

// Parent side. Unprivileged writers must deny setgroups before the gid map.
Status DenySetgroups(pid_t child);
// which: "uid_map" or "gid_map"; line: "inside outside count".
Status WriteIdMap(pid_t child, const char* which, const std::string& line);

// Child side: setresgid/setresuid(0) and drop supplementary groups (host
// root's group 0 would otherwise ride along as a supplementary group).
Status BecomeRoot();

}  // namespace pycage::jail::user_ns
