// Starts the jail helper and watches it through a pidfd, without libuv's
// uv_spawn. uv_spawn takes over SIGCHLD for the whole process; the addon
// carries its own static libuv, and two libuv copies in one process (ours and
// Node's) would overwrite each other's SIGCHLD handler, so one of them would
// never learn that its children exited. A pidfd needs no signal at all.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"
#include "supervisor/unique_fd.h"

namespace pycage {

struct HelperProcess {
  pid_t pid = -1;
  UniqueFd pidfd;        // readable once the process has exited
  UniqueFd stderr_read;  // the read end of the helper's stderr, non-blocking
};

// posix_spawn()s `path` with `args` (argv[0] included), an empty environment,
// /dev/null on stdin and stdout, a new pipe on stderr and `control_fd` as fd 3.
// Every signal disposition is reset to its default in the child (Node ignores
// SIGPIPE, and ignored dispositions survive exec).
Result<HelperProcess> SpawnHelper(const std::string& path, const std::vector<std::string>& args, int control_fd);

// Reaps an exited helper without blocking. Returns false if it has not exited
// yet; otherwise fills `exit_code` or `term_signal` (the other is 0).
bool ReapHelper(pid_t pid, int* exit_code, int* term_signal);

}  // namespace pycage
