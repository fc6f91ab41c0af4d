#include "store/manifest.h"

#include <simdjson.h>

#include "common/json_writer.h"
#include "store/entry_rules.h"

namespace pycage::store {
namespace {

constexpr std::string_view kReexport = "; re-export the bundle with pycage";

Status ManifestError(const std::string& what) {
  return Status::Error(ErrorCode::kInvalidArgument,
                       "bundle archive manifest " + what + std::string(kReexport));
}

const char* TypeName(EntryType type) {
  switch (type) {
    case EntryType::kFile: return "file";
    case EntryType::kDir: return "dir";
    case EntryType::kSymlink: return "symlink";
  }
  return "file";
}

bool IsLowerHexDigest(std::string_view text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void AppendEntry(std::string& out, const ArchiveEntry& entry) {
  out.append(R"({"path":)");
  AppendJsonString(out, entry.path);
  out.append(R"(,"type":")").append(TypeName(entry.type)).push_back('"');
  switch (entry.type) {
    case EntryType::kFile:
      out.append(R"(,"mode":)").append(std::to_string(entry.mode));
      out.append(R"(,"size":)").append(std::to_string(entry.size));
      out.append(R"(,"sha256":")").append(entry.sha256).push_back('"');
      break;
    case EntryType::kDir: break;
    case EntryType::kSymlink:
      out.append(R"(,"target":)");
      AppendJsonString(out, entry.target);
      break;
  }
  out.push_back('}');
}

// Everything after the meta: `,"entries":[...]}`.
std::string ManifestTail(const std::vector<ArchiveEntry>& entries) {
  std::string out = R"(,"entries":[)";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendEntry(out, entries[i]);
  }
  out.append("]}");
  return out;
}

// Entry keys as bits, so duplicates, missing and extra keys are one mask test.
enum KeyBit : unsigned {
  kPathKey = 1U << 0,
  kTypeKey = 1U << 1,
  kModeKey = 1U << 2,
  kSizeKey = 1U << 3,
  kShaKey = 1U << 4,
  kTargetKey = 1U << 5,
};

struct KeyName {
  unsigned bit;
  std::string_view name;
};
constexpr KeyName kEntryKeys[] = {{kPathKey, "path"}, {kTypeKey, "type"}, {kModeKey, "mode"},
                                  {kSizeKey, "size"}, {kShaKey, "sha256"}, {kTargetKey, "target"}};

unsigned EntryKeyBit(std::string_view key) {
  for (const KeyName& k : kEntryKeys) {
    if (k.name == key) return k.bit;
  }
  return 0;
}

std::string_view EntryKeyName(unsigned bit) {
  for (const KeyName& k : kEntryKeys) {
    if (k.bit == bit) return k.name;
  }
  return "?";
}

unsigned ExpectedKeys(EntryType type) {
  switch (type) {
    case EntryType::kFile: return kPathKey | kTypeKey | kModeKey | kSizeKey | kShaKey;
    case EntryType::kDir: return kPathKey | kTypeKey;
    case EntryType::kSymlink: return kPathKey | kTypeKey | kTargetKey;
  }
  return 0;
}

// The lowest key bit in `mask`.
unsigned FirstKey(unsigned mask) { return mask & (~mask + 1); }

Result<ArchiveEntry> ReadEntry(simdjson::dom::element element, size_t index) {
  std::string label = "entry " + std::to_string(index);
  auto fail = [&label](const std::string& what) { return ManifestError(label + " " + what); };

  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) return fail("is not a JSON object");
  ArchiveEntry entry;
  // The path first, so every later message can name the entry.
  std::string_view text;
  if (object["path"].get_string().get(text) == simdjson::SUCCESS) label += " (" + Quote(text) + ")";

  unsigned seen = 0;
  std::string_view type_name;
  uint64_t mode = 0;
  for (const simdjson::dom::key_value_pair field : object) {
    const unsigned bit = EntryKeyBit(field.key);
    if (bit == 0) return fail("has unknown key " + Quote(field.key));
    if ((seen & bit) != 0) return fail("has key " + Quote(field.key) + " twice");
    seen |= bit;
    bool typed = false;
    switch (bit) {
      case kPathKey:
        typed = field.value.get_string().get(text) == simdjson::SUCCESS;
        entry.path.assign(text);
        break;
      case kTypeKey: typed = field.value.get_string().get(type_name) == simdjson::SUCCESS; break;
      case kTargetKey:
        typed = field.value.get_string().get(text) == simdjson::SUCCESS;
        entry.target.assign(text);
        break;
      case kShaKey:
        typed = field.value.get_string().get(text) == simdjson::SUCCESS;
        entry.sha256.assign(text);
        break;
      case kModeKey: typed = field.value.get_uint64().get(mode) == simdjson::SUCCESS; break;
      default: typed = field.value.get_uint64().get(entry.size) == simdjson::SUCCESS; break;
    }
    if (!typed) {
      const bool is_number = bit == kModeKey || bit == kSizeKey;
      return fail("has " + Quote(field.key) + " that is not " + (is_number ? "an unsigned integer" : "a string"));
    }
  }
  if ((seen & kPathKey) == 0) return fail("has no \"path\"");
  if ((seen & kTypeKey) == 0) return fail("has no \"type\"");
  if (type_name == "file") {
    entry.type = EntryType::kFile;
  } else if (type_name == "dir") {
    entry.type = EntryType::kDir;
  } else if (type_name == "symlink") {
    entry.type = EntryType::kSymlink;
  } else {
    return fail("has unknown type " + Quote(type_name) + " (expected \"file\", \"dir\" or \"symlink\")");
  }
  const unsigned expected = ExpectedKeys(entry.type);
  if (const unsigned missing = expected & ~seen; missing != 0) {
    return fail("is a " + std::string(type_name) + " but has no " + Quote(EntryKeyName(FirstKey(missing))));
  }
  if (const unsigned extra = seen & ~expected; extra != 0) {
    return fail("is a " + std::string(type_name) + " but has key " + Quote(EntryKeyName(FirstKey(extra))));
  }
  if (entry.type == EntryType::kFile) {
    if (mode != kModeRegular && mode != kModeExecutable) {
      return fail("has mode " + std::to_string(mode) + "; only 420 (0644) and 493 (0755) are allowed");
    }
    entry.mode = static_cast<uint32_t>(mode);
    if (!IsLowerHexDigest(entry.sha256)) return fail("has a \"sha256\" that is not 64 lowercase hex digits");
  }
  return entry;
}

}  // namespace

std::string CanonicalManifest(std::string_view meta_json, const std::vector<ArchiveEntry>& entries) {
  std::string out(kManifestHead);
  out.append(meta_json);
  out.append(ManifestTail(entries));
  return out;
}

std::string MinifyJsonObject(std::string_view text, std::string* minified) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (const auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    return std::string("is not valid JSON (") + simdjson::error_message(error) + ")";
  }
  if (!root.is_object()) return "is not a JSON object";
  minified->resize(text.size());
  size_t length = 0;
  if (simdjson::minify(padded.data(), text.size(), minified->data(), length) != simdjson::SUCCESS) {
    return "could not be minified";
  }
  minified->resize(length);
  return "";
}

Result<std::vector<ArchiveEntry>> ReadManifestEntries(std::string_view text, const ArchiveLimits& limits) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (const auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    return ManifestError(std::string("is not valid JSON (") + simdjson::error_message(error) + ")");
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return ManifestError("is not a JSON object");

  bool has_format = false;
  bool has_meta = false;
  bool has_entries = false;
  for (const simdjson::dom::key_value_pair field : object) {
    bool* seen = field.key == "format" ? &has_format
                 : field.key == "meta" ? &has_meta
                 : field.key == "entries" ? &has_entries
                                          : nullptr;
    if (seen == nullptr) return ManifestError("has unknown key " + Quote(field.key));
    if (*seen) return ManifestError("has key " + Quote(field.key) + " twice");
    *seen = true;
  }
  // The version first: a newer format may change everything else.
  uint64_t format = 0;
  if (!has_format) return ManifestError("has no \"format\"");
  if (object["format"].get_uint64().get(format) != simdjson::SUCCESS) {
    return ManifestError("has a \"format\" that is not an unsigned integer");
  }
  if (format != 1) {
    return Status::Error(ErrorCode::kInvalidArgument, "bundle archive has format version " + std::to_string(format) +
                                                          "; this pycage reads version 1 only; upgrade pycage or "
                                                          "re-export the bundle with this version");
  }
  if (!has_meta) return ManifestError("has no \"meta\"");
  if (!object["meta"].is_object()) return ManifestError("has a \"meta\" that is not a JSON object");
  if (!has_entries) return ManifestError("has no \"entries\"");
  simdjson::dom::array array;
  if (object["entries"].get_array().get(array) != simdjson::SUCCESS) {
    return ManifestError("has \"entries\" that is not an array");
  }
  const size_t count = array.size();
  if (count > limits.max_entries) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "bundle archive lists " + std::to_string(count) + " entries, over the " +
                             std::to_string(limits.max_entries) +
                             "-entry limit (ArchiveLimits.max_entries); raise the limit or split the bundle");
  }
  std::vector<ArchiveEntry> entries;
  entries.reserve(count);
  for (const simdjson::dom::element element : array) {
    Result<ArchiveEntry> entry = ReadEntry(element, entries.size());
    if (!entry.ok()) return entry.status();
    entries.push_back(std::move(entry).value());
  }
  return entries;
}

Result<std::string> CanonicalMeta(std::string_view text, const std::vector<ArchiveEntry>& entries) {
  const Status not_canonical =
      ManifestError("is not in canonical form (whitespace, key order or string escapes differ from what pycage writes)");
  const std::string tail = ManifestTail(entries);
  if (text.size() < kManifestHead.size() + tail.size() || !text.starts_with(kManifestHead) || !text.ends_with(tail)) {
    return not_canonical;
  }
  // The middle is exactly the meta value: it parses alone as one object, and
  // a JSON value ends where its text ends, so the parser read these bytes as
  // "meta" and the tail as "entries".
  const std::string_view meta = text.substr(kManifestHead.size(), text.size() - kManifestHead.size() - tail.size());
  std::string minified;
  if (!MinifyJsonObject(meta, &minified).empty() || minified != meta) return not_canonical;
  return std::string(meta);
}

}  // namespace pycage::store
