#include "supervisor/scratch_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace pycage {
namespace {

// Empties the directory `dir` (an fd it owns and closes). A run may have
// made a subdirectory unreadable or unwritable: it is chmod-ed back first,
// which the owner (or root) may always do. Symlinks are removed, never followed.
void EmptyDirectory(int dir) {
  DIR* stream = fdopendir(dir);
  if (stream == nullptr) {
    close(dir);
    return;
  }
  std::vector<std::string> names;
  while (dirent* entry = readdir(stream)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) names.emplace_back(entry->d_name);
  }
  for (const std::string& name : names) {
    if (unlinkat(dir, name.c_str(), 0) == 0 || errno == ENOENT) continue;
    fchmodat(dir, name.c_str(), 0700, AT_SYMLINK_NOFOLLOW);
    int child = openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child >= 0) EmptyDirectory(child);
    unlinkat(dir, name.c_str(), AT_REMOVEDIR);
  }
  closedir(stream);
}

void RemoveTree(const std::string& path) {
  int dir = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir >= 0) EmptyDirectory(dir);
  rmdir(path.c_str());
}

// A host process that is gone: no such pid, or a zombie nobody reaped yet
// (a container whose pid 1 does not reap keeps a SIGKILLed host as one for
// good; its tree must go all the same). Another user's live process (EPERM)
// is not gone.
bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat_path = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = open(stat_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  char buffer[512];
  const ssize_t got = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (got <= 0) return false;
  buffer[got] = '\0';
  // "pid (comm) S ...": the state follows the last ')', the command may hold any byte.
  const char* paren = std::strrchr(buffer, ')');
  return paren != nullptr && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

// Trees of processes that are gone: a host killed with SIGKILL could not
// remove its own. "pycage-scratch-<pid>-XXXXXX", the pid of the host process
// that made it; one whose process is still there is left alone.
void SweepOrphans(const std::string& base) {
  DIR* stream = opendir(base.c_str());
  if (stream == nullptr) return;
  const std::string prefix = "pycage-scratch-";
  std::vector<std::string> gone;
  while (dirent* entry = readdir(stream)) {
    const std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || end == nullptr || *end != '-' || pid == getpid()) continue;
    if (ProcessGone(static_cast<pid_t>(pid))) {
      std::string path = base;
      path.append("/").append(name);
      gone.push_back(std::move(path));
    }
  }
  closedir(stream);
  for (const std::string& path : gone) RemoveTree(path);
}

}  // namespace

ScratchDir& ScratchDir::operator=(ScratchDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

Result<ScratchDir> ScratchDir::Create(uid_t owner) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string base = tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp";
  SweepOrphans(base);
  std::string pattern = base + "/pycage-scratch-" + std::to_string(getpid()) + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    return Status::FromErrno(ErrorCode::kIsolationUnavailable,
                             "mkdtemp(" + pattern + ") for the reduced tier's scratch directory; set TMPDIR to a "
                             "writable directory",
                             errno);
  }
  ScratchDir dir;
  dir.path_ = buffer.data();
  if (owner != static_cast<uid_t>(-1) && chown(dir.path_.c_str(), owner, owner) != 0) {
    return Status::FromErrno(ErrorCode::kIsolationUnavailable, "chown(" + dir.path_ + ") to the jail's uid", errno);
  }
  return dir;
}

void ScratchDir::Remove() {
  if (path_.empty()) return;
  RemoveTree(path_);
  path_.clear();
}

}  // namespace pycage
