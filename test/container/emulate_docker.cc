// emulate_docker: run a command "as if inside a default `docker run`"
// (not --privileged) on a machine that has no container engine.
//
//   emulate_docker [--user UID[:GID]] [--profile PATH] [--preserve-fds N]
//                  [--verbose] -- command args...
//
// Must run as root on the host. Build:
//   g++ -std=c++20 -O2 -Wall -Wextra -Werror emulate_docker.cc -lseccomp
//       -o emulate_docker
// (run-emulated.sh does this).
//
// What is reproduced, with the values Docker (moby + runc) uses by default:
//   * a private mount namespace with the default "masked" and "read-only"
//     paths of moby's daemon/pkg/oci/defaults.go, /sys read-only (Docker
//     mounts sysfs "ro") and /proc nosuid,nodev,noexec (Docker's proc mount
//     options);
//   * moby's default seccomp profile interpreted the way moby turns it into
//     an OCI spec (archMap, includes/excludes on caps, arches and minKernel)
//     and the way runc loads it with libseccomp (unknown syscall names
//     skipped, rules equal to the default action skipped, duplicate argument
//     indexes split into separate rules, and runc's "-ENOSYS stub" so that
//     syscalls newer than the profile fail with ENOSYS instead of EPERM);
//   * the default capability set: bounding = permitted = effective = the 14
//     default capabilities, inheritable and ambient empty (moby/containerd
//     set no inheritable capabilities since the CVE-2022-24769 fix);
//   * --user: supplementary groups cleared, then gid and uid switched, which
//     leaves a non-root user with no effective or permitted capabilities
//     after execve, as in Docker.
//
// Deliberately NOT reproduced:
//   * pid, net, ipc, uts, cgroup and time namespaces. The point of this tool
//     is the syscall filter, the capability sets and the /proc masking; a
//     pid or net namespace would not change what those checks observe (the
//     namespaces a program may create itself are governed by the seccomp
//     profile and the missing CAP_SYS_ADMIN, which are reproduced). No
//     rootfs pivot is done either: the host's files, /dev, network and
//     processes (in the host's /proc, with Docker's masking applied) stay
//     visible, seen with a container's capabilities and filter.
//   * AppArmor: Docker also confines containers with its "docker-default"
//     AppArmor profile when the host has AppArmor enabled. AppArmor is not
//     available on the machines this runs on, so that layer is absent (as
//     it is for Docker on a host without AppArmor, e.g. Fedora/RHEL, or a
//     kernel built without it).
//   * cgroup limits (pids, devices), rlimits, the environment (PATH, HOME,
//     HOSTNAME) and the container's /dev, /dev/shm, /dev/mqueue mounts.
//
// Any failure prints one line naming the step, the call and errno, and exits
// 125 like `docker run` does for errors of its own; a command that cannot be
// executed exits 127 (not found) or 126 (other), as `docker run` does.

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <seccomp.h>

namespace {

constexpr int kExitEngineError = 125;  // docker run: error of the engine
constexpr int kExitCannotInvoke = 126; // docker run: command cannot run
constexpr int kExitNotFound = 127;     // docker run: command not found

bool g_verbose = false;
// docker run --security-opt systempaths=unconfined: no masked or read-only /proc paths.
bool g_systempaths_unconfined = false;

std::string errno_text(int err) {
  const char* name = strerrorname_np(err);
  std::string s = name ? name : ("errno " + std::to_string(err));
  s += " (";
  s += strerror(err);
  s += ")";
  return s;
}

// One line on stderr naming the step, the call and errno; exit 125.
[[noreturn]] void fail_errno(const char* step, const std::string& call, int err,
                             int code = kExitEngineError) {
  std::fprintf(stderr, "emulate_docker: step %s: %s failed: %s\n", step,
               call.c_str(), errno_text(err).c_str());
  std::exit(code);
}

// For failures that have no errno (bad arguments, bad profile).
[[noreturn]] void fail_msg(const char* step, const std::string& msg) {
  std::fprintf(stderr, "emulate_docker: step %s: %s\n", step, msg.c_str());
  std::exit(kExitEngineError);
}

void verbose(const std::string& msg) {
  if (g_verbose) std::fprintf(stderr, "emulate_docker: %s\n", msg.c_str());
}

// ---------------------------------------------------------------------------
// Docker's defaults (facts from moby's source; see README.md).

// daemon/pkg/oci/caps/defaults.go: DefaultCapabilities().
struct CapName {
  const char* name;
  int number;
};
constexpr CapName kDefaultCaps[] = {
    {"CAP_CHOWN", CAP_CHOWN},
    {"CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE},
    {"CAP_FSETID", CAP_FSETID},
    {"CAP_FOWNER", CAP_FOWNER},
    {"CAP_MKNOD", CAP_MKNOD},
    {"CAP_NET_RAW", CAP_NET_RAW},
    {"CAP_SETGID", CAP_SETGID},
    {"CAP_SETUID", CAP_SETUID},
    {"CAP_SETFCAP", CAP_SETFCAP},
    {"CAP_SETPCAP", CAP_SETPCAP},
    {"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
    {"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
    {"CAP_KILL", CAP_KILL},
    {"CAP_AUDIT_WRITE", CAP_AUDIT_WRITE},
};

bool default_caps_contain(std::string_view name) {
  for (const auto& c : kDefaultCaps)
    if (name == c.name) return true;
  return false;
}

bool default_caps_contain(int number) {
  for (const auto& c : kDefaultCaps)
    if (number == c.number) return true;
  return false;
}

// daemon/pkg/oci/defaults.go: ReadonlyPaths.
constexpr const char* kReadonlyPaths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

// daemon/pkg/oci/defaults.go: defaultLinuxMaskedPaths() (the fixed part; the
// per-CPU thermal_throttle directories are added by masked_paths()).
constexpr const char* kMaskedPaths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
};

// Like moby: for every possible CPU, mask
// /sys/devices/system/cpu/cpuN/thermal_throttle if it exists.
std::vector<std::string> masked_paths() {
  std::vector<std::string> out(std::begin(kMaskedPaths), std::end(kMaskedPaths));
  FILE* f = std::fopen("/sys/devices/system/cpu/possible", "re");
  if (!f) return out;
  char buf[256] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  if (!ok) return out;
  // Format: "0-3,8,10-11\n".
  const char* p = buf;
  while (*p && *p != '\n') {
    char* end = nullptr;
    const long lo = std::strtol(p, &end, 10);
    if (end == p) break;
    long hi = lo;
    p = end;
    if (*p == '-') {
      hi = std::strtol(p + 1, &end, 10);
      p = end;
    }
    for (long cpu = lo; cpu <= hi && cpu - lo < 65536; ++cpu) {
      std::string path =
          "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/thermal_throttle";
      struct stat st;
      if (stat(path.c_str(), &st) == 0) out.push_back(std::move(path));
    }
    if (*p == ',') ++p;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Architectures.

struct ArchInfo {
  uint32_t scmp;          // libseccomp token
  const char* oci;        // name in the profile ("SCMP_ARCH_...")
  const char* moby_name;  // moby's name of the native arch, used by
                          // includes/excludes "arches" ("amd64", ...)
};

constexpr ArchInfo kArches[] = {
    {SCMP_ARCH_X86_64, "SCMP_ARCH_X86_64", "amd64"},
    {SCMP_ARCH_X86, "SCMP_ARCH_X86", "x86"},
    {SCMP_ARCH_X32, "SCMP_ARCH_X32", "x32"},
    {SCMP_ARCH_AARCH64, "SCMP_ARCH_AARCH64", "arm64"},
    {SCMP_ARCH_ARM, "SCMP_ARCH_ARM", "arm"},
    {SCMP_ARCH_MIPS, "SCMP_ARCH_MIPS", "mips"},
    {SCMP_ARCH_MIPS64, "SCMP_ARCH_MIPS64", "mips64"},
    {SCMP_ARCH_MIPS64N32, "SCMP_ARCH_MIPS64N32", "mips64n32"},
    {SCMP_ARCH_MIPSEL, "SCMP_ARCH_MIPSEL", "mipsle"},
    {SCMP_ARCH_MIPSEL64, "SCMP_ARCH_MIPSEL64", "mipsel64"},
    {SCMP_ARCH_MIPSEL64N32, "SCMP_ARCH_MIPSEL64N32", "mips3l64n32"},
    {SCMP_ARCH_PPC, "SCMP_ARCH_PPC", "ppc"},
    {SCMP_ARCH_PPC64, "SCMP_ARCH_PPC64", "ppc64"},
    {SCMP_ARCH_PPC64LE, "SCMP_ARCH_PPC64LE", "ppc64le"},
    {SCMP_ARCH_S390, "SCMP_ARCH_S390", "s390"},
    {SCMP_ARCH_S390X, "SCMP_ARCH_S390X", "s390x"},
    {SCMP_ARCH_RISCV64, "SCMP_ARCH_RISCV64", "riscv64"},
};

const ArchInfo* arch_by_scmp(uint32_t scmp) {
  for (const auto& a : kArches)
    if (a.scmp == scmp) return &a;
  return nullptr;
}

const ArchInfo* arch_by_oci(std::string_view oci) {
  for (const auto& a : kArches)
    if (oci == a.oci) return &a;
  return nullptr;
}

// The AUDIT_ARCH_* value the kernel reports in seccomp_data.arch. libseccomp
// uses the AUDIT_ARCH_* values as tokens, except for x32, which is x86_64
// with bit 30 set in the syscall number.
uint32_t audit_arch(uint32_t scmp) {
  return scmp == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : scmp;
}

// ---------------------------------------------------------------------------
// The profile, after moby's filtering (moby/profiles seccomp setupSeccomp).

struct Arg {
  unsigned index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  scmp_compare op = SCMP_CMP_EQ;
};

struct Rule {
  std::string name;
  uint32_t action = 0;  // libseccomp action, errno folded in
  std::vector<Arg> args;
};

struct Filter {
  bool enabled = false;
  std::string default_action_name;
  uint32_t default_action = 0;
  std::optional<uint64_t> default_errno_ret;
  std::vector<uint32_t> arches;  // libseccomp tokens
  unsigned load_flags = 0;       // SECCOMP_FILTER_FLAG_*
  std::vector<Rule> rules;       // one per syscall name
  size_t kept_entries = 0, skipped_entries = 0;
};

struct KernelVersion {
  unsigned kernel = 0, major = 0;
};

KernelVersion host_kernel() {
  struct utsname u;
  if (uname(&u) != 0) fail_errno("seccomp-profile", "uname", errno);
  KernelVersion v;
  if (std::sscanf(u.release, "%u.%u", &v.kernel, &v.major) != 2)
    fail_msg("seccomp-profile",
             std::string("cannot parse kernel release ") + u.release);
  return v;
}

bool kernel_at_least(const KernelVersion& host, const KernelVersion& min) {
  return host.kernel > min.kernel ||
         (host.kernel == min.kernel && host.major >= min.major);
}

// Maps a profile action to the libseccomp action, as runc does: KILL is
// KILL_THREAD, ERRNO and TRACE return errnoRet or EPERM.
uint32_t parse_action(const std::string& name, std::optional<uint64_t> errno_ret,
                      const char* where) {
  const uint16_t ret =
      static_cast<uint16_t>(errno_ret.has_value() ? *errno_ret : EPERM);
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD")
    return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(ret);
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(ret);
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY")
    fail_msg("seccomp-profile",
             std::string(where) + ": SCMP_ACT_NOTIFY is not supported here");
  fail_msg("seccomp-profile", std::string(where) + ": unknown action " + name);
}

scmp_compare parse_op(std::string_view op) {
  if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (op == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (op == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (op == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (op == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  fail_msg("seccomp-profile", "unknown operator " + std::string(op));
}

unsigned parse_flag(std::string_view flag) {
  // runc: TSYNC is implied (and we are single-threaded anyway).
  if (flag == "SECCOMP_FILTER_FLAG_TSYNC") return 0;
  if (flag == "SECCOMP_FILTER_FLAG_LOG") return SECCOMP_FILTER_FLAG_LOG;
  if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
    return SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  if (flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") return 1U << 5;
  fail_msg("seccomp-profile", "unknown seccomp flag " + std::string(flag));
}

// A small JSON reader (RFC 8259) for the profile: a DOM of values, with
// numbers kept as their literal text. Object keys are looked up the way Go's
// encoding/json matches struct fields; a missing key and a JSON null both
// read as "absent".
struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  std::string text;  // string value, or number literal
  std::vector<Json> items;        // array elements
  std::vector<std::string> keys;  // object members: keys[i] -> values[i]
  std::vector<Json> values;
};
using element = Json;
using object = Json;
using array = std::vector<Json>;

class JsonReader {
 public:
  explicit JsonReader(std::string_view in) : p_(in.data()), begin_(in.data()), end_(in.data() + in.size()) {}

  // Returns an error message, or empty on success.
  std::string parse(Json& out) {
    if (!value(out, 0)) return error_;
    skip_ws();
    if (p_ != end_) return at("trailing data after the document");
    return {};
  }

 private:
  bool fail(const char* what) {
    if (error_.empty()) error_ = at(what);
    return false;
  }
  std::string at(const char* what) const {
    return std::string(what) + " at byte " + std::to_string(p_ - begin_);
  }
  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return fail("invalid literal");
    p_ += word.size();
    return true;
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool hex4(uint32_t& out) {
    if (end_ - p_ < 4) return fail("truncated \\u escape");
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex(*p_++);
      if (h < 0) return fail("invalid \\u escape");
      out = out << 4 | static_cast<uint32_t>(h);
    }
    return true;
  }
  static void put_utf8(std::string& s, uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | cp >> 6);
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | cp >> 12);
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | cp >> 18);
      s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool string(std::string& out) {
    ++p_;  // opening quote
    while (true) {
      if (p_ == end_) return fail("unterminated string");
      const char c = *p_++;
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ == end_) return fail("unterminated string");
      switch (*p_++) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDFFF) {
            // A valid surrogate pair makes one code point; anything else is
            // replaced by U+FFFD, as Go's encoding/json does.
            uint32_t lo = 0;
            bool paired = cp < 0xDC00 && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u';
            for (int k = 2; paired && k < 6; ++k) {
              const int h = hex(p_[k]);
              paired = h >= 0;
              lo = lo << 4 | static_cast<uint32_t>(h < 0 ? 0 : h);
            }
            if (paired && lo >= 0xDC00 && lo <= 0xDFFF) {
              p_ += 6;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              cp = 0xFFFD;
            }
          }
          put_utf8(out, cp);
          break;
        }
        default:
          return fail("invalid escape");
      }
    }
  }
  bool number(std::string& out) {
    const char* start = p_;
    auto digits = [&] {
      const char* d = p_;
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      return p_ != d;
    };
    if (p_ != end_ && *p_ == '-') ++p_;
    if (p_ != end_ && *p_ == '0') {
      ++p_;
    } else if (!digits()) {
      return fail("invalid number");
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (!digits()) return fail("invalid number");
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return fail("invalid number");
    }
    out.assign(start, p_);
    return true;
  }
  bool value(Json& out, int depth) {
    if (depth > 64) return fail("nesting too deep");
    skip_ws();
    if (p_ == end_) return fail("unexpected end of input");
    switch (*p_) {
      case 'n': out.type = Json::Type::Null; return literal("null");
      case 't': out.type = Json::Type::Bool; out.boolean = true; return literal("true");
      case 'f': out.type = Json::Type::Bool; out.boolean = false; return literal("false");
      case '"': out.type = Json::Type::String; return string(out.text);
      case '[': {
        out.type = Json::Type::Array;
        ++p_;
        skip_ws();
        if (p_ != end_ && *p_ == ']') { ++p_; return true; }
        while (true) {
          out.items.emplace_back();
          if (!value(out.items.back(), depth + 1)) return false;
          skip_ws();
          if (p_ == end_) return fail("unterminated array");
          if (*p_ == ',') { ++p_; continue; }
          if (*p_ == ']') { ++p_; return true; }
          return fail("expected ',' or ']'");
        }
      }
      case '{': {
        out.type = Json::Type::Object;
        ++p_;
        skip_ws();
        if (p_ != end_ && *p_ == '}') { ++p_; return true; }
        while (true) {
          skip_ws();
          if (p_ == end_ || *p_ != '"') return fail("expected a key");
          std::string key;
          if (!string(key)) return false;
          skip_ws();
          if (p_ == end_ || *p_ != ':') return fail("expected ':'");
          ++p_;
          out.keys.push_back(std::move(key));
          out.values.emplace_back();
          if (!value(out.values.back(), depth + 1)) return false;
          skip_ws();
          if (p_ == end_) return fail("unterminated object");
          if (*p_ == ',') { ++p_; continue; }
          if (*p_ == '}') { ++p_; return true; }
          return fail("expected ',' or '}'");
        }
      }
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) {
          out.type = Json::Type::Number;
          return number(out.text);
        }
        return fail("unexpected character");
    }
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  std::string error_;
};

const Json* field(const object& o, std::string_view key) {
  // Go matches keys to fields case-insensitively, and a later duplicate
  // overwrites an earlier one: the last matching key wins.
  const Json* found = nullptr;
  for (size_t i = 0; i < o.keys.size(); ++i)
    if (o.keys[i].size() == key.size() &&
        strncasecmp(o.keys[i].data(), key.data(), key.size()) == 0)
      found = &o.values[i];
  if (!found || found->type == Json::Type::Null) return nullptr;
  return found;
}

std::string as_string(const element& e, const char* what) {
  if (e.type != Json::Type::String)
    fail_msg("seccomp-profile", std::string(what) + " is not a string");
  return e.text;
}

// Like Go decoding into an unsigned integer: a plain non-negative integer
// literal that fits in 64 bits.
uint64_t as_uint(const element& e, const char* what) {
  const std::string& t = e.text;
  if (e.type != Json::Type::Number || t.empty() ||
      t.find_first_not_of("0123456789") != std::string::npos)
    fail_msg("seccomp-profile", std::string(what) + " is not an unsigned integer");
  errno = 0;
  const unsigned long long v = std::strtoull(t.c_str(), nullptr, 10);
  if (errno == ERANGE)
    fail_msg("seccomp-profile", std::string(what) + " does not fit in 64 bits");
  return v;
}

const array& as_array(const element& e, const char* what) {
  if (e.type != Json::Type::Array)
    fail_msg("seccomp-profile", std::string(what) + " is not an array");
  return e.items;
}

const object& as_object(const element& e, const char* what) {
  if (e.type != Json::Type::Object)
    fail_msg("seccomp-profile", std::string(what) + " is not an object");
  return e;
}

std::vector<std::string> string_list(const object& o, std::string_view key,
                                     const char* what) {
  std::vector<std::string> out;
  if (auto e = field(o, key))
    for (const element& item : as_array(*e, what)) out.push_back(as_string(item, what));
  return out;
}

// moby's KernelVersion: "<kernel>.<major>"; "" means 0.0 (always satisfied).
KernelVersion parse_min_kernel(const element& e) {
  const std::string s = as_string(e, "minKernel");
  KernelVersion v;
  if (s.empty()) return v;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%u.%u%c", &v.kernel, &v.major, &tail) != 2 ||
      (v.kernel == 0 && v.major == 0))
    fail_msg("seccomp-profile", "invalid minKernel \"" + s + "\"");
  return v;
}

// An includes/excludes clause.
struct Clause {
  std::vector<std::string> caps, arches;
  std::optional<KernelVersion> min_kernel;
};

std::optional<Clause> parse_clause(const object& entry, std::string_view key) {
  auto e = field(entry, key);
  if (!e) return std::nullopt;
  const object& o = as_object(*e, "includes/excludes");
  Clause c;
  c.caps = string_list(o, "caps", "caps");
  c.arches = string_list(o, "arches", "arches");
  if (auto mk = field(o, "minKernel")) c.min_kernel = parse_min_kernel(*mk);
  return c;
}

// Decides, like moby's setupSeccomp, whether a syscalls[] entry applies to
// this container. Capabilities are checked against the container's bounding
// set, which for a default container is the default set, whatever --user is.
bool entry_applies(const object& entry, const std::string& native_arch,
                   const KernelVersion& kernel) {
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    for (const auto& x : v)
      if (x == s) return true;
    return false;
  };
  if (auto ex = parse_clause(entry, "excludes")) {
    if (!ex->arches.empty() && contains(ex->arches, native_arch)) return false;
    for (const auto& cap : ex->caps)
      if (default_caps_contain(cap)) return false;
    if (ex->min_kernel && kernel_at_least(kernel, *ex->min_kernel)) return false;
  }
  if (auto in = parse_clause(entry, "includes")) {
    if (!in->arches.empty() && !contains(in->arches, native_arch)) return false;
    for (const auto& cap : in->caps)
      if (!default_caps_contain(cap)) return false;
    if (in->min_kernel && !kernel_at_least(kernel, *in->min_kernel)) return false;
  }
  return true;
}

Filter load_profile(const std::string& path) {
  Json root;
  {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_errno("seccomp-profile", "open " + path, errno);
    std::string text;
    char buf[65536];
    while (true) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno("seccomp-profile", "read " + path, errno);
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > (64U << 20)) fail_msg("seccomp-profile", path + " is larger than 64 MiB");
    }
    close(fd);
    if (std::string err = JsonReader(text).parse(root); !err.empty())
      fail_msg("seccomp-profile", "cannot parse " + path + ": " + err);
  }
  const object& top = as_object(root, "profile");

  Filter f;
  if (auto e = field(top, "defaultAction"))
    f.default_action_name = as_string(*e, "defaultAction");
  if (auto e = field(top, "defaultErrnoRet"))
    f.default_errno_ret = as_uint(*e, "defaultErrnoRet");
  const array* syscalls = nullptr;
  if (auto e = field(top, "syscalls")) syscalls = &as_array(*e, "syscalls");

  // moby: no default action and no syscalls means "seccomp disabled".
  if (f.default_action_name.empty() && (!syscalls || syscalls->size() == 0))
    return f;
  f.enabled = true;
  f.default_action =
      parse_action(f.default_action_name, f.default_errno_ret, "defaultAction");

  const uint32_t native = seccomp_arch_native();
  const ArchInfo* native_info = arch_by_scmp(native);
  if (!native_info) fail_msg("seccomp-profile", "unsupported native architecture");
  const std::string native_name = native_info->moby_name;

  const auto flat_arches = string_list(top, "architectures", "architectures");
  auto arch_map = field(top, "archMap");
  if (!flat_arches.empty() && arch_map && as_array(*arch_map, "archMap").size() != 0)
    fail_msg("seccomp-profile",
             "both 'architectures' and 'archMap' are specified, use one");
  std::vector<std::string> arch_names = flat_arches;
  if (arch_map) {
    // moby: take the archMap entry of the native architecture, plus its
    // sub-architectures.
    for (const element& item : as_array(*arch_map, "archMap")) {
      const object& m = as_object(item, "archMap entry");
      auto a = field(m, "architecture");
      if (!a || as_string(*a, "architecture") != native_info->oci) continue;
      arch_names.push_back(native_info->oci);
      for (const auto& sub : string_list(m, "subArchitectures", "subArchitectures"))
        arch_names.push_back(sub);
      break;
    }
  }
  for (const auto& name : arch_names) {
    const ArchInfo* a = arch_by_oci(name);
    if (!a) fail_msg("seccomp-profile", "unknown architecture " + name);
    f.arches.push_back(a->scmp);
  }

  for (const auto& flag : string_list(top, "flags", "flags"))
    f.load_flags |= parse_flag(flag);

  const KernelVersion kernel = host_kernel();
  if (syscalls) {
    for (const element& item : *syscalls) {
      const object& entry = as_object(item, "syscalls entry");
      std::vector<std::string> names = string_list(entry, "names", "names");
      if (auto n = field(entry, "name")) {
        if (!names.empty())
          fail_msg("seccomp-profile", "both 'name' and 'names' in one entry");
        names.push_back(as_string(*n, "name"));
      }
      if (!entry_applies(entry, native_name, kernel)) {
        ++f.skipped_entries;
        continue;
      }
      ++f.kept_entries;
      std::optional<uint64_t> errno_ret;
      if (auto e = field(entry, "errnoRet")) errno_ret = as_uint(*e, "errnoRet");
      auto act = field(entry, "action");
      if (!act) fail_msg("seccomp-profile", "syscalls entry without action");
      const uint32_t action =
          parse_action(as_string(*act, "action"), errno_ret, "syscalls entry");
      std::vector<Arg> args;
      if (auto e = field(entry, "args")) {
        for (const element& a : as_array(*e, "args")) {
          const object& ao = as_object(a, "arg");
          Arg arg;
          if (auto v = field(ao, "index")) arg.index = static_cast<unsigned>(as_uint(*v, "index"));
          if (arg.index > 5) fail_msg("seccomp-profile", "argument index above 5");
          if (auto v = field(ao, "value")) arg.value = as_uint(*v, "value");
          if (auto v = field(ao, "valueTwo")) arg.value_two = as_uint(*v, "valueTwo");
          auto op = field(ao, "op");
          if (!op) fail_msg("seccomp-profile", "arg without op");
          arg.op = parse_op(as_string(*op, "op"));
          args.push_back(arg);
        }
      }
      for (const auto& name : names) f.rules.push_back(Rule{name, action, args});
    }
  }
  return f;
}

// ---------------------------------------------------------------------------
// Seccomp: build the libseccomp filter as runc does, then prepend runc's
// "-ENOSYS stub" and produce the final BPF program.

// A tiny BPF assembler with forward labels.
class BpfBuilder {
 public:
  int new_label() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void bind(int label) { labels_[label] = static_cast<int>(code_.size()); }
  void load_abs(uint32_t off) { emit(BPF_LD | BPF_W | BPF_ABS, off); }
  void ret(uint32_t k) { emit(BPF_RET | BPF_K, k); }
  void jump(int label) {
    emit(BPF_JMP | BPF_JA, 0);
    fix_.push_back({code_.size() - 1, label, -1, true});
  }
  // Conditional jump; a label of -1 means "next instruction".
  void jcond(uint16_t op, uint32_t k, int jt, int jf) {
    emit(BPF_JMP | op | BPF_K, k);
    fix_.push_back({code_.size() - 1, jt, jf, false});
  }
  std::vector<sock_filter> finish() {
    for (const auto& fx : fix_) {
      auto offset = [&](int label) -> uint32_t {
        if (label < 0) return 0;
        const int target = labels_[label];
        const int off = target - static_cast<int>(fx.at) - 1;
        if (target < 0 || off < 0) fail_msg("seccomp-load", "internal BPF label error");
        return static_cast<uint32_t>(off);
      };
      if (fx.always) {
        code_[fx.at].k = offset(fx.jt);
      } else {
        const uint32_t jt = offset(fx.jt), jf = offset(fx.jf);
        if (jt > 255 || jf > 255) fail_msg("seccomp-load", "ENOSYS stub jump too long");
        code_[fx.at].jt = static_cast<uint8_t>(jt);
        code_[fx.at].jf = static_cast<uint8_t>(jf);
      }
    }
    return code_;
  }

 private:
  struct Fix {
    size_t at;
    int jt, jf;
    bool always;
  };
  void emit(uint16_t code, uint32_t k) { code_.push_back(sock_filter{code, 0, 0, k}); }
  std::vector<sock_filter> code_;
  std::vector<int> labels_;
  std::vector<Fix> fix_;
};

// runc prepends a stub to the libseccomp program: for each architecture of
// the filter, a syscall number above the highest one named in the profile
// (among the entries kept for this container) returns ENOSYS instead of the
// default action, so that programs probing newer syscalls see "not
// implemented" and fall back, as they would on an older kernel. The stub is
// only added when the default action refuses (not ALLOW/LOG/TRACE). On
// x86_64, x32 syscalls share AUDIT_ARCH_X86_64 and are told apart by bit 30
// of the syscall number.
std::vector<sock_filter> enosys_stub(const Filter& f) {
  const std::string& def = f.default_action_name;
  if (def == "SCMP_ACT_ALLOW" || def == "SCMP_ACT_LOG" || def == "SCMP_ACT_TRACE")
    return {};  // permissive default: no stub (runc)
  if (def == "SCMP_ACT_ERRNO" && f.default_errno_ret &&
      *f.default_errno_ret == ENOSYS)
    return {};  // the default already says ENOSYS

  std::vector<uint32_t> arches = f.arches;
  const uint32_t native = seccomp_arch_native();
  bool has_native = false;
  for (uint32_t a : arches) has_native |= a == native;
  if (!has_native) arches.push_back(native);  // runc always adds the native arch

  // Highest syscall number per libseccomp arch.
  struct Max {
    uint32_t scmp;
    uint32_t nr;
  };
  std::vector<Max> maxima;
  for (uint32_t a : arches) {
    bool seen = false;
    for (const auto& m : maxima) seen |= m.scmp == a;
    if (seen) continue;
    int best = 0;
    for (const auto& r : f.rules) {
      const int nr = seccomp_syscall_resolve_name_arch(a, r.name.c_str());
      if (nr > best) best = nr;
    }
    if (best > 0) maxima.push_back({a, static_cast<uint32_t>(best)});
    verbose("ENOSYS stub: highest syscall for " + std::string(arch_by_scmp(a)->oci) +
            " is " + std::to_string(best));
  }

  // Group by AUDIT_ARCH value.
  std::vector<uint32_t> audits;
  for (const auto& m : maxima) {
    bool seen = false;
    for (uint32_t x : audits) seen |= x == audit_arch(m.scmp);
    if (!seen) audits.push_back(audit_arch(m.scmp));
  }
  if (audits.empty()) return {};

  BpfBuilder b;
  const int l_enosys = b.new_label(), l_filter = b.new_label();
  std::vector<int> l_section;
  for (size_t i = 0; i < audits.size(); ++i) l_section.push_back(b.new_label());

  b.load_abs(offsetof(seccomp_data, arch));
  for (size_t i = 0; i < audits.size(); ++i)
    b.jcond(BPF_JEQ, audits[i], l_section[i], -1);
  b.jump(l_filter);  // architectures without a section: libseccomp decides

  constexpr uint32_t kX32Bit = 0x40000000;
  for (size_t i = 0; i < audits.size(); ++i) {
    b.bind(l_section[i]);
    b.load_abs(offsetof(seccomp_data, nr));
    std::optional<uint32_t> plain, x32;
    for (const auto& m : maxima) {
      if (audit_arch(m.scmp) != audits[i]) continue;
      (m.scmp == SCMP_ARCH_X32 ? x32 : plain) = m.nr;
    }
    if (audits[i] == AUDIT_ARCH_S390 || audits[i] == AUDIT_ARCH_S390X) {
      // s390 multiplexes unknown syscalls through setup(2), number 0.
      b.jcond(BPF_JEQ, 0, l_enosys, -1);
    }
    if (audits[i] == AUDIT_ARCH_X86_64) {
      if (plain && x32) {
        const int l_x32 = b.new_label();
        b.jcond(BPF_JSET, kX32Bit, l_x32, -1);
        b.jcond(BPF_JGT, *plain, l_enosys, l_filter);
        b.bind(l_x32);
        b.jcond(BPF_JGT, *x32, l_enosys, l_filter);
      } else if (plain) {
        b.jcond(BPF_JSET, kX32Bit, l_filter, -1);
        b.jcond(BPF_JGT, *plain, l_enosys, l_filter);
      } else {
        b.jcond(BPF_JSET, kX32Bit, -1, l_filter);
        b.jcond(BPF_JGT, *x32, l_enosys, l_filter);
      }
    } else {
      b.jcond(BPF_JGT, *plain, l_enosys, l_filter);
    }
  }
  b.bind(l_enosys);
  b.ret(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
  b.bind(l_filter);
  return b.finish();
}

std::string rule_call(const char* fn, const Rule& r) {
  return std::string(fn) + "(" + r.name + ")";
}

// Builds the whole program (stub + libseccomp's filter). Runs before any
// privileged change, so a bad profile changes nothing.
std::vector<sock_filter> build_seccomp(const Filter& f) {
  const char* step = "seccomp-profile";
  scmp_filter_ctx ctx = seccomp_init(f.default_action);
  if (!ctx) fail_errno(step, "seccomp_init", EINVAL);
  for (uint32_t a : f.arches) {
    const int rc = seccomp_arch_add(ctx, a);
    if (rc != 0 && rc != -EEXIST)
      fail_errno(step, std::string("seccomp_arch_add(") + arch_by_scmp(a)->oci + ")", -rc);
  }
  // runc: binary-tree optimisation for long rule sets (shape only).
  if (f.rules.size() > 32) (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  // Docker does not set no_new_privs by default; we load the program
  // ourselves anyway, but keep libseccomp's view consistent.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); rc != 0)
    fail_errno(step, "seccomp_attr_set(CTL_NNP)", -rc);

  size_t added = 0, unknown = 0, redundant = 0;
  for (const auto& r : f.rules) {
    if (r.action == f.default_action) {  // runc: same as default, skip
      ++redundant;
      continue;
    }
    const int nr = seccomp_syscall_resolve_name(r.name.c_str());
    if (nr == __NR_SCMP_ERROR) {  // runc/Docker: unknown name, ignore it
      ++unknown;
      verbose("unknown syscall ignored: " + r.name);
      continue;
    }
    if (r.args.empty()) {
      if (int rc = seccomp_rule_add_array(ctx, r.action, nr, 0, nullptr); rc != 0)
        fail_errno(step, rule_call("seccomp_rule_add", r), -rc);
      ++added;
      continue;
    }
    std::vector<scmp_arg_cmp> conds;
    unsigned per_index[6] = {};
    for (const auto& a : r.args) {
      conds.push_back(scmp_arg_cmp{a.index, a.op, a.value, a.value_two});
      ++per_index[a.index];
    }
    bool repeated = false;
    for (unsigned c : per_index) repeated |= c > 1;
    if (repeated) {
      // runc: conditions on the same argument become separate rules (OR).
      for (const auto& c : conds)
        if (int rc = seccomp_rule_add_array(ctx, r.action, nr, 1, &c); rc != 0)
          fail_errno(step, rule_call("seccomp_rule_add", r), -rc);
    } else if (int rc = seccomp_rule_add_array(ctx, r.action, nr,
                                               static_cast<unsigned>(conds.size()),
                                               conds.data());
               rc != 0) {
      fail_errno(step, rule_call("seccomp_rule_add", r), -rc);
    }
    ++added;
  }
  verbose("seccomp: " + std::to_string(f.kept_entries) + " profile entries apply, " +
          std::to_string(f.skipped_entries) + " excluded; " + std::to_string(added) +
          " syscall rules added, " + std::to_string(unknown) +
          " unknown names ignored, " + std::to_string(redundant) +
          " equal to the default action");

  // Export libseccomp's program through a memfd.
  const int fd = memfd_create("emulate_docker-bpf", MFD_CLOEXEC);
  if (fd < 0) fail_errno(step, "memfd_create", errno);
  if (int rc = seccomp_export_bpf(ctx, fd); rc != 0)
    fail_errno(step, "seccomp_export_bpf", -rc);
  seccomp_release(ctx);
  struct stat st;
  if (fstat(fd, &st) != 0) fail_errno(step, "fstat(memfd)", errno);
  if (st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0)
    fail_msg(step, "libseccomp exported a malformed program");
  std::vector<sock_filter> prog = enosys_stub(f);
  const size_t stub_len = prog.size();
  prog.resize(stub_len + static_cast<size_t>(st.st_size) / sizeof(sock_filter));
  const ssize_t got = pread(fd, prog.data() + stub_len, static_cast<size_t>(st.st_size), 0);
  if (got != st.st_size) fail_errno(step, "pread(memfd)", got < 0 ? errno : EIO);
  close(fd);
  if (prog.size() > BPF_MAXINSNS) fail_msg(step, "BPF program too long");
  for (size_t k = 0; k < stub_len && g_verbose; ++k) {
    char line[96];
    std::snprintf(line, sizeof line, "ENOSYS stub %2zu: code=0x%02x jt=%u jf=%u k=0x%08x", k,
                  prog[k].code, prog[k].jt, prog[k].jf, prog[k].k);
    verbose(line);
  }
  verbose("seccomp: " + std::to_string(stub_len) + " stub + " +
          std::to_string(prog.size() - stub_len) + " libseccomp instructions");
  return prog;
}

void load_seccomp(const Filter& f, std::vector<sock_filter>& prog) {
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (f.load_flags == 0) {
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0)
      fail_errno("seccomp-load", "prctl(PR_SET_SECCOMP)", errno);
  } else if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, f.load_flags, &fprog) != 0) {
    fail_errno("seccomp-load", "seccomp(SECCOMP_SET_MODE_FILTER)", errno);
  }
}

// ---------------------------------------------------------------------------
// Mounts.

int set_mount_attr(const char* path, uint64_t attrs, bool recursive) {
  struct mount_attr attr{};
  attr.attr_set = attrs;
  return static_cast<int>(syscall(SYS_mount_setattr, AT_FDCWD, path,
                                  recursive ? AT_RECURSIVE : 0, &attr, sizeof attr));
}

// runc's readonlyPath: bind the path onto itself (recursively) and make it
// read-only. runc remounts only the top mount because a container's fresh
// procfs has nothing mounted below /proc/sys; the host's /proc may (e.g.
// binfmt_misc), so the whole subtree is made read-only here.
void readonly_path(const char* path) {
  const char* step = "readonly-paths";
  if (mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    if (errno == ENOENT) return;
    fail_errno(step, std::string("mount(MS_BIND ") + path + ")", errno);
  }
  if (set_mount_attr(path, MOUNT_ATTR_RDONLY, true) == 0) return;
  if (errno != ENOSYS) fail_errno(step, std::string("mount_setattr(RDONLY ") + path + ")", errno);
  // Kernels before 5.12: runc's remount of the top mount, keeping its
  // nosuid/nodev/noexec flags.
  struct statvfs sv;
  if (statvfs(path, &sv) != 0) fail_errno(step, std::string("statvfs(") + path + ")", errno);
  unsigned long keep = 0;
  if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  if (mount(path, path, nullptr, keep | MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
    fail_errno(step, std::string("mount(MS_REMOUNT|MS_RDONLY ") + path + ")", errno);
}

// runc's maskPaths: a file gets /dev/null bind-mounted over it, a directory
// an empty read-only tmpfs. Missing paths are skipped.
void mask_paths(const std::vector<std::string>& paths) {
  const char* step = "masked-paths";
  struct stat null_st;
  if (stat("/dev/null", &null_st) != 0) fail_errno(step, "stat(/dev/null)", errno);
  if (!S_ISCHR(null_st.st_mode) || major(null_st.st_rdev) != 1 || minor(null_st.st_rdev) != 3)
    fail_msg(step, "/dev/null is not the null device");
  std::set<std::string> done;
  for (const auto& path : paths) {
    if (!done.insert(path).second) continue;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      fail_errno(step, "stat(" + path + ")", errno);
    }
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY, nullptr) != 0)
        fail_errno(step, "mount(tmpfs " + path + ")", errno);
    } else if (mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      fail_errno(step, "mount(MS_BIND /dev/null " + path + ")", errno);
    }
    verbose("masked " + path);
  }
}

void setup_mounts() {
  // A private copy of the mount table; mounts made here never reach the
  // host, while host mounts still propagate in (runc's default rootfs
  // propagation is rslave as well).
  if (unshare(CLONE_NEWNS) != 0) fail_errno("mount-namespace", "unshare(CLONE_NEWNS)", errno);
  if (mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0)
    fail_errno("mount-namespace", "mount(MS_SLAVE|MS_REC /)", errno);

  // Docker mounts sysfs "ro" (and cgroupfs below it "ro") and proc
  // "nosuid,noexec,nodev". The host's mounts are reused (no pivot), so set
  // those attributes on our copies of them (mount_setattr: Linux 5.12+).
  if (set_mount_attr("/sys", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                 MOUNT_ATTR_NOEXEC,
                     true) != 0)
    fail_errno("docker-mounts", "mount_setattr(/sys ro,nosuid,nodev,noexec)", errno);
  if (set_mount_attr("/proc", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                     false) != 0)
    fail_errno("docker-mounts", "mount_setattr(/proc nosuid,nodev,noexec)", errno);

  // runc: read-only paths first, then masked paths. --systempaths-unconfined
  // (docker run --security-opt systempaths=unconfined) skips both.
  if (g_systempaths_unconfined) return;
  for (const char* p : kReadonlyPaths) readonly_path(p);
  mask_paths(masked_paths());
}

// ---------------------------------------------------------------------------
// Capabilities and user.

void set_capabilities() {
  const char* step = "capabilities";
  // Bounding set: drop everything that is not a default capability. Walk up
  // to the kernel's last capability (PR_CAPBSET_READ fails with EINVAL past
  // it).
  for (int cap = 0;; ++cap) {
    const int has = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (has < 0) {
      if (errno == EINVAL) break;
      fail_errno(step, "prctl(PR_CAPBSET_READ " + std::to_string(cap) + ")", errno);
    }
    if (has == 1 && !default_caps_contain(cap) &&
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
      fail_errno(step, "prctl(PR_CAPBSET_DROP " + std::to_string(cap) + ")", errno);
  }
  // Ambient: empty in Docker.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    fail_errno(step, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno);
  // Effective = permitted = default set; inheritable empty.
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  for (const auto& c : kDefaultCaps) {
    data[c.number / 32].effective |= 1U << (c.number % 32);
    data[c.number / 32].permitted |= 1U << (c.number % 32);
  }
  if (syscall(SYS_capset, &hdr, data) != 0) fail_errno(step, "capset", errno);
}

struct User {
  uid_t uid;
  gid_t gid;
};

std::optional<User> parse_user(const std::string& spec) {
  auto number = [](const std::string& s, unsigned long& out) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
    errno = 0;
    out = std::strtoul(s.c_str(), nullptr, 10);
    return errno == 0 && out <= 0xfffffffeUL;
  };
  const auto colon = spec.find(':');
  unsigned long uid = 0, gid = 0;  // Docker: gid 0 for a uid without passwd entry
  if (!number(spec.substr(0, colon), uid)) return std::nullopt;
  if (colon != std::string::npos && !number(spec.substr(colon + 1), gid)) return std::nullopt;
  return User{static_cast<uid_t>(uid), static_cast<gid_t>(gid)};
}

void switch_user(const User& u) {
  const char* step = "user";
  if (setgroups(0, nullptr) != 0) fail_errno(step, "setgroups([])", errno);
  if (setresgid(u.gid, u.gid, u.gid) != 0)
    fail_errno(step, "setresgid(" + std::to_string(u.gid) + ")", errno);
  // Without PR_SET_KEEPCAPS, leaving uid 0 clears the permitted and
  // effective sets; execve would clear them anyway for a non-root user
  // (no ambient capabilities), which is what a Docker container shows.
  if (setresuid(u.uid, u.uid, u.uid) != 0)
    fail_errno(step, "setresuid(" + std::to_string(u.uid) + ")", errno);
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "emulate_docker: %s\n"
               "usage: emulate_docker [--user UID[:GID]] [--profile PATH] "
               "[--preserve-fds N] [--systempaths-unconfined] [--verbose] -- command args...\n",
               msg);
  std::exit(kExitEngineError);
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<User> user;
  std::string profile_path;
  unsigned preserve_fds = 0;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* opt) -> std::string {
      if (i + 1 >= argc) usage((std::string(opt) + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--") {
      ++i;
      break;
    } else if (a == "--user" || a == "-u") {
      const std::string spec = value("--user");
      user = parse_user(spec);
      if (!user) usage(("--user takes numeric UID[:GID], not " + spec).c_str());
    } else if (a == "--profile") {
      profile_path = value("--profile");
    } else if (a == "--preserve-fds") {
      const std::string n = value("--preserve-fds");
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 4)
        usage("--preserve-fds takes a small number");
      preserve_fds = static_cast<unsigned>(std::stoul(n));
    } else if (a == "--verbose" || a == "-v") {
      g_verbose = true;
    } else if (a == "--systempaths-unconfined") {
      g_systempaths_unconfined = true;
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (i >= argc) usage("no command given");
  if (profile_path.empty()) usage("--profile PATH is required");
  char** command = argv + i;

  if (geteuid() != 0) fail_errno("preflight", "geteuid() == 0 (must run as root)", EPERM);

  // Parse the profile and assemble the BPF program before changing
  // anything, so that a bad profile leaves the process untouched.
  const Filter filter = load_profile(profile_path);
  std::vector<sock_filter> program;
  if (filter.enabled) program = build_seccomp(filter);
  else verbose("profile disables seccomp (no defaultAction, no syscalls)");

  // A container starts with stdio only (runc closes the rest; runc's
  // --preserve-fds keeps N more).
  if (close_range(3 + preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    fail_errno("fds", "close_range(CLOSE_RANGE_CLOEXEC)", errno);

  // Order of the privileged steps, and why:
  //  1. Mounts (mount namespace, /sys and /proc options, read-only and
  //     masked paths) need CAP_SYS_ADMIN and mount(2), which the profile
  //     refuses without CAP_SYS_ADMIN: they come first, as in runc, where
  //     the rootfs is set up before seccomp.
  //  2. Seccomp. Docker does not set no_new_privs, and without it loading a
  //     filter needs CAP_SYS_ADMIN in the current namespace, so the filter
  //     must be loaded while we still hold it, i.e. before the capability
  //     sets are reduced. This is runc's order too (without
  //     noNewPrivileges it loads the filter before finalizeNamespace, which
  //     drops capabilities and switches user). Everything after the load
  //     runs under the container's filter, so it may only use syscalls the
  //     profile allows: prctl, capset, setgroups, setresgid, setresuid,
  //     execve and write (for error lines) are all unconditionally allowed
  //     by Docker's profile.
  //  3. Capabilities: bounding set first (PR_CAPBSET_DROP needs
  //     CAP_SETPCAP, still held), then capset to the default set.
  //  4. User switch: setgroups/setresgid/setresuid need CAP_SETGID and
  //     CAP_SETUID, both in the default set, so they work after step 3.
  //     (runc switches user under PR_SET_KEEPCAPS and calls capset after;
  //     after execve the result is the same: a non-root user without
  //     ambient capabilities ends with empty permitted/effective sets, root
  //     with the bounding set, i.e. the default set.)
  //  5. execve.
  setup_mounts();
  if (filter.enabled) load_seccomp(filter, program);
  set_capabilities();
  if (user) switch_user(*user);

  execvp(command[0], command);
  const int err = errno;
  fail_errno("exec", std::string("execvp(") + command[0] + ")", err,
             err == ENOENT || err == ENOTDIR ? kExitNotFound : kExitCannotInvoke);
}
