// The jail as data: options parsed from the command line become a JailPlan,
// an ordered list of steps that one flat orchestrator (jail_exec.cc) runs and
// that --print-plan shows. Parsing never touches the system; BuildPlan takes
// the host facts it needs as an argument so tests can feed fake ones.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/isolation_profile.h"
#include "common/status.h"

namespace pycage::jail {

enum class Mode { kRun, kProbe, kPrintPlan };
// run: the zygote's jail (no network, control fd, run filter memfd).
// installer: pip/uv with the host's network, stdio inherited, no zygote fds.
enum class Profile { kRun, kInstaller };

struct BindSpec {
  std::string src;  // host path, absolute
  std::string dst;  // path inside the jail, absolute; defaults to src
};

struct RlimitSpec {
  std::string name;  // "RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE"
  uint64_t value;    // soft = hard
};

// Everything pycage-jail accepts. See PROTOCOL.md "The helper: pycage-jail".
struct JailOptions {
  Mode mode = Mode::kRun;
  Tier tier = Tier::kFull;
  Profile profile = Profile::kRun;
  std::optional<uint32_t> uid_base;  // host root only: first host uid/gid of the map
  uint32_t uid_count = 1;            // how many jail uids/gids (0..K-1) are mapped
  std::vector<BindSpec> ro_binds;    // extra read-only binds, after the fixed ones
  std::vector<BindSpec> rw_binds;    // --bind: read-write binds, after /tmp is mounted
  std::vector<RlimitSpec> rlimits;   // one per name, in first-given order (a later value wins)
  std::string cgroup_root;           // --cgroup-root; empty: no cgroup
  std::string scratch_dir;           // --scratch-dir (reduced tier): the zygote's only writable tree
  uint64_t cgroup_pids_max = 0;
  uint64_t cgroup_memory_max = 0;
  uint64_t tmpfs_bytes = 16ULL << 20;
  std::vector<std::string> setenv;  // KEY=VALUE, in order; later keys win
  int control_fd = 3;               // becomes fd 3 in the jail
  bool control_fd_explicit = false;  // an explicit --control-fd must be open
  pid_t parent_pid = 0;             // 0: no check
  std::vector<std::string> argv;    // PROGRAM ARGS...
};

// args excludes argv[0]. Misspelled or malformed options are errors that name
// the option, what was expected and what was received.
Result<JailOptions> ParseArgs(const std::vector<std::string>& args);

// The host facts a plan depends on.
struct HostFacts {
  bool root = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<std::string> system_paths;  // the fixed binds present on this host, in order
  // Installer profile: the network configuration present on this host, src
  // with symlinks resolved, dst the /etc path; and directories inside them to
  // hide (private keys).
  std::vector<BindSpec> network_files;
  std::vector<std::string> masked_paths;
  int landlock_abi = 0;
  // pycage-confine.so beside this pycage-jail (each run's own jail, run_jail.h);
  // empty when it is not there.
  std::string confine_lib;
};

// The fixed read-only binds of the full tier, in bind order (PROTOCOL.md).
const std::vector<std::string>& FixedBindCandidates();
// The installer profile's extra read-only binds and the paths it hides in them.
const std::vector<std::string>& NetworkBindCandidates();
const std::vector<std::string>& MaskedPathCandidates();
// What the installer profile hides in its own /proc: /proc/sys goes read-only
// (its files check the caller's uid, and jail uid 0 may be host uid 0), and
// these are masked when the kernel has them.
const std::vector<std::string>& ProcMaskCandidates();
HostFacts ProbeHostFacts();

enum class StepKind {
  // In the helper, before clone.
  kSetParentDeathSignal,  // n = signal
  kCheckParent,           // n = expected parent pid
  kCheckCgroup,           // a = cgroup root: cgroup2, pids and memory delegated, writable
  kCompileSeccomp,        // run: zygote + run filters, run filter into a sealed memfd; a = "installer…": that filter
  kCloneNamespaces,       // n = clone flags
  // In the helper, after clone (parent side).
  kDenySetgroups,  // write "deny" to /proc/<child>/setgroups (unprivileged maps need it)
  kWriteUidMap,    // a = map line
  kWriteGidMap,    // a = map line
  kCreateCgroup,   // a = cgroup root, b = "pids.max=N memory.max=M"
  kAttachCgroup,   // the child's pid into the new cgroup's cgroup.procs
  kReleaseChild,   // handshake: the child may go on
  kWaitChild,      // wait for the child by pid, exit with its status
  kRemoveCgroup,   // rmdir the child's cgroup once it is reaped
  // In the child, inside the new namespaces.
  kWaitForParent,      // handshake: maps are written
  kMakeRootSlave,      // no mount event propagates back to the host
  kOpenBindSources,    // O_PATH fds while still host root by kuid (see mount_ns.h)
  kBecomeJailRoot,     // setresgid/setresuid(0) in the new user namespace
  kMountBase,          // a = mount point of the scratch tmpfs
  kPivotToBase,        // old root at /oldroot
  kMountNewRoot,       // tmpfs at /newroot, the jail's future /
  kBindReadOnly,       // a = host path, b = jail path
  kBindReadWrite,      // a = host path, b = jail path
  kMask,               // b = jail path: empty read-only tmpfs (dir) or /dev/null (file); absent: skipped
  kMountProc,          // b = jail path
  kRebindReadOnly,     // b = jail path, bound onto itself read-only
  kMountDev,           // b = jail path (tmpfs)
  kBindDevNode,        // a = host node, b = jail path
  kSymlink,            // a = target, b = jail path
  kMountTmp,           // b = jail path, n = size in bytes
  kRemountReadOnly,    // b = jail path (that mount only, not its children)
  kPivotToNewRoot,     // and lazily detach the old root
  kSetHostname,        // a = name
  kSetupFds,           // run: 0,1 = /dev/null, 2 kept, 3 = control, 4 = run filter, rest closed;
                       // a = "keep-stdio" (installer): 0,1,2 kept, rest closed
  kSetsid,
  kRlimitCore,         // no core dumps of jailed memory
  kSetRlimit,          // a = RLIMIT_* name, n = soft = hard
  kStartInit,          // full tier: fork; the parent stays pid 1, keeps only the capabilities that
                       // map run uids (jail_init.h) and never returns; the child goes on as the
                       // zygote with the init's socket on fd 5. a = "first..last" run slots, n = zygote uid
  kLockSecurebits,     // the one securebits recipe (capabilities.h)
  kSetIdentity,        // n = uid = gid: setgroups([]), setresgid, setresuid
  kDropCapabilities,   // every set empty: bounding, permitted, effective, inheritable, ambient
  kNoNewPrivs,
  kLandlockScope,      // abstract AF_UNIX sockets confined to the jail (installer)
  kLandlockFilesystem, // reduced tier: a = read-only paths, b = writable paths, each ':'-separated
  kChildSubreaper,     // reduced tier: orphans of runs come back to the zygote, which reaps them
  kApplySeccomp,       // the compiled filter (a as for kCompileSeccomp); the last step before execve
  kExec,               // a = program
};

enum class Where { kHelper, kParent, kChild };
const char* StepName(StepKind kind);

struct Step {
  Where where;  // which process runs it: the helper before clone, or parent/child after
  StepKind kind;
  std::string a;
  std::string b;
  uint64_t n = 0;
};

struct JailPlan {
  JailOptions options;
  std::vector<Step> steps;
  std::vector<std::string> env;  // the program's whole environment
  std::string landlock_read;     // reduced tier: the read-only paths, ':'-separated
};

Result<JailPlan> BuildPlan(const JailOptions& options, const HostFacts& facts);

std::string FormatStep(const Step& step);
// One step per line: "<where> <name> <args>"; for the full tier's run
// profile, each run's own plan follows (run_jail.h).
std::string FormatPlan(const JailPlan& plan);

// The uid layout of a run-profile jail: runs get slots first..last, the
// zygote its own uid outside that range; with a single mapped uid all three
// are 0 (then the per-run pid namespace, not the uid, keeps runs apart).
struct UidLayout {
  uint32_t first_slot = 0;
  uint32_t last_slot = 0;
  uint32_t zygote_uid = 0;
};
UidLayout UidLayoutOf(const JailOptions& options);
// Where the jail shows pycage-confine.so to the zygote.
inline constexpr const char* kJailConfineLib = "/pycage/confine.so";

// The namespaces the full tier creates (CLONE_NEWCGROUP only if the kernel
// has it); the installer profile keeps the host's network namespace.
uint64_t JailCloneFlags(Profile profile = Profile::kRun);

}  // namespace pycage::jail
