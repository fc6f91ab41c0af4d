// The manifest JSON: written in one canonical form, read with strict shape
// checks. Reading accepts only the canonical form, so an archive's bytes
// follow from its meta and entries alone and a bundle has one bundleSha.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/archive.h"

namespace pycage::store {

inline constexpr std::string_view kManifestHead = R"({"format":1,"meta":)";

// The canonical manifest; `meta_json` must already be minified.
std::string CanonicalManifest(std::string_view meta_json, const std::vector<ArchiveEntry>& entries);

// If `text` is one JSON object, sets `*minified` to it with the whitespace
// between tokens removed (each token kept byte for byte) and returns "";
// otherwise returns what is wrong.
std::string MinifyJsonObject(std::string_view text, std::string* minified);

// Parses the manifest and checks its shape: keys, types, format version and
// entry count. Entry rules are CheckEntries' job; offsets are not set.
Result<std::vector<ArchiveEntry>> ReadManifestEntries(std::string_view text, const ArchiveLimits& limits);

// The meta text of `text`, which ReadManifestEntries read as `entries`, if
// `text` is canonical: exactly CanonicalManifest(meta, entries).
Result<std::string> CanonicalMeta(std::string_view text, const std::vector<ArchiveEntry>& entries);

}  // namespace pycage::store
