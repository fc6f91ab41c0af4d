#include "jail/proc_mask.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "jail/remount.h"
#include "jail/sys_error.h"

namespace pycage::jail::proc_mask {
namespace {

constexpr const char* kStage = "proc-mask";

constexpr const char* kMaskedNames[] = {
    // the host kernel: boot command line (it can name the VM's control
    // ports), symbols, build config, modules, memory map
    "cmdline", "kallsyms", "config.gz", "modules", "iomem", "ioports", "vmallocinfo", "slabinfo", "pagetypeinfo",
    "kcore", "kmsg",
    // other processes' activity and key rings
    "sched_debug", "timer_list", "timer_stats", "latency_stats", "keys", "key-users",
    // writes that act on the host
    "sysrq-trigger",
    // hardware and drivers
    "acpi", "asound", "bus", "irq", "scsi", "driver"};

// Room for "<proc>/<name>" with any proc a jail uses ("/proc", a plan's root).
constexpr size_t kPathCap = 256;
using Path = char[kPathCap];

// "<proc>/<name>" into `out`; false when it does not fit.
bool Join(Path& out, const char* proc, const char* name) {
  const int n = std::snprintf(out, kPathCap, "%s/%s", proc, name);
  return n > 0 && static_cast<size_t>(n) < kPathCap;
}

Status TooLong(const char* proc, const char* name) {
  return PlainError(kStage, std::string("path too long: ") + proc + "/" + name);
}

Status BindOver(const char* source, const char* path) {
  if (mount(source, path, nullptr, MS_BIND, nullptr) == 0) return Status::Ok();
  return SysError(kStage, std::string("mount(") + source + ", " + path + ", NULL, MS_BIND)");
}

}  // namespace

const std::vector<std::string>& MaskedNames() {
  static const std::vector<std::string> kNames(std::begin(kMaskedNames), std::end(kMaskedNames));
  return kNames;
}

Status MaskRunProc(const char* proc, const char* null_node) {
  // The first masked file and directory are mounted; the rest are binds of
  // them. A bind copies its source mount's flags, read-only included, so
  // each later mask is one mount(2) call, with no remount and no new tmpfs
  // superblock (a run pays for every mount here: docs/ARCHITECTURE.md).
  // Paths live on the stack: see the header for why nothing is allocated.
  Path path;
  Path file_mask = "";
  Path dir_mask = "";
  for (const char* name : kMaskedNames) {
    if (!Join(path, proc, name)) return TooLong(proc, name);
    struct stat st {};
    if (lstat(path, &st) < 0) {
      if (errno == ENOENT) continue;  // this kernel has no such entry
      return SysError(kStage, std::string("lstat(") + path + ")");
    }
    if (S_ISLNK(st.st_mode)) continue;
    const bool dir = S_ISDIR(st.st_mode);
    const char* source = dir ? dir_mask : file_mask;
    if (source[0] != '\0') {
      if (Status s = BindOver(source, path); !s.ok()) return s;
      continue;
    }
    if (dir) {
      const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
      if (mount("tmpfs", path, "tmpfs", flags, "size=4096,mode=0555") < 0) {
        return SysError(kStage,
                        std::string("mount(tmpfs, ") + path + ", tmpfs, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC)");
      }
      std::memcpy(dir_mask, path, kPathCap);
      continue;
    }
    // Reads are empty; read-only, so nothing can be written to it either.
    if (Status s = BindOver(null_node, path); !s.ok()) return s;
    if (Status s = remount::Bind(path, /*read_only=*/true, kStage); !s.ok()) return s;
    std::memcpy(file_mask, path, kPathCap);
  }
  Path sys;
  if (!Join(sys, proc, "sys")) return TooLong(proc, "sys");
  if (mount(sys, sys, nullptr, MS_BIND, nullptr) < 0) {
    return SysError(kStage, std::string("mount(") + sys + ", " + sys + ", NULL, MS_BIND)");
  }
  return remount::Bind(sys, /*read_only=*/true, kStage);
}

}  // namespace pycage::jail::proc_mask
