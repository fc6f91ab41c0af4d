// Writes the seed corpus of fuzz_archive: a few small valid archives and
// some broken in one way each. Usage: make_archive_corpus <dir>
// (test/fuzz/corpus/archive). ArchiveCorpusTest checks the committed seeds
// still parse, or not, as their names say.
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "archive_builder.h"
#include "common/sha256.h"

using pycage::Sha256Hex;
using pycage::store::archive_test::ArchiveBuilder;
using pycage::store::archive_test::Frame;
using pycage::store::archive_test::Reseal;

namespace {

ArchiveBuilder Sample() {
  ArchiveBuilder b;
  b.Meta(R"({"python":"3.11","abi":"cp311","requirements":"six==1.16.0\n"})")
      .Dir("pkg")
      .File("pkg/__init__.py", "from .mod import X\n")
      .Symlink("pkg/alias.py", "mod.py")
      .File("pkg/mod.py", "X = 1\n")
      .Dir("pkg/sub")
      .Symlink("pkg/sub/up", "../mod.py")
      .File("pkg/tool", "#!/bin/sh\n", 493)
      .File("six.py", "");
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string sample = Sample().Build();
  const size_t data_start = 16 + Sample().Manifest().size();
  std::string tampered = sample;
  tampered[data_start] = 'F';
  std::string bad_trailer = sample;
  bad_trailer.back() = static_cast<char>(bad_trailer.back() ^ 0x55);
  std::string bad_magic = sample;
  bad_magic[7] = '2';

  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"valid_empty", ArchiveBuilder().Build()},
      {"valid_sample", sample},
      {"valid_nested_meta",
       ArchiveBuilder().Meta(R"({"a":{"b":[1,-2.5e3,null,true,"\u00e9\n"]},"c":""})").Dir("d").File("d/f", "x").Build()},
      {"valid_names", ArchiveBuilder()
                          .Dir("caf\xc3\xa9")
                          .Dir("caf\xc3\xa9-x")
                          .File("caf\xc3\xa9/\xe6\x97\xa5.py", "#")
                          .Symlink("q\"\\", "caf\xc3\xa9/\xe6\x97\xa5.py")
                          .Build()},
      {"broken_magic", bad_magic},
      {"broken_truncated", sample.substr(0, sample.size() - 40)},
      {"broken_tampered_resealed", Reseal(tampered)},
      {"broken_trailer", bad_trailer},
      {"broken_trailing_garbage", Reseal(sample + "junk")},
      {"broken_traversal", ArchiveBuilder().Dir("a").File("a/../../etc/passwd", "root").Build()},
      {"broken_symlink_escape", ArchiveBuilder().Dir("pkg").Symlink("pkg/l", "../../etc").Build()},
      {"broken_under_symlink", ArchiveBuilder().Symlink("l", "d").File("l/f", "x").Build()},
      {"broken_unsorted", ArchiveBuilder().Dir("b").Dir("a").Build()},
      {"broken_missing_parent", ArchiveBuilder().File("a/b", "").Build()},
      {"broken_unknown_type", ArchiveBuilder().Raw(R"({"path":"a","type":"fifo"})").Build()},
      {"broken_noncanonical", Frame(R"({"format":1, "meta":{},"entries":[]})", "")},
      {"broken_manifest_length", sample.substr(0, 8) + std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8)},
      {"broken_sha_claim", ArchiveBuilder().FileClaiming("a", "real", Sha256Hex("fake")).Build()},
  };
  for (const auto& [name, bytes] : seeds) {
    std::ofstream out(std::string(argv[1]) + "/" + name, std::ios::binary | std::ios::trunc);
    out << bytes;
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", name.c_str());
      return 1;
    }
  }
  return 0;
}
