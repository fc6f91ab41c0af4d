// Per-run jail steps, one by one, each in a fresh forked child (a step such
// as a seccomp filter or a namespace cannot be undone in the same process).
// BM_JailStep_ForkOnly is the baseline measured in the same run: subtract it,
// or read the ratio, to get a step's own cost. Each benchmark checks once,
// before timing, that its step really succeeds.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "jail/landlock.h"
#include "jail/proc_mask.h"
#include "jail/seccomp_policy.h"

namespace pycage::jail {
namespace {

// Forks, runs `step` in the child and returns whether it exited 0.
bool InChild(const std::function<bool()>& step) {
  const pid_t pid = fork();
  if (pid == 0) _exit(step() ? 0 : 1);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void Time(benchmark::State& state, const std::function<bool()>& step, const char* name) {
  if (!InChild(step)) {
    state.SkipWithError((std::string(name) + " fails on this host (not root, or no user namespaces?)").c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(InChild(step));
  state.SetItemsProcessed(state.iterations());
}

bool Attach(const Bpf& bpf) {
  sock_fprog prog{static_cast<unsigned short>(bpf.size()), const_cast<sock_filter*>(bpf.data())};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

void BM_JailStep_ForkOnly(benchmark::State& state) {
  Time(state, [] { return true; }, "fork");
}

void AttachRunFilter(benchmark::State& state, FilterShape shape) {
  auto bpf = BuildFilter(FilterKind::kRun, shape);
  if (!bpf.ok()) {
    state.SkipWithError(bpf.status().message().c_str());
    return;
  }
  state.counters["instructions"] = static_cast<double>(bpf->size());
  Time(state, [&] { return Attach(*bpf); }, "seccomp attach");
}
void BM_JailStep_AttachRunFilterLinear(benchmark::State& state) { AttachRunFilter(state, FilterShape::kLinear); }
void BM_JailStep_AttachRunFilterTree(benchmark::State& state) { AttachRunFilter(state, FilterShape::kTree); }

// What the filter costs a run afterwards: 3,000 cheap syscalls (about what a
// warm run makes) under it.
bool ManySyscalls() {
  struct stat st {};
  for (int i = 0; i < 1000; ++i) {
    if (getppid() <= 0 || fstat(0, &st) != 0) return false;
    close(-1);
  }
  return true;
}
void SyscallsUnder(benchmark::State& state, const Bpf* bpf) {
  Time(state, [&] { return (bpf == nullptr || Attach(*bpf)) && ManySyscalls(); }, "syscalls under the run filter");
}
void BM_JailStep_3kSyscallsNoFilter(benchmark::State& state) { SyscallsUnder(state, nullptr); }
void BM_JailStep_3kSyscallsLinearFilter(benchmark::State& state) {
  auto bpf = BuildFilter(FilterKind::kRun, FilterShape::kLinear);
  SyscallsUnder(state, &*bpf);
}
void BM_JailStep_3kSyscallsTreeFilter(benchmark::State& state) {
  auto bpf = BuildFilter(FilterKind::kRun, FilterShape::kTree);
  SyscallsUnder(state, &*bpf);
}

// What a run child really carries: the zygote filter, inherited, and over it
// either the whole run filter (before) or only its delta (BuildRunDelta, now).
// Attaching the zygote filter is in both; the difference is the run's own
// attach plus 3,000 syscalls walking both filters.
void BM_JailStep_AttachRunDelta(benchmark::State& state) {
  auto bpf = BuildRunDelta(FilterKind::kRun);
  if (!bpf.ok()) {
    state.SkipWithError(bpf.status().message().c_str());
    return;
  }
  state.counters["instructions"] = static_cast<double>(bpf->size());
  Time(state, [&] { return Attach(*bpf); }, "seccomp attach of the run delta");
}
void ZygoteThen(benchmark::State& state, const Result<Bpf>& over) {
  auto zygote = BuildFilter(FilterKind::kZygote);
  if (!zygote.ok() || !over.ok()) {
    state.SkipWithError("the filters do not build");
    return;
  }
  Time(state, [&] { return Attach(*zygote) && Attach(*over) && ManySyscalls(); }, "zygote filter, run filter over it");
}
void BM_JailStep_ZygoteThenRunFilter3kSyscalls(benchmark::State& state) {
  ZygoteThen(state, BuildFilter(FilterKind::kRun));
}
void BM_JailStep_ZygoteThenRunDelta3kSyscalls(benchmark::State& state) {
  ZygoteThen(state, BuildRunDelta(FilterKind::kRun));
}

// What a run's setup does in the zygote's jail: fresh pid and mount
// namespaces (the caller is root there), a private tmpfs /tmp.
void BM_JailStep_UnshareUserNs(benchmark::State& state) {
  Time(state, [] { return unshare(CLONE_NEWUSER) == 0; }, "unshare(CLONE_NEWUSER)");
}
void BM_JailStep_UnsharePidMountNs(benchmark::State& state) {
  Time(state, [] { return unshare(CLONE_NEWUSER) == 0 && unshare(CLONE_NEWPID | CLONE_NEWNS) == 0; },
       "unshare(NEWUSER, then NEWPID|NEWNS)");
}
void BM_JailStep_MountTmpfs(benchmark::State& state) {
  Time(state, [] {
    return unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 &&
           mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
           mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m") == 0;
  }, "user+mount namespace and a tmpfs");
}
void BM_JailStep_SwitchUid(benchmark::State& state) {
  // As root on the host: the per-run uid switch (setresgid, setresuid).
  Time(state, [] { return setgroups(0, nullptr) == 0 && setresgid(65534, 65534, 65534) == 0 &&
                          setresuid(65534, 65534, 65534) == 0; }, "setresuid(65534)");
}



// A run's own procfs, bare and then masked (proc_mask.h: about 25 bind
// mounts and read-only remounts), in a private mount namespace as root.
// Made once in the parent, before any fork, and removed at exit.
const std::string& ProcDir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/pycage-bench-proc-XXXXXX";
    const char* made = mkdtemp(tmpl);
    std::string path(made != nullptr ? made : "/nonexistent");
    static const std::string removed_at_exit = path;
    std::atexit([] { rmdir(removed_at_exit.c_str()); });
    return path;
  }();
  return dir;
}
bool MountProc() {
  return unshare(CLONE_NEWNS) == 0 && mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
         mount("proc", ProcDir().c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0;
}
void BM_JailStep_MountProc(benchmark::State& state) {
  ProcDir();
  Time(state, MountProc, "a private mount namespace and a procfs");
}
void BM_JailStep_MountProcMasked(benchmark::State& state) {
  ProcDir();
  Time(state, [] { return MountProc() && proc_mask::MaskRunProc(ProcDir().c_str(), "/dev/null").ok(); },
       "a procfs with the masks");
}
// The Landlock domain that scopes abstract unix sockets (and signals).
void BM_JailStep_LandlockScope(benchmark::State& state) {
  if (landlock::AbiVersion() < landlock::kScopeAbi) {
    state.SkipWithError("this kernel's Landlock has no scopes (ABI < 6)");
    return;
  }
  Time(state, [] { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && landlock::ScopeAbstractUnixSockets().ok(); },
       "landlock scope");
}
BENCHMARK(BM_JailStep_ForkOnly)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_AttachRunFilterLinear)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_AttachRunFilterTree)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_3kSyscallsNoFilter)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_3kSyscallsLinearFilter)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_3kSyscallsTreeFilter)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_AttachRunDelta)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_ZygoteThenRunFilter3kSyscalls)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_ZygoteThenRunDelta3kSyscalls)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_UnshareUserNs)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_UnsharePidMountNs)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_MountTmpfs)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_SwitchUid)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_MountProc)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_MountProcMasked)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JailStep_LandlockScope)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pycage::jail

BENCHMARK_MAIN();
