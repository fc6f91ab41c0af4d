#include "installer/pip_report.h"

#include <simdjson.h>

#include <algorithm>
#include <numeric>
#include <utility>

#include "requirements/requirements.h"

namespace pycage::installer {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

Status Refuse(std::string_view what) {
  std::string message = "pip report: ";
  message.append(what);
  return Status::Error(ErrorCode::kInvalidArgument, std::move(message));
}

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsVisibleAscii(char c) { return c > ' ' && c < '\x7f'; }
bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// 'text' for an error message: cut at 60 bytes, anything but printable ASCII
// written as \xNN, so a hostile report cannot break the message's line.
std::string Echo(std::string_view text) {
  constexpr size_t kMax = 60;
  std::string out = "'";
  for (char c : text.substr(0, kMax)) {
    if (c >= ' ' && c < '\x7f' && c != '\\') {
      out.push_back(c);
    } else {
      constexpr std::string_view kDigits = "0123456789abcdef";
      const auto byte = static_cast<unsigned char>(c);
      out.append("\\x");
      out.push_back(kDigits[byte >> 4]);
      out.push_back(kDigits[byte & 0xf]);
    }
  }
  out.append(text.size() > kMax ? "...'" : "'");
  return out;
}

// PEP 508 project names: ASCII letters and digits, with '-', '_' and '.'
// allowed inside.
bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxPipNameBytes) return false;
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool IsValidVersion(std::string_view version) {
  return !version.empty() && version.size() <= kMaxPipVersionBytes &&
         std::all_of(version.begin(), version.end(), IsVisibleAscii);
}

// An http(s) URL with a host, or a file:///… wheel from one of the
// operator's findLinks directories, in visible ASCII (pip percent-encodes the
// rest).
bool IsValidUrl(std::string_view url) {
  if (url.size() > kMaxPipUrlBytes || !std::all_of(url.begin(), url.end(), IsVisibleAscii)) return false;
  std::string_view rest;
  if (url.starts_with("file:///")) {
    return url.size() > 8 + 4 && url.ends_with(".whl") && url.find("/../") == std::string_view::npos;
  }
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return false;
  }
  return !rest.empty() && rest.front() != '/' && rest.front() != '?' && rest.front() != '#';
}

// 64 hex digits, returned lowercase; empty if `text` is not one.
std::string Sha256Hex(std::string_view text) {
  if (text.size() != 64 || !std::all_of(text.begin(), text.end(), IsHex)) return {};
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Reads the fields of one JSON object, refusing keys given twice: simdjson
// would see the first copy and Python's json the last, so such a report could
// mean two different things.
class Fields {
 public:
  // `where` names the object in messages, e.g. "install[2] (idna) metadata".
  Fields(object value, std::string where) : object_(value), where_(std::move(where)) {}

  const std::string& where() const { return where_; }

  Status Find(std::string_view key, element* value, bool* present) const {
    *present = false;
    for (simdjson::dom::key_value_pair field : object_) {
      if (field.key != key) continue;
      if (*present) return Refuse(where_ + " repeats the key '" + std::string(key) + "'");
      *present = true;
      *value = field.value;
    }
    return Status::Ok();
  }

  Status Has(std::string_view key, bool* present) const {
    element ignored;
    return Find(key, &ignored, present);
  }

  Status String(std::string_view key, std::string_view* out, bool* present) const {
    element value;
    if (Status s = Find(key, &value, present); !s.ok() || !*present) return s;
    if (value.get_string().get(*out) != simdjson::SUCCESS) return WrongType(key, "string");
    return Status::Ok();
  }

  Status RequiredString(std::string_view key, std::string_view* out) const {
    bool present = false;
    if (Status s = String(key, out, &present); !s.ok()) return s;
    return present ? Status::Ok() : Missing(key, "string");
  }

  Status RequiredBool(std::string_view key, bool* out) const {
    element value;
    bool present = false;
    if (Status s = Find(key, &value, &present); !s.ok()) return s;
    if (!present) return Missing(key, "boolean");
    if (value.get_bool().get(*out) != simdjson::SUCCESS) return WrongType(key, "boolean");
    return Status::Ok();
  }

  Status Object(std::string_view key, object* out, bool* present) const {
    element value;
    if (Status s = Find(key, &value, present); !s.ok() || !*present) return s;
    if (value.get_object().get(*out) != simdjson::SUCCESS) return WrongType(key, "object");
    return Status::Ok();
  }

  Status RequiredObject(std::string_view key, object* out) const {
    bool present = false;
    if (Status s = Object(key, out, &present); !s.ok()) return s;
    return present ? Status::Ok() : Missing(key, "object");
  }

  Status RequiredArray(std::string_view key, array* out) const {
    element value;
    bool present = false;
    if (Status s = Find(key, &value, &present); !s.ok()) return s;
    if (!present) return Missing(key, "array");
    if (value.get_array().get(*out) != simdjson::SUCCESS) return WrongType(key, "array");
    return Status::Ok();
  }

  Status Fail(std::string_view what) const { return Refuse(where_ + " " + std::string(what)); }

 private:
  Status Missing(std::string_view key, std::string_view type) const {
    return Fail("has no " + std::string(type) + " '" + std::string(key) + "'");
  }
  Status WrongType(std::string_view key, std::string_view type) const {
    return Fail("has a non-" + std::string(type) + " '" + std::string(key) + "'");
  }

  object object_;
  std::string where_;
};

// The sha256 in download_info.archive_info: `hashes.sha256`, or the older
// `hash` field ("sha256=<hex>"). Both present must agree.
Status ReadSha256(const Fields& archive, std::string* sha256) {
  object hashes_object;
  bool has_hashes = false;
  if (Status s = archive.Object("hashes", &hashes_object, &has_hashes); !s.ok()) return s;
  if (has_hashes) {
    const Fields hashes(hashes_object, archive.where() + ".hashes");
    std::string_view text;
    bool present = false;
    if (Status s = hashes.String("sha256", &text, &present); !s.ok()) return s;
    if (present) {
      *sha256 = Sha256Hex(text);
      if (sha256->empty()) return hashes.Fail("has a sha256 that is not 64 hex digits: " + Echo(text));
    }
  }

  std::string_view legacy;
  bool has_legacy = false;
  if (Status s = archive.String("hash", &legacy, &has_legacy); !s.ok()) return s;
  if (!has_legacy || !legacy.starts_with("sha256=")) return Status::Ok();
  const std::string legacy_sha256 = Sha256Hex(legacy.substr(7));
  if (legacy_sha256.empty()) return archive.Fail("has a hash that is not sha256=<64 hex digits>: " + Echo(legacy));
  if (!sha256->empty() && *sha256 != legacy_sha256) {
    return archive.Fail("has a 'hash' and a 'hashes.sha256' that differ");
  }
  *sha256 = legacy_sha256;
  return Status::Ok();
}

Status ReadDownloadInfo(const Fields& item, ResolvedPackage* package) {
  object info_object;
  if (Status s = item.RequiredObject("download_info", &info_object); !s.ok()) return s;
  const Fields info(info_object, item.where() + " download_info");

  bool present = false;
  if (Status s = info.Has("dir_info", &present); !s.ok()) return s;
  if (present) {
    return item.Fail("is a local directory (download_info.dir_info); pycage installs only named packages from an index");
  }
  if (Status s = info.Has("vcs_info", &present); !s.ok()) return s;
  if (present) {
    return item.Fail("is a VCS checkout (download_info.vcs_info); pycage installs only named packages from an index");
  }

  std::string_view url;
  if (Status s = info.RequiredString("url", &url); !s.ok()) return s;
  if (!IsValidUrl(url)) {
    return item.Fail("has a download URL that is neither an http(s) URL nor a file:/// wheel: " + Echo(url) +
                     "; pycage installs only from the operator's index and findLinks");
  }
  package->url.assign(url);

  object archive_object;
  if (Status s = info.RequiredObject("archive_info", &archive_object); !s.ok()) return s;
  return ReadSha256(Fields(archive_object, info.where() + ".archive_info"), &package->sha256);
}

Status ReadItem(element value, size_t index, ResolvedPackage* package) {
  std::string where = "install[" + std::to_string(index) + "]";
  object item_object;
  if (value.get_object().get(item_object) != simdjson::SUCCESS) return Refuse(where + " is not an object");

  object metadata_object;
  if (Status s = Fields(item_object, where).RequiredObject("metadata", &metadata_object); !s.ok()) return s;
  const Fields metadata(metadata_object, where + " metadata");
  std::string_view name;
  if (Status s = metadata.RequiredString("name", &name); !s.ok()) return s;
  if (!IsValidName(name)) return metadata.Fail("has an invalid project name " + Echo(name));
  package->name.assign(name);
  package->normalized_name = requirements::NormalizeName(name);

  // From here on messages name the package too.
  where += " (" + package->name + ")";
  const Fields item(item_object, where);
  const Fields named_metadata(metadata_object, where + " metadata");
  std::string_view version;
  if (Status s = named_metadata.RequiredString("version", &version); !s.ok()) return s;
  if (!IsValidVersion(version)) {
    return named_metadata.Fail("has an invalid version " + Echo(version) + " (want 1 to " +
                               std::to_string(kMaxPipVersionBytes) + " printable ASCII characters, no spaces)");
  }
  package->version.assign(version);

  bool is_direct = false;
  if (Status s = item.RequiredBool("is_direct", &is_direct); !s.ok()) return s;
  if (is_direct) {
    return item.Fail("is a direct URL requirement (is_direct: true); pycage installs only named packages from an index");
  }
  if (Status s = item.RequiredBool("requested", &package->requested); !s.ok()) return s;
  return ReadDownloadInfo(item, package);
}

}  // namespace

Result<PipReport> ParsePipReport(std::string_view json, const PipReportLimits& limits) {
  if (json.size() > limits.max_bytes) {
    return Refuse("the report is " + std::to_string(json.size()) + " bytes, over the limit of " +
                  std::to_string(limits.max_bytes));
  }
  // simdjson counts the document itself as a level, hence the + 1.
  const size_t max_depth = std::min(limits.max_depth, kMaxPipDepth);
  simdjson::dom::parser parser;
  if (parser.allocate(json.size() + 1, max_depth + 1) != simdjson::SUCCESS) {
    return Status::Error(ErrorCode::kInternal, "pip report: cannot allocate a JSON parser");
  }
  const simdjson::padded_string padded(json);
  element root;
  if (const auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    if (error == simdjson::DEPTH_ERROR) {
      return Refuse("the report nests deeper than " + std::to_string(max_depth) + " levels");
    }
    return Refuse(std::string("the report is not valid JSON: ") + simdjson::error_message(error));
  }
  object root_object;
  if (root.get_object().get(root_object) != simdjson::SUCCESS) return Refuse("the report is not a JSON object");
  const Fields top(root_object, "the report");

  std::string_view version;
  if (Status s = top.RequiredString("version", &version); !s.ok()) return s;
  if (version != "1") {
    return top.Fail("has version " + Echo(version) + "; only version \"1\" is understood (is pip much newer?)");
  }

  PipReport report;
  std::string_view pip_version;
  if (Status s = top.RequiredString("pip_version", &pip_version); !s.ok()) return s;
  if (!IsValidVersion(pip_version)) return top.Fail("has an invalid pip_version " + Echo(pip_version));
  report.pip_version.assign(pip_version);

  array install;
  if (Status s = top.RequiredArray("install", &install); !s.ok()) return s;
  const size_t count = install.size();
  if (count > limits.max_packages) {
    return Refuse("the report lists " + std::to_string(count) + " packages, over the limit of " +
                  std::to_string(limits.max_packages));
  }
  report.packages.resize(count);
  size_t index = 0;
  for (element item : install) {
    if (Status s = ReadItem(item, index, &report.packages[index]); !s.ok()) return s;
    ++index;
  }

  // Sort through an index permutation so a duplicate can be reported with
  // both item positions.
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return report.packages[a].normalized_name < report.packages[b].normalized_name;
  });
  std::vector<ResolvedPackage> sorted;
  sorted.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const ResolvedPackage& package = report.packages[order[i]];
    if (i > 0 && package.normalized_name == sorted.back().normalized_name) {
      const size_t first = order[i - 1];
      return Refuse("install[" + std::to_string(first) + "] (" + sorted.back().name + ") and install[" +
                    std::to_string(order[i]) + "] (" + package.name + ") are the same project '" +
                    package.normalized_name + "'");
    }
    sorted.push_back(std::move(report.packages[order[i]]));
  }
  report.packages = std::move(sorted);
  return report;
}

}  // namespace pycage::installer
