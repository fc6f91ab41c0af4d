#include <gtest/gtest.h>

#include <string>

#include "archive_builder.h"
#include "common/sha256.h"
#include "store/archive.h"
#include "store/entry_rules.h"
#include "test_util.h"

namespace pycage::store {
namespace {

using archive_test::ArchiveBuilder;
using archive_test::Frame;
using archive_test::Has;
using archive_test::MustParse;
using archive_test::Refusal;
using archive_test::Reseal;

// A small archive using every entry type.
ArchiveBuilder Sample() {
  ArchiveBuilder b;
  b.Meta(R"({"python":"3.11","packages":["six"]})")
      .Dir("pkg")
      .File("pkg/__init__.py", "import os\n")
      .Symlink("pkg/alias.py", "mod.py")
      .File("pkg/mod.py", "X = 1\n")
      .File("pkg/run", "#!/bin/sh\n", 493)
      .Dir("pkg/sub")
      .Symlink("pkg/sub/up", "../mod.py")
      .File("six.py", "");
  return b;
}

std::string SetLength(std::string archive, uint64_t length) {
  for (int i = 0; i < 8; ++i) archive[8 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return archive;
}

// ---------------------------------------------------------------- accepted

TEST(ParseArchiveTest, ReadsEveryEntryTypeWithOffsetsIntoTheBytes) {
  const ArchiveBuilder builder = Sample();
  const std::string bytes = builder.Build();
  const ParsedArchive archive = MustParse(bytes);
  EXPECT_EQ(archive.meta_json, R"({"python":"3.11","packages":["six"]})");
  ASSERT_EQ(archive.entries.size(), 8u);
  EXPECT_EQ(archive.file_count, 4u);
  EXPECT_EQ(archive.content_bytes, builder.Data().size());
  EXPECT_EQ(archive.bundle_sha, Sha256Hex(std::string_view(bytes).substr(0, bytes.size() - 32)));

  const ArchiveEntry& init = archive.entries[1];
  EXPECT_EQ(init.path, "pkg/__init__.py");
  EXPECT_EQ(init.type, EntryType::kFile);
  EXPECT_EQ(init.mode, kModeRegular);
  EXPECT_EQ(bytes.substr(init.offset, init.size), "import os\n");
  EXPECT_EQ(init.sha256, Sha256Hex("import os\n"));
  EXPECT_EQ(archive.entries[2].type, EntryType::kSymlink);
  EXPECT_EQ(archive.entries[2].target, "mod.py");
  EXPECT_EQ(bytes.substr(archive.entries[3].offset, archive.entries[3].size), "X = 1\n");
  EXPECT_EQ(archive.entries[4].mode, kModeExecutable);
  EXPECT_EQ(archive.entries[5].type, EntryType::kDir);
  EXPECT_EQ(archive.entries[7].size, 0u);
  EXPECT_EQ(archive.entries[7].offset, bytes.size() - 32);
}

TEST(ParseArchiveTest, ReadsAnEmptyBundle) {
  const ParsedArchive archive = MustParse(ArchiveBuilder().Build());
  EXPECT_EQ(archive.meta_json, "{}");
  EXPECT_TRUE(archive.entries.empty());
  EXPECT_EQ(archive.content_bytes, 0u);
}

TEST(ParseArchiveTest, AcceptsNonAsciiNamesAndQuotesInPaths) {
  ArchiveBuilder b;
  b.Dir("caf\xc3\xa9").File("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.py", "").File("q\"uote\\d", "x");
  const ParsedArchive archive = MustParse(b.Build());
  EXPECT_EQ(archive.entries[2].path, "q\"uote\\d");
}

TEST(ParseArchiveTest, AcceptsLinksThatStayInsideAndLinksToLinks) {
  ArchiveBuilder b;
  b.Dir("a").Dir("a/b").Symlink("a/b/deep", "../../top").Symlink("a/b/dot", "./../b/../../a").Symlink(
      "a/chain", "b/deep").Symlink("dangling", "nowhere/yet").File("top", "t");
  MustParse(b.Build());
}

// ---------------------------------------------------------------- framing

TEST(ParseArchiveTest, RefusesABadMagic) {
  std::string bytes = Sample().Build();
  bytes[0] = 'X';
  EXPECT_TRUE(Has(Refusal(bytes), "does not start with \"PYCBNDL1\" (it starts with \"XYCBNDL1\")"));
  EXPECT_TRUE(Has(Refusal("PK\x03\x04 zip file........"), "it is not a pycage bundle archive"));
  EXPECT_TRUE(Has(Refusal(""), "inside the magic"));
}

TEST(ParseArchiveTest, RefusesANewerFormatByItsMagic) {
  std::string bytes = Sample().Build();
  bytes[7] = '2';
  EXPECT_TRUE(Has(Refusal(bytes), "has magic \"PYCBNDL2\", a format this pycage does not read"));
}

TEST(ParseArchiveTest, RefusesEveryTruncation) {
  const std::string bytes = Sample().Build();
  for (size_t length = 0; length < bytes.size(); ++length) {
    SCOPED_TRACE(length);
    const std::string message = Refusal(bytes.substr(0, length));
    EXPECT_TRUE(Has(message, "truncated") || Has(message, "manifest is not valid JSON")) << message;
  }
}

TEST(ParseArchiveTest, NamesTheSectionATruncationEndsIn) {
  const std::string bytes = Sample().Build();
  const std::string manifest = Sample().Manifest();
  EXPECT_TRUE(Has(Refusal(bytes.substr(0, 5)), "ends at byte offset 5, inside the magic"));
  EXPECT_TRUE(Has(Refusal(bytes.substr(0, 12)), "ends at byte offset 12, inside the manifest length"));
  EXPECT_TRUE(Has(Refusal(bytes.substr(0, 30)), "ends at byte offset 30, inside the manifest (bytes 16 to"));
  const size_t data_start = 16 + manifest.size();
  EXPECT_TRUE(Has(Refusal(bytes.substr(0, data_start + 3)), "is truncated: its manifest lists"));
  EXPECT_TRUE(Has(Refusal(bytes.substr(0, bytes.size() - 1)), "but it is " + std::to_string(bytes.size() - 1)));
}

TEST(ParseArchiveTest, RefusesAManifestOverTheLimitBeforeReadingIt) {
  const std::string bytes = Sample().Build();
  EXPECT_TRUE(Has(Refusal(SetLength(bytes, (uint64_t{16} << 20) + 1)),
                  "manifest is 16777217 bytes (length field at byte offset 8), over the 16777216-byte limit "
                  "(ArchiveLimits.max_manifest_bytes)"));
  EXPECT_TRUE(Has(Refusal(SetLength(bytes, ~uint64_t{0})), "manifest is 18446744073709551615 bytes"));
  ArchiveLimits small;
  small.max_manifest_bytes = 32;
  EXPECT_TRUE(Has(Refusal(bytes, small), "over the 32-byte limit (ArchiveLimits.max_manifest_bytes)"));
  ArchiveLimits huge;
  huge.max_manifest_bytes = uint64_t{1} << 40;
  EXPECT_TRUE(Has(Refusal(SetLength(bytes, (uint64_t{16} << 20) + 1), huge), "(the format's limit)"));
}

TEST(ParseArchiveTest, RefusesAnArchiveOverTheSizeLimit) {
  ArchiveLimits limits;
  limits.max_archive_bytes = 100;
  const std::string bytes = Sample().Build();
  EXPECT_TRUE(Has(Refusal(bytes, limits), "bundle archive is " + std::to_string(bytes.size()) +
                                              " bytes, over the 100-byte limit (ArchiveLimits.max_archive_bytes)"));
}

TEST(ParseArchiveTest, RefusesTrailingGarbageWithOrWithoutAMatchingTrailer) {
  const std::string bytes = Sample().Build();
  EXPECT_TRUE(Has(Refusal(bytes + "junk"), "has 4 bytes of trailing garbage after byte offset"));
  EXPECT_TRUE(Has(Refusal(Reseal(bytes + "junk")), "has 4 bytes of trailing garbage"));
}

TEST(ParseArchiveTest, RefusesAWrongTrailer) {
  std::string bytes = Sample().Build();
  bytes.back() = static_cast<char>(bytes.back() ^ 1);
  EXPECT_TRUE(Has(Refusal(bytes), "is corrupt: its trailer says sha256 "));
}

TEST(ParseArchiveTest, RefusesATamperedFileEvenWithARecomputedTrailer) {
  const ArchiveBuilder builder = Sample();
  const std::string bytes = builder.Build();
  const size_t data_start = 16 + builder.Manifest().size();
  std::string tampered = bytes;
  tampered[data_start] = 'I';  // "import os" -> "Import os"
  const std::string expected = "is tampered with: file \"pkg/__init__.py\" has sha256 " + Sha256Hex("Import os\n") +
                               " but the manifest says " + Sha256Hex("import os\n");
  EXPECT_TRUE(Has(Refusal(Reseal(tampered)), expected));
  EXPECT_TRUE(Has(Refusal(tampered), expected));
}

TEST(ParseArchiveTest, RefusesAFileWhoseManifestHashIsWrong) {
  ArchiveBuilder b;
  b.FileClaiming("a.py", "real", Sha256Hex("claimed"));
  EXPECT_TRUE(Has(Refusal(b.Build()), "file \"a.py\" has sha256 " + Sha256Hex("real")));
}

TEST(ParseArchiveTest, RefusesSizesThatDoNotAddUpToTheDataSection) {
  ArchiveBuilder b;
  // The entry claims 5 bytes, the data section holds 4.
  b.Raw(R"({"path":"a","type":"file","mode":420,"size":5,"sha256":")" + Sha256Hex("abcde") + "\"}", "abcd");
  EXPECT_TRUE(Has(Refusal(b.Build()), "is truncated: its manifest lists 5 content bytes"));
  ArchiveBuilder c;
  c.Raw(R"({"path":"a","type":"file","mode":420,"size":3,"sha256":")" + Sha256Hex("abc") + "\"}", "abcd");
  EXPECT_TRUE(Has(Refusal(c.Build()), "has 1 bytes of trailing garbage"));
  ArchiveBuilder d;
  d.Raw(R"({"path":"a","type":"file","mode":420,"size":18446744073709551615,"sha256":")" + Sha256Hex("") + "\"}")
      .Raw(R"({"path":"b","type":"file","mode":420,"size":2,"sha256":")" + Sha256Hex("") + "\"}");
  EXPECT_TRUE(Has(Refusal(d.Build()), "is truncated"));
}

// ---------------------------------------------------------------- manifest shape

std::string WithManifest(std::string_view manifest) { return Frame(manifest, ""); }

TEST(ParseArchiveTest, RefusesManifestsThatAreNotTheExpectedObject) {
  EXPECT_TRUE(Has(Refusal(WithManifest("{\"format\":1,")), "manifest is not valid JSON ("));
  EXPECT_TRUE(Has(Refusal(WithManifest("[1]")), "manifest is not a JSON object"));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1,"meta":{},"entries":[],"extra":0})")),
                  "manifest has unknown key \"extra\""));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1,"format":1,"meta":{},"entries":[]})")),
                  "manifest has key \"format\" twice"));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"meta":{},"entries":[]})")), "manifest has no \"format\""));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":"1","meta":{},"entries":[]})")),
                  "\"format\" that is not an unsigned integer"));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1,"entries":[]})")), "manifest has no \"meta\""));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1,"meta":[],"entries":[]})")),
                  "\"meta\" that is not a JSON object"));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1,"meta":{}})")), "manifest has no \"entries\""));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1,"meta":{},"entries":{}})")),
                  "\"entries\" that is not an array"));
}

TEST(ParseArchiveTest, RefusesOtherFormatVersions) {
  const std::string message = Refusal(WithManifest(R"({"format":2,"meta":{},"entries":[{"new":"thing"}]})"));
  EXPECT_TRUE(Has(message, "bundle archive has format version 2; this pycage reads version 1 only"));
}

TEST(ParseArchiveTest, RefusesUnknownEntryTypesAndKeys) {
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":"a","type":"hardlink","target":"b"})").Build()),
                  "entry 0 (\"a\") has unknown type \"hardlink\" (expected \"file\", \"dir\" or \"symlink\")"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":"a","type":"dir","mtime":0})").Build()),
                  "entry 0 (\"a\") has unknown key \"mtime\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("x").Raw(R"({"path":"y","type":"dir","mode":493})").Build()),
                  "entry 1 (\"y\") is a dir but has key \"mode\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":"a","type":"symlink","target":"b","size":0})").Build()),
                  "is a symlink but has key \"size\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":"a","type":"dir","type":"dir"})").Build()),
                  "has key \"type\" twice"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw("7").Build()), "entry 0 is not a JSON object"));
}

TEST(ParseArchiveTest, RefusesMissingOrMistypedEntryFields) {
  const std::string sha = Sha256Hex("");
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"type":"dir"})").Build()), "entry 0 has no \"path\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":"a"})").Build()), "entry 0 (\"a\") has no \"type\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":1,"type":"dir"})").Build()),
                  "has \"path\" that is not a string"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":"a","type":"file","mode":420,"size":0})").Build()),
                  "is a file but has no \"sha256\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder()
                              .Raw(R"({"path":"a","type":"file","mode":420,"size":"0","sha256":")" + sha + "\"}")
                              .Build()),
                  "has \"size\" that is not an unsigned integer"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder()
                              .Raw(R"({"path":"a","type":"file","mode":420,"size":-1,"sha256":")" + sha + "\"}")
                              .Build()),
                  "has \"size\" that is not an unsigned integer"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().File("a", "", 511).Build()),
                  "has mode 511; only 420 (0644) and 493 (0755) are allowed"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().File("a", "", 420 + 65536).Build()), "has mode 65956"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().FileClaiming("a", "", "E3B0" + sha.substr(4)).Build()),
                  "\"sha256\" that is not 64 lowercase hex digits"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().FileClaiming("a", "", sha.substr(1)).Build()),
                  "\"sha256\" that is not 64 lowercase hex digits"));
}

TEST(ParseArchiveTest, RefusesMoreEntriesThanTheLimit) {
  ArchiveLimits limits;
  limits.max_entries = 2;
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("a").Dir("b").Dir("c").Build(), limits),
                  "bundle archive lists 3 entries, over the 2-entry limit (ArchiveLimits.max_entries)"));
  MustParse(ArchiveBuilder().Dir("a").Dir("b").Build(), limits);
}

TEST(ParseArchiveTest, RefusesANonCanonicalManifest) {
  const std::string expected = "manifest is not in canonical form";
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1, "meta":{},"entries":[]})")), expected));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"meta":{},"format":1,"entries":[]})")), expected));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1,"meta":{ },"entries":[]})")), expected));
  EXPECT_TRUE(Has(Refusal(WithManifest(R"({"format":1,"meta":{},"entries":[]} )")), expected));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"type":"dir","path":"a"})").Build()), expected));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":"\u0061","type":"dir"})").Build()), expected));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("a").Raw(R"({"path":"a\/b","type":"dir"})").Build()), expected));
}

// ---------------------------------------------------------------- paths

std::string PathRefusal(std::string_view path) { return Refusal(ArchiveBuilder().Dir(path).Build()); }

TEST(ParseArchiveTest, RefusesPathTraversal) {
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().File("../../etc/passwd", "root").Build()),
                  "bundle archive entry \"../../etc/passwd\": path leaves the archive root (\"..\" component); "
                  "re-export the bundle with pycage"));
  EXPECT_TRUE(Has(PathRefusal("../x"), "path leaves the archive root"));
  EXPECT_TRUE(Has(PathRefusal("a/../../x"), "path leaves the archive root"));
  EXPECT_TRUE(Has(PathRefusal("a/../b"), "path has a \"..\" component"));
  EXPECT_TRUE(Has(PathRefusal(".."), "path leaves the archive root"));
  EXPECT_TRUE(Has(PathRefusal("/abs"), "entry \"/abs\": path is absolute"));
  EXPECT_TRUE(Has(PathRefusal("a//b"), "path has an empty component"));
  EXPECT_TRUE(Has(PathRefusal("./a"), "path has a \".\" component"));
  EXPECT_TRUE(Has(PathRefusal("a/."), "path has a \".\" component"));
  EXPECT_TRUE(Has(PathRefusal("a/"), "path ends with \"/\""));
  EXPECT_TRUE(Has(PathRefusal(""), "path is empty"));
}

TEST(ParseArchiveTest, RefusesControlBytesAndQuotesThemPrintably) {
  EXPECT_TRUE(Has(PathRefusal(std::string("a\0b", 3)), "entry \"a\\x00b\": path has control byte 0x00 at byte 1"));
  EXPECT_TRUE(Has(PathRefusal("a\nb"), "entry \"a\\x0Ab\": path has control byte 0x0A at byte 1"));
  EXPECT_TRUE(Has(PathRefusal("\x1b[2Jx"), "path has control byte 0x1B at byte 0"));
  EXPECT_TRUE(Has(PathRefusal("del\x7f"), "path has control byte 0x7F at byte 3"));
}

TEST(ParseArchiveTest, RefusesInvalidUtf8) {
  // simdjson validates the whole manifest, so raw bad bytes never reach the
  // path rules; PathRulesTest covers those directly.
  EXPECT_TRUE(Has(PathRefusal("bad\xff"), "manifest is not valid JSON"));
  EXPECT_TRUE(Has(PathRefusal("\xc0\xaf"), "manifest is not valid JSON"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Raw(R"({"path":"\udc00","type":"dir"})").Build()), "bundle archive"));
}

TEST(ParseArchiveTest, RefusesPathsOverTheLengthAndDepthLimits) {
  ArchiveLimits limits;
  limits.max_path_bytes = 8;
  limits.max_depth = 2;
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("123456789").Build(), limits),
                  "path is 9 bytes, over the 8-byte limit (ArchiveLimits.max_path_bytes)"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("a").Dir("a/b").Dir("a/b/c").Build(), limits),
                  "entry \"a/b/c\": path is 3 levels deep, over the 2-level limit (ArchiveLimits.max_depth)"));
  MustParse(ArchiveBuilder().Dir("a").Dir("a/b").Build(), limits);
}

TEST(ParseArchiveTest, CutsLongPathsInMessages) {
  const std::string message = PathRefusal(std::string(500, 'x') + "/");
  EXPECT_LT(message.size(), 400u);
  EXPECT_TRUE(Has(message, "...\": path ends with"));
}

// ---------------------------------------------------------------- order and parents

TEST(ParseArchiveTest, RefusesDuplicateAndUnsortedEntries) {
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("a").Dir("a").Build()), "entry \"a\": entry appears twice"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().File("a", "1").File("a", "2").Build()), "entry appears twice"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("b").Dir("a").Build()),
                  "entry \"a\": entry is out of order after \"b\"; entries must be sorted by path, bytewise"));
  // Bytewise: "a-b" (0x2d) sorts before "a/x" (0x2f), and 0xc3 after ASCII.
  MustParse(ArchiveBuilder().Dir("a").Dir("a-b").Dir("a/x").Dir("z").Dir("\xc3\xa9").Build());
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("a").Dir("a/x").Dir("a-b").Build()), "is out of order"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("\xc3\xa9").Dir("z").Build()), "is out of order"));
}

TEST(ParseArchiveTest, RefusesAnEntryWhoseParentIsMissingOrNotADirectory) {
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().File("a/b", "").Build()),
                  "entry \"a/b\": parent directory \"a\" is not an entry"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("a").File("a/b/c", "").Build()),
                  "parent directory \"a/b\" is not an entry"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().File("f", "").File("f/x", "").Build()),
                  "entry \"f/x\": entry lies under \"f\", which is a file, not a directory"));
}

// ---------------------------------------------------------------- symlinks

std::string LinkRefusal(std::string_view target) {
  return Refusal(ArchiveBuilder().Dir("pkg").Symlink("pkg/link", target).Build());
}

TEST(ParseArchiveTest, RefusesSymlinksThatEscapeTheRoot) {
  EXPECT_TRUE(Has(LinkRefusal("../../etc"), "entry \"pkg/link\": symlink target \"../../etc\" leaves the archive root"));
  EXPECT_TRUE(Has(LinkRefusal("../x/../../y"), "leaves the archive root"));
  EXPECT_TRUE(Has(LinkRefusal("nowhere/../../.."), "leaves the archive root"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Symlink("top", "..").Build()), "leaves the archive root"));
  EXPECT_TRUE(Has(LinkRefusal("/etc/passwd"), "symlink target \"/etc/passwd\" is absolute"));
}

TEST(ParseArchiveTest, RefusesMalformedSymlinkTargets) {
  EXPECT_TRUE(Has(LinkRefusal(""), "symlink target is empty"));
  EXPECT_TRUE(Has(LinkRefusal("a//b"), "has an empty component"));
  EXPECT_TRUE(Has(LinkRefusal("a/"), "has an empty component"));
  EXPECT_TRUE(Has(LinkRefusal("a\nb"), "symlink target has control byte 0x0A at byte 1"));
  ArchiveLimits limits;
  limits.max_path_bytes = 10;
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Symlink("l", "0123456789a").Build(), limits),
                  "symlink target is 11 bytes, over the 10-byte limit (ArchiveLimits.max_path_bytes)"));
}

TEST(ParseArchiveTest, RefusesEntriesUnderASymlink) {
  // The classic zip-slip through a link: "evil" -> "/etc", then "evil/cron".
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Symlink("link", "sub").File("link/evil", "x").Dir("sub").Build()),
                  "entry \"link/evil\": entry lies under symlink \"link\"; an entry below a symlink could be "
                  "written outside the bundle"));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Symlink("link", "sub").Dir("link/d").Dir("sub").Build()),
                  "lies under symlink \"link\""));
}

TEST(ParseArchiveTest, RefusesTargetsThatPassThroughAnotherSymlink) {
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Symlink("a", "b").Dir("b").Symlink("c", "a/../..").Build()),
                  "entry \"c\": symlink target \"a/../..\" passes through symlink \"a\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Dir("d").Symlink("d/l", ".").Symlink("x", "d/l/f").Build()),
                  "passes through symlink \"d/l\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Symlink("self", "self/x").Build()), "passes through symlink \"self\""));
  EXPECT_TRUE(Has(Refusal(ArchiveBuilder().Symlink("a", "b").Symlink("z", "a/.").Build()),
                  "passes through symlink \"a\""));
}

// ---------------------------------------------------------------- path rules directly

TEST(PathRulesTest, RefusesInvalidUtf8AndAcceptsValidNames) {
  const EntryRules rules{1024, 64, "ArchiveLimits"};
  EXPECT_EQ(PathProblem("bad\xff", rules), "path is not valid UTF-8");
  EXPECT_EQ(PathProblem("\xc0\xaf", rules), "path is not valid UTF-8");           // overlong "/"
  EXPECT_EQ(PathProblem("\xed\xa0\x80", rules), "path is not valid UTF-8");       // surrogate
  EXPECT_EQ(PathProblem("\xf4\x90\x80\x80", rules), "path is not valid UTF-8");   // above U+10FFFF
  EXPECT_EQ(PathProblem("caf\xc3", rules), "path is not valid UTF-8");            // cut sequence
  EXPECT_EQ(PathProblem("caf\xc3\xa9/\xf0\x9f\x90\x8d.py", rules), "");
  EXPECT_EQ(PathProblem("a b/c-d_e.f~g", rules), "");
}

TEST(PathRulesTest, QuotesHostileTextAsPrintableAscii) {
  EXPECT_EQ(Quote("plain"), "\"plain\"");
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote(std::string("\0\x1b\xff", 3)), "\"\\x00\\x1B\\xFF\"");
  EXPECT_EQ(Quote(std::string(200, 'x')), "\"" + std::string(160, 'x') + "...\"");
}

}  // namespace
}  // namespace pycage::store
