// Feeds arbitrary text to the requirements parser and checks, beyond "no
// crash", the properties the bundle identity relies on:
//  - a refusal is one printable ASCII line starting with "requirements ";
//  - an accepted set's canonical text is printable ASCII with no token pip
//    could read as an option, URL or variable;
//  - the canonical text parses again to itself, also with its lines reversed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "requirements/requirements.h"

namespace {

using pycage::requirements::CanonicalText;
using pycage::requirements::NormalizeName;
using pycage::requirements::ParseRequirements;
using pycage::requirements::RequirementSet;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool PrintableAscii(const std::string& s, bool allow_newline) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 0x20 && u < 0x7F) || (allow_newline && c == '\n');
  });
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string CanonOf(const std::string& text) {
  const pycage::Result<RequirementSet> set = ParseRequirements(text);
  Check(set.ok());
  return CanonicalText(set.value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const pycage::Result<RequirementSet> set = ParseRequirements(text);
  if (!set.ok()) {
    const std::string& message = set.status().message();
    Check(message.starts_with("requirements "));
    Check(PrintableAscii(message, false));
    return 0;
  }
  for (const auto& req : set->requirements) {
    Check(req.normalized_name == NormalizeName(req.name));
    Check(req.line >= 1);
    Check(std::is_sorted(req.extras.begin(), req.extras.end()));
    Check(std::adjacent_find(req.extras.begin(), req.extras.end()) == req.extras.end());
    Check(req.specifier.find_first_of(" \t") == std::string::npos);
  }
  const std::string canon = CanonicalText(set.value());
  Check(PrintableAscii(canon, true));
  Check(canon.find("://") == std::string::npos && canon.find('$') == std::string::npos &&
        canon.find('\\') == std::string::npos && canon.find("--") == std::string::npos);
  std::vector<std::string> lines = Lines(canon);
  for (const std::string& line : lines) {
    Check(!line.empty() && line.front() != '-' && line.find(" -") == std::string::npos);
  }
  Check(CanonOf(canon) == canon);
  std::reverse(lines.begin(), lines.end());
  std::string reversed;
  for (const std::string& line : lines) reversed += line + "\n";
  Check(CanonOf(reversed) == canon);
  return 0;
}
