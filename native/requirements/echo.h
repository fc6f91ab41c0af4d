// Quoting user text inside an error message, shared by the line and marker
// parsers.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace pycage::requirements {

// 'text', cut at 40 characters so an error stays one line; tabs become
// spaces so messages stay printable.
inline std::string Echo(std::string_view text) {
  constexpr size_t kMax = 40;
  // Built by appends: GCC 12's -Wrestrict misfires on `"'" + std::string(...)` at -O3.
  std::string out = "'";
  out.append(text.substr(0, kMax));
  out.append(text.size() > kMax ? "...'" : "'");
  std::replace(out.begin(), out.end(), '\t', ' ');
  return out;
}

}  // namespace pycage::requirements
