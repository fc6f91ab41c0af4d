#include "jail/seccomp_policy.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "jail/sys_error.h"

namespace pycage::jail {
namespace {

constexpr uint64_t kTiocsti = 0x5412;
constexpr uint64_t kTioclinux = 0x541C;
// Every CLONE_NEW* flag clone() accepts (CLONE_NEWTIME shares its bit with
// CSIGNAL there and only works through unshare/clone3).
constexpr uint64_t kCloneNewMask = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                   CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

// Plain allowlist of the run filter. Grouped by what needs them.
const char* const kRunAllowed[] = {
    // files and descriptors
    "read", "write", "open", "openat", "close", "close_range", "creat", "lseek", "pread64",
    "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2", "stat", "fstat",
    "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir",
    "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat",
    "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "umask", "utime", "utimes",
    "utimensat", "futimesat", "truncate", "ftruncate", "fallocate", "fadvise64", "readahead",
    "fsync", "fdatasync", "sync_file_range", "flock", "fcntl", "dup", "dup2", "dup3", "pipe",
    "pipe2", "sendfile", "copy_file_range", "splice", "tee", "memfd_create",
    // shutil.copystat and friends read (and copy) extended attributes
    "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr",
    "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    // waiting on descriptors
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4",
    // memory
    "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "mincore", "msync", "membarrier",
    // signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause", "kill",
    "tkill", "tgkill", "restart_syscall",
    // threads and processes (clone is checked below)
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
    "set_tid_address", "set_robust_list", "futex", "futex_waitv", "rseq", "arch_prctl",
    "pidfd_open", "pidfd_send_signal", "getpid", "gettid", "getppid", "getpgrp", "getpgid",
    "setpgid", "getsid", "setsid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
    "getresgid", "getgroups", "capget",
    // time
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getitimer", "setitimer", "alarm", "times",
    // limits, scheduling, system facts
    "getrlimit", "setrlimit", "getrusage", "sysinfo", "uname", "getrandom", "getcpu",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "getpriority", "setpriority", "ioprio_get",
    // AF_UNIX sockets (socket() itself is checked below)
    "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom",
    "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname", "getpeername",
    "setsockopt", "getsockopt",
};

// Refused with EPERM rather than killed: ordinary libraries probe these
// (os.chown in shutil, multiprocessing's SysV/POSIX IPC, mlock in crypto
// code, setuid in daemons), and a clear PermissionError beats a SIGSYS.
// SysV IPC and message queues live in the jail's IPC namespace, which all the
// runs of one zygote share, so allowing them would let one run talk to the next.
const char* const kRunEperm[] = {
    "mount", "umount2", "unshare", "setns", "setuid", "setgid",
    "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
    "capset", "chown", "fchown", "lchown", "fchownat", "mlock", "mlock2", "munlock", "mlockall",
    "munlockall", "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
    "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr", "sethostname", "setdomainname",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "mknod", "mknodat",
    "set_mempolicy", "get_mempolicy", "mbind", "migrate_pages", "move_pages", "ioprio_set",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "seccomp",
    "get_robust_list", "sync", "syncfs", "fanotify_mark", "remap_file_pages",
    // inotify on the shared read-only root sees a neighbouring run's imports
    // and the host's execs (a side channel); no Python node needs to watch
    // files (checked: the stdlib, numpy, pandas and matplotlib never call it).
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
};

// ENOSYS: callers treat it as "this kernel is too old" and fall back. glibc's
// pthread_create and posix_spawn retry with clone(), whose flags we can see
// (clone3 passes them in memory, out of seccomp's reach).
// Only what the zygote filter (stacked under this one in every run) does not
// kill can be answered here: the kernel applies the stricter of the two, so
// io_uring, pivot_root and chroot, which the zygote filter kills, are left
// to the default kill instead of promising an errno no run ever sees.
const char* const kRunEnosys[] = {"clone3"};

// Never allowed anywhere: they reach other processes (ptrace, process_vm_*,
// pidfd_getfd, kcmp, process_madvise), the kernel's biggest attack surfaces
// (bpf, keyctl, userfaultfd, perf, io_uring in the zygote, modify_ldt), or
// the host (kexec, modules, reboot, swap, acct, quota, syslog, raw I/O ports,
// file handles that bypass the mount tree, the new mount API).
const char* const kAlwaysKilled[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
    "bpf", "keyctl", "add_key", "request_key", "userfaultfd", "perf_event_open", "modify_ldt",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "syslog",
    "ioperm", "iopl", "vhangup", "name_to_handle_at", "open_by_handle_at", "move_mount",
    "fsopen", "fsmount", "fsconfig", "fspick", "open_tree", "mount_setattr", "fanotify_init",
    "uselib", "_sysctl", "nfsservctl", "pivot_root", "chroot",
};

// The installer profile (pip, uv and the build backends they run) starts
// from the run allowlist and adds what installing needs. Unlisted syscalls
// answer ENOSYS, which libraries read as "this kernel lacks it" and work
// around, instead of killing a build halfway through.
const char* const kInstallerExtraAllowed[] = {
    // tar/cp -p and friends restore ownership; without CAP_CHOWN the kernel
    // only lets a process give files to itself, so these cannot escalate.
    "chown", "fchown", "lchown", "fchownat",
    // mkfifo (make's jobserver, shells); device nodes still need CAP_MKNOD.
    "mknod", "mknodat",
    // newer spellings that libcs and runtimes try first
    "openat2", "fchmodat2",
};

// Killed in the installer profile on top of kAlwaysKilled: rearranging
// mounts or namespaces is never part of installing a package, and io_uring
// does socket and file I/O out of seccomp's sight.
const char* const kInstallerKilled[] = {
    "mount", "umount2", "unshare", "setns", "io_uring_setup", "io_uring_enter", "io_uring_register",
};

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

class Builder {
 public:
  explicit Builder(uint32_t def) : ctx_(seccomp_init(def)), default_(def) {}
  bool valid() const { return ctx_ != nullptr; }
  scmp_filter_ctx get() const { return ctx_.get(); }

  // Adds one rule; names this architecture lacks are skipped, and so is a
  // rule that says what the default says (libseccomp refuses those).
  void Add(const char* name, uint32_t action, std::initializer_list<scmp_arg_cmp> args = {}) {
    if (!status_.ok() || action == default_) return;
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR || nr < 0) return;
    int rc = seccomp_rule_add_array(ctx_.get(), action, nr, static_cast<unsigned>(args.size()),
                                    args.size() ? args.begin() : nullptr);
    if (rc < 0) {
      errno = -rc;
      status_ = SysError("seccomp", std::string("seccomp_rule_add(") + name + ")");
    }
  }
  Status status() const { return status_; }
  Ctx Release() { return std::move(ctx_); }

 private:
  Ctx ctx_;
  uint32_t default_;
  Status status_;
};

scmp_arg_cmp Masked32(unsigned arg, uint64_t value) {
  // The kernel reads ioctl's cmd as unsigned int: compare only the low 32
  // bits, or 0xFFFFFFFF00005412 would slip past an exact 64-bit compare.
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, 0xffffffffULL, value};
}

// ioctl(fd, cmd): refuse TIOCSTI (push input into a terminal) and TIOCLINUX,
// allow every other cmd. libseccomp drops conditional rules once an
// unconditional one exists, so "everything else" is spelled as disjoint
// masked tests: cmd differs from both refused values somewhere.
void AddIoctlRules(Builder& b, uint32_t allow, bool with_allow) {
  b.Add("ioctl", SCMP_ACT_ERRNO(EPERM), {Masked32(1, kTiocsti)});
  b.Add("ioctl", SCMP_ACT_ERRNO(EPERM), {Masked32(1, kTioclinux)});
  if (!with_allow) return;
  // TIOCSTI and TIOCLINUX agree on every bit outside 0xE.
  constexpr uint64_t kDiffBits = kTiocsti ^ kTioclinux;  // 0xE
  static_assert(kDiffBits == 0xE);
  constexpr uint64_t kCommon = kTiocsti & ~kDiffBits;
  for (unsigned bit = 0; bit < 32; ++bit) {
    uint64_t m = 1ULL << bit;
    if (m & kDiffBits) continue;
    b.Add("ioctl", allow, {scmp_arg_cmp{1, SCMP_CMP_MASKED_EQ, m, (~kCommon) & m}});
  }
  for (uint64_t low : {0x0ULL, 0x4ULL, 0x6ULL, 0x8ULL, 0xAULL, 0xEULL}) {
    static_assert((kTiocsti & kDiffBits) == 0x2 && (kTioclinux & kDiffBits) == 0xC);
    b.Add("ioctl", allow, {scmp_arg_cmp{1, SCMP_CMP_MASKED_EQ, kDiffBits, low}});
  }
}

// clone(flags, …): `refuse` (EPERM, or a kill) for any namespace flag outside
// `permitted_ns`, one rule per bit so the allow rule (no such flag at all)
// stays disjoint from them.
void AddCloneRules(Builder& b, uint32_t allow, bool with_allow, uint32_t refuse = SCMP_ACT_ERRNO(EPERM),
                   uint64_t permitted_ns = 0) {
  const uint64_t refused_ns = kCloneNewMask & ~permitted_ns;
  for (unsigned bit = 0; bit < 64; ++bit) {
    uint64_t m = 1ULL << bit;
    if (refused_ns & m) b.Add("clone", refuse, {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, m, m}});
  }
  if (with_allow) b.Add("clone", allow, {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, refused_ns, 0}});
}

void AddCommonDenials(Builder& b, bool kill_rules) {
  if (kill_rules) {
    for (const char* name : kAlwaysKilled) b.Add(name, SCMP_ACT_KILL_PROCESS);
  }
  // personality(0xffffffff) only reads the persona; changing it (e.g.
  // ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) weakens the address space.
  b.Add("personality", SCMP_ACT_ERRNO(EPERM), {scmp_arg_cmp{0, SCMP_CMP_NE, 0xffffffffULL, 0}});
  // Only AF_UNIX: there is no network interface, and other families (netlink,
  // packet, vsock…) are kernel attack surface.
  b.Add("socket", SCMP_ACT_ERRNO(EAFNOSUPPORT), {scmp_arg_cmp{0, SCMP_CMP_NE, AF_UNIX, 0}});
}

// socket() for the installer: IPv4/IPv6 TCP and UDP (protocol 0 or the
// explicit one), AF_NETLINK with NETLINK_ROUTE only (getaddrinfo's interface
// query), AF_UNIX unless `unix_sockets` is false. Other families answer
// EAFNOSUPPORT; an odd type or protocol of an allowed family falls through
// to the default (ENOSYS). Pinning the protocol keeps socket() from
// autoloading protocol modules (SCTP, DCCP…) into the host kernel.
void AddInstallerSocketRules(Builder& b, bool unix_sockets) {
  constexpr uint64_t kTypeMask = 0xf;  // SOCK_TYPE_MASK: the rest is CLOEXEC/NONBLOCK
  for (uint64_t family : {uint64_t{AF_INET}, uint64_t{AF_INET6}}) {
    for (uint64_t type : {uint64_t{SOCK_STREAM}, uint64_t{SOCK_DGRAM}}) {
      for (uint64_t proto : {uint64_t{0}, uint64_t{IPPROTO_TCP}, uint64_t{IPPROTO_UDP}}) {
        b.Add("socket", SCMP_ACT_ALLOW,
              {scmp_arg_cmp{0, SCMP_CMP_EQ, family, 0}, scmp_arg_cmp{1, SCMP_CMP_MASKED_EQ, kTypeMask, type},
               scmp_arg_cmp{2, SCMP_CMP_EQ, proto, 0}});
      }
    }
  }
  for (uint64_t type : {uint64_t{SOCK_RAW}, uint64_t{SOCK_DGRAM}}) {
    b.Add("socket", SCMP_ACT_ALLOW,
          {scmp_arg_cmp{0, SCMP_CMP_EQ, AF_NETLINK, 0}, scmp_arg_cmp{1, SCMP_CMP_MASKED_EQ, kTypeMask, type},
           scmp_arg_cmp{2, SCMP_CMP_EQ, NETLINK_ROUTE, 0}});
  }
  b.Add("socket", unix_sockets ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EAFNOSUPPORT),
        {scmp_arg_cmp{0, SCMP_CMP_EQ, AF_UNIX, 0}});
  // Every other family, as rules disjoint from the ones above (the whole
  // 64-bit value is compared, so high garbage bits land in "above 16").
  static_assert(AF_UNIX == 1 && AF_INET == 2 && AF_INET6 == 10 && AF_NETLINK == 16);
  for (uint64_t family = 0; family < AF_NETLINK; ++family) {
    if (family == AF_UNIX || family == AF_INET || family == AF_INET6) continue;
    b.Add("socket", SCMP_ACT_ERRNO(EAFNOSUPPORT), {scmp_arg_cmp{0, SCMP_CMP_EQ, family, 0}});
  }
  b.Add("socket", SCMP_ACT_ERRNO(EAFNOSUPPORT), {scmp_arg_cmp{0, SCMP_CMP_GT, AF_NETLINK, 0}});
}

// prlimit64 and prctl as a process may use them on itself (run and installer).
void AddSelfOnlyRules(Builder& b, bool zygote = false) {
  // prlimit64 on itself only (pid 0): raising or reading another process's
  // limits is none of a run's business.
  b.Add("prlimit64", SCMP_ACT_ALLOW, {scmp_arg_cmp{0, SCMP_CMP_EQ, 0, 0}});
  b.Add("prlimit64", SCMP_ACT_ERRNO(EPERM), {scmp_arg_cmp{0, SCMP_CMP_NE, 0, 0}});
  // prctl: the options libraries use on themselves; anything else is EPERM.
  static const int kPrctlAllowed[] = {PR_SET_NAME,          PR_GET_NAME,
                                      PR_SET_PDEATHSIG,     PR_GET_PDEATHSIG,
                                      PR_SET_NO_NEW_PRIVS,  PR_GET_NO_NEW_PRIVS,
                                      PR_GET_DUMPABLE,      PR_CAPBSET_READ,
                                      PR_GET_SECCOMP,       PR_GET_SECUREBITS,
                                      PR_GET_TIMERSLACK,    PR_SET_TIMERSLACK,
                                      PR_GET_KEEPCAPS,      PR_SET_THP_DISABLE,
                                      PR_GET_THP_DISABLE,   PR_CAP_AMBIENT,
                                      PR_SET_VMA};
  for (int opt : kPrctlAllowed) {
    if (opt == PR_CAP_AMBIENT) continue;  // handled below: reads only
    b.Add("prctl", SCMP_ACT_ALLOW, {scmp_arg_cmp{0, SCMP_CMP_EQ, static_cast<uint64_t>(opt), 0}});
  }
  b.Add("prctl", SCMP_ACT_ALLOW,
        {scmp_arg_cmp{0, SCMP_CMP_EQ, PR_CAP_AMBIENT, 0},
         scmp_arg_cmp{1, SCMP_CMP_EQ, PR_CAP_AMBIENT_IS_SET, 0}});
  if (zygote) {
    // A confining fork drops the bounding set, locks securebits and
    // installs the run filter (run_jail.h).
    for (int opt : {PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_SECUREBITS}) {
      b.Add("prctl", SCMP_ACT_ALLOW, {scmp_arg_cmp{0, SCMP_CMP_EQ, static_cast<uint64_t>(opt), 0}});
    }
    b.Add("prctl", SCMP_ACT_ALLOW,
          {scmp_arg_cmp{0, SCMP_CMP_EQ, PR_CAP_AMBIENT, 0},
           scmp_arg_cmp{1, SCMP_CMP_EQ, PR_CAP_AMBIENT_CLEAR_ALL, 0}});
  }
  for (int opt : {PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_SECUREBITS,
                  PR_SET_KEEPCAPS, PR_SET_MM, PR_SET_PTRACER, PR_SET_CHILD_SUBREAPER,
                  PR_SET_SPECULATION_CTRL, PR_GET_SPECULATION_CTRL, PR_SET_TSC, PR_GET_TSC}) {
    if (zygote && (opt == PR_SET_SECCOMP || opt == PR_CAPBSET_DROP || opt == PR_SET_SECUREBITS)) continue;
    b.Add("prctl", SCMP_ACT_ERRNO(EPERM),
          {scmp_arg_cmp{0, SCMP_CMP_EQ, static_cast<uint64_t>(opt), 0}});
  }
}

template <size_t N>
bool In(const char* const (&list)[N], const char* name) {
  for (const char* item : list) {
    if (std::string_view(item) == name) return true;
  }
  return false;
}

void AddInstallerRules(Builder& b, bool unix_sockets) {
  for (const char* name : kRunAllowed) b.Add(name, SCMP_ACT_ALLOW);
  for (const char* name : kInstallerExtraAllowed) b.Add(name, SCMP_ACT_ALLOW);
  for (const char* name : kAlwaysKilled) b.Add(name, SCMP_ACT_KILL_PROCESS);
  for (const char* name : kInstallerKilled) b.Add(name, SCMP_ACT_KILL_PROCESS);
  for (const char* name : kRunEperm) {
    if (In(kInstallerExtraAllowed, name) || In(kAlwaysKilled, name) || In(kInstallerKilled, name)) continue;
    b.Add(name, SCMP_ACT_ERRNO(EPERM));
  }
  // glibc's pthread_create and posix_spawn fall back to clone(), whose flags
  // seccomp can see, on ENOSYS.
  b.Add("clone3", SCMP_ACT_ERRNO(ENOSYS));
  AddCloneRules(b, SCMP_ACT_ALLOW, /*with_allow=*/true, SCMP_ACT_KILL_PROCESS);
  b.Add("personality", SCMP_ACT_ALLOW, {scmp_arg_cmp{0, SCMP_CMP_EQ, 0xffffffffULL, 0}});
  b.Add("personality", SCMP_ACT_KILL_PROCESS, {scmp_arg_cmp{0, SCMP_CMP_NE, 0xffffffffULL, 0}});
  AddInstallerSocketRules(b, unix_sockets);
  AddIoctlRules(b, SCMP_ACT_ALLOW, /*with_allow=*/true);
  AddSelfOnlyRules(b);
}

// Refused (EPERM) in the reduced tier's runs. setsid and setpgid are the
// ways out of the run's process group, which is all that finds its
// processes there. The others change a file's mode, times or extended
// attributes: Landlock does not cover them, and a run may share its uid with
// the files it can read (the host's, without a uid of its own).
const char* const kContainedEperm[] = {"setsid", "setpgid", "chmod", "fchmod", "fchmodat", "utime", "utimes",
                                       "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr",
                                       "removexattr", "lremovexattr", "fremovexattr"};

// What a fork of the zygote does to confine itself (run_jail.h), and so the
// zygote filter's only additions to the run filter.
const char* const kConfineSyscalls[] = {"unshare",        "mount",
                                        "setresuid",      "setresgid",
                                        "capset",         "seccomp",
                                        "landlock_create_ruleset", "landlock_add_rule",
                                        "landlock_restrict_self"};

// The namespaces of a run's own jail: the zygote's fork clones into them.
constexpr uint64_t kConfineNs = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID;

// The run filter; with `zygote`, the same plus the confinement steps, each
// narrowed by argument. Everything else a run may not do, the zygote (and so
// a bundle's import-time code) may not do either.
void AddRunRules(Builder& b, bool zygote, bool unix_sockets = true, bool contained = false) {
  for (const char* name : kRunAllowed) {
    b.Add(name, contained && In(kContainedEperm, name) ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_ALLOW);
  }
  for (const char* name : kRunEperm) {
    if (zygote && In(kConfineSyscalls, name)) continue;
    b.Add(name, SCMP_ACT_ERRNO(EPERM));
  }
  for (const char* name : kRunEnosys) b.Add(name, SCMP_ACT_ERRNO(ENOSYS));
  AddCommonDenials(b, /*kill_rules=*/false);  // the default action already kills them
  b.Add("personality", SCMP_ACT_ALLOW, {scmp_arg_cmp{0, SCMP_CMP_EQ, 0xffffffffULL, 0}});
  b.Add("socket", unix_sockets ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EAFNOSUPPORT),
        {scmp_arg_cmp{0, SCMP_CMP_EQ, AF_UNIX, 0}});
  AddIoctlRules(b, SCMP_ACT_ALLOW, /*with_allow=*/true);
  // The zygote's fork is a clone into a run's user, mount and pid namespaces.
  AddCloneRules(b, SCMP_ACT_ALLOW, /*with_allow=*/true, SCMP_ACT_ERRNO(EPERM), zygote ? kConfineNs : 0);
  AddSelfOnlyRules(b, zygote);
  if (!zygote) return;
  // unshare of the same namespaces: it grants nothing that clone does not.
  constexpr uint64_t kRefusedNs = (kCloneNewMask | CLONE_NEWTIME) & ~kConfineNs;
  b.Add("unshare", SCMP_ACT_ALLOW, {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, kRefusedNs, 0}});
  for (unsigned bit = 0; bit < 64; ++bit) {
    uint64_t m = 1ULL << bit;
    if (kRefusedNs & m) b.Add("unshare", SCMP_ACT_ERRNO(EPERM), {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, m, m}});
  }
  // mount: a fresh proc and tmpfs, and the binds and read-only remounts
  // that mask that proc (proc_mask.h). Only ever in a mount namespace the
  // fork made for itself: the zygote has no capability in the jail's own.
  // A bind shows nothing that was not visible, and a remount cannot clear
  // the flags locked on the mounts it inherited. Moves, propagation changes
  // and recursive binds stay refused.
  constexpr uint64_t kRefusedMountFlags = MS_MOVE | MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE | MS_REC;
  b.Add("mount", SCMP_ACT_ALLOW, {scmp_arg_cmp{3, SCMP_CMP_MASKED_EQ, kRefusedMountFlags, 0}});
  for (unsigned bit = 0; bit < 64; ++bit) {
    uint64_t m = 1ULL << bit;
    if (kRefusedMountFlags & m) b.Add("mount", SCMP_ACT_ERRNO(EPERM), {scmp_arg_cmp{3, SCMP_CMP_MASKED_EQ, m, m}});
  }
  // The uid switch and the capability drop act on the caller only, and
  // without a capability in the jail's user namespace they cannot raise it.
  // Landlock only ever restricts the caller: a run's abstract socket scope,
  // and in the reduced tier its filesystem rules (landlock_add_rule).
  for (const char* name : {"setresuid", "setresgid", "capset", "seccomp", "landlock_create_ruleset",
                           "landlock_add_rule", "landlock_restrict_self"}) {
    b.Add(name, SCMP_ACT_ALLOW);
  }
}

// What `run_kind` refuses and the zygote filter allows, each with the run
// filter's own answer; everything else is allowed, so the zygote filter
// underneath decides it exactly as the run filter would. Kept in step with
// AddRunRules by test/native/jail/seccomp_sweep_test.cc, which compares the
// two stacks on every syscall number and the arguments that matter.
void AddRunDeltaRules(Builder& b, bool unix_sockets, bool contained) {
  // The confinement steps: the zygote's alone (AddRunRules' kConfineSyscalls).
  for (const char* name : kConfineSyscalls) b.Add(name, SCMP_ACT_ERRNO(EPERM));
  for (unsigned bit = 0; bit < 64; ++bit) {
    uint64_t m = 1ULL << bit;
    if (kConfineNs & m) b.Add("clone", SCMP_ACT_ERRNO(EPERM), {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, m, m}});
  }
  // prctl: the zygote's extra options (AddSelfOnlyRules); the run refuses
  // three and does not list the fourth, which its default kills.
  for (int opt : {PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_SECUREBITS}) {
    b.Add("prctl", SCMP_ACT_ERRNO(EPERM), {scmp_arg_cmp{0, SCMP_CMP_EQ, static_cast<uint64_t>(opt), 0}});
  }
  b.Add("prctl", SCMP_ACT_KILL_PROCESS,
        {scmp_arg_cmp{0, SCMP_CMP_EQ, PR_CAP_AMBIENT, 0}, scmp_arg_cmp{1, SCMP_CMP_EQ, PR_CAP_AMBIENT_CLEAR_ALL, 0}});
  if (!unix_sockets) b.Add("socket", SCMP_ACT_ERRNO(EAFNOSUPPORT), {scmp_arg_cmp{0, SCMP_CMP_EQ, AF_UNIX, 0}});
  if (contained) {
    for (const char* name : kContainedEperm) b.Add(name, SCMP_ACT_ERRNO(EPERM));
  }
}

Result<Bpf> Export(scmp_filter_ctx ctx) {
  int fd = memfd_create("pycage-bpf", MFD_CLOEXEC);
  if (fd < 0) return SysError("seccomp", "memfd_create(pycage-bpf)");
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) {
    close(fd);
    errno = -rc;
    return SysError("seccomp", "seccomp_export_bpf()");
  }
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    close(fd);
    return PlainError("seccomp", "seccomp_export_bpf() wrote " + std::to_string(size) + " bytes");
  }
  Bpf bpf(static_cast<size_t>(size) / sizeof(sock_filter));
  ssize_t n = pread(fd, bpf.data(), static_cast<size_t>(size), 0);
  int err = errno;
  close(fd);
  if (n != size) {
    errno = n < 0 ? err : EIO;
    return SysError("seccomp", "pread(bpf memfd)");
  }
  return bpf;
}

bool IsContained(FilterKind kind) {
  return kind == FilterKind::kRunContained || kind == FilterKind::kRunContainedNoUnixSocket;
}
bool IsRunKind(FilterKind kind) {
  return kind == FilterKind::kRun || kind == FilterKind::kRunNoUnixSocket || IsContained(kind);
}
bool AllowsUnixSockets(FilterKind kind) {
  return kind != FilterKind::kRunNoUnixSocket && kind != FilterKind::kRunContainedNoUnixSocket &&
         kind != FilterKind::kInstallerNoUnixSocket;
}

// A builder with `def` as its default action that kills every other ABI:
// i386 (int 0x80) and x32 (nr|0x40000000) see a different syscall table, and
// a filter written for x86_64 says nothing about them.
Result<std::unique_ptr<Builder>> NewBuilder(uint32_t def) {
  auto builder = std::make_unique<Builder>(def);
  if (!builder->valid()) return PlainError("seccomp", "seccomp_init() failed");
  int rc = seccomp_attr_set(builder->get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0) {
    errno = -rc;
    return SysError("seccomp", "seccomp_attr_set(ACT_BADARCH)");
  }
  return builder;
}

Result<Ctx> Make(FilterKind kind, FilterShape shape = FilterShape::kTree) {
  const bool installer = kind == FilterKind::kInstaller || kind == FilterKind::kInstallerNoUnixSocket;
  // Run and zygote kill what they do not list; the installer answers ENOSYS.
  auto builder = NewBuilder(installer ? SCMP_ACT_ERRNO(ENOSYS) : SCMP_ACT_KILL_PROCESS);
  if (!builder.ok()) return builder.status();
  Builder& b = *builder.value();
  if (shape == FilterShape::kTree) {
    // A binary search over syscall numbers instead of a linear list of
    // about 470 instructions: the same decisions, fewer instructions per
    // syscall and a faster attach.
    int rc = seccomp_attr_set(b.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc < 0) {
      errno = -rc;
      return SysError("seccomp", "seccomp_attr_set(CTL_OPTIMIZE, 2)");
    }
  }
  if (installer) {
    AddInstallerRules(b, AllowsUnixSockets(kind));
  } else {
    AddRunRules(b, /*zygote=*/!IsRunKind(kind), AllowsUnixSockets(kind), IsContained(kind));
  }
  if (!b.status().ok()) return b.status();
  return b.Release();
}

Result<Ctx> MakeRunDelta(FilterKind run_kind) {
  if (!IsRunKind(run_kind)) {
    return PlainError("seccomp", std::string("a run delta needs a run filter kind, not ") + FilterName(run_kind));
  }
  auto builder = NewBuilder(SCMP_ACT_ALLOW);
  if (!builder.ok()) return builder.status();
  Builder& b = *builder.value();
  AddRunDeltaRules(b, AllowsUnixSockets(run_kind), IsContained(run_kind));
  if (!b.status().ok()) return b.status();
  return b.Release();
}

}  // namespace

Result<Bpf> BuildRunDelta(FilterKind run_kind) {
  auto ctx = MakeRunDelta(run_kind);
  if (!ctx.ok()) return ctx.status();
  return Export(ctx.value().get());
}

Result<Bpf> BuildFilter(FilterKind kind, FilterShape shape) {
  auto ctx = Make(kind, shape);
  if (!ctx.ok()) return ctx.status();
  return Export(ctx.value().get());
}

Result<std::string> DescribeFilter(FilterKind kind) {
  auto ctx = Make(kind);
  if (!ctx.ok()) return ctx.status();
  int fd = memfd_create("pycage-pfc", MFD_CLOEXEC);
  if (fd < 0) return SysError("seccomp", "memfd_create(pycage-pfc)");
  int rc = seccomp_export_pfc(ctx.value().get(), fd);
  if (rc < 0) {
    close(fd);
    errno = -rc;
    return SysError("seccomp", "seccomp_export_pfc()");
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  off_t off = 0;
  while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    off += n;
  }
  close(fd);
  return text;
}

Result<int> SealedMemfd(const char* name, const Bpf& bpf) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return SysError("seccomp", std::string("memfd_create(") + name + ", MFD_CLOEXEC|MFD_ALLOW_SEALING)");
  const auto* p = reinterpret_cast<const char*>(bpf.data());
  size_t left = bpf.size() * sizeof(sock_filter);
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = SysError("seccomp", "write(run filter memfd)");
      close(fd);
      return s;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // The zygote and every run read the same bytes; no one may change them.
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    Status s = SysError("seccomp", "fcntl(memfd, F_ADD_SEALS, SHRINK|GROW|WRITE|SEAL)");
    close(fd);
    return s;
  }
  if (lseek(fd, 0, SEEK_SET) < 0) {
    Status s = SysError("seccomp", "lseek(memfd, 0)");
    close(fd);
    return s;
  }
  return fd;
}

// Allowed (or refused) by argument: the rules of AddIoctlRules,
// AddCloneRules, AddSelfOnlyRules and the socket/personality rules.
const char* const kRunConditional[] = {"socket", "ioctl", "clone", "prlimit64", "prctl", "personality"};

std::vector<std::string> RunAllowedSyscalls() {
  std::vector<std::string> out(std::begin(kRunAllowed), std::end(kRunAllowed));
  out.insert(out.end(), std::begin(kRunConditional), std::end(kRunConditional));
  return out;
}

std::vector<std::string> RunEpermSyscalls() { return {std::begin(kRunEperm), std::end(kRunEperm)}; }

std::vector<std::string> RunEnosysSyscalls() { return {std::begin(kRunEnosys), std::end(kRunEnosys)}; }

std::vector<std::string> RunConditionalSyscalls() {
  return {std::begin(kRunConditional), std::end(kRunConditional)};
}

std::vector<std::string> InstallerAllowedSyscalls() {
  std::vector<std::string> out(std::begin(kRunAllowed), std::end(kRunAllowed));
  out.insert(out.end(), std::begin(kInstallerExtraAllowed), std::end(kInstallerExtraAllowed));
  for (const char* conditional : {"socket", "ioctl", "clone", "prlimit64", "prctl", "personality"}) {
    out.emplace_back(conditional);
  }
  return out;
}

std::vector<std::string> InstallerKilledSyscalls() {
  std::vector<std::string> out(std::begin(kAlwaysKilled), std::end(kAlwaysKilled));
  out.insert(out.end(), std::begin(kInstallerKilled), std::end(kInstallerKilled));
  return out;
}

const char* FilterName(FilterKind kind) {
  switch (kind) {
    case FilterKind::kZygote: return "zygote";
    case FilterKind::kRun: return "run";
    case FilterKind::kRunNoUnixSocket: return "run-no-unix-socket";
    case FilterKind::kRunContained: return "run-contained";
    case FilterKind::kRunContainedNoUnixSocket: return "run-contained-no-unix-socket";
    case FilterKind::kInstaller: return "installer";
    case FilterKind::kInstallerNoUnixSocket: return "installer-no-unix-socket";
  }
  return "?";
}

std::vector<std::string> AlwaysKilledSyscalls() {
  return {std::begin(kAlwaysKilled), std::end(kAlwaysKilled)};
}

}  // namespace pycage::jail
