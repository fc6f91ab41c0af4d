// Each run's own jail, as a plan of steps like the outer jail's (jail_plan.h).
//
// A run is a fork of the warm interpreter, which holds no privilege (see
// docs/ARCHITECTURE.md, "No privilege near bundle code"). So a run confines
// itself with unprivileged means: a user namespace of its own, whose id map
// the jail's init writes (it is the only process that may map a run uid),
// then pid and mount namespaces owned by that user namespace. The pid
// namespace only takes effect for children, so the steps fall in two phases
// around one fork:
//   spare: the process the zygote forked; after its phase it forks the run's
//          pid 1 and stays as its keeper (Keep) until it exits;
//   run:   pid 1 of the new pid namespace: /proc, /tmp, identity,
//          capabilities, no_new_privs, seccomp.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace pycage::jail::run_jail {

enum class Phase { kSpare, kRun };

enum class StepKind {
  kEnterUserNs,          // unshare(CLONE_NEWUSER): full capabilities, in that namespace only
  kRequestIdMap,         // ask the jail's init to map the slot's uid/gid (id_map_request.h)
  kEnterMountPidNs,      // unshare(CLONE_NEWNS|CLONE_NEWPID), owned by the new user namespace
  kSetParentDeathSignal, // SIGKILL when the keeper dies, so the zygote's kill reaches pid 1
  kCheckKeeper,          // the keeper may have died before that was armed
  kMountProc,            // a procfs of the run's own pid namespace
  kMountTmp,             // a = tmpfs options
  kLockSecurebits,       // one recipe with the outer jail (capabilities.h)
  kSetIdentity,          // setresgid/setresuid to the slot
  kDropCapabilities,     // bounding, permitted, effective, inheritable, ambient: all empty
  kNoNewPrivs,
  kApplySeccomp,         // the run filter; the last step
};

struct Step {
  Phase phase;
  StepKind kind;
  std::string arg;
};

struct Spec {
  int init_fd = -1;  // the SOCK_SEQPACKET to the jail's init (spare phase)
  uint32_t slot = 0;
  std::string tmp_options;  // "size=…,nr_inodes=…,mode=1777"
  const sock_filter* filter = nullptr;
  size_t filter_len = 0;
  int keeper_fd = -1;  // run phase: read end of a pipe whose write end only the keeper holds
};

const char* StepName(StepKind kind);
std::vector<Step> Plan(const Spec& spec);
// One line per step, "<phase> <name> <arg>", as jail_plan.h's FormatPlan.
std::string FormatPlan(const std::vector<Step>& steps);
// Runs the steps of `phase` in order; the first failure stops and is returned.
Status Execute(Phase phase, const Spec& spec);
// The spare, once it forked the run's pid 1: close every fd but hold_fd (the
// write end of the keeper pipe, whose EOF tells pid 1 the keeper is gone),
// wait for pid 1 and end the way it ended (its exit code, or the same
// signal), so the zygote's wait4 sees the run's status and rusage.
[[noreturn]] void Keep(pid_t run_pid1, int hold_fd);

}  // namespace pycage::jail::run_jail
