// PackDirectory: walks a tree without following symlinks and writes the
// canonical archive. Only the path, type, content, executable bit and link
// target of each entry are recorded, never times or owners, so equal trees
// give equal bytes.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <numeric>

#include "common/sha256.h"
#include "store/archive.h"
#include "store/dir_names.h"
#include "store/entry_rules.h"
#include "store/framing.h"
#include "store/manifest.h"
#include "supervisor/unique_fd.h"

namespace pycage::store {
namespace {

constexpr uint64_t kReadPieceBytes = 64 * 1024;

constexpr std::string_view kPackAdvice =
    "only regular files, directories and relative symlinks that stay inside the tree can be bundled; "
    "remove or replace it";

const char* SpecialFileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "is a FIFO";
  if (S_ISSOCK(mode)) return "is a socket";
  if (S_ISCHR(mode)) return "is a character device";
  if (S_ISBLK(mode)) return "is a block device";
  return "is not a regular file, directory or symlink";
}

// Opens `path` (relative, as the walk recorded it) beneath `root_fd` through
// no symlink, as the walk went: openat2 where the kernel (or a container's
// filter) allows it, else one O_NOFOLLOW openat per component.
int OpenBeneath(int root_fd, const std::string& path) {
  constexpr int kFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  open_how how{};
  how.flags = kFlags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const int fd = static_cast<int>(syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
  UniqueFd dir;
  int at = root_fd;
  size_t start = 0;
  for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', start)) {
    const std::string part = path.substr(start, slash - start);
    UniqueFd next(openat(at, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return -1;
    dir = std::move(next);
    at = dir.get();
    start = slash + 1;
  }
  return openat(at, path.substr(start).c_str(), kFlags);
}

class TreeWalker {
 public:
  TreeWalker(const std::string& root, const PackLimits& limits)
      : root_(root), limits_(limits), rules_{limits.max_path_bytes, limits.max_depth, "PackLimits"} {}

  Status Walk(int dir_fd, const std::string& prefix);

  // The refusal for the entry at `path` (relative to the root).
  Status Refuse(std::string_view path, const std::string& problem) const {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot pack " + Quote(Join(path)) + ": " + problem + "; " + std::string(kPackAdvice));
  }

  const EntryRules& rules() const { return rules_; }
  std::vector<ArchiveEntry>& entries() { return entries_; }
  uint64_t content_bytes() const { return content_bytes_; }

  // Appends the contents of the file `entry` to `out`, read again below
  // `root_fd` straight into place, and checks they are the bytes the walk
  // hashed: the archive is the only copy of a bundle in memory.
  Status AppendContents(int root_fd, const ArchiveEntry& entry, std::string& out) const;

 private:
  std::string Join(std::string_view path) const {
    std::string out = root_;
    out.push_back('/');
    out.append(path);
    return out;
  }
  Status SysError(std::string_view path, const char* call, int err) const {
    return Status::FromErrno(ErrorCode::kInternal, "cannot pack " + Quote(Join(path)) + ": " + call, err);
  }
  Status AddFile(int dir_fd, const std::string& name, const std::string& path);
  Status AddSymlink(int dir_fd, const std::string& name, const std::string& path, const struct stat& st);

  std::string root_;
  PackLimits limits_;
  EntryRules rules_;
  std::vector<ArchiveEntry> entries_;
  uint64_t content_bytes_ = 0;
};

Status TreeWalker::Walk(int dir_fd, const std::string& prefix) {
  std::vector<std::string> names;
  if (const int err = ReadDirNames(dir_fd, &names); err != 0) return SysError(prefix, "readdir", err);
  for (const std::string& name : names) {
    std::string path = prefix;
    if (!path.empty()) path.push_back('/');
    path.append(name);
    if (entries_.size() >= limits_.max_entries) {
      return Refuse(path, "the tree has more than " + std::to_string(limits_.max_entries) +
                              " entries (PackLimits.max_entries)");
    }
    // Checked before descending, so the depth limit also bounds recursion.
    if (std::string problem = PathProblem(path, rules_); !problem.empty()) return Refuse(path, problem);
    struct stat st {};
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return SysError(path, "fstatat", errno);
    if (S_ISDIR(st.st_mode)) {
      ArchiveEntry entry;
      entry.path = path;
      entry.type = EntryType::kDir;
      entries_.push_back(std::move(entry));
      const UniqueFd child(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child.valid()) return SysError(path, "openat", errno);
      if (Status s = Walk(child.get(), path); !s.ok()) return s;
    } else if (S_ISREG(st.st_mode)) {
      if (Status s = AddFile(dir_fd, name, path); !s.ok()) return s;
    } else if (S_ISLNK(st.st_mode)) {
      if (Status s = AddSymlink(dir_fd, name, path, st); !s.ok()) return s;
    } else {
      return Refuse(path, SpecialFileKind(st.st_mode));
    }
  }
  return Status::Ok();
}

Status TreeWalker::AddFile(int dir_fd, const std::string& name, const std::string& path) {
  // O_NONBLOCK: if a FIFO was swapped in since fstatat, open must not hang.
  const UniqueFd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return SysError(path, "openat", errno);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return SysError(path, "fstat", errno);
  if (!S_ISREG(st.st_mode)) return Refuse(path, "changed type while packing");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > limits_.max_content_bytes - content_bytes_) {
    return Refuse(path, "file contents reach more than " + std::to_string(limits_.max_content_bytes) +
                            " bytes in total (PackLimits.max_content_bytes)");
  }
  // Hashed a piece at a time: the walk holds no file's contents.
  Sha256 hash;
  std::string piece(std::min<uint64_t>(size, kReadPieceBytes) + 1, '\0');
  uint64_t got = 0;
  for (;;) {
    const ssize_t n = read(fd.get(), piece.data(), piece.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError(path, "read", errno);
    if (n == 0) break;
    got += static_cast<uint64_t>(n);
    if (got > size) return Refuse(path, "file grew while packing; pack a tree nobody is writing to");
    hash.Update(piece.data(), static_cast<size_t>(n));
  }
  if (got < size) return Refuse(path, "file shrank while packing; pack a tree nobody is writing to");

  ArchiveEntry entry;
  entry.path = path;
  entry.type = EntryType::kFile;
  entry.mode = (st.st_mode & 0111) != 0 ? kModeExecutable : kModeRegular;
  entry.size = size;
  entry.sha256 = HexLower(hash.Finish());
  entries_.push_back(std::move(entry));
  content_bytes_ += size;
  return Status::Ok();
}

Status TreeWalker::AppendContents(int root_fd, const ArchiveEntry& entry, std::string& out) const {
  const UniqueFd fd(OpenBeneath(root_fd, entry.path));
  if (!fd.valid()) return SysError(entry.path, "openat", errno);
  const size_t at = out.size();
  out.resize(at + entry.size);
  uint64_t got = 0;
  while (got < entry.size) {
    const ssize_t n = read(fd.get(), out.data() + at + got, entry.size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError(entry.path, "read", errno);
    if (n == 0) break;
    got += static_cast<uint64_t>(n);
  }
  char extra = 0;
  ssize_t more = 0;
  do {
    more = read(fd.get(), &extra, 1);
  } while (more < 0 && errno == EINTR);
  if (got != entry.size || more != 0 ||
      Sha256Hex(std::string_view(out.data() + at, entry.size)) != entry.sha256) {
    return Refuse(entry.path, "file changed while packing; pack a tree nobody is writing to");
  }
  return Status::Ok();
}

Status TreeWalker::AddSymlink(int dir_fd, const std::string& name, const std::string& path, const struct stat& st) {
  // One byte more than allowed tells "too long" apart from "fits".
  std::string target(std::min<size_t>(static_cast<size_t>(st.st_size), rules_.max_path_bytes) + 1, '\0');
  const ssize_t n = readlinkat(dir_fd, name.c_str(), target.data(), target.size());
  if (n < 0) return SysError(path, "readlinkat", errno);
  if (static_cast<size_t>(n) == target.size()) {
    return Refuse(path, "symlink target is longer than " + std::to_string(rules_.max_path_bytes) +
                            " bytes (PackLimits.max_path_bytes) or changed while packing");
  }
  target.resize(static_cast<size_t>(n));
  ArchiveEntry entry;
  entry.path = path;
  entry.type = EntryType::kSymlink;
  entry.target = std::move(target);
  entries_.push_back(std::move(entry));
  return Status::Ok();
}

Status OpenRoot(const std::string& root, UniqueFd* fd) {
  const auto refuse = [&root](const std::string& why) {
    return Status::Error(ErrorCode::kInvalidArgument, "cannot pack " + Quote(root) + ": " + why);
  };
  struct stat st {};
  if (lstat(root.c_str(), &st) != 0) {
    const int err = errno;
    return Status::FromErrno(ErrorCode::kInvalidArgument, "cannot pack " + Quote(root) + ": lstat", err);
  }
  if (S_ISLNK(st.st_mode)) return refuse("it is a symlink; pass the directory it points to");
  if (!S_ISDIR(st.st_mode)) return refuse("it is not a directory; pass the directory holding the packages");
  fd->reset(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd->valid()) {
    const int err = errno;
    return Status::FromErrno(ErrorCode::kInvalidArgument, "cannot pack " + Quote(root) + ": open", err);
  }
  return Status::Ok();
}

}  // namespace

Result<PackedArchive> PackDirectory(const std::string& root, std::string_view meta_json, const PackLimits& limits) {
  std::string meta;
  if (std::string why = MinifyJsonObject(meta_json, &meta); !why.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot pack " + Quote(root) + ": the bundle meta " + why + "; pass a JSON object");
  }
  UniqueFd root_fd;
  if (Status s = OpenRoot(root, &root_fd); !s.ok()) return s;
  TreeWalker walker(root, limits);
  if (Status s = walker.Walk(root_fd.get(), ""); !s.ok()) return s;

  // The walk is depth first; the format orders by whole path ("a-b" comes
  // between "a" and "a/x").
  std::vector<ArchiveEntry>& walked = walker.entries();
  std::vector<size_t> order(walked.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&walked](size_t a, size_t b) { return walked[a].path < walked[b].path; });
  std::vector<ArchiveEntry> entries;
  entries.reserve(walked.size());
  for (const size_t i : order) entries.push_back(std::move(walked[i]));

  const RefuseEntry refuse = [&walker](std::string_view path, const std::string& problem) {
    return walker.Refuse(path, problem);
  };
  if (Status s = CheckEntries(entries, walker.rules(), refuse); !s.ok()) return s;

  const std::string manifest = CanonicalManifest(meta, entries);
  if (manifest.size() > kFormatMaxManifestBytes) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot pack " + Quote(root) + ": its manifest would be " + std::to_string(manifest.size()) +
                             " bytes, over the format's " + std::to_string(kFormatMaxManifestBytes) +
                             "-byte limit; bundle fewer files or a smaller meta");
  }
  const uint64_t total = kArchiveHeaderBytes + manifest.size() + walker.content_bytes() + kArchiveTrailerBytes;
  if (total > limits.max_archive_bytes) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot pack " + Quote(root) + ": the archive would be " + std::to_string(total) +
                             " bytes, over the " + std::to_string(limits.max_archive_bytes) +
                             "-byte limit (PackLimits.max_archive_bytes); bundle fewer or smaller packages");
  }

  PackedArchive packed;
  packed.bytes.reserve(total);
  AppendArchiveHeader(packed.bytes, manifest);
  for (const ArchiveEntry& entry : entries) {
    if (entry.type != EntryType::kFile) continue;
    if (Status s = walker.AppendContents(root_fd.get(), entry, packed.bytes); !s.ok()) return s;
    ++packed.file_count;
    packed.content_bytes += entry.size;
  }
  packed.bundle_sha = AppendArchiveTrailer(packed.bytes);
  return packed;
}

}  // namespace pycage::store
