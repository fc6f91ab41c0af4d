// Assertions shared by the store tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "store/archive.h"

namespace pycage::store::archive_test {

inline ::testing::AssertionResult Has(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

inline bool PrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7f;
  });
}

inline ParsedArchive MustParse(const std::string& bytes, const ArchiveLimits& limits = {}) {
  Result<ParsedArchive> parsed = ParseArchive(bytes, limits);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return parsed.ok() ? std::move(parsed).value() : ParsedArchive{};
}

// The refusal message for `bytes`, which must be refused with
// kInvalidArgument and one printable ASCII line.
inline std::string Refusal(const std::string& bytes, const ArchiveLimits& limits = {}) {
  const Result<ParsedArchive> parsed = ParseArchive(bytes, limits);
  EXPECT_FALSE(parsed.ok()) << "accepted";
  if (parsed.ok()) return "<accepted>";
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
  const std::string& message = parsed.status().message();
  EXPECT_TRUE(PrintableAscii(message)) << message;
  EXPECT_TRUE(message.starts_with("bundle archive ")) << message;
  return message;
}

}  // namespace pycage::store::archive_test
