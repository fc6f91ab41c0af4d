// ExtractArchive: writes a parsed archive below a directory it creates, with
// dirfd-relative calls only. Every directory on the way is opened with
// O_NOFOLLOW relative to its parent, and every entry is created exclusively,
// so nothing is written through a symlink or over an existing file, whatever
// the archive says and whatever else changes the tree meanwhile.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "store/archive.h"
#include "store/dir_names.h"
#include "store/entry_rules.h"
#include "supervisor/unique_fd.h"

namespace pycage::store {
namespace {

constexpr size_t kWriteChunkBytes = size_t{1} << 30;
constexpr size_t kMaxRemoveDepth = 4096;

// Defence in depth: ParseArchive already refused these, but a hand-made
// ParsedArchive must not make openat climb out with "..".
bool SafeComponents(std::string_view path) {
  if (path.empty() || path.find('\0') != std::string_view::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view component = path.substr(start, end - start);
    if (component.empty() || component == "." || component == "..") return false;
    start = end + 1;
  }
  return true;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), std::min(data.size(), kWriteChunkBytes));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(ErrorCode::kInternal, "write", errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Removes everything below the directory open at `dir_fd`, best effort,
// without following symlinks (unlinkat removes the link itself).
void RemoveContents(int dir_fd, size_t depth) {
  if (depth > kMaxRemoveDepth) return;
  std::vector<std::string> names;
  if (ReadDirNames(dir_fd, &names) != 0) return;
  for (const std::string& name : names) {
    if (unlinkat(dir_fd, name.c_str(), 0) == 0 || (errno != EISDIR && errno != EPERM)) continue;
    const UniqueFd child(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child.valid()) continue;
    RemoveContents(child.get(), depth + 1);
    unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR);
  }
}

class Extractor {
 public:
  Extractor(int root_fd, std::string_view bytes, const std::string& dest_dir)
      : root_fd_(root_fd), bytes_(bytes), dest_dir_(dest_dir) {}

  Status Create(const ArchiveEntry& entry);

 private:
  Status Fail(const ArchiveEntry& entry, const char* call, int err) const {
    return Status::FromErrno(ErrorCode::kInternal,
                             "cannot extract bundle entry " + Quote(entry.path) + " into " + Quote(dest_dir_) + ": " +
                                 call,
                             err);
  }
  // The fd of directory `dir` ("" for the root), reusing the directories
  // the previous entry opened: consecutive entries mostly share parents.
  Result<int> OpenDir(std::string_view dir);
  Status CreateFile(int parent, const std::string& name, const ArchiveEntry& entry);

  int root_fd_;
  std::string_view bytes_;
  const std::string& dest_dir_;
  std::vector<std::pair<std::string, UniqueFd>> chain_;  // open components below the root
};

Result<int> Extractor::OpenDir(std::string_view dir) {
  std::vector<std::string_view> components;
  for (size_t start = 0; !dir.empty() && start <= dir.size();) {
    size_t end = dir.find('/', start);
    if (end == std::string_view::npos) end = dir.size();
    components.push_back(dir.substr(start, end - start));
    start = end + 1;
  }
  size_t keep = 0;
  while (keep < chain_.size() && keep < components.size() && chain_[keep].first == components[keep]) ++keep;
  chain_.resize(keep);
  for (size_t i = keep; i < components.size(); ++i) {
    const int parent = i == 0 ? root_fd_ : chain_.back().second.get();
    const std::string name(components[i]);
    UniqueFd fd(openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno(ErrorCode::kInternal, "openat " + Quote(dir), errno);
    chain_.emplace_back(name, std::move(fd));
  }
  return components.empty() ? root_fd_ : chain_.back().second.get();
}

Status Extractor::CreateFile(int parent, const std::string& name, const ArchiveEntry& entry) {
  if (entry.offset > bytes_.size() || entry.size > bytes_.size() - entry.offset) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot extract bundle entry " + Quote(entry.path) +
                             ": its contents lie outside the archive bytes; pass the bytes ParseArchive read");
  }
  const mode_t mode = entry.mode == kModeExecutable ? kModeExecutable : kModeRegular;
  const UniqueFd fd(openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd.valid()) return Fail(entry, "openat", errno);
  // The umask must not change what the archive says.
  if (fchmod(fd.get(), mode) != 0) return Fail(entry, "fchmod", errno);
  if (Status s = WriteAll(fd.get(), bytes_.substr(entry.offset, entry.size)); !s.ok()) {
    return Fail(entry, "write", s.sys_errno());
  }
  return Status::Ok();
}

Status Extractor::Create(const ArchiveEntry& entry) {
  if (!SafeComponents(entry.path)) {
    return Status::Error(ErrorCode::kInvalidArgument, "cannot extract bundle entry " + Quote(entry.path) +
                                                          ": unsafe path; pass an archive ParseArchive accepted");
  }
  const size_t slash = entry.path.rfind('/');
  const std::string_view dir = slash == std::string::npos ? std::string_view() : std::string_view(entry.path).substr(0, slash);
  const std::string name = slash == std::string::npos ? entry.path : entry.path.substr(slash + 1);
  Result<int> parent = OpenDir(dir);
  if (!parent.ok()) return Fail(entry, "open parent directory", parent.status().sys_errno());

  switch (entry.type) {
    case EntryType::kDir: {
      if (mkdirat(*parent, name.c_str(), kModeExecutable) != 0) return Fail(entry, "mkdirat", errno);
      const UniqueFd fd(openat(*parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) return Fail(entry, "openat", errno);
      if (fchmod(fd.get(), kModeExecutable) != 0) return Fail(entry, "fchmod", errno);
      return Status::Ok();
    }
    case EntryType::kFile: return CreateFile(*parent, name, entry);
    case EntryType::kSymlink:
      if (entry.target.empty() || entry.target.find('\0') != std::string::npos) {
        return Status::Error(ErrorCode::kInvalidArgument, "cannot extract bundle entry " + Quote(entry.path) +
                                                              ": unsafe symlink target; pass an archive ParseArchive "
                                                              "accepted");
      }
      if (symlinkat(entry.target.c_str(), *parent, name.c_str()) != 0) return Fail(entry, "symlinkat", errno);
      return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace

Status ExtractArchive(const ParsedArchive& archive, std::string_view bytes, const std::string& dest_dir) {
  if (dest_dir.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "cannot extract the bundle: the destination path is empty");
  }
  if (mkdir(dest_dir.c_str(), kModeExecutable) != 0) {
    const int err = errno;
    if (err == EEXIST) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "cannot extract the bundle into " + Quote(dest_dir) +
                               ": it already exists; pass a path that does not exist yet (it is created)")
          .WithErrno(err);
    }
    return Status::FromErrno(ErrorCode::kInvalidArgument, "cannot extract the bundle: mkdir " + Quote(dest_dir), err);
  }
  UniqueFd root(open(dest_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) {
    const int err = errno;
    rmdir(dest_dir.c_str());  // only ever removes an empty directory
    return Status::FromErrno(ErrorCode::kInternal, "cannot extract the bundle: open " + Quote(dest_dir), err);
  }
  Status status;
  if (fchmod(root.get(), kModeExecutable) != 0) {
    status = Status::FromErrno(ErrorCode::kInternal, "cannot extract the bundle: fchmod " + Quote(dest_dir), errno);
  }
  if (status.ok()) {
    Extractor extractor(root.get(), bytes, dest_dir);
    for (const ArchiveEntry& entry : archive.entries) {
      status = extractor.Create(entry);
      if (!status.ok()) break;
    }
  }
  if (!status.ok()) {
    RemoveContents(root.get(), 0);
    root.reset();
    rmdir(dest_dir.c_str());
  }
  return status;
}

}  // namespace pycage::store
