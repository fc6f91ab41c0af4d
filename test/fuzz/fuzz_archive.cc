// Feeds arbitrary bytes to the bundle archive reader (small limits, no
// disk) and checks, beyond "no crash", what importing relies on:
//  - a refusal is one printable ASCII line starting with "bundle archive ";
//  - an accepted archive is canonical: rebuilding its manifest from the
//    parsed meta and entries gives the exact manifest bytes, and the sizes
//    fill the data section exactly;
//  - every accepted entry path obeys the path rules, entries are strictly
//    sorted, every file's bytes hash to its sha256 and the trailer is the
//    hash of everything before it.
// Random mutations almost never keep the trailer (or the manifest length)
// right, so each input is also tried resealed, and with the length field
// set to end the manifest at its first "]}": mutated manifests then reach
// the entry rules and, when they pass, the accepting path.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/sha256.h"
#include "store/archive.h"
#include "store/entry_rules.h"
#include "store/manifest.h"

namespace {

using pycage::store::ArchiveEntry;
using pycage::store::ArchiveLimits;
using pycage::store::EntryType;
using pycage::store::ParsedArchive;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool PrintableAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7F;
  });
}

ArchiveLimits SmallLimits() {
  ArchiveLimits limits;
  limits.max_archive_bytes = 1 << 20;
  limits.max_entries = 1000;
  limits.max_path_bytes = 256;
  limits.max_depth = 16;
  limits.max_manifest_bytes = 64 * 1024;
  return limits;
}

void CheckOne(std::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  const ArchiveLimits limits = SmallLimits();
  const pycage::Result<ParsedArchive> parsed = pycage::store::ParseArchive(bytes, limits);
  if (!parsed.ok()) {
    const std::string& message = parsed.status().message();
    Check(message.starts_with("bundle archive "));
    Check(PrintableAscii(message));
    return;
  }
  const ParsedArchive& archive = parsed.value();
  Check(bytes.starts_with(pycage::store::kArchiveMagic));
  uint64_t manifest_bytes = 0;
  for (size_t i = 0; i < 8; ++i) manifest_bytes |= static_cast<uint64_t>(data[8 + i]) << (8 * i);
  const std::string_view manifest = bytes.substr(16, manifest_bytes);
  Check(pycage::store::CanonicalManifest(archive.meta_json, archive.entries) == manifest);

  const pycage::store::EntryRules rules{limits.max_path_bytes, limits.max_depth, "ArchiveLimits"};
  uint64_t offset = 16 + manifest_bytes;
  uint64_t files = 0;
  for (size_t i = 0; i < archive.entries.size(); ++i) {
    const ArchiveEntry& entry = archive.entries[i];
    Check(pycage::store::PathProblem(entry.path, rules).empty());
    Check(i == 0 || archive.entries[i - 1].path < entry.path);
    if (entry.type != EntryType::kFile) continue;
    Check(entry.offset == offset);
    Check(pycage::Sha256Hex(bytes.substr(entry.offset, entry.size)) == entry.sha256);
    offset += entry.size;
    ++files;
  }
  Check(files == archive.file_count);
  Check(offset - 16 - manifest_bytes == archive.content_bytes);
  Check(offset + 32 == size);
  Check(pycage::Sha256Hex(bytes.substr(0, offset)) == archive.bundle_sha);
}

std::string Reseal(std::string bytes) {
  pycage::Sha256 hash;
  hash.Update(bytes.data(), bytes.size() - 32);
  const pycage::Sha256::Digest digest = hash.Finish();
  bytes.replace(bytes.size() - 32, 32, reinterpret_cast<const char*>(digest.data()), digest.size());
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  CheckOne(bytes);
  if (size < 16 + 32) return 0;
  CheckOne(Reseal(bytes));
  const size_t end = bytes.find("]}", 16);
  if (end == std::string::npos || end + 2 + 32 > size) return 0;
  std::string reframed = bytes;
  const uint64_t length = end + 2 - 16;
  for (size_t i = 0; i < 8; ++i) reframed[8 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  CheckOne(Reseal(reframed));
  return 0;
}
