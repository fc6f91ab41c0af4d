#include "store/dir_names.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace pycage::store {
namespace {

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};

}  // namespace

int ReadDirNames(int dir_fd, std::vector<std::string>* names) {
  names->clear();
  // fdopendir owns the fd it is given, so it gets a duplicate. The duplicate
  // shares the directory offset, hence the rewind: a second listing of the
  // same fd starts from the top again.
  const int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return errno;
  const std::unique_ptr<DIR, DirCloser> dir(fdopendir(dup_fd));
  if (!dir) {
    const int err = errno;
    close(dup_fd);
    return err;
  }
  rewinddir(dir.get());
  for (;;) {
    errno = 0;
    const dirent* entry = readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) return errno;
      break;
    }
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    names->emplace_back(name);
  }
  std::sort(names->begin(), names->end());
  return 0;
}

}  // namespace pycage::store
