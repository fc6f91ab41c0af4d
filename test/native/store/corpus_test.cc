// The committed fuzz seeds (test/fuzz/corpus/archive, written by
// make_archive_corpus) must still parse, or be refused, as their names say;
// otherwise the fuzzer would start from the wrong places.
#include <dirent.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/archive.h"
#include "temp_tree.h"
#include "test_util.h"

namespace pycage::store {
namespace {

TEST(ArchiveCorpusTest, SeedsParseAsTheirNamesSay) {
  const std::string dir = PYCAGE_ARCHIVE_CORPUS_DIR;
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  size_t valid = 0;
  size_t broken = 0;
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    std::string path = dir;
    path.append("/").append(name);
    const std::string bytes = archive_test::ReadFile(path);
    const Result<ParsedArchive> parsed = ParseArchive(bytes, ArchiveLimits{});
    if (name.starts_with("valid_")) {
      EXPECT_TRUE(parsed.ok()) << parsed.status().message();
      ++valid;
    } else {
      EXPECT_TRUE(name.starts_with("broken_"));
      EXPECT_FALSE(parsed.ok());
      ++broken;
    }
  }
  EXPECT_GE(valid, 3u);
  EXPECT_GE(broken, 5u);
}

}  // namespace
}  // namespace pycage::store
