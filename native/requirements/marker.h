// PEP 508 environment markers (the text after ';' on a requirement line).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pycage::requirements {

// Deeper nesting is refused so a hostile line cannot exhaust the stack.
inline constexpr size_t kMaxMarkerDepth = 32;

// Checks `text` against the marker grammar and returns it normalised: tokens
// separated by one space, no space inside parentheses, strings double-quoted.
// A failure's message says why, without the line prefix (the caller adds it).
// String literals may not contain whitespace or quotes, so the normalised
// marker never has a token that pip could read as an option.
Result<std::string> NormalizeMarker(std::string_view text);

}  // namespace pycage::requirements
