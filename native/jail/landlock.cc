#include "jail/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "jail/sys_error.h"

namespace pycage::jail::landlock {
namespace {

// struct landlock_ruleset_attr as of ABI 6; older uapi headers stop earlier.
struct RulesetAttrV6 {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0;
constexpr uint64_t kScopeSignal = 1ULL << 1;

// Filesystem access rights (uapi names; Debian 12's header stops at ABI 2).
constexpr uint64_t kExecute = 1ULL << 0;
constexpr uint64_t kWriteFile = 1ULL << 1;
constexpr uint64_t kReadFile = 1ULL << 2;
constexpr uint64_t kReadDir = 1ULL << 3;
constexpr uint64_t kRemoveDir = 1ULL << 4;
constexpr uint64_t kRemoveFile = 1ULL << 5;
constexpr uint64_t kMakeChar = 1ULL << 6;
constexpr uint64_t kMakeDir = 1ULL << 7;
constexpr uint64_t kMakeReg = 1ULL << 8;
constexpr uint64_t kMakeSock = 1ULL << 9;
constexpr uint64_t kMakeFifo = 1ULL << 10;
constexpr uint64_t kMakeBlock = 1ULL << 11;
constexpr uint64_t kMakeSym = 1ULL << 12;
constexpr uint64_t kRefer = 1ULL << 13;     // ABI 2
constexpr uint64_t kTruncate = 1ULL << 14;  // ABI 3
constexpr uint64_t kIoctlDev = 1ULL << 15;  // ABI 5
// The rights a rule on a file (not a directory) may carry.
constexpr uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;

// Every right this ABI lets a ruleset handle: unhandled rights stay allowed.
uint64_t HandledFs(int abi) {
  uint64_t rights = kExecute | kWriteFile | kReadFile | kReadDir | kRemoveDir | kRemoveFile | kMakeChar | kMakeDir |
                    kMakeReg | kMakeSock | kMakeFifo | kMakeBlock | kMakeSym;
  if (abi >= 2) rights |= kRefer;
  if (abi >= 3) rights |= kTruncate;
  if (abi >= 5) rights |= kIoctlDev;
  return rights;
}

struct PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

Status AddRule(int ruleset, int fd, uint64_t rights) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return SysError("landlock", "fstat(rule path)");
  if (!S_ISDIR(st.st_mode)) rights &= kFileRights;
  PathBeneathAttr attr{rights, fd};
  if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) != 0) {
    return SysError("landlock", "landlock_add_rule(fd " + std::to_string(fd) + ")");
  }
  return Status::Ok();
}

}  // namespace

int AbiVersion() {
#ifdef SYS_landlock_create_ruleset
  long v = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v > 0 ? static_cast<int>(v) : 0;
#else
  return 0;
#endif
}

Status ScopeAbstractUnixSockets() {
#ifdef SYS_landlock_create_ruleset
  RulesetAttrV6 attr{0, 0, kScopeAbstractUnixSocket};
  long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0) return SysError("landlock", "landlock_create_ruleset(scoped=ABSTRACT_UNIX_SOCKET)");
  long rc = syscall(SYS_landlock_restrict_self, fd, 0);
  int err = errno;
  close(static_cast<int>(fd));
  if (rc < 0) {
    errno = err;
    return SysError("landlock", "landlock_restrict_self()");
  }
  return Status::Ok();
#else
  errno = ENOSYS;
  return SysError("landlock", "landlock_create_ruleset(scoped=ABSTRACT_UNIX_SOCKET)");
#endif
}

Result<int> OpenPath(const std::string& path) {
  int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) return SysError("landlock", "open(" + path + ", O_PATH)");
  return fd;
}

Status RestrictFilesystem(const FsRules& rules) {
#ifdef SYS_landlock_create_ruleset
  const int abi = AbiVersion();
  if (abi < 1) {
    errno = EOPNOTSUPP;
    return SysError("landlock", "landlock_create_ruleset(VERSION)");
  }
  const uint64_t handled = HandledFs(abi);
  RulesetAttrV6 attr{handled, 0, abi >= kScopeAbi ? (kScopeAbstractUnixSocket | kScopeSignal) : 0};
  // Older kernels reject the fields they do not know: pass only theirs.
  const size_t size = abi >= kScopeAbi ? sizeof attr : sizeof attr.handled_access_fs;
  long ruleset = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (ruleset < 0) return SysError("landlock", "landlock_create_ruleset(filesystem)");
  const int fd = static_cast<int>(ruleset);
  const uint64_t read = kExecute | kReadFile | kReadDir;
  // Device nodes are never made; REFER (rename and link) only works
  // between trees that both grant it, so only within writable ones.
  const uint64_t write = handled & ~(kMakeChar | kMakeBlock);
  Status st = Status::Ok();
  for (int path : rules.read) {
    if (st = AddRule(fd, path, read & handled); !st.ok()) break;
  }
  for (int path : rules.write) {
    if (!st.ok()) break;
    st = AddRule(fd, path, write);
  }
  if (st.ok() && syscall(SYS_landlock_restrict_self, fd, 0) != 0) st = SysError("landlock", "landlock_restrict_self()");
  close(fd);
  return st;
#else
  (void)rules;
  errno = ENOSYS;
  return SysError("landlock", "landlock_create_ruleset(filesystem)");
#endif
}

}  // namespace pycage::jail::landlock
