#include "jail/jail_plan.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <csignal>
#include <sstream>

#include "jail/landlock.h"
#include "jail/proc_mask.h"
#include "jail/reduced_run.h"
#include "jail/run_jail.h"
#include "jail/rlimits.h"
#include "jail/seccomp_policy.h"

namespace pycage::jail {
namespace {

Status BadArg(const std::string& option, const std::string& expected, const std::string& got) {
  return Status::Error(ErrorCode::kInvalidArgument,
                       "Expected " + expected + " for " + option + " but received '" + got + "'");
}

template <typename T>
bool ParseNumber(const std::string& text, T& out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool IsAbsoluteClean(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  // ".." could climb out of the new root while we build it.
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part == "..") return false;
  }
  return true;
}

std::string MapLine(uint32_t inside, uint32_t outside, uint32_t count) {
  return std::to_string(inside) + " " + std::to_string(outside) + " " + std::to_string(count);
}

}  // namespace

Result<JailOptions> ParseArgs(const std::vector<std::string>& args) {
  JailOptions o;
  size_t i = 0;
  auto value = [&]() -> std::optional<std::string> {
    if (i + 1 >= args.size()) return std::nullopt;
    return args[++i];
  };
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      o.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (a == "--probe") {
      o.mode = Mode::kProbe;
      continue;
    }
    if (a == "--print-plan") {
      o.mode = Mode::kPrintPlan;
      continue;
    }
    static const char* const kWithValue[] = {
        "--tier",        "--profile",      "--uid-base",      "--uid-count",     "--ro-bind",
        "--bind",        "--tmpfs-bytes",  "--setenv",        "--control-fd",    "--parent-pid",
        "--rlimit-as",   "--rlimit-cpu",   "--rlimit-fsize",  "--rlimit-nofile", "--cgroup-root",
        "--cgroup-pids-max", "--cgroup-memory-max", "--scratch-dir"};
    bool known = false;
    for (const char* k : kWithValue) known = known || a == k;
    if (!known) {
      return BadArg("the command line", "an option (--tier, --profile, --uid-base, --uid-count, --ro-bind, "
                    "--bind, --tmpfs-bytes, --setenv, --control-fd, --parent-pid, --rlimit-as, --rlimit-cpu, "
                    "--rlimit-fsize, --rlimit-nofile, --cgroup-root, --cgroup-pids-max, --cgroup-memory-max, "
                    "--scratch-dir, --probe, --print-plan) or --",
                    a);
    }
    auto v = value();
    if (!v) return BadArg(a, "a value", "nothing");
    if (a == "--tier") {
      const IsolationProfile* profile = ProfileNamed(*v);
      if (profile == nullptr) return BadArg(a, "full, reduced or bypass", *v);
      o.tier = profile->tier;
    } else if (a == "--profile") {
      if (*v == "run") {
        o.profile = Profile::kRun;
      } else if (*v == "installer") {
        o.profile = Profile::kInstaller;
      } else {
        return BadArg(a, "run or installer", *v);
      }
    } else if (a == "--uid-base") {
      uint32_t n = 0;
      if (!ParseNumber(*v, n) || n == 0) return BadArg(a, "a host uid above 0", *v);
      o.uid_base = n;
    } else if (a == "--uid-count") {
      uint32_t n = 0;
      if (!ParseNumber(*v, n) || n == 0 || n > 65536) return BadArg(a, "a count from 1 to 65536", *v);
      o.uid_count = n;
    } else if (a == "--ro-bind" || a == "--bind") {
      BindSpec b;
      auto colon = v->find(':');
      b.src = v->substr(0, colon);
      b.dst = colon == std::string::npos ? b.src : v->substr(colon + 1);
      if (!IsAbsoluteClean(b.src) || !IsAbsoluteClean(b.dst) || b.dst == "/") {
        return BadArg(a, "SRC[:DST] with absolute paths, no '..', DST not /", *v);
      }
      (a == "--bind" ? o.rw_binds : o.ro_binds).push_back(std::move(b));
    } else if (a == "--tmpfs-bytes") {
      uint64_t n = 0;
      if (!ParseNumber(*v, n) || n < 4096) return BadArg(a, "a byte count of at least 4096", *v);
      o.tmpfs_bytes = n;
    } else if (a == "--setenv") {
      auto eq = v->find('=');
      if (eq == std::string::npos || eq == 0) return BadArg(a, "KEY=VALUE", *v);
      o.setenv.push_back(*v);
    } else if (a == "--control-fd") {
      int n = 0;
      if (!ParseNumber(*v, n) || n < 0) return BadArg(a, "a file descriptor number", *v);
      o.control_fd = n;
      o.control_fd_explicit = true;
    } else if (a == "--parent-pid") {
      pid_t n = 0;
      if (!ParseNumber(*v, n) || n <= 0) return BadArg(a, "a pid above 0", *v);
      o.parent_pid = n;
    } else if (a.rfind("--rlimit-", 0) == 0) {
      uint64_t n = 0;
      if (!ParseNumber(*v, n) || n == 0) return BadArg(a, "a limit above 0", *v);
      const char* name = nullptr;
      for (const auto& r : rlimits::kOptions) {
        if (a == r.flag) name = r.name;
      }
      auto same = std::find_if(o.rlimits.begin(), o.rlimits.end(), [&](const RlimitSpec& r) { return r.name == name; });
      if (same != o.rlimits.end()) {
        same->value = n;
      } else {
        o.rlimits.push_back(RlimitSpec{name, n});
      }
    } else if (a == "--cgroup-root") {
      if (!IsAbsoluteClean(*v) || *v == "/") return BadArg(a, "an absolute directory path, no '..', not /", *v);
      o.cgroup_root = *v;
      while (o.cgroup_root.size() > 1 && o.cgroup_root.back() == '/') o.cgroup_root.pop_back();
    } else if (a == "--scratch-dir") {
      if (!IsAbsoluteClean(*v) || *v == "/") return BadArg(a, "an absolute directory path, no '..', not /", *v);
      o.scratch_dir = *v;
    } else if (a == "--cgroup-pids-max") {
      uint64_t n = 0;
      if (!ParseNumber(*v, n) || n == 0) return BadArg(a, "a process count above 0", *v);
      o.cgroup_pids_max = n;
    } else if (a == "--cgroup-memory-max") {
      uint64_t n = 0;
      if (!ParseNumber(*v, n) || n < (1ULL << 20)) return BadArg(a, "a byte count of at least 1048576", *v);
      o.cgroup_memory_max = n;
    }
  }
  if (o.mode != Mode::kProbe) {
    const bool limits = o.cgroup_pids_max != 0 || o.cgroup_memory_max != 0;
    if (!o.cgroup_root.empty() && (o.cgroup_pids_max == 0 || o.cgroup_memory_max == 0)) {
      return BadArg("--cgroup-root", "--cgroup-pids-max and --cgroup-memory-max as well", "only some of them");
    }
    if (o.cgroup_root.empty() && limits) {
      return BadArg("--cgroup-pids-max/--cgroup-memory-max", "--cgroup-root as well", "no --cgroup-root");
    }
  }
  if (o.mode == Mode::kRun && o.argv.empty()) {
    return BadArg("PROGRAM", "-- PROGRAM ARGS...", "no program");
  }
  if (o.mode == Mode::kRun && !o.argv[0].empty() && o.argv[0][0] != '/') {
    return BadArg("PROGRAM", "an absolute path (there is no PATH search)", o.argv[0]);
  }
  return o;
}

const std::vector<std::string>& FixedBindCandidates() {
  static const std::vector<std::string> kPaths = {
      "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin",
      "/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime", "/etc/matplotlibrc"};
  return kPaths;
}

const std::vector<std::string>& NetworkBindCandidates() {
  static const std::vector<std::string> kPaths = {
      "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
      "/etc/ssl", "/etc/ca-certificates", "/etc/pki"};
  return kPaths;
}

const std::vector<std::string>& MaskedPathCandidates() {
  static const std::vector<std::string> kPaths = {"/etc/ssl/private", "/etc/pki/tls/private",
                                                  "/etc/pki/CA/private"};
  return kPaths;
}

const std::vector<std::string>& ProcMaskCandidates() {
  static const std::vector<std::string> kPaths = [] {
    std::vector<std::string> paths;
    for (const std::string& name : proc_mask::MaskedNames()) paths.push_back("/proc/" + name);
    return paths;
  }();
  return kPaths;
}

HostFacts ProbeHostFacts() {
  HostFacts f;
  f.uid = geteuid();
  f.gid = getegid();
  f.root = f.uid == 0;
  for (const auto& p : FixedBindCandidates()) {
    struct stat st {};
    if (lstat(p.c_str(), &st) == 0) f.system_paths.push_back(p);
  }
  for (const auto& p : NetworkBindCandidates()) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0) continue;
    BindSpec b{p, p};
    if (S_ISLNK(st.st_mode)) {
      // A symlinked /etc/resolv.conf (systemd-resolved, NetworkManager) points
      // outside what the jail sees: bind the file it resolves to.
      char* real = realpath(p.c_str(), nullptr);
      if (real == nullptr) continue;  // dangling: nothing to bind
      b.src = real;
      free(real);
    }
    f.network_files.push_back(std::move(b));
  }
  for (const auto& p : MaskedPathCandidates()) {
    struct stat st {};
    if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) f.masked_paths.push_back(p);
  }
  f.landlock_abi = landlock::AbiVersion();
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string exe(self, static_cast<size_t>(n));
    std::string lib = exe.substr(0, exe.rfind('/') + 1) + "pycage-confine.so";
    if (access(lib.c_str(), R_OK) == 0) f.confine_lib = lib;
  }
  return f;
}

uint64_t JailCloneFlags(Profile profile) {
  uint64_t flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
  if (profile == Profile::kRun) flags |= CLONE_NEWNET;
  // Kernels before 4.6 lack cgroup namespaces; the kernel refuses unknown flags.
  if (access("/proc/self/ns/cgroup", F_OK) == 0) flags |= CLONE_NEWCGROUP;
  return flags;
}

const char* StepName(StepKind kind) {
  switch (kind) {
    case StepKind::kSetParentDeathSignal: return "set-parent-death-signal";
    case StepKind::kCheckParent: return "check-parent";
    case StepKind::kCheckCgroup: return "check-cgroup";
    case StepKind::kCompileSeccomp: return "compile-seccomp";
    case StepKind::kCloneNamespaces: return "clone";
    case StepKind::kDenySetgroups: return "deny-setgroups";
    case StepKind::kWriteUidMap: return "write-uid-map";
    case StepKind::kWriteGidMap: return "write-gid-map";
    case StepKind::kCreateCgroup: return "create-cgroup";
    case StepKind::kAttachCgroup: return "attach-cgroup";
    case StepKind::kReleaseChild: return "release-child";
    case StepKind::kWaitChild: return "wait-child";
    case StepKind::kRemoveCgroup: return "remove-cgroup";
    case StepKind::kWaitForParent: return "wait-for-parent";
    case StepKind::kMakeRootSlave: return "make-root-rslave";
    case StepKind::kOpenBindSources: return "open-bind-sources";
    case StepKind::kBecomeJailRoot: return "become-jail-root";
    case StepKind::kMountBase: return "mount-base-tmpfs";
    case StepKind::kPivotToBase: return "pivot-to-base";
    case StepKind::kMountNewRoot: return "mount-newroot-tmpfs";
    case StepKind::kBindReadOnly: return "ro-bind";
    case StepKind::kBindReadWrite: return "bind";
    case StepKind::kMask: return "mask";
    case StepKind::kMountProc: return "mount-proc";
    case StepKind::kRebindReadOnly: return "rebind-ro";
    case StepKind::kMountDev: return "mount-dev-tmpfs";
    case StepKind::kBindDevNode: return "bind-dev-node";
    case StepKind::kSymlink: return "symlink";
    case StepKind::kMountTmp: return "mount-tmp";
    case StepKind::kRemountReadOnly: return "remount-ro";
    case StepKind::kPivotToNewRoot: return "pivot-to-newroot";
    case StepKind::kSetHostname: return "sethostname";
    case StepKind::kSetupFds: return "setup-fds";
    case StepKind::kSetsid: return "setsid";
    case StepKind::kRlimitCore: return "rlimit-core-0";
    case StepKind::kSetRlimit: return "setrlimit";
    case StepKind::kStartInit: return "start-init";
    case StepKind::kLockSecurebits: return "lock-securebits";
    case StepKind::kSetIdentity: return "set-identity";
    case StepKind::kDropCapabilities: return "drop-capabilities";
    case StepKind::kNoNewPrivs: return "no-new-privs";
    case StepKind::kLandlockScope: return "landlock-scope-abstract-unix";
    case StepKind::kLandlockFilesystem: return "landlock-filesystem";
    case StepKind::kChildSubreaper: return "child-subreaper";
    case StepKind::kApplySeccomp: return "apply-seccomp";
    case StepKind::kExec: return "execve";
  }
  return "?";
}

Result<JailPlan> BuildPlan(const JailOptions& o, const HostFacts& facts) {
  JailPlan plan;
  plan.options = o;
  const bool installer = o.profile == Profile::kInstaller;
  Where phase = Where::kHelper;
  auto add = [&](StepKind k, std::string a = {}, std::string b = {}, uint64_t n = 0) {
    plan.steps.push_back(Step{phase, k, std::move(a), std::move(b), n});
  };

  if (installer && o.control_fd_explicit) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "Expected no --control-fd with --profile installer (it keeps fds 0, 1 and 2 and closes "
                         "the rest) but received --control-fd " + std::to_string(o.control_fd));
  }
  const IsolationProfile& profile = ProfileOf(o.tier);
  if (!profile.cgroup_limits && !o.cgroup_root.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "Expected --tier full with --cgroup-root (the bypass tier has no child to move) but "
                         "received --tier bypass");
  }
  // Each run confines itself through pycage-confine.so (run_jail.h).
  const bool run_jails = !installer && profile.per_run_namespaces;
  if (run_jails && facts.confine_lib.empty()) {
    return Status::Error(ErrorCode::kIsolationUnavailable,
                         "Expected pycage-confine.so beside pycage-jail (each run's own jail) but it is missing; "
                         "rebuild with `npx pycage build` or reinstall the package");
  }
  if (run_jails && o.uid_base && o.uid_count == 2) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "Expected --uid-count 1 or at least 3 (uids 1..N-2 for runs, N-1 for the zygote) but "
                         "received 2");
  }
  // The installer filter lets AF_UNIX sockets through only where Landlock can
  // keep them off the host's abstract socket namespace.
  const bool scope_unix = facts.landlock_abi >= landlock::kScopeAbi;
  const std::string filter =
      installer ? FilterName(scope_unix ? FilterKind::kInstaller : FilterKind::kInstallerNoUnixSocket) : "";
  // Each run scopes its abstract sockets with Landlock where it can; else its
  // filter refuses AF_UNIX sockets (run_jail.h).
  FilterKind run_kind = scope_unix ? FilterKind::kRun : FilterKind::kRunNoUnixSocket;
  if (profile.landlock_fs) run_kind = scope_unix ? FilterKind::kRunContained : FilterKind::kRunContainedNoUnixSocket;
  const std::string run_filter = installer ? "" : FilterName(run_kind);
  const bool reduced_runs = !installer && profile.landlock_fs;
  if (reduced_runs) {
    if (o.scratch_dir.empty()) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "Expected --scratch-dir with --tier " + std::string(profile.name) +
                               " (the only tree its runs may write) but received none");
    }
    if (facts.landlock_abi < 1) {
      return Status::Error(ErrorCode::kIsolationUnavailable,
                           "Expected Landlock (Linux 5.13 or later, with landlock in the lsm= boot list) for --tier " +
                               std::string(profile.name) + " but this kernel has none");
    }
    if (facts.confine_lib.empty()) {
      return Status::Error(ErrorCode::kIsolationUnavailable,
                           "Expected pycage-confine.so beside pycage-jail (each run's own confinement) but it is "
                           "missing; rebuild with `npx pycage build` or reinstall the package");
    }
    for (const auto& b : o.ro_binds) {
      if (b.src != b.dst) {
        return Status::Error(ErrorCode::kInvalidArgument,
                             "Expected --ro-bind PATH without :DST with --tier " + std::string(profile.name) +
                                 " (paths are granted where they are, not bound) but received " + b.src + ":" + b.dst);
      }
    }
  }

  // The reduced tier's zygote is the helper's own process: SIGTERM lets it
  // kill its runs' process groups before it goes (no pid namespace ends
  // them); it also sees its control socket close. Others: SIGKILL.
  add(StepKind::kSetParentDeathSignal, {}, {}, reduced_runs ? SIGTERM : SIGKILL);
  if (o.parent_pid != 0) add(StepKind::kCheckParent, {}, {}, static_cast<uint64_t>(o.parent_pid));

  if (profile.namespaces) {
    if (o.uid_base && !facts.root) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "Expected host root for --uid-base but received uid " +
                               std::to_string(facts.uid));
    }
    if (!o.uid_base && o.uid_count != 1) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "Expected --uid-base together with --uid-count but received only "
                           "--uid-count " + std::to_string(o.uid_count));
    }
    if (!o.cgroup_root.empty()) add(StepKind::kCheckCgroup, o.cgroup_root);
    add(StepKind::kCompileSeccomp, filter, run_filter);
    add(StepKind::kCloneNamespaces, {}, {}, JailCloneFlags(o.profile));
    phase = Where::kParent;
    // Parent side: the helper stays in the host user namespace, where it may
    // write any map its credentials allow.
    std::string uid_line, gid_line;
    if (o.uid_base) {
      uid_line = MapLine(0, *o.uid_base, o.uid_count);
      gid_line = uid_line;
    } else {
      uid_line = MapLine(0, facts.uid, 1);
      gid_line = MapLine(0, facts.gid, 1);
    }
    // Without CAP_SETGID in the parent namespace the kernel only takes a gid
    // map once setgroups is denied (so a dropped group cannot be regained).
    if (!facts.root) add(StepKind::kDenySetgroups);
    add(StepKind::kWriteUidMap, uid_line);
    add(StepKind::kWriteGidMap, gid_line);
    if (!o.cgroup_root.empty()) {
      add(StepKind::kCreateCgroup, o.cgroup_root,
          "pids.max=" + std::to_string(o.cgroup_pids_max) + " memory.max=" + std::to_string(o.cgroup_memory_max));
      add(StepKind::kAttachCgroup);
    }
    add(StepKind::kReleaseChild);
    add(StepKind::kWaitChild);
    if (!o.cgroup_root.empty()) add(StepKind::kRemoveCgroup);

    phase = Where::kChild;
    add(StepKind::kSetParentDeathSignal, {}, {}, SIGKILL);
    add(StepKind::kWaitForParent);
    add(StepKind::kMakeRootSlave, {}, "/");
    add(StepKind::kOpenBindSources);
    add(StepKind::kBecomeJailRoot);
    // The uid switch cleared the parent-death signal: arm it again.
    add(StepKind::kSetParentDeathSignal, {}, {}, SIGKILL);
    add(StepKind::kMountBase, "/tmp");
    add(StepKind::kPivotToBase, "/tmp", "/oldroot");
    add(StepKind::kMountNewRoot, {}, "/newroot");
    for (const auto& p : facts.system_paths) add(StepKind::kBindReadOnly, p, "/newroot" + p);
    if (installer) {
      for (const auto& b : facts.network_files) add(StepKind::kBindReadOnly, b.src, "/newroot" + b.dst);
    }
    for (const auto& b : o.ro_binds) add(StepKind::kBindReadOnly, b.src, "/newroot" + b.dst);
    if (run_jails) add(StepKind::kBindReadOnly, facts.confine_lib, std::string("/newroot") + kJailConfineLib);
    if (installer) {
      for (const auto& p : facts.masked_paths) add(StepKind::kMask, {}, "/newroot" + p);
    }
    add(StepKind::kMountProc, {}, "/newroot/proc");
    if (installer) {
      add(StepKind::kRebindReadOnly, {}, "/newroot/proc/sys");
      for (const auto& p : ProcMaskCandidates()) add(StepKind::kMask, {}, "/newroot" + p);
    }
    add(StepKind::kMountDev, {}, "/newroot/dev");
    for (const char* node : {"null", "zero", "full", "random", "urandom"}) {
      add(StepKind::kBindDevNode, std::string("/oldroot/dev/") + node,
          std::string("/newroot/dev/") + node);
    }
    add(StepKind::kSymlink, "/proc/self/fd", "/newroot/dev/fd");
    add(StepKind::kSymlink, "/proc/self/fd/0", "/newroot/dev/stdin");
    add(StepKind::kSymlink, "/proc/self/fd/1", "/newroot/dev/stdout");
    add(StepKind::kSymlink, "/proc/self/fd/2", "/newroot/dev/stderr");
    add(StepKind::kMountTmp, {}, "/newroot/tmp", o.tmpfs_bytes);
    // After /tmp, so a build directory may live below it.
    for (const auto& b : o.rw_binds) add(StepKind::kBindReadWrite, b.src, "/newroot" + b.dst);
    add(StepKind::kRemountReadOnly, {}, "/newroot/dev");
    add(StepKind::kRemountReadOnly, {}, "/newroot");
    add(StepKind::kPivotToNewRoot, "/newroot");
    add(StepKind::kSetHostname, "pycage");
  }

  // The reduced tier builds no namespace: the helper compiles the filters
  // itself and the zygote gets the run filter on fd 4 as in full.
  if (reduced_runs) add(StepKind::kCompileSeccomp, filter, run_filter);
  add(StepKind::kSetupFds, installer ? "keep-stdio" : "");
  // No pid namespace: a run's orphans would go to the host's init, which in
  // a container may never reap them (and zombies count against the jail
  // uid's RLIMIT_NPROC). Kept across execve.
  if (reduced_runs) add(StepKind::kChildSubreaper);
  add(StepKind::kSetsid);
  add(StepKind::kRlimitCore);
  for (const auto& r : o.rlimits) add(StepKind::kSetRlimit, r.name, {}, r.value);
  if (run_jails) {
    const UidLayout uids = UidLayoutOf(o);
    add(StepKind::kStartInit, std::to_string(uids.first_slot) + ".." + std::to_string(uids.last_slot), {},
        uids.zygote_uid);
    // From here on, the zygote: the interpreter that will import the bundle
    // holds no capability and, with a multi-uid map, a uid of its own.
    add(StepKind::kLockSecurebits);
    if (uids.zygote_uid != 0) add(StepKind::kSetIdentity, {}, {}, uids.zygote_uid);
    add(StepKind::kDropCapabilities);
  } else if (profile.drops_capabilities) {
    // Nothing the installer (or a jail without per-run jails) runs needs a
    // capability; with the securebits locked, not even an execve as uid 0
    // hands any back.
    // Locking securebits needs CAP_SETPCAP, which a non-root host does not
    // hold in the reduced tier (no user namespace hands it over); nor does
    // it need them: it has no capability to lose on a uid change.
    if (!reduced_runs || facts.root) add(StepKind::kLockSecurebits);
    // Reduced tier as host root: the zygote and its runs take a uid of their
    // own, so nothing they reach is theirs by ownership.
    if (reduced_runs && o.uid_base) add(StepKind::kSetIdentity, {}, {}, *o.uid_base + o.uid_count - 1);
    add(StepKind::kDropCapabilities);
  }
  add(StepKind::kNoNewPrivs);
  if (reduced_runs) {
    std::string read, write;
    auto join = [](std::string& list, const std::string& path) { list += (list.empty() ? "" : ":") + path; };
    for (const auto& p : facts.system_paths) join(read, p);
    for (const auto& b : o.ro_binds) join(read, b.src);
    join(read, facts.confine_lib);
    for (const char* node : {"/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}) join(read, node);
    join(write, "/dev/null");
    join(write, o.scratch_dir);
    add(StepKind::kLandlockFilesystem, read, write);
    plan.landlock_read = read;
  }
  if (profile.seccomp && installer && scope_unix) add(StepKind::kLandlockScope);
  if (profile.seccomp) add(StepKind::kApplySeccomp, filter);
  add(StepKind::kExec, o.argv.empty() ? std::string() : o.argv[0]);

  // The environment: --setenv in order (a later KEY wins), then, for the run
  // profile, PYCAGE_TIER, which the caller cannot override. The installer
  // gets exactly what --setenv says.
  std::vector<std::string> env;
  for (const auto& kv : o.setenv) {
    std::string key = kv.substr(0, kv.find('='));
    if ((key == "PYCAGE_TIER" || key == "PYCAGE_LANDLOCK_READ" || key == "PYCAGE_SCRATCH") && !installer) continue;
    std::erase_if(env, [&](const std::string& e) { return e.compare(0, key.size() + 1, key + "=") == 0; });
    env.push_back(kv);
  }
  if (!installer) env.push_back("PYCAGE_TIER=" + std::string(profile.name));
  if (reduced_runs) {
    // What each run re-grants itself when it narrows the zygote's domain
    // (reduced_run.h): the same read-only paths, and its own scratch tree.
    env.push_back("PYCAGE_LANDLOCK_READ=" + plan.landlock_read);
    env.push_back("PYCAGE_SCRATCH=" + o.scratch_dir);
  }
  plan.env = std::move(env);
  return plan;
}

std::string FormatStep(const Step& s) {
  std::ostringstream out;
  switch (s.where) {
    case Where::kHelper: out << "helper "; break;
    case Where::kParent: out << "parent "; break;
    case Where::kChild: out << "child  "; break;
  }
  out << StepName(s.kind);
  switch (s.kind) {
    case StepKind::kSetParentDeathSignal:
    case StepKind::kCheckParent: out << " " << s.n; break;
    case StepKind::kCloneNamespaces: out << " 0x" << std::hex << s.n << std::dec; break;
    case StepKind::kMountTmp: out << " " << s.b << " size=" << s.n; break;
    case StepKind::kSetRlimit: out << " " << s.a << " " << s.n; break;
    case StepKind::kStartInit: out << " run-slots " << s.a << " zygote-uid " << s.n; break;
    case StepKind::kSetIdentity: out << " " << s.n; break;
    case StepKind::kLandlockFilesystem: out << " read " << s.a << " write " << s.b; break;
    default:
      if (!s.a.empty()) out << " " << s.a;
      if (!s.b.empty()) out << " " << s.b;
  }
  return out.str();
}

std::string FormatPlan(const JailPlan& plan) {
  std::string out;
  bool run_jails = false;
  for (const auto& s : plan.steps) {
    out += FormatStep(s) + "\n";
    run_jails = run_jails || s.kind == StepKind::kStartInit;
  }
  if (run_jails) {
    const UidLayout uids = UidLayoutOf(plan.options);
    run_jail::Spec spec;
    spec.slot = uids.first_slot;
    spec.tmp_options = "size=<tmpBytes>,nr_inodes=<tmpBytes/1024>,mode=1777";
    out += "# each run, in the zygote's fork (slot " + std::to_string(uids.first_slot) + ".." +
           std::to_string(uids.last_slot) + "):\n";
    out += run_jail::FormatPlan(run_jail::Plan(spec));
  }
  if (ProfileOf(plan.options.tier).landlock_fs && plan.options.profile == Profile::kRun) {
    out += "# each run, in the zygote's fork (after setsid, in " + plan.options.scratch_dir + "/<run>):\n";
    out += reduced_run::FormatPlan();
  }
  return out;
}

UidLayout UidLayoutOf(const JailOptions& o) {
  UidLayout u;
  if (o.uid_base && o.uid_count >= 3) {
    u.first_slot = 1;
    u.last_slot = o.uid_count - 2;
    u.zygote_uid = o.uid_count - 1;
  }
  return u;
}

}  // namespace pycage::jail
