// Minimal JSON text building for the frames the supervisor sends. The payloads
// are small and flat, so a string builder beats a DOM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pycage {

// Appends `value` as a quoted JSON string. The bytes are copied as they are:
// every string written here came from a JS string through N-API, which always
// yields valid UTF-8 (lone surrogates become U+FFFD).
void AppendJsonString(std::string& out, std::string_view value);

class JsonObjectWriter {
 public:
  JsonObjectWriter() { text_.push_back('{'); }
  JsonObjectWriter& String(std::string_view key, std::string_view value);
  JsonObjectWriter& Uint(std::string_view key, uint64_t value);
  JsonObjectWriter& Raw(std::string_view key, std::string_view json_text);
  std::string Finish();

 private:
  void Key(std::string_view key);
  std::string text_;
  bool first_ = true;
};

}  // namespace pycage
