// Reading pip's installation report (`pip install --dry-run --report FILE`),
// format version "1": https://pip.pypa.io/en/stable/reference/installation-report/
//
// The report says which distributions pip resolved, from which URL and with
// which hash. pycage only ever asks pip for named requirements from an index,
// so anything else in a report means the resolution went somewhere it should
// not have, and the whole report is refused (ERR_INVALID_ARGUMENT) with a
// message naming the item and the package:
//  - a report version other than "1";
//  - an item with no metadata name or version, or a malformed one;
//  - a direct URL (`is_direct: true`), a local directory (`dir_info`) or a
//    VCS checkout (`vcs_info`);
//  - a download URL that is not http:// or https://, or a sha256 that is not
//    64 hex digits;
//  - two items for the same project (after PEP 503 normalisation);
//  - more than `max_packages` items, more than `max_bytes` of JSON, JSON
//    nested deeper than `max_depth`, or an object repeating a key this parser
//    reads (a reader that takes the last copy would see another report).
// Fields this parser does not read are ignored: pip adds fields over time.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pycage::installer {

inline constexpr size_t kMaxPipDepth = 1024;
inline constexpr size_t kMaxPipNameBytes = 200;
inline constexpr size_t kMaxPipVersionBytes = 128;
inline constexpr size_t kMaxPipUrlBytes = 4096;

struct PipReportLimits {
  size_t max_bytes = size_t{64} << 20;  // 64 MiB
  size_t max_packages = 10000;
  size_t max_depth = 32;  // levels of arrays and objects, at most kMaxPipDepth; a real report has 6
};

struct ResolvedPackage {
  std::string name;             // as in the item's metadata
  std::string normalized_name;  // PEP 503
  std::string version;          // as in the item's metadata
  bool requested = false;       // named by the user rather than pulled in as a dependency
  std::string url;              // http(s) URL pip downloads the distribution from
  std::string sha256;           // 64 lowercase hex digits, or empty if pip knew no hash
};

struct PipReport {
  std::string pip_version;
  std::vector<ResolvedPackage> packages;  // sorted by normalized_name, unique
};

Result<PipReport> ParsePipReport(std::string_view json, const PipReportLimits& limits = {});

}  // namespace pycage::installer
