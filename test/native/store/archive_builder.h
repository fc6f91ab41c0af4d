// Test-only archive building, written apart from native/store's writer: a
// test states the manifest text it wants (canonical or deliberately not),
// and the framing, per-file hashes and trailer come out right, so each
// refusal test is caught by the one check it is about, not by the trailer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/sha256.h"

namespace pycage::store::archive_test {

// `text` as a JSON string: `"` and `\` escaped, control bytes as \u00XX.
inline std::string JsonString(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

// magic, little-endian manifest length, manifest, data, then the SHA-256 of
// all of that.
inline std::string Frame(std::string_view manifest, std::string_view data) {
  std::string out = "PYCBNDL1";
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((uint64_t{manifest.size()} >> (8 * i)) & 0xff));
  out.append(manifest);
  out.append(data);
  Sha256 hash;
  hash.Update(out);
  const Sha256::Digest digest = hash.Finish();
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

// Replaces the last 32 bytes with the SHA-256 of the rest, after a test
// edited the body.
inline std::string Reseal(std::string archive) {
  archive.resize(archive.size() - 32);
  Sha256 hash;
  hash.Update(archive);
  const Sha256::Digest digest = hash.Finish();
  archive.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return archive;
}

class ArchiveBuilder {
 public:
  ArchiveBuilder& Meta(std::string json) {
    meta_ = std::move(json);
    return *this;
  }
  ArchiveBuilder& Dir(std::string_view path) {
    return Raw("{\"path\":" + JsonString(path) + ",\"type\":\"dir\"}");
  }
  ArchiveBuilder& File(std::string_view path, std::string_view content, int mode = 420) {
    return FileClaiming(path, content, Sha256Hex(content), mode);
  }
  // A file entry whose manifest hash is `sha256`, whatever the content.
  ArchiveBuilder& FileClaiming(std::string_view path, std::string_view content, std::string_view sha256,
                               int mode = 420) {
    return Raw("{\"path\":" + JsonString(path) + ",\"type\":\"file\",\"mode\":" + std::to_string(mode) +
                   ",\"size\":" + std::to_string(content.size()) + ",\"sha256\":\"" + std::string(sha256) + "\"}",
               content);
  }
  ArchiveBuilder& Symlink(std::string_view path, std::string_view target) {
    return Raw("{\"path\":" + JsonString(path) + ",\"type\":\"symlink\",\"target\":" + JsonString(target) + "}");
  }
  // Any entry text; `content` goes to the data section.
  ArchiveBuilder& Raw(std::string json, std::string_view content = "") {
    entries_.push_back(std::move(json));
    data_.append(content);
    return *this;
  }

  std::string Manifest() const {
    std::string out = "{\"format\":1,\"meta\":" + meta_ + ",\"entries\":[";
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append(entries_[i]);
    }
    out.append("]}");
    return out;
  }
  const std::string& Data() const { return data_; }
  std::string Build() const { return Frame(Manifest(), data_); }

 private:
  std::string meta_ = "{}";
  std::vector<std::string> entries_;
  std::string data_;
};

}  // namespace pycage::store::archive_test
