#include "common/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace pycage {
namespace {

// FIPS 180-4 examples (NIST "SHA256.pdf" and the CAVP short/long messages).
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* k448Bit = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* k896Bit = "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1";
constexpr const char* kMillionA = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

const std::string k448Message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
const std::string k896Message =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

TEST(Sha256Test, MatchesTheStandardVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmpty);
  EXPECT_EQ(Sha256Hex("abc"), kAbc);
  EXPECT_EQ(k448Message.size() * 8, 448u);
  EXPECT_EQ(Sha256Hex(k448Message), k448Bit);
  EXPECT_EQ(Sha256Hex(k896Message), k896Bit);
}

TEST(Sha256Test, HashesAMillionAInOneCallAndInOddChunks) {
  const std::string million(1'000'000, 'a');
  EXPECT_EQ(Sha256Hex(million), kMillionA);
  Sha256 hash;
  for (size_t done = 0; done < million.size();) {
    const size_t take = std::min<size_t>(million.size() - done, 1 + done % 997);
    hash.Update(million.data() + done, take);
    done += take;
  }
  EXPECT_EQ(HexLower(hash.Finish()), kMillionA);
}

// Splits at every offset, so each padding case (0..63 bytes left in the block,
// a length field that does or does not fit) meets the buffered path.
TEST(Sha256Test, AnyTwoWaySplitAcrossBlockBoundariesGivesTheSameDigest) {
  std::string message;
  for (int i = 0; i < 200; ++i) message.push_back(static_cast<char>(i * 7 + 3));
  for (size_t length : {size_t{55}, size_t{56}, size_t{63}, size_t{64}, size_t{65}, size_t{119}, size_t{200}}) {
    const std::string_view whole = std::string_view(message).substr(0, length);
    const std::string expected = Sha256Hex(whole);
    for (size_t cut = 0; cut <= length; ++cut) {
      Sha256 hash;
      hash.Update(whole.substr(0, cut));
      hash.Update(whole.substr(cut));
      ASSERT_EQ(HexLower(hash.Finish()), expected) << "length " << length << " cut " << cut;
    }
  }
}

TEST(Sha256Test, ByteByByteUpdatesMatch) {
  Sha256 hash;
  for (const char c : k896Message) hash.Update(&c, 1);
  EXPECT_EQ(HexLower(hash.Finish()), k896Bit);
}

TEST(Sha256Test, FinishResetsForTheNextMessage) {
  Sha256 hash;
  hash.Update("abc");
  EXPECT_EQ(HexLower(hash.Finish()), kAbc);
  EXPECT_EQ(HexLower(hash.Finish()), kEmpty);
  hash.Update(k448Message);
  EXPECT_EQ(HexLower(hash.Finish()), k448Bit);
}

TEST(Sha256Test, HexIsLowercaseAndTwoDigitsPerByte) {
  const uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(HexLower(bytes), "000fa0ff");
  EXPECT_EQ(HexLower({}), "");
}

}  // namespace
}  // namespace pycage
