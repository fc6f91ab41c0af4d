// Parent side of seccomp: the two policies, compiled with libseccomp to raw
// BPF before clone so the child only has to hand bytes to the kernel.
//
//  - The *zygote* filter (default allow) is installed by the helper on the
//    zygote. It kills what nothing in a jail needs (ptrace, bpf, keyctl,
//    io_uring, perf, kexec, modules, x32/i386…) and narrows what the zygote
//    does need to the shapes it uses: unshare(NEWPID|NEWNS), setns(NEWPID),
//    mount without bind/remount/move/propagation flags.
//  - The *run* filter (default kill) is installed by the zygote in each run
//    child: an allowlist broad enough for CPython, numpy, pandas, matplotlib,
//    threads and subprocess.
//  - The *installer* filter (default ENOSYS) is installed by the helper on
//    the installer profile's first process (pip, uv): the run allowlist plus
//    IPv4/IPv6 TCP/UDP and NETLINK_ROUTE sockets, chown and mknod (the kernel
//    still refuses what needs a capability) and a few newer syscall
//    spellings; it kills what the zygote filter kills plus mount, umount2,
//    unshare, setns, io_uring, clone with namespace flags and personality
//    changes. kInstallerNoUnixSocket also refuses socket(AF_UNIX), for hosts
//    whose Landlock cannot scope abstract sockets (see landlock.h).
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace pycage::jail {

// kRunNoUnixSocket: the run filter for kernels without Landlock's abstract
// socket scoping (ABI < 6), where runs may not make AF_UNIX sockets at all
// (socketpair still works), so they cannot reach each other's abstract names.
// kRunContained*: the run filters of the reduced tier, where a run has no pid
// namespace and its processes are found by its process group: setsid and
// setpgid, the ways out of that group, are refused (EPERM); so are chmod,
// utime and xattr writes, which Landlock does not cover.
enum class FilterKind {
  kZygote,
  kRun,
  kRunNoUnixSocket,
  kRunContained,
  kRunContainedNoUnixSocket,
  kInstaller,
  kInstallerNoUnixSocket
};

// "zygote", "run", "run-no-unix-socket", "run-contained", "run-contained-no-unix-socket",
// "installer", "installer-no-unix-socket"
const char* FilterName(FilterKind kind);

using Bpf = std::vector<sock_filter>;

// How libseccomp lays the rules out. kTree (the default) sorts the syscall
// numbers into a binary search: about 0.16 ms to attach the run filter
// against 0.45 ms for the linear list (bench/native/bench_jail_steps.cc), with
// the same decisions (test/native/jail/seccomp_sweep_test.cc).
enum class FilterShape { kTree, kLinear };

Result<Bpf> BuildFilter(FilterKind kind, FilterShape shape = FilterShape::kTree);

// What a run child installs over the zygote filter it inherits: only the
// rules in which `run_kind` (a run kind) is stricter than the zygote filter,
// the rest allowed. Stacked on the zygote filter it decides every syscall as
// `run_kind` does (the kernel applies the stricter answer of the two), in a
// few dozen instructions instead of about 540, so the per-run attach and
// every later syscall cost less (docs/ARCHITECTURE.md, "No privilege near
// bundle code").
Result<Bpf> BuildRunDelta(FilterKind run_kind);

// libseccomp's human-readable dump of a filter (for --print-plan and debugging).
Result<std::string> DescribeFilter(FilterKind kind);

// An O_CLOEXEC memfd holding `bpf`, sealed against every change, offset 0.
Result<int> SealedMemfd(const char* name, const Bpf& bpf);

// Syscall names each filter lets through unconditionally or with argument
// checks (documentation and tests).
std::vector<std::string> RunAllowedSyscalls();
std::vector<std::string> InstallerAllowedSyscalls();
// The run filter's tables, for tests that check the compiled filter against
// them: refused with EPERM, refused with ENOSYS, and allowed only for some
// arguments (socket, ioctl, clone, prlimit64, prctl, personality). Every
// other name of RunAllowedSyscalls() is allowed whatever its arguments, and
// every syscall in none of these lists is killed.
std::vector<std::string> RunEpermSyscalls();
std::vector<std::string> RunEnosysSyscalls();
std::vector<std::string> RunConditionalSyscalls();
// Syscalls no filter may ever allow; the run filter's default kills them.
std::vector<std::string> AlwaysKilledSyscalls();
// What the installer filter kills: AlwaysKilledSyscalls() plus mount,
// umount2, unshare, setns and io_uring (clone with namespace flags and
// personality changes are killed by argument).
std::vector<std::string> InstallerKilledSyscalls();

}  // namespace pycage::jail
