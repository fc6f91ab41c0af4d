#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "archive_builder.h"
#include "common/sha256.h"
#include "store/archive.h"
#include "temp_tree.h"
#include "test_util.h"

namespace pycage::store {
namespace {

using archive_test::ArchiveBuilder;
using archive_test::Describe;
using archive_test::Has;
using archive_test::MakeDir;
using archive_test::MakeLink;
using archive_test::MustParse;
using archive_test::PrintableAscii;
using archive_test::ReadFile;
using archive_test::TempDir;
using archive_test::WriteFile;

PackedArchive MustPack(const std::string& root, std::string_view meta = "{}", const PackLimits& limits = {}) {
  Result<PackedArchive> packed = PackDirectory(root, meta, limits);
  EXPECT_TRUE(packed.ok()) << packed.status().message();
  return packed.ok() ? std::move(packed).value() : PackedArchive{};
}

std::string PackRefusal(const std::string& root, const PackLimits& limits = {}, std::string_view meta = "{}") {
  const Result<PackedArchive> packed = PackDirectory(root, meta, limits);
  EXPECT_FALSE(packed.ok()) << "packed";
  if (packed.ok()) return "<packed>";
  EXPECT_EQ(packed.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(PrintableAscii(packed.status().message())) << packed.status().message();
  return packed.status().message();
}

// A site-packages-like tree with every kind of entry and a name ("a-b")
// that sorts between a directory and its children.
void MakeSampleTree(const std::string& root) {
  MakeDir(root + "/pkg");
  WriteFile(root + "/pkg/__init__.py", "from .mod import X\n");
  WriteFile(root + "/pkg/mod.py", "X = 1\n");
  WriteFile(root + "/pkg/tool", "#!/bin/sh\necho hi\n", 0755);
  MakeDir(root + "/pkg/sub");
  WriteFile(root + "/pkg/sub/data.bin", std::string("\0\xff\x01", 3));
  MakeLink("../mod.py", root + "/pkg/sub/mod_link.py");
  MakeLink("pkg", root + "/pkg-alias");
  MakeDir(root + "/pkg-1.0.dist-info");
  WriteFile(root + "/pkg-1.0.dist-info/RECORD", "");
  MakeDir(root + "/empty");
}

// ---------------------------------------------------------------- packing

TEST(PackDirectoryTest, WritesExactlyWhatAnIndependentBuilderWrites) {
  TempDir dir;
  MakeSampleTree(dir.path());
  // Bytewise order of whole paths, not the walk's: "pkg-1.0.dist-info/RECORD"
  // and "pkg-alias" come between "pkg" and "pkg/__init__.py".
  ArchiveBuilder sorted;
  sorted.Meta(R"({"k":[1,2.50,"x y"]})")
      .Dir("empty")
      .Dir("pkg")
      .Dir("pkg-1.0.dist-info")
      .File("pkg-1.0.dist-info/RECORD", "")
      .Symlink("pkg-alias", "pkg")
      .File("pkg/__init__.py", "from .mod import X\n")
      .File("pkg/mod.py", "X = 1\n")
      .Dir("pkg/sub")
      .File("pkg/sub/data.bin", std::string("\0\xff\x01", 3))
      .Symlink("pkg/sub/mod_link.py", "../mod.py")
      .File("pkg/tool", "#!/bin/sh\necho hi\n", 493);
  const PackedArchive packed = MustPack(dir.path(), " { \"k\" : [ 1, 2.50 , \"x y\" ] }\n");
  EXPECT_EQ(packed.bytes, sorted.Build());
  EXPECT_EQ(packed.file_count, 5u);
  EXPECT_EQ(packed.content_bytes, 19u + 6u + 18u + 3u);
  EXPECT_EQ(packed.bundle_sha, Sha256Hex(std::string_view(packed.bytes).substr(0, packed.bytes.size() - 32)));
  const ParsedArchive parsed = MustParse(packed.bytes);
  EXPECT_EQ(parsed.meta_json, R"({"k":[1,2.50,"x y"]})");
  EXPECT_EQ(parsed.bundle_sha, packed.bundle_sha);
}

// Where openat2 is missing (an older kernel) or refused (an older container
// profile), each file is opened one component at a time: the same bytes.
TEST(PackDirectoryTest, PacksTheSameBytesWhereOpenat2IsRefused) {
  TempDir dir;
  MakeSampleTree(dir.path());
  const std::string expected = MustPack(dir.path()).bytes;
  ASSERT_FALSE(expected.empty());
  const pid_t pid = fork();
  if (pid == 0) {
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(2);
    if (syscall(SYS_openat2, AT_FDCWD, "/", nullptr, 0) != -1 || errno != ENOSYS) _exit(3);
    Result<PackedArchive> packed = PackDirectory(dir.path(), "{}", PackLimits{});
    _exit(packed.ok() && packed->bytes == expected ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: other bytes or a refusal; 2, 3: the filter did not apply";
}

TEST(PackDirectoryTest, IsDeterministic) {
  TempDir dir;
  MakeSampleTree(dir.path());
  const PackedArchive first = MustPack(dir.path(), R"({"a":1})");
  const PackedArchive second = MustPack(dir.path(), R"({"a":1})");
  EXPECT_EQ(first.bytes, second.bytes);
  EXPECT_EQ(first.bundle_sha, second.bundle_sha);
}

// Same content built in another order, with other times, permission bits
// and directory modes: only what the format records may matter.
TEST(PackDirectoryTest, EqualTreesBuiltDifferentlyGiveEqualBytes) {
  TempDir one;
  TempDir two;
  MakeSampleTree(one.path());

  const std::string& r = two.path();
  MakeDir(r + "/empty", 0700);
  MakeDir(r + "/pkg-1.0.dist-info", 0750);
  WriteFile(r + "/pkg-1.0.dist-info/RECORD", "", 0600);
  MakeLink("pkg", r + "/pkg-alias");
  MakeDir(r + "/pkg", 0711);
  MakeDir(r + "/pkg/sub");
  MakeLink("../mod.py", r + "/pkg/sub/mod_link.py");
  WriteFile(r + "/pkg/sub/data.bin", std::string("\0\xff\x01", 3), 0400);
  WriteFile(r + "/pkg/tool", "#!/bin/sh\necho hi\n", 0700);  // any x bit means 0755
  WriteFile(r + "/pkg/mod.py", "X = 1\n", 0664);
  WriteFile(r + "/pkg/__init__.py", "from .mod import X\n", 0444);
  const struct timespec times[2] = {{1, 0}, {2, 0}};
  utimensat(AT_FDCWD, (r + "/pkg/mod.py").c_str(), times, 0);

  const PackedArchive a = MustPack(one.path(), R"({"v":1})");
  const PackedArchive b = MustPack(two.path(), R"({"v":1})");
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.bundle_sha, b.bundle_sha);
  EXPECT_NE(a.bundle_sha, MustPack(one.path(), R"({"v":2})").bundle_sha);
}

TEST(PackDirectoryTest, PacksAnEmptyDirectory) {
  TempDir dir;
  const PackedArchive packed = MustPack(dir.path());
  EXPECT_EQ(packed.bytes, ArchiveBuilder().Build());
  EXPECT_EQ(packed.file_count, 0u);
}

TEST(PackDirectoryTest, RefusesMetaThatIsNotAJsonObject) {
  TempDir dir;
  EXPECT_TRUE(Has(PackRefusal(dir.path(), {}, "[1]"), ": the bundle meta is not a JSON object; pass a JSON object"));
  EXPECT_TRUE(Has(PackRefusal(dir.path(), {}, "{\"a\":"), "the bundle meta is not valid JSON ("));
  EXPECT_TRUE(Has(PackRefusal(dir.path(), {}, ""), "the bundle meta is not valid JSON"));
  EXPECT_TRUE(Has(PackRefusal(dir.path(), {}, "{} {}"), "the bundle meta is not valid JSON"));
}

TEST(PackDirectoryTest, RefusesARootThatIsMissingAFileOrASymlink) {
  TempDir dir;
  EXPECT_TRUE(Has(PackRefusal(dir / "missing"), "lstat: No such file or directory"));
  WriteFile(dir / "file", "x");
  EXPECT_TRUE(Has(PackRefusal(dir / "file"), "it is not a directory"));
  MakeDir(dir / "real");
  MakeLink("real", dir / "link");
  EXPECT_TRUE(Has(PackRefusal(dir / "link"), "it is a symlink; pass the directory it points to"));
}

TEST(PackDirectoryTest, RefusesAFifoAndASocketNamingThem) {
  TempDir dir;
  MakeDir(dir / "pkg");
  ASSERT_EQ(mkfifo((dir / "pkg/fifo").c_str(), 0644), 0);
  const std::string message = PackRefusal(dir.path());
  EXPECT_TRUE(Has(message, "cannot pack \"" + dir.path() + "/pkg/fifo\": is a FIFO; only regular files"));
  unlink((dir / "pkg/fifo").c_str());

  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = dir / "pkg/sock";
  ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
  EXPECT_TRUE(Has(PackRefusal(dir.path()), "pkg/sock\": is a socket"));
}

TEST(PackDirectoryTest, RefusesADeviceNode) {
  TempDir dir;
  if (mknod((dir / "null").c_str(), S_IFCHR | 0644, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod not permitted here";
  }
  EXPECT_TRUE(Has(PackRefusal(dir.path()), "null\": is a character device"));
}

TEST(PackDirectoryTest, RefusesSymlinksThatLeaveTheTree) {
  TempDir dir;
  MakeDir(dir / "pkg");
  MakeLink("/etc/passwd", dir / "pkg/abs");
  EXPECT_TRUE(Has(PackRefusal(dir.path()), "pkg/abs\": symlink target \"/etc/passwd\" is absolute"));
  unlink((dir / "pkg/abs").c_str());
  MakeLink("../../outside", dir / "pkg/up");
  EXPECT_TRUE(Has(PackRefusal(dir.path()), "pkg/up\": symlink target \"../../outside\" leaves the archive root"));
  unlink((dir / "pkg/up").c_str());
  MakeLink("pkg", dir / "alias");
  MakeLink("../alias/../..", dir / "pkg/through");
  EXPECT_TRUE(Has(PackRefusal(dir.path()), "passes through symlink \"alias\""));
}

TEST(PackDirectoryTest, RefusesNamesThatAreNotPrintableUtf8) {
  TempDir dir;
  WriteFile(dir / "bad\xff", "");
  EXPECT_TRUE(Has(PackRefusal(dir.path()), "/bad\\xFF\": path is not valid UTF-8"));
  unlink((dir / "bad\xff").c_str());
  WriteFile(dir / "new\nline", "");
  EXPECT_TRUE(Has(PackRefusal(dir.path()), "/new\\x0Aline\": path has control byte 0x0A"));
}

TEST(PackDirectoryTest, EnforcesItsLimits) {
  TempDir dir;
  MakeSampleTree(dir.path());
  PackLimits entries;
  entries.max_entries = 3;
  EXPECT_TRUE(Has(PackRefusal(dir.path(), entries), "the tree has more than 3 entries (PackLimits.max_entries)"));
  PackLimits content;
  content.max_content_bytes = 20;
  EXPECT_TRUE(Has(PackRefusal(dir.path(), content), "more than 20 bytes in total (PackLimits.max_content_bytes)"));
  PackLimits depth;
  depth.max_depth = 2;
  EXPECT_TRUE(Has(PackRefusal(dir.path(), depth), "over the 2-level limit (PackLimits.max_depth)"));
  PackLimits path;
  path.max_path_bytes = 12;
  EXPECT_TRUE(Has(PackRefusal(dir.path(), path), "over the 12-byte limit (PackLimits.max_path_bytes)"));
  PackLimits total;
  total.max_archive_bytes = 300;
  EXPECT_TRUE(Has(PackRefusal(dir.path(), total), "over the 300-byte limit (PackLimits.max_archive_bytes)"));
}

TEST(PackDirectoryTest, RefusesALongSymlinkTarget) {
  TempDir dir;
  MakeLink(std::string(40, 'x'), dir / "l");
  PackLimits limits;
  limits.max_path_bytes = 16;
  EXPECT_TRUE(Has(PackRefusal(dir.path(), limits), "symlink target is longer than 16 bytes"));
}

// ---------------------------------------------------------------- extraction

TEST(ExtractArchiveTest, RoundTripsATree) {
  TempDir src;
  TempDir out;
  MakeSampleTree(src.path());
  const PackedArchive packed = MustPack(src.path(), R"({"python":"3.11"})");
  const ParsedArchive parsed = MustParse(packed.bytes);
  const std::string dest = out / "bundle";
  const Status status = ExtractArchive(parsed, packed.bytes, dest);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(Describe(dest), Describe(src.path()));
  EXPECT_EQ(ReadFile(dest + "/pkg/sub/mod_link.py"), "X = 1\n");  // the link works
  // Packing the extracted tree gives the same bytes again.
  EXPECT_EQ(MustPack(dest, R"({"python":"3.11"})").bytes, packed.bytes);
}

TEST(ExtractArchiveTest, SetsExactModesWhateverTheUmask) {
  TempDir out;
  const std::string bytes =
      ArchiveBuilder().Dir("d").File("d/exe", "x", 493).File("d/plain", "y").Build();
  const mode_t old_umask = umask(077);
  const Status status = ExtractArchive(MustParse(bytes), bytes, out / "b");
  umask(old_umask);
  ASSERT_TRUE(status.ok()) << status.message();
  struct stat st {};
  ASSERT_EQ(stat((out / "b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((out / "b/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((out / "b/d/exe").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((out / "b/d/plain").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST(ExtractArchiveTest, RefusesADestinationThatExistsAndLeavesItAlone) {
  TempDir out;
  WriteFile(out / "keep", "mine");
  const std::string bytes = ArchiveBuilder().File("keep", "theirs").Build();
  const Status status = ExtractArchive(MustParse(bytes), bytes, out.path());
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Has(status.message(), "already exists; pass a path that does not exist yet"));
  EXPECT_EQ(ReadFile(out / "keep"), "mine");
  MakeLink("elsewhere", out / "link");
  EXPECT_FALSE(ExtractArchive(MustParse(bytes), bytes, out / "link").ok());
}

TEST(ExtractArchiveTest, RefusesADestinationWhoseParentIsMissing) {
  TempDir out;
  const std::string bytes = ArchiveBuilder().Build();
  const Status status = ExtractArchive(MustParse(bytes), bytes, out / "no/such");
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(Has(status.message(), "No such file or directory"));
  EXPECT_FALSE(ExtractArchive(MustParse(bytes), bytes, "").ok());
}

// A ParsedArchive not from ParseArchive can make creation fail half way; all
// that was created must go, the destination included.
TEST(ExtractArchiveTest, RemovesEverythingItCreatedWhenAnEntryFails) {
  TempDir out;
  const std::string bytes =
      ArchiveBuilder().Dir("a").Dir("a/b").File("a/b/f", "data").Symlink("a/l", "b/f").File("z", "zz").Build();
  ParsedArchive parsed = MustParse(bytes);
  parsed.entries.push_back(parsed.entries[2]);  // "a/b/f" again: O_EXCL fails
  const std::string dest = out / "bundle";
  const Status status = ExtractArchive(parsed, bytes, dest);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kInternal);
  EXPECT_TRUE(Has(status.message(), "cannot extract bundle entry \"a/b/f\" into"));
  EXPECT_TRUE(Has(status.message(), "File exists"));
  struct stat st {};
  EXPECT_NE(lstat(dest.c_str(), &st), 0);
  EXPECT_TRUE(Describe(out.path()).empty());
}

TEST(ExtractArchiveTest, RemovesEverythingWhenContentsLieOutsideTheBytes) {
  TempDir out;
  const std::string bytes = ArchiveBuilder().Dir("a").File("a/f", "data").File("b", "x").Build();
  ParsedArchive parsed = MustParse(bytes);
  parsed.entries[2].offset = bytes.size();
  const Status status = ExtractArchive(parsed, bytes, out / "bundle");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Has(status.message(), "contents lie outside the archive bytes"));
  EXPECT_TRUE(Describe(out.path()).empty());
}

TEST(ExtractArchiveTest, RefusesUnsafePathsInAHandMadeArchive) {
  TempDir out;
  const std::string bytes = ArchiveBuilder().Dir("a").Build();
  for (const char* path : {"../escape", "a/../../escape", "/abs", "a//b", "./a"}) {
    ParsedArchive parsed = MustParse(bytes);
    parsed.entries.push_back(parsed.entries[0]);
    parsed.entries.back().path = path;
    const Status status = ExtractArchive(parsed, bytes, out / "bundle");
    EXPECT_FALSE(status.ok()) << path;
    EXPECT_TRUE(Has(status.message(), "unsafe path")) << path;
  }
  EXPECT_TRUE(Describe(out.path()).empty());
  struct stat st {};
  EXPECT_NE(lstat((out.path() + "/../escape").c_str(), &st), 0);
}

// Even a hand-made archive listing a file under a symlink cannot write
// through it: parents are opened with O_NOFOLLOW.
TEST(ExtractArchiveTest, NeverWritesThroughASymlink) {
  TempDir out;
  TempDir victim;
  const std::string bytes = ArchiveBuilder().Symlink("link", "x").File("z", "evil").Build();
  ParsedArchive parsed = MustParse(bytes);
  parsed.entries[0].target = victim.path();
  parsed.entries[1].path = "link/z";
  const Status status = ExtractArchive(parsed, bytes, out / "bundle");
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(Has(status.message(), "cannot extract bundle entry \"link/z\" into"));
  EXPECT_TRUE(Has(status.message(), "open parent directory: Not a directory"));
  EXPECT_TRUE(Describe(victim.path()).empty());
  EXPECT_TRUE(Describe(out.path()).empty());
}

}  // namespace
}  // namespace pycage::store
