// The portable bundle archive: one file holding an installed Python package
// tree, so a bundle built on one host can be imported on another without
// reinstalling. The format is specified in ARCHIVE.md.
//
// Archives come from outside (downloads, other hosts), so ParseArchive trusts
// nothing: it checks every byte in memory before anything touches the disk,
// and ExtractArchive then writes only below a directory it creates itself,
// never following a symlink on the way. Packing is deterministic: the same
// tree and meta give the same bytes, whatever the mtimes, owners or the order
// readdir returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pycage::store {

inline constexpr std::string_view kArchiveMagic = "PYCBNDL1";
inline constexpr uint64_t kArchiveHeaderBytes = 16;  // magic + u64 manifest length
inline constexpr uint64_t kArchiveTrailerBytes = 32;  // SHA-256 of everything before it
// No writer produces a larger manifest, whatever the limits say.
inline constexpr uint64_t kFormatMaxManifestBytes = uint64_t{16} << 20;
inline constexpr uint32_t kModeRegular = 0644;
inline constexpr uint32_t kModeExecutable = 0755;

struct ArchiveLimits {
  uint64_t max_archive_bytes = uint64_t{4} << 30;
  uint64_t max_entries = 500'000;
  size_t max_path_bytes = 1024;
  size_t max_depth = 64;
  uint64_t max_manifest_bytes = kFormatMaxManifestBytes;
};

// The defaults pack only what ParseArchive accepts with default ArchiveLimits.
struct PackLimits {
  uint64_t max_content_bytes = uint64_t{4} << 30;
  uint64_t max_archive_bytes = uint64_t{4} << 30;
  uint64_t max_entries = 500'000;
  size_t max_path_bytes = 1024;
  size_t max_depth = 64;
};

enum class EntryType { kFile, kDir, kSymlink };

struct ArchiveEntry {
  std::string path;  // relative, '/'-separated, see ARCHIVE.md "Paths"
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;    // files: kModeRegular or kModeExecutable
  uint64_t size = 0;    // files: content bytes
  std::string sha256;   // files: lowercase hex SHA-256 of the content
  std::string target;   // symlinks: relative target, stays inside the tree
  uint64_t offset = 0;  // files, parsed archives: where the content starts in the archive bytes
};

struct PackedArchive {
  std::string bytes;
  std::string bundle_sha;  // lowercase hex of the trailer
  uint64_t file_count = 0;
  uint64_t content_bytes = 0;
};

struct ParsedArchive {
  std::string meta_json;  // the meta object as stored (minified JSON text)
  std::vector<ArchiveEntry> entries;  // sorted by path, bytewise
  std::string bundle_sha;
  uint64_t file_count = 0;
  uint64_t content_bytes = 0;
};

// Packs the tree below `root` (which must be a real directory, not a symlink
// to one). `meta_json` must be a JSON object; it is stored minified (the
// whitespace between tokens removed, every token kept as written).
Result<PackedArchive> PackDirectory(const std::string& root, std::string_view meta_json, const PackLimits& limits);

// Validates every byte of `bytes` (see ARCHIVE.md "Reader checks") without
// touching the filesystem.
Result<ParsedArchive> ParseArchive(std::string_view bytes, const ArchiveLimits& limits);

// Creates `dest_dir` (which must not exist; its parent must) and the entries
// of `archive`, which ParseArchive returned for the same `bytes`. On failure
// everything created, `dest_dir` included, is removed again.
Status ExtractArchive(const ParsedArchive& archive, std::string_view bytes, const std::string& dest_dir);

}  // namespace pycage::store
