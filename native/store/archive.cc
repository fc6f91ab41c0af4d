// Framing and ParseArchive: every check of ARCHIVE.md "Reader checks", in
// memory, cheapest first, so a hostile archive costs at most one pass.
#include <algorithm>
#include <limits>

#include "common/sha256.h"
#include "store/archive.h"
#include "store/entry_rules.h"
#include "store/framing.h"
#include "store/manifest.h"

namespace pycage::store {
namespace {

constexpr std::string_view kReexport = "; re-export the bundle with pycage";
constexpr size_t kHashChunkBytes = 64 * 1024;

Status ArchiveError(const std::string& what) {
  return Status::Error(ErrorCode::kInvalidArgument, "bundle archive " + what);
}

uint64_t LoadLittleEndian64(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return value;
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}

Status CheckFraming(std::string_view bytes, const ArchiveLimits& limits, uint64_t* manifest_bytes) {
  const uint64_t size = bytes.size();
  if (size > limits.max_archive_bytes) {
    return ArchiveError("is " + std::to_string(size) + " bytes, over the " + std::to_string(limits.max_archive_bytes) +
                        "-byte limit (ArchiveLimits.max_archive_bytes); raise the limit or split the bundle");
  }
  if (!bytes.starts_with(kArchiveMagic)) {
    if (size < kArchiveMagic.size() && kArchiveMagic.starts_with(bytes)) {
      return ArchiveError("is truncated: it ends at byte offset " + std::to_string(size) +
                          ", inside the magic; download or export it again");
    }
    if (bytes.starts_with(kArchiveMagic.substr(0, 7))) {
      return ArchiveError("has magic " + Quote(bytes.substr(0, 8)) +
                          ", a format this pycage does not read (it reads \"PYCBNDL1\"); upgrade pycage");
    }
    return ArchiveError("does not start with \"PYCBNDL1\" (it starts with " + Quote(bytes.substr(0, 8)) +
                        "); it is not a pycage bundle archive");
  }
  if (size < kArchiveHeaderBytes) {
    return ArchiveError("is truncated: it ends at byte offset " + std::to_string(size) +
                        ", inside the manifest length; download or export it again");
  }
  const uint64_t length = LoadLittleEndian64(bytes.substr(kArchiveMagic.size(), 8));
  const uint64_t cap = std::min(limits.max_manifest_bytes, kFormatMaxManifestBytes);
  if (length > cap) {
    const std::string which = limits.max_manifest_bytes <= kFormatMaxManifestBytes
                                  ? "ArchiveLimits.max_manifest_bytes"
                                  : "the format's limit";
    return ArchiveError("manifest is " + std::to_string(length) + " bytes (length field at byte offset 8), over the " +
                        std::to_string(cap) + "-byte limit (" + which + ")" + std::string(kReexport));
  }
  if (size - kArchiveHeaderBytes < length) {
    return ArchiveError("is truncated: it ends at byte offset " + std::to_string(size) +
                        ", inside the manifest (bytes 16 to " + std::to_string(kArchiveHeaderBytes + length) +
                        "); download or export it again");
  }
  *manifest_bytes = length;
  return Status::Ok();
}

// Sets offsets, then checks that the contents exactly fill the space between
// manifest and trailer.
Status PlaceContents(std::string_view bytes, uint64_t data_start, ParsedArchive* archive) {
  uint64_t offset = data_start;
  for (ArchiveEntry& entry : archive->entries) {
    if (entry.type != EntryType::kFile) continue;
    entry.offset = offset;
    offset = SaturatingAdd(offset, entry.size);
    archive->content_bytes = SaturatingAdd(archive->content_bytes, entry.size);
    ++archive->file_count;
  }
  const uint64_t expected = SaturatingAdd(offset, kArchiveTrailerBytes);
  const uint64_t size = bytes.size();
  if (size < expected) {
    return ArchiveError("is truncated: its manifest lists " + std::to_string(archive->content_bytes) +
                        " content bytes, so it should be " + std::to_string(expected) + " bytes, but it is " +
                        std::to_string(size) + "; download or export it again");
  }
  if (size > expected) {
    return ArchiveError("has " + std::to_string(size - expected) + " bytes of trailing garbage after byte offset " +
                        std::to_string(expected) + ", where the trailer ends" + std::string(kReexport));
  }
  return Status::Ok();
}

// One pass over the contents feeds both the per-file hashes and the archive
// hash, chunk by chunk so each chunk is hashed twice while in cache.
Status CheckHashes(std::string_view bytes, uint64_t data_start, ParsedArchive* archive) {
  Sha256 whole;
  whole.Update(bytes.substr(0, data_start));
  for (const ArchiveEntry& entry : archive->entries) {
    if (entry.type != EntryType::kFile) continue;
    Sha256 file;
    for (uint64_t done = 0; done < entry.size;) {
      const uint64_t take = std::min<uint64_t>(kHashChunkBytes, entry.size - done);
      const std::string_view chunk = bytes.substr(entry.offset + done, take);
      whole.Update(chunk);
      file.Update(chunk);
      done += take;
    }
    const std::string actual = HexLower(file.Finish());
    if (actual != entry.sha256) {
      return ArchiveError("is tampered with: file " + Quote(entry.path) + " has sha256 " + actual +
                          " but the manifest says " + entry.sha256 +
                          "; do not import it, re-export the bundle with pycage");
    }
  }
  const std::string actual = HexLower(whole.Finish());
  const std::string_view trailer = bytes.substr(bytes.size() - kArchiveTrailerBytes);
  const std::string stored = HexLower({reinterpret_cast<const uint8_t*>(trailer.data()), trailer.size()});
  if (actual != stored) {
    return ArchiveError("is corrupt: its trailer says sha256 " + stored + " but its bytes hash to " + actual +
                        "; download or export it again");
  }
  archive->bundle_sha = stored;
  return Status::Ok();
}

}  // namespace

void AppendArchiveHeader(std::string& out, std::string_view manifest) {
  out.append(kArchiveMagic);
  const uint64_t length = manifest.size();
  for (size_t i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out.append(manifest);
}

std::string AppendArchiveTrailer(std::string& out) {
  Sha256 hash;
  hash.Update(out);
  const Sha256::Digest digest = hash.Finish();
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return HexLower(digest);
}

Result<ParsedArchive> ParseArchive(std::string_view bytes, const ArchiveLimits& limits) {
  uint64_t manifest_bytes = 0;
  if (Status s = CheckFraming(bytes, limits, &manifest_bytes); !s.ok()) return s;
  const std::string_view manifest = bytes.substr(kArchiveHeaderBytes, manifest_bytes);

  Result<std::vector<ArchiveEntry>> entries = ReadManifestEntries(manifest, limits);
  if (!entries.ok()) return entries.status();
  const EntryRules rules{limits.max_path_bytes, limits.max_depth, "ArchiveLimits"};
  const RefuseEntry refuse = [](std::string_view path, const std::string& problem) {
    return ArchiveError("entry " + Quote(path) + ": " + problem + std::string(kReexport));
  };
  if (Status s = CheckEntries(*entries, rules, refuse); !s.ok()) return s;
  Result<std::string> meta = CanonicalMeta(manifest, *entries);
  if (!meta.ok()) return meta.status();

  ParsedArchive archive;
  archive.meta_json = std::move(meta).value();
  archive.entries = std::move(entries).value();
  const uint64_t data_start = kArchiveHeaderBytes + manifest_bytes;
  if (Status s = PlaceContents(bytes, data_start, &archive); !s.ok()) return s;
  if (Status s = CheckHashes(bytes, data_start, &archive); !s.ok()) return s;
  return archive;
}

}  // namespace pycage::store
