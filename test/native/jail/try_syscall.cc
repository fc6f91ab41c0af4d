// pycage-try-syscall FILTER NAME        install FILTER (run|zygote|installer|
//                                       installer-no-unix-socket|none; zygote+run
//                                       and the like: the zygote filter with the
//                                       run's delta over it, as a run has), call
//                                       one syscall with bad pointers/fds, print
//                                       "NAME: OK" or "NAME: <ERRNO NAME>".
// pycage-try-syscall FILTER --exec PROG ARGS...   install FILTER, then execv.
// pycage-try-syscall FILTER --nrs N,N,...  install FILTER, then for each raw
//                                       x86_64 number fork a child that calls
//                                       syscall(N, 1, 1, 1, 1, 1, 1); print
//                                       "N: SIGSYS", "N: <ERRNO NAME>" or "N: OK"
//                                       per line. Only for numbers the filter
//                                       refuses: an allowed one really runs.
//
// Bad arguments make an allowed syscall fail harmlessly (EFAULT, EBADF,
// EINVAL) while a filtered one answers with the filter's errno or dies of
// SIGSYS, so the exit status and the line tell the two apart.
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "jail/seccomp_apply.h"
#include "jail/seccomp_policy.h"

namespace {

long CloneFlags(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  return pid;
}

long I386Getpid() {
  long ret = 20;  // __NR_getpid on i386
  asm volatile("int $0x80" : "+a"(ret) : : "memory");
  if (ret < 0 && ret > -4096) {
    errno = static_cast<int>(-ret);
    return -1;
  }
  return ret;
}

const void* const kBad = reinterpret_cast<void*>(1);  // never mapped

const std::map<std::string, std::function<long()>>& Calls() {
  static const std::map<std::string, std::function<long()>> kCalls = {
      {"read", [] { return read(-1, nullptr, 0); }},
      {"write", [] { return write(-1, nullptr, 0); }},
      {"openat", [] { return syscall(SYS_openat, AT_FDCWD, kBad, O_RDONLY); }},
      {"mmap", [] { return reinterpret_cast<long>(syscall(SYS_mmap, nullptr, 0, 0, 0, -1, 0)); }},
      {"futex", [] { return syscall(SYS_futex, kBad, 0 /*FUTEX_WAIT*/, 0, nullptr); }},
      {"getpid", [] { return static_cast<long>(getpid()); }},
      {"getrandom", [] { return syscall(SYS_getrandom, kBad, 1, 0); }},
      {"fstat", [] { return syscall(SYS_fstat, -1, kBad); }},
      {"clone", [] { return CloneFlags(0); }},
      {"clone_thread_flags", [] { return syscall(SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD, kBad, nullptr, nullptr, nullptr) ; }},
      {"clone_newuser", [] { return CloneFlags(CLONE_NEWUSER); }},
      {"clone_newnet", [] { return CloneFlags(CLONE_NEWNET); }},
      {"clone_newns", [] { return CloneFlags(CLONE_NEWNS); }},
      {"clone_newpid", [] { return CloneFlags(CLONE_NEWPID); }},
      {"clone3", [] { return syscall(SYS_clone3, nullptr, 0); }},
      {"fork", [] { return CloneFlags(0); }},
      {"execve", [] { return syscall(SYS_execve, "/nonexistent/pycage", nullptr, nullptr); }},
      {"wait4", [] { return syscall(SYS_wait4, -1, nullptr, WNOHANG, nullptr); }},
      {"ptrace", [] { return syscall(SYS_ptrace, 0 /*PTRACE_TRACEME*/ + 16 /*ATTACH*/, 1, nullptr, nullptr); }},
      {"process_vm_readv", [] { return syscall(SYS_process_vm_readv, 1, nullptr, 0, nullptr, 0, 0); }},
      {"process_vm_writev", [] { return syscall(SYS_process_vm_writev, 1, nullptr, 0, nullptr, 0, 0); }},
      {"pidfd_getfd", [] { return syscall(SYS_pidfd_getfd, -1, -1, 0); }},
      {"pidfd_open", [] { return syscall(SYS_pidfd_open, -1, 0); }},
      {"mount", [] { return syscall(SYS_mount, kBad, kBad, kBad, 0, nullptr); }},
      {"mount_bind", [] { return syscall(SYS_mount, kBad, kBad, kBad, MS_BIND, nullptr); }},
      {"mount_remount", [] { return syscall(SYS_mount, kBad, kBad, kBad, MS_REMOUNT, nullptr); }},
      {"mount_move", [] { return syscall(SYS_mount, kBad, kBad, kBad, MS_MOVE, nullptr); }},
      {"mount_rbind", [] { return syscall(SYS_mount, kBad, kBad, kBad, MS_BIND | MS_REC, nullptr); }},
      {"mount_shared", [] { return syscall(SYS_mount, kBad, kBad, kBad, MS_SHARED, nullptr); }},
      {"umount2", [] { return syscall(SYS_umount2, kBad, 0); }},
      {"pivot_root", [] { return syscall(SYS_pivot_root, kBad, kBad); }},
      {"chroot", [] { return syscall(SYS_chroot, kBad); }},
      {"unshare_newuser", [] { return syscall(SYS_unshare, CLONE_NEWUSER); }},
      {"unshare_newnet", [] { return syscall(SYS_unshare, CLONE_NEWNET); }},
      {"unshare_bad", [] { return syscall(SYS_unshare, 0x1UL); }},  // CSIGNAL bit: EINVAL
      {"setns", [] { return syscall(SYS_setns, -1, 0); }},
      {"setns_pid", [] { return syscall(SYS_setns, -1, CLONE_NEWPID); }},
      {"setns_net", [] { return syscall(SYS_setns, -1, CLONE_NEWNET); }},
      {"bpf", [] { return syscall(SYS_bpf, -1, nullptr, 0); }},
      {"io_uring_setup", [] { return syscall(SYS_io_uring_setup, 0, nullptr); }},
      {"keyctl", [] { return syscall(SYS_keyctl, -1, 0, 0, 0, 0); }},
      {"add_key", [] { return syscall(SYS_add_key, kBad, kBad, nullptr, 0, 0); }},
      {"request_key", [] { return syscall(SYS_request_key, kBad, kBad, kBad, 0); }},
      {"userfaultfd", [] { return syscall(SYS_userfaultfd, ~0U); }},
      {"perf_event_open", [] { return syscall(SYS_perf_event_open, kBad, 0, -1, -1, 0); }},
      {"personality", [] { return syscall(SYS_personality, 0x0008 /*PER_LINUX32*/); }},
      {"personality_query", [] { return syscall(SYS_personality, 0xffffffffUL); }},
      {"kexec_load", [] { return syscall(SYS_kexec_load, 0, 0, nullptr, 0); }},
      {"init_module", [] { return syscall(SYS_init_module, kBad, 0, kBad); }},
      {"finit_module", [] { return syscall(SYS_finit_module, -1, kBad, 0); }},
      {"modify_ldt", [] { return syscall(SYS_modify_ldt, 0, kBad, 0); }},
      {"open_by_handle_at", [] { return syscall(SYS_open_by_handle_at, -1, kBad, 0); }},
      {"open_tree", [] { return syscall(SYS_open_tree, -1, kBad, 0); }},
      {"setuid", [] { return syscall(SYS_setuid, 0); }},
      {"capset", [] { return syscall(SYS_capset, kBad, kBad); }},
      {"socket_inet", [] { return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }},
      {"socket_inet6", [] { return syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0); }},
      {"socket_netlink", [] { return syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0); }},
      {"socket_unix", [] { return syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); }},
      {"inotify_init1", [] { return syscall(SYS_inotify_init1, 0); }},
      // Bad pointers or pids: allowed shows as EFAULT/ESRCH/ENOENT, refused as EPERM.
      {"setsid", [] { return syscall(SYS_setsid); }},
      {"setpgid", [] { return syscall(SYS_setpgid, 0x7ffffffe, 0); }},
      {"chmod", [] { return syscall(SYS_chmod, kBad, 0); }},
      {"fchmodat", [] { return syscall(SYS_fchmodat, AT_FDCWD, kBad, 0); }},
      {"utimensat", [] { return syscall(SYS_utimensat, AT_FDCWD, kBad, nullptr, 0); }},
      {"setxattr", [] { return syscall(SYS_setxattr, kBad, kBad, nullptr, 0, 0); }},
      {"landlock_add_rule", [] { return syscall(SYS_landlock_add_rule, -1, 1, kBad, 0); }},
      {"inotify_add_watch", [] { return syscall(SYS_inotify_add_watch, -1, kBad, 0); }},
      {"landlock_create_ruleset", [] { return syscall(SYS_landlock_create_ruleset, nullptr, 0, 1 /*VERSION*/); }},
      {"socket_unix_hibits", [] { return syscall(SYS_socket, (1UL << 32) | AF_INET, SOCK_STREAM, 0); }},
      {"socket_inet_tcp", [] { return syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP); }},
      {"socket_inet6_udp", [] { return syscall(SYS_socket, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP); }},
      {"socket_inet_sctp", [] { return syscall(SYS_socket, AF_INET, SOCK_STREAM, 132 /*IPPROTO_SCTP*/); }},
      {"socket_inet_raw", [] { return syscall(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_ICMP); }},
      {"socket_inet6_seqpacket", [] { return syscall(SYS_socket, AF_INET6, SOCK_SEQPACKET, 0); }},
      {"socket_netlink_route_dgram", [] { return syscall(SYS_socket, AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE); }},
      {"socket_netlink_audit", [] { return syscall(SYS_socket, AF_NETLINK, SOCK_RAW, NETLINK_AUDIT); }},
      {"socket_packet", [] { return syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0); }},
      {"socket_vsock", [] { return syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0); }},
      {"socket_family_3", [] { return syscall(SYS_socket, 3 /*AF_AX25*/, SOCK_SEQPACKET, 0); }},
      {"connect", [] { return syscall(SYS_connect, -1, kBad, 16); }},
      {"bind", [] { return syscall(SYS_bind, -1, kBad, 16); }},
      {"getsockname", [] { return syscall(SYS_getsockname, -1, kBad, kBad); }},
      {"setsockopt", [] { return syscall(SYS_setsockopt, -1, SOL_SOCKET, SO_REUSEADDR, kBad, 4); }},
      {"sendto", [] { return syscall(SYS_sendto, -1, kBad, 1, 0, nullptr, 0); }},
      {"recvfrom", [] { return syscall(SYS_recvfrom, -1, kBad, 1, 0, nullptr, nullptr); }},
      {"poll", [] { return syscall(SYS_poll, kBad, 1, 0); }},
      {"pipe2", [] { return syscall(SYS_pipe2, kBad, 0); }},
      {"execveat", [] { return syscall(SYS_execveat, -1, "x", nullptr, nullptr, 0); }},
      {"chown", [] { return syscall(SYS_chown, kBad, 0, 0); }},
      {"mknodat", [] { return syscall(SYS_mknodat, AT_FDCWD, kBad, 0, 0); }},
      {"vmsplice", [] { return syscall(SYS_vmsplice, -1, nullptr, 0, 0); }},
      {"socketpair", [] { return syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, kBad); }},
      {"sendmsg", [] { return syscall(SYS_sendmsg, -1, kBad, 0); }},
      {"recvmsg", [] { return syscall(SYS_recvmsg, -1, kBad, 0); }},
      {"ioctl_tcgets", [] { return syscall(SYS_ioctl, -1, TCGETS, kBad); }},
      {"ioctl_fionread", [] { return syscall(SYS_ioctl, -1, FIONREAD, kBad); }},
      {"ioctl_tiocsti", [] { return syscall(SYS_ioctl, -1, TIOCSTI, kBad); }},
      {"ioctl_tiocsti_hibits", [] { return syscall(SYS_ioctl, -1, 0xFFFFFFFF00005412UL, kBad); }},
      {"ioctl_tioclinux", [] { return syscall(SYS_ioctl, -1, TIOCLINUX, kBad); }},
      {"ioctl_tioclinux_hibits", [] { return syscall(SYS_ioctl, -1, 0x123400000000541CUL, kBad); }},
      {"prlimit64_self", [] { return syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, kBad); }},
      {"prlimit64_other", [] { return syscall(SYS_prlimit64, 1, RLIMIT_NOFILE, nullptr, kBad); }},
      {"prctl_set_name", [] { return syscall(SYS_prctl, PR_SET_NAME, "try", 0, 0, 0); }},
      {"prctl_capbset_drop", [] { return syscall(SYS_prctl, PR_CAPBSET_DROP, 0, 0, 0, 0); }},
      {"prctl_set_securebits", [] { return syscall(SYS_prctl, PR_SET_SECUREBITS, 0, 0, 0, 0); }},
      {"prctl_set_no_new_privs", [] { return syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }},
      {"seccomp", [] { return syscall(SYS_seccomp, 1 /*SET_MODE_FILTER*/, 0, kBad); }},
      {"setresuid", [] { return syscall(SYS_setresuid, -1, -1, -1); }},
      {"x32_getpid", [] { return syscall(0x40000000 | SYS_getpid); }},
      {"i386_getpid", [] { return I386Getpid(); }},
  };
  return kCalls;
}

// The --nrs mode: one forked child per number, so a SIGSYS kills only it.
int TryNumbers(const char* list) {
  std::string text = list;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const long nr = std::strtol(text.substr(pos, comma - pos).c_str(), nullptr, 0);
    pos = comma + 1;
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) {
      errno = 0;
      long ret = syscall(nr, 1L, 1L, 1L, 1L, 1L, 1L);
      char line[96];
      int n = ret < 0 ? std::snprintf(line, sizeof line, "%ld: %s\n", nr, strerrorname_np(errno))
                      : std::snprintf(line, sizeof line, "%ld: OK\n", nr);
      _exit(write(STDOUT_FILENO, line, static_cast<size_t>(n)) == n ? 0 : 3);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return 3;
    if (WIFSIGNALED(status)) {
      char line[96];
      int n = std::snprintf(line, sizeof line, "%ld: %s\n", nr,
                            WTERMSIG(status) == SIGSYS ? "SIGSYS" : strsignal(WTERMSIG(status)));
      if (write(STDOUT_FILENO, line, static_cast<size_t>(n)) != n) return 3;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s run|run-no-unix-socket|zygote|installer|installer-no-unix-socket|none NAME | --exec PROG ARGS...\n",
                 argv[0]);
    return 2;
  }
  std::string filter = argv[1];
  std::string what = argv[2];
  const std::function<long()>* call = nullptr;
  if (what != "--exec" && what != "--nrs") {
    auto it = Calls().find(what);
    if (it == Calls().end()) {
      std::fprintf(stderr, "unknown syscall case %s\n", what.c_str());
      return 2;
    }
    call = &it->second;
  }
  // "zygote+run" and the like: what a run child carries, the zygote filter
  // with the run's delta over it (BuildRunDelta).
  const std::string stacked_prefix = "zygote+";
  const bool stacked = filter.rfind(stacked_prefix, 0) == 0;
  if (stacked) filter = filter.substr(stacked_prefix.size());
  if (filter != "none") {
    using pycage::jail::FilterKind;
    FilterKind kind = FilterKind::kZygote;
    bool known = false;
    for (FilterKind k : {FilterKind::kZygote, FilterKind::kRun, FilterKind::kRunNoUnixSocket, FilterKind::kRunContained,
                         FilterKind::kRunContainedNoUnixSocket, FilterKind::kInstaller,
                         FilterKind::kInstallerNoUnixSocket}) {
      if (filter == pycage::jail::FilterName(k)) {
        kind = k;
        known = true;
      }
    }
    if (!known) {
      std::fprintf(stderr, "unknown filter %s\n", filter.c_str());
      return 2;
    }
    std::vector<pycage::Result<pycage::jail::Bpf>> filters;
    if (stacked) {
      filters.push_back(pycage::jail::BuildFilter(FilterKind::kZygote));
      filters.push_back(pycage::jail::BuildRunDelta(kind));
    } else {
      filters.push_back(pycage::jail::BuildFilter(kind));
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return 2;
    for (const auto& bpf : filters) {
      if (!bpf.ok()) {
        std::fprintf(stderr, "%s\n", bpf.status().message().c_str());
        return 2;
      }
      int err = pycage::jail::InstallBpf(bpf->data(), bpf->size());
      if (err != 0) {
        std::fprintf(stderr, "install: %s\n", std::strerror(err));
        return 2;
      }
    }
  }
  if (what == "--nrs") return argc < 4 ? 2 : TryNumbers(argv[3]);
  if (call == nullptr) {
    if (argc < 4) return 2;
    execv(argv[3], argv + 3);
    std::fprintf(stderr, "execv(%s): %s\n", argv[3], std::strerror(errno));
    return 127;
  }
  errno = 0;
  long ret = (*call)();
  int err = errno;
  char line[128];
  int n = ret < 0 ? std::snprintf(line, sizeof line, "%s: %s\n", what.c_str(), strerrorname_np(err))
                  : std::snprintf(line, sizeof line, "%s: OK\n", what.c_str());
  if (write(STDOUT_FILENO, line, static_cast<size_t>(n)) < 0) return 3;
  return 0;
}
