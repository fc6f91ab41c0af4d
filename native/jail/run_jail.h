// Each run's own jail, as a plan of steps like the outer jail's (jail_plan.h).
//
// A run is a fork of the warm interpreter, which holds no privilege (see
// docs/ARCHITECTURE.md, "No privilege near bundle code"). So a run confines
// itself with unprivileged means: the fork itself is a clone() into a user
// namespace of its own and into pid and mount namespaces owned by it, so the
// child is pid 1 of its pid namespace at once (no second fork). The jail's
// init writes its uid map (it is the only process that may map a run uid).
// Two phases:
//   fork:  the clone flags (Clone);
//   child: the uid map, /proc, /tmp, identity, capabilities, no_new_privs,
//          Landlock scope, seccomp (Execute).
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace pycage::jail::run_jail {

enum class Phase { kFork, kChild };

enum class StepKind {
  kCloneNamespaces,   // clone(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID): pid 1, full capabilities in its own user ns
  kRequestIdMap,      // ask the jail's init to map the slot's uid/gid (id_map_request.h)
  kMountProc,         // a procfs of the run's own pid namespace
  kMaskProc,          // what it shows of the host kernel hidden (proc_mask.h)
  kMountTmp,          // a = tmpfs options
  kLockSecurebits,    // one recipe with the outer jail (capabilities.h)
  kSetIdentity,       // setresgid/setresuid to the slot
  kDropCapabilities,  // bounding, permitted, effective, inheritable, ambient: all empty
  kNoNewPrivs,
  // Landlock (ABI >= 6): the run may not connect to an abstract AF_UNIX socket
  // made outside its own domain, so runs and sessions, which share the jail's
  // network namespace, cannot reach each other. On older kernels the run
  // filter (run-no-unix-socket) refuses AF_UNIX sockets instead.
  kScopeAbstractUnixSockets,
  kApplySeccomp,  // the run filter; the last step
};

struct Step {
  Phase phase;
  StepKind kind;
  std::string arg;
};

struct Spec {
  int init_fd = -1;  // the SOCK_SEQPACKET to the jail's init
  uint32_t slot = 0;
  const char* tmp_options = "";  // "size=…,nr_inodes=…,mode=1777"
  const sock_filter* filter = nullptr;
  size_t filter_len = 0;
};

const char* StepName(StepKind kind);
std::vector<Step> Plan(const Spec& spec);
// One line per step, "<phase> <name> <arg>", as jail_plan.h's FormatPlan.
std::string FormatPlan(const std::vector<Step>& steps);

// The fork phase: a fork-like clone() into the run's namespaces. Returns the
// child's pid in the caller, 0 in the child, or -errno. A raw clone skips
// libc's fork handlers, which only matters when another thread could hold a
// libc lock: so it refuses (-EDEADLK) when the caller has more than one
// thread. The caller does its own runtime's fork bookkeeping around it.
pid_t Clone();
// The same clone for the fork server (fork_server.h), with CLONE_PARENT: the
// child is the caller's parent's (the zygote's). No thread check: the server
// checks once that it is single-threaded, and runs nothing that starts one.
pid_t CloneSibling();
// Threads of the calling process, from /proc/self/stat (field 20), or -1.
int ThreadCount();
// Runs the child phase's steps in order; the first failure stops and is
// returned. Allocates no memory unless a step fails: the child is a fresh
// fork of the warm interpreter, and each malloc there copies a page of the
// interpreter's heap.
Status Execute(const Spec& spec);

}  // namespace pycage::jail::run_jail
