#include "protocol/frame.h"

#include <gtest/gtest.h>

namespace pycage::protocol {
namespace {

TEST(FrameDecoderTest, DecodesFramesSplitAcrossArbitraryChunks) {
  std::string stream = EncodeFrame("first") + EncodeFrame("") + EncodeFrame(std::string(1000, 'x'));
  FrameDecoder decoder(4096);
  for (char byte : stream) ASSERT_TRUE(decoder.Feed(std::string_view(&byte, 1)).ok());
  std::string frame;
  ASSERT_TRUE(decoder.Next(&frame));
  EXPECT_EQ(frame, "first");
  ASSERT_TRUE(decoder.Next(&frame));
  EXPECT_EQ(frame, "");
  ASSERT_TRUE(decoder.Next(&frame));
  EXPECT_EQ(frame, std::string(1000, 'x'));
  EXPECT_FALSE(decoder.Next(&frame));
  EXPECT_FALSE(decoder.HasPartialFrame());
}

TEST(FrameDecoderTest, ReportsATornFrame) {
  std::string stream = EncodeFrame("complete");
  FrameDecoder decoder(64);
  ASSERT_TRUE(decoder.Feed(stream.substr(0, 6)).ok());
  EXPECT_TRUE(decoder.HasPartialFrame());
  std::string frame;
  EXPECT_FALSE(decoder.Next(&frame));
}

TEST(FrameDecoderTest, RefusesAFrameOverTheCapBeforeBufferingIt) {
  FrameDecoder decoder(16);
  const Status status = decoder.Feed(std::string("\xff\xff\xff\x7f", 4));
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "frame larger than the 16-byte cap");
  EXPECT_TRUE(decoder.failed());
  EXPECT_FALSE(decoder.Feed("more").ok());
}

TEST(FrameDecoderTest, AcceptsAFrameExactlyAtTheCap) {
  FrameDecoder decoder(8);
  ASSERT_TRUE(decoder.Feed(EncodeFrame("12345678")).ok());
  std::string frame;
  ASSERT_TRUE(decoder.Next(&frame));
  EXPECT_EQ(frame, "12345678");
}

TEST(FrameEncodingTest, WritesLittleEndianLength) {
  const std::string frame = EncodeFrame(std::string(258, 'a'));
  ASSERT_EQ(frame.size(), 262u);
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), 2);
  EXPECT_EQ(static_cast<unsigned char>(frame[1]), 1);
  EXPECT_EQ(frame[2], 0);
  EXPECT_EQ(frame[3], 0);
}

}  // namespace
}  // namespace pycage::protocol
