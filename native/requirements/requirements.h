// Validation and normalisation of requirements.txt text, before any installer
// sees it.
//
// The text comes from workflow authors and is handed to pip/uv, so only a
// small subset of PEP 508 is accepted: a project name, extras, version
// specifiers and an environment marker, one requirement per line. Everything
// that would make the installer read other files, other indexes, URLs, local
// paths or the environment is refused with an error naming the line, the
// reason and the fix (ERR_REQUIREMENTS_INVALID).
//
// Choices (see also README "Bundles"):
//  - Comments (`#` at the start of a line or after whitespace, as pip reads
//    them), blank lines, tabs and CRLF are accepted.
//  - A trailing `\` line continuation is refused: one requirement per line.
//  - Lines identical after normalisation are kept once. Two different lines
//    for the same project with the same marker (e.g. `numpy>=1` and
//    `numpy<2`) are refused; the error suggests the combined line. Lines for
//    the same project with different markers are kept (that is how a set says
//    "numpy<2 on 3.8, numpy>=2 elsewhere").
//  - Text with no requirement at all is accepted as the empty set ("no
//    packages"); its canonical text is "".
//  - Versions are lowercased but otherwise kept as written, so `==1.0` and
//    `==1.0.0` are different sets (that only costs a second install).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pycage::requirements {

inline constexpr size_t kMaxBytes = 64 * 1024;
inline constexpr size_t kMaxLines = 1000;

struct Requirement {
  std::string name;                 // as written
  std::string normalized_name;      // PEP 503: lowercase, runs of -_. become -
  std::vector<std::string> extras;  // normalised like names, sorted, unique
  std::string specifier;            // e.g. "<2,>=1.2": no whitespace, clauses sorted and unique
  std::string marker;               // normalised marker, or empty
  size_t line = 0;                  // 1-based line in the text
};

struct RequirementSet {
  std::vector<Requirement> requirements;  // in text order, duplicates dropped
};

// PEP 503 normalisation of a project (or extra) name.
std::string NormalizeName(std::string_view name);

Result<RequirementSet> ParseRequirements(std::string_view text);

// `name[extra,...]specifier; marker` from the normalised fields. Never has a
// whitespace-separated token starting with '-', so pip reads no option in it.
std::string CanonicalLine(const Requirement& requirement);

// One CanonicalLine per requirement, each ending in '\n', sorted by normalised
// name and then by the line. Equal sets written differently give equal bytes,
// and ParseRequirements(CanonicalText(set)) gives the same canonical text.
std::string CanonicalText(const RequirementSet& set);

}  // namespace pycage::requirements
