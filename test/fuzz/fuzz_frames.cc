// Feeds arbitrary bytes, split at a fuzzer-chosen point, through the frame
// decoder and every message parser that reads what the jail sends back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/frame.h"
#include "protocol/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t split = data[0] % (size);
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  pycage::protocol::FrameDecoder decoder(1 << 16);
  if (!decoder.Feed(bytes.substr(0, split)).ok()) return 0;
  if (!decoder.Feed(bytes.substr(split < bytes.size() ? split : bytes.size())).ok()) return 0;
  std::string frame;
  while (decoder.Next(&frame)) {
    (void)pycage::protocol::ParseControlMessage(frame);
    (void)pycage::protocol::ParseRunReplyMeta(frame);
    (void)pycage::protocol::ValidateResultJson(frame, 64);
  }
  return 0;
}
