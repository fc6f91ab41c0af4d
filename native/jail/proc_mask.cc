#include "jail/proc_mask.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>

#include "jail/remount.h"
#include "jail/sys_error.h"

namespace pycage::jail::proc_mask {
namespace {

constexpr const char* kStage = "proc-mask";

Status BindOver(const std::string& source, const std::string& path) {
  if (mount(source.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) == 0) return Status::Ok();
  std::string call = "mount(";
  call.append(source).append(", ").append(path).append(", NULL, MS_BIND)");
  return SysError(kStage, call);
}

}  // namespace

const std::vector<std::string>& MaskedNames() {
  static const std::vector<std::string> kNames = {
      // the host kernel: boot command line (it can name the VM's control
      // ports), symbols, build config, modules, memory map
      "cmdline", "kallsyms", "config.gz", "modules", "iomem", "ioports", "vmallocinfo", "slabinfo",
      "pagetypeinfo", "kcore", "kmsg",
      // other processes' activity and key rings
      "sched_debug", "timer_list", "timer_stats", "latency_stats", "keys", "key-users",
      // writes that act on the host
      "sysrq-trigger",
      // hardware and drivers
      "acpi", "asound", "bus", "irq", "scsi", "driver"};
  return kNames;
}

Status MaskRunProc(const std::string& proc, const std::string& null_node) {
  // The first masked file and directory are mounted; the rest are binds of
  // them. A bind copies its source mount's flags, read-only included, so
  // each later mask is one mount(2) call, with no remount and no new tmpfs
  // superblock (a run pays for every mount here: docs/ARCHITECTURE.md).
  std::string file_mask;
  std::string dir_mask;
  for (const std::string& name : MaskedNames()) {
    std::string path = proc;
    path += '/';
    path += name;
    struct stat st {};
    if (lstat(path.c_str(), &st) < 0) {
      if (errno == ENOENT) continue;  // this kernel has no such entry
      return SysError(kStage, "lstat(" + path + ")");
    }
    if (S_ISLNK(st.st_mode)) continue;
    const bool dir = S_ISDIR(st.st_mode);
    const std::string& source = dir ? dir_mask : file_mask;
    if (!source.empty()) {
      if (Status s = BindOver(source, path); !s.ok()) return s;
      continue;
    }
    if (dir) {
      const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
      if (mount("tmpfs", path.c_str(), "tmpfs", flags, "size=4096,mode=0555") < 0) {
        return SysError(kStage, "mount(tmpfs, " + path + ", tmpfs, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC)");
      }
      dir_mask = path;
      continue;
    }
    // Reads are empty; read-only, so nothing can be written to it either.
    if (Status s = BindOver(null_node, path); !s.ok()) return s;
    if (Status s = remount::Bind(path, /*read_only=*/true, kStage); !s.ok()) return s;
    file_mask = path;
  }
  std::string sys = proc;
  sys += "/sys";
  if (mount(sys.c_str(), sys.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    return SysError(kStage, "mount(" + sys + ", " + sys + ", NULL, MS_BIND)");
  }
  return remount::Bind(sys, /*read_only=*/true, kStage);
}

}  // namespace pycage::jail::proc_mask
