#include "jail/seccomp_apply.h"

#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "jail/sys_error.h"

namespace pycage::jail {

int InstallBpf(const sock_filter* prog, size_t len) {
  if (len == 0 || len > BPF_MAXINSNS) return EINVAL;
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(len);
  fprog.filter = const_cast<sock_filter*>(prog);  // the kernel copies, never writes
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) == 0) return 0;
  if (errno != ENOSYS) return errno;
  // Kernels before 3.17 only have the prctl spelling.
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) == 0) return 0;
  return errno;
}

Result<Bpf> ReadBpf(int fd) {
  struct stat st {};
  if (fstat(fd, &st) < 0) return SysError("seccomp", "fstat(" + std::to_string(fd) + ")");
  if (st.st_size <= 0 || st.st_size % static_cast<off_t>(sizeof(sock_filter)) != 0 ||
      st.st_size / static_cast<off_t>(sizeof(sock_filter)) > BPF_MAXINSNS) {
    return PlainError("seccomp", "fd " + std::to_string(fd) + " holds " +
                                     std::to_string(st.st_size) + " bytes, not a BPF program");
  }
  Bpf bpf(static_cast<size_t>(st.st_size) / sizeof(sock_filter));
  auto* p = reinterpret_cast<char*>(bpf.data());
  size_t total = static_cast<size_t>(st.st_size);
  size_t done = 0;
  while (done < total) {
    ssize_t n = pread(fd, p + done, total - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return SysError("seccomp", "pread(" + std::to_string(fd) + ")");
    done += static_cast<size_t>(n);
  }
  return bpf;
}

}  // namespace pycage::jail
