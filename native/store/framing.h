// The bytes around the manifest and the file contents: magic, manifest
// length and trailer (ARCHIVE.md "Layout"). Shared by the packer and tests.
#pragma once

#include <string>
#include <string_view>

namespace pycage::store {

// Appends the magic, the little-endian manifest length and the manifest.
void AppendArchiveHeader(std::string& out, std::string_view manifest);

// Appends the SHA-256 of everything in `out` and returns it as lowercase hex
// (the bundleSha).
std::string AppendArchiveTrailer(std::string& out);

}  // namespace pycage::store
