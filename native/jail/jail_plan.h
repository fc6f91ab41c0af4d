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

#include "common/status.h"

namespace pycage::jail {

enum class Tier { kFull, kBypass };
enum class Mode { kRun, kProbe, kPrintPlan };

struct BindSpec {
  std::string src;  // host path, absolute
  std::string dst;  // path inside the jail, absolute; defaults to src
};

// Everything pycage-jail accepts. See PROTOCOL.md "The helper: pycage-jail".
struct JailOptions {
  Mode mode = Mode::kRun;
  Tier tier = Tier::kFull;
  std::optional<uint32_t> uid_base;  // host root only: first host uid/gid of the map
  uint32_t uid_count = 1;            // how many jail uids/gids (0..K-1) are mapped
  std::vector<BindSpec> ro_binds;    // extra read-only binds, after the fixed ones
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
};

// The fixed read-only binds of the full tier, in bind order (PROTOCOL.md).
const std::vector<std::string>& FixedBindCandidates();
HostFacts ProbeHostFacts();

enum class StepKind {
  // In the helper, before clone.
  kSetParentDeathSignal,  // n = signal
  kCheckParent,           // n = expected parent pid
  kCompileSeccomp,        // zygote + run filters to BPF; run filter into a sealed memfd
  kCloneNamespaces,       // n = clone flags
  // In the helper, after clone (parent side).
  kDenySetgroups,  // write "deny" to /proc/<child>/setgroups (unprivileged maps need it)
  kWriteUidMap,    // a = map line
  kWriteGidMap,    // a = map line
  kReleaseChild,   // handshake: the child may go on
  kWaitChild,      // wait for the child by pid, exit with its status
  // In the child, inside the new namespaces.
  kWaitForParent,      // handshake: maps are written
  kMakeRootSlave,      // no mount event propagates back to the host
  kOpenBindSources,    // O_PATH fds while still host root by kuid (see mount_ns.h)
  kBecomeJailRoot,     // setresgid/setresuid(0) in the new user namespace
  kMountBase,          // a = mount point of the scratch tmpfs
  kPivotToBase,        // old root at /oldroot
  kMountNewRoot,       // tmpfs at /newroot, the jail's future /
  kBindReadOnly,       // a = host path, b = jail path
  kMountProc,          // b = jail path
  kMountDev,           // b = jail path (tmpfs)
  kBindDevNode,        // a = host node, b = jail path
  kSymlink,            // a = target, b = jail path
  kMountTmp,           // b = jail path, n = size in bytes
  kRemountReadOnly,    // b = jail path (that mount only, not its children)
  kPivotToNewRoot,     // and lazily detach the old root
  kSetHostname,        // a = name
  kSetupFds,           // 0,1 = /dev/null, 2 kept, 3 = control, 4 = run filter, rest closed
  kSetsid,
  kRlimitCore,         // no core dumps of jailed memory
  kDropCapabilities,   // bounding set minus what the zygote needs; inheritable, ambient cleared
  kNoNewPrivs,
  kApplySeccomp,       // the zygote filter; the last step before execve
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
};

Result<JailPlan> BuildPlan(const JailOptions& options, const HostFacts& facts);

std::string FormatStep(const Step& step);
// One step per line: "<where> <name> <args>".
std::string FormatPlan(const JailPlan& plan);

// The namespaces the full tier creates (CLONE_NEWCGROUP only if the kernel has it).
uint64_t JailCloneFlags();

}  // namespace pycage::jail
