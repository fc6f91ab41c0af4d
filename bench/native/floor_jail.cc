// The jailed floor's native half (bench/floor/fork_floor.py --jail). The
// floor forks a warm interpreter per request with nothing of pycage around
// it; jailed, each fork also gets a full-tier run's own jail from the same
// code a run gets it from: pycage's fork server and pycage-confine.so's
// confine step (through the runner's fork_server.py and confine.RunJail),
// the run filter's delta over the zygote filter (seccomp_policy.h), and the
// jail's init answering the uid map requests (jail_init.h). What the jailed
// floor costs above the plain one is then what the per-run jail costs,
// measured in the same run as pycage, and what pycage costs above the jailed
// floor is its own: Node, the supervisor, the zygote's loop, the protocol,
// the output capture, the rlimits.
//
// Built with PYCAGE_BUILD_BENCH only; never shipped.
#include <linux/filter.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "jail/jail_init.h"
#include "jail/seccomp_apply.h"
#include "jail/seccomp_policy.h"

namespace {

pycage::jail::Bpf run_delta;  // built in the parent, before any fork

int Fail(const char* what, const pycage::Status& status, char* err, size_t err_len) {
  std::snprintf(err, err_len, "%s: %s", what, status.message().c_str());
  return -1;
}

}  // namespace

extern "C" {

// In the floor's parent, before its first fork: no_new_privs and the zygote
// filter on itself (a full-tier zygote carries both into every fork), and
// the run delta that each fork installs over it, in *delta (its bytes in
// *delta_bytes). 0, or -1 with the reason in err.
__attribute__((visibility("default"))) int pycage_floor_prepare(const void** delta, size_t* delta_bytes, char* err,
                                                               size_t err_len) {
  auto zygote = pycage::jail::BuildFilter(pycage::jail::FilterKind::kZygote);
  if (!zygote.ok()) return Fail("zygote filter", zygote.status(), err, err_len);
  auto run = pycage::jail::BuildRunDelta(pycage::jail::FilterKind::kRun);
  if (!run.ok()) return Fail("run delta", run.status(), err, err_len);
  run_delta = std::move(run.value());
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    std::snprintf(err, err_len, "prctl(PR_SET_NO_NEW_PRIVS) failed");
    return -1;
  }
  const int installed = pycage::jail::InstallBpf(zygote->data(), zygote->size());
  if (installed != 0) {
    std::snprintf(err, err_len, "seccomp(zygote filter): errno %d", installed);
    return -1;
  }
  *delta = run_delta.data();
  *delta_bytes = run_delta.size() * sizeof(sock_filter);
  return 0;
}

// In a process the floor forks at its start, before any filter: the jail's
// init, serving the uid map requests of the floor's forks (children of
// `zygote`, asking as `zygote_uid`, for uids first..last) on init_fd. Never
// returns; it dies with the floor (PR_SET_PDEATHSIG), which also kills and
// reaps it at EOF to count its CPU. The init's end of the jail (killing what
// is left once the zygote is reaped) cannot happen here: the zygote is not
// this process's child, and this process forks nothing.
__attribute__((visibility("default"))) void pycage_floor_serve_init(int init_fd, int zygote, unsigned first,
                                                                   unsigned last, unsigned zygote_uid) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != zygote) _exit(1);
  pycage::jail::jail_init::SlotRange range;
  range.first = first;
  range.last = last;
  range.zygote_uid = zygote_uid;
  pycage::jail::jail_init::Serve(init_fd, zygote, range);
}

}  // extern "C"
