// SHA-256 (FIPS 180-4), incremental. Bundle archives carry one digest per
// file and one over the whole archive; a portable implementation keeps the
// core free of a crypto library for this one hash.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pycage {

class Sha256 {
 public:
  static constexpr size_t kDigestBytes = 32;
  using Digest = std::array<uint8_t, kDigestBytes>;

  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }
  // Pads, returns the digest and resets the object for a new message.
  Digest Finish();

 private:
  void Compress(const uint8_t* block);
  void Reset();

  std::array<uint32_t, 8> state_{};
  std::array<uint8_t, 64> block_{};
  size_t block_used_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lowercase hex of `bytes`.
std::string HexLower(std::span<const uint8_t> bytes);

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace pycage
