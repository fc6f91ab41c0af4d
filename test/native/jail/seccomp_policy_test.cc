// The filters, exercised for real: pycage-try-syscall installs one and calls
// a syscall with bad arguments. Allowed shows as EFAULT/EBADF/EINVAL/OK,
// refused as EPERM/ENOSYS/EAFNOSUPPORT, killed as SIGSYS.
#include "jail/seccomp_policy.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include "subprocess.h"

namespace pycage::jail {
namespace {

using testing::Outcome;

std::string Try(const std::string& filter, const std::string& name) {
  Outcome o = testing::Run({PYCAGE_TRY_SYSCALL, filter, name});
  if (o.signal() == SIGSYS) return "SIGSYS";
  if (o.signal() != 0) return "signal " + std::to_string(o.signal());
  if (o.code() != 0) return "exit " + std::to_string(o.code()) + ": " + o.err;
  std::string prefix = name + ": ";
  EXPECT_EQ(o.out.rfind(prefix, 0), 0u) << o.out;
  std::string r = o.out.substr(prefix.size());
  if (!r.empty() && r.back() == '\n') r.pop_back();
  return r;
}

// pycage-try-syscall calls syscalls in its own (possibly sanitizer-built)
// process after installing a filter; LeakSanitizer's exit-time ptrace dies of
// the installer filter as it does of the run filter (CI runs the sanitizer
// build with -E 'RunFilter|ZygoteFilter' for that reason).
#if defined(__SANITIZE_ADDRESS__)
#define PYCAGE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYCAGE_SANITIZED 1
#endif
#endif
#ifdef PYCAGE_SANITIZED
#define SKIP_UNDER_SANITIZERS() GTEST_SKIP() << "the filter kills the sanitizer runtime's own syscalls"
#else
#define SKIP_UNDER_SANITIZERS() (void)0
#endif

bool Allowed(const std::string& r) {
  return r == "OK" || r == "EFAULT" || r == "EBADF" || r == "EINVAL" || r == "ENOENT" || r == "ECHILD";
}

TEST(RunFilter, AllowsWhatPythonNeeds) {
  for (const char* name : {"read", "write", "openat", "mmap", "futex", "getpid", "getrandom", "fstat",
                           "clone", "fork", "execve", "wait4", "pidfd_open", "socket_unix", "socketpair",
                           "sendmsg", "recvmsg", "ioctl_tcgets", "ioctl_fionread", "prlimit64_self",
                           "prctl_set_name", "prctl_set_no_new_privs", "personality_query"}) {
    std::string r = Try("run", name);
    EXPECT_TRUE(Allowed(r)) << name << " -> " << r;
  }
}

TEST(RunFilter, KillsOrRefusesEscapes) {
  for (const char* name :
       {"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "mount", "umount2",
        "pivot_root", "chroot", "unshare_newuser", "setns", "bpf", "io_uring_setup", "keyctl",
        "add_key", "request_key", "userfaultfd", "perf_event_open", "personality", "kexec_load",
        "init_module", "finit_module", "modify_ldt", "open_by_handle_at", "open_tree", "setuid",
        "capset", "setresuid", "seccomp", "prctl_capbset_drop", "prctl_set_securebits",
        "prlimit64_other", "clone_newuser", "clone_newnet", "clone_newns", "clone_newpid"}) {
    std::string r = Try("run", name);
    EXPECT_TRUE(r == "EPERM" || r == "ENOSYS" || r == "SIGSYS") << name << " -> " << r;
  }
}

TEST(RunFilter, HostileSyscallsDieOfSigsys) {
  for (const char* name : {"ptrace", "process_vm_readv", "pidfd_getfd", "bpf", "keyctl", "add_key",
                           "userfaultfd", "perf_event_open", "kexec_load", "init_module", "modify_ldt",
                           "open_tree", "open_by_handle_at"}) {
    EXPECT_EQ(Try("run", name), "SIGSYS") << name;
  }
}

TEST(RunFilter, CloneWithNamespaceFlagsIsEpermAndClone3IsEnosys) {
  for (const char* name : {"clone_newuser", "clone_newnet", "clone_newns", "clone_newpid"}) {
    EXPECT_EQ(Try("run", name), "EPERM") << name;
  }
  EXPECT_EQ(Try("run", "clone3"), "ENOSYS");
  EXPECT_EQ(Try("run", "io_uring_setup"), "SIGSYS");
}

TEST(RunFilter, OnlyUnixSockets) {
  EXPECT_EQ(Try("run", "socket_inet"), "EAFNOSUPPORT");
  EXPECT_EQ(Try("run", "socket_inet6"), "EAFNOSUPPORT");
  EXPECT_EQ(Try("run", "socket_netlink"), "EAFNOSUPPORT");
  EXPECT_EQ(Try("run", "socket_unix_hibits"), "EAFNOSUPPORT");
  EXPECT_EQ(Try("run", "socket_unix"), "OK");
}

TEST(RunFilter, TiocstiAndTioclinuxRefusedWhateverTheHighBits) {
  for (const char* name : {"ioctl_tiocsti", "ioctl_tiocsti_hibits", "ioctl_tioclinux", "ioctl_tioclinux_hibits"}) {
    EXPECT_EQ(Try("run", name), "EPERM") << name;
  }
  EXPECT_EQ(Try("run", "ioctl_tcgets"), "EBADF");
}

TEST(BothFilters, OtherAbisAreKilled) {
  for (const char* filter : {"run", "zygote", "installer", "installer-no-unix-socket"}) {
    EXPECT_EQ(Try(filter, "x32_getpid"), "SIGSYS") << filter;
    EXPECT_EQ(Try(filter, "i386_getpid"), "SIGSYS") << filter;
  }
  // Sanity: without a filter both answer (x32 may be disabled in the kernel).
  EXPECT_NE(Try("none", "i386_getpid"), "SIGSYS");
}

TEST(ZygoteFilter, AllowsWhatTheZygoteDoes) {
  // The run filter's allowlist plus what a fork needs to confine itself
  // (its fork is a clone into a user, mount and pid namespace).
  for (const char* name : {"read", "clone", "fork", "wait4", "mount", "socket_unix", "unshare_newuser",
                           "clone_newuser", "clone_newns", "clone_newpid", "mount_bind", "mount_remount",
                           "sendmsg", "recvmsg", "pidfd_open", "capset", "setresuid",
                           "prctl_capbset_drop", "prctl_set_no_new_privs", "seccomp", "clone3",
                           "prlimit64_other", "unshare_bad"}) {
    std::string r = Try("zygote", name);
    EXPECT_TRUE(Allowed(r) || (std::string(name) == "clone3" && r == "ENOSYS") ||
                (std::string(name) == "capset" && r == "EPERM") ||
                (std::string(name) == "prlimit64_other" && r == "EPERM"))
        << name << " -> " << r;
  }
}

TEST(RunFilter, RefusesInotifyAndOnlyTheFallbackRefusesUnixSockets) {
  for (const char* kind : {"run", "zygote"}) {
    EXPECT_EQ(Try(kind, "inotify_init1"), "EPERM") << kind;
    EXPECT_EQ(Try(kind, "inotify_add_watch"), "EPERM") << kind;
  }
  EXPECT_TRUE(Allowed(Try("run", "socket_unix")));
  EXPECT_EQ(Try("run-no-unix-socket", "socket_unix"), "EAFNOSUPPORT");
  EXPECT_TRUE(Allowed(Try("run-no-unix-socket", "socketpair")));
  // A run's own Landlock scope is set by its plan under the zygote filter;
  // the run itself may not add layers.
  EXPECT_TRUE(Allowed(Try("zygote", "landlock_create_ruleset")));
  EXPECT_EQ(Try("run", "landlock_create_ruleset"), "EPERM");
}

TEST(RunFilter, ContainedRefusesLeavingTheGroupAndChangingModesTimesOrXattrs) {
  SKIP_UNDER_SANITIZERS();
  // The reduced tier's runs: setsid and setpgid would leave the process
  // group that finds their processes; Landlock does not cover chmod, utime
  // or xattr writes. The full tier's run filter allows all of them.
  for (const char* kind : {"run-contained", "run-contained-no-unix-socket"}) {
    for (const char* name : {"setsid", "setpgid", "chmod", "fchmodat", "utimensat", "setxattr"}) {
      EXPECT_EQ(Try(kind, name), "EPERM") << kind << " " << name;
    }
    EXPECT_TRUE(Allowed(Try(kind, "openat"))) << kind;
    EXPECT_EQ(Try(kind, "inotify_init1"), "EPERM") << kind;
    EXPECT_EQ(Try(kind, "ptrace"), "SIGSYS") << kind;
  }
  EXPECT_TRUE(Allowed(Try("run-contained", "socket_unix")));
  EXPECT_EQ(Try("run-contained-no-unix-socket", "socket_unix"), "EAFNOSUPPORT");
  for (const char* name : {"chmod", "fchmodat", "utimensat"}) EXPECT_TRUE(Allowed(Try("run", name))) << name;
  EXPECT_EQ(Try("run", "setpgid"), "ESRCH");
  EXPECT_EQ(Try("run", "setsid"), "OK");
  // The zygote builds each run's Landlock domain itself.
  EXPECT_NE(Try("zygote", "landlock_add_rule"), "EPERM");
  EXPECT_EQ(Try("run", "landlock_add_rule"), "EPERM");
}

TEST(ZygoteFilter, NarrowsNamespacesAndMounts) {
  for (const char* name : {"unshare_newnet", "setns", "setns_pid", "setns_net",
                           "clone_newnet", "mount_move", "mount_rbind", "mount_shared",
                           "umount2", "socket_inet", "ioctl_tiocsti_hibits", "personality"}) {
    std::string r = Try("zygote", name);
    EXPECT_TRUE(r == "EPERM" || r == "EAFNOSUPPORT") << name << " -> " << r;
  }
  for (const char* name : {"ptrace", "process_vm_readv", "pidfd_getfd", "bpf", "keyctl", "io_uring_setup",
                           "perf_event_open", "kexec_load", "init_module", "userfaultfd", "pivot_root",
                           "chroot", "open_tree"}) {
    EXPECT_EQ(Try("zygote", name), "SIGSYS") << name;
  }
}

TEST(Policy, NoRuleAnywhereAnswersErrnoZero) {
  for (FilterKind kind : {FilterKind::kRun, FilterKind::kZygote, FilterKind::kInstaller,
                          FilterKind::kInstallerNoUnixSocket}) {
    auto pfc = DescribeFilter(kind);
    ASSERT_TRUE(pfc.ok()) << pfc.status().message();
    EXPECT_EQ(pfc->find("ERRNO(0)"), std::string::npos);
    auto bpf = BuildFilter(kind);
    ASSERT_TRUE(bpf.ok());
    // SECCOMP_RET_ERRNO | 0 would make a refused call look like success.
    for (const auto& insn : bpf.value()) {
      if (insn.code == (BPF_RET | BPF_K)) {
        EXPECT_NE(insn.k, 0x00050000u);
      }
    }
  }
}

TEST(Policy, NeverKilledSyscallIsInTheAllowlist) {
  auto allowed = RunAllowedSyscalls();
  for (const auto& name : AlwaysKilledSyscalls()) {
    EXPECT_EQ(std::find(allowed.begin(), allowed.end(), name), allowed.end()) << name;
  }
}

TEST(Policy, InstallerNeverAllowsWhatItKills) {
  auto allowed = InstallerAllowedSyscalls();
  auto killed = InstallerKilledSyscalls();
  for (const char* name : {"mount", "umount2", "unshare", "setns", "io_uring_setup", "ptrace", "bpf", "keyctl",
                           "perf_event_open", "kexec_load", "init_module", "userfaultfd", "pivot_root"}) {
    EXPECT_NE(std::find(killed.begin(), killed.end(), name), killed.end()) << name;
  }
  for (const auto& name : killed) {
    EXPECT_EQ(std::find(allowed.begin(), allowed.end(), name), allowed.end()) << name;
  }
}

TEST(InstallerFilter, AllowsNetworkingProcessesAndFiles) {
  SKIP_UNDER_SANITIZERS();
  for (const char* filter : {"installer", "installer-no-unix-socket"}) {
    for (const char* name :
         {"read", "write", "openat", "mmap", "futex", "getrandom", "clone", "fork", "execve",
          "execveat", "wait4", "pipe2", "poll", "socket_inet", "socket_inet_tcp", "socket_inet6",
          "socket_inet6_udp", "socket_netlink", "socket_netlink_route_dgram", "socketpair", "connect", "bind",
          "getsockname", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "chown", "mknodat",
          "ioctl_tcgets", "ioctl_fionread", "prlimit64_self", "prctl_set_name", "personality_query"}) {
      std::string r = Try(filter, name);
      EXPECT_TRUE(Allowed(r) || r == "EACCES") << filter << " " << name << " -> " << r;
    }
  }
  EXPECT_EQ(Try("installer", "socket_unix"), "OK");
  // Without Landlock's abstract-socket scope, AF_UNIX sockets stay shut
  // (socketpair still works: it reaches no one).
  EXPECT_EQ(Try("installer-no-unix-socket", "socket_unix"), "EAFNOSUPPORT");
}

TEST(InstallerFilter, OtherSocketsAreRefused) {
  SKIP_UNDER_SANITIZERS();
  for (const char* filter : {"installer", "installer-no-unix-socket"}) {
    // Families outside the list, high garbage bits included.
    for (const char* name : {"socket_packet", "socket_vsock", "socket_family_3", "socket_unix_hibits"}) {
      EXPECT_EQ(Try(filter, name), "EAFNOSUPPORT") << filter << " " << name;
    }
    // Allowed families with another protocol or type (module autoloading,
    // raw sockets, audit): the default.
    for (const char* name : {"socket_inet_sctp", "socket_inet_raw", "socket_inet6_seqpacket", "socket_netlink_audit"}) {
      EXPECT_EQ(Try(filter, name), "ENOSYS") << filter << " " << name;
    }
  }
}

TEST(InstallerFilter, KillsEscapesAndRefusesTheRest) {
  SKIP_UNDER_SANITIZERS();
  for (const char* name :
       {"ptrace", "process_vm_readv", "pidfd_getfd", "bpf", "keyctl", "add_key", "userfaultfd", "perf_event_open",
        "kexec_load", "init_module", "finit_module", "modify_ldt", "open_by_handle_at", "open_tree", "io_uring_setup",
        "mount", "mount_bind", "umount2", "pivot_root", "chroot", "unshare_newuser", "unshare_newnet", "unshare_bad",
        "setns", "setns_pid", "clone_newuser", "clone_newnet", "clone_newns", "clone_newpid", "personality"}) {
    EXPECT_EQ(Try("installer", name), "SIGSYS") << name;
  }
  for (const char* name : {"setuid", "setresuid", "capset", "seccomp", "prctl_capbset_drop",
                           "prctl_set_securebits", "prlimit64_other", "ioctl_tiocsti", "ioctl_tiocsti_hibits"}) {
    EXPECT_EQ(Try("installer", name), "EPERM") << name;
  }
  // clone3 hides its flags from seccomp; glibc falls back to clone on ENOSYS.
  EXPECT_EQ(Try("installer", "clone3"), "ENOSYS");
  // Anything unlisted answers ENOSYS instead of killing a build.
  EXPECT_EQ(Try("installer", "vmsplice"), "ENOSYS");
  EXPECT_EQ(Try("none", "vmsplice"), "EBADF");
}

TEST(InstallerFilter, RunsPip) {
  Outcome o = testing::Run({PYCAGE_TRY_SYSCALL, "installer", "--exec", PYCAGE_TEST_PYTHON_EXE, "-I", "-m", "pip",
                            "--version"},
                           {"HOME=/tmp", "PIP_DISABLE_PIP_VERSION_CHECK=1"}, 120000);
  EXPECT_EQ(o.signal(), 0) << o.err;
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.out.rfind("pip ", 0), 0u) << o.out << o.err;
}

TEST(Policy, RunFilterRunsNumpyPandasMatplotlib) {
  const char* code =
      "import sys; sys.path.append('/usr/lib/python3/dist-packages')\n"
      "import os, subprocess, threading, json, ctypes, tempfile\n"
      "import numpy, pandas, matplotlib\n"
      "matplotlib.use('Agg')\n"
      "import matplotlib.pyplot as plt\n"
      "fig = plt.figure(); plt.plot([1,2,3]); import io; b = io.BytesIO(); fig.savefig(b, format='png')\n"
      "df = pandas.DataFrame({'a': [1,2,3]}); s = int(df.a.sum())\n"
      "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
      "r = subprocess.run(['/bin/sh', '-c', 'echo hi'], capture_output=True).stdout\n"
      "import socket\n"
      "try:\n  socket.socket(socket.AF_INET); net='open'\nexcept OSError as e:\n  net=e.errno\n"
      "print(numpy.ones(3).sum(), s, len(b.getvalue()) > 1000, r, net)\n";
  Outcome o = testing::Run({PYCAGE_TRY_SYSCALL, "run", "--exec", "/usr/bin/python3", "-I", "-S", "-c", code},
                           {"MPLBACKEND=Agg", "OPENBLAS_NUM_THREADS=1", "HOME=/tmp", "MPLCONFIGDIR=/tmp/pycage-mpl-test"},
                           120000);
  EXPECT_EQ(o.signal(), 0) << o.err;
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.out, "3.0 6 True b'hi\\n' 97\n") << o.err;
}

}  // namespace
}  // namespace pycage::jail
