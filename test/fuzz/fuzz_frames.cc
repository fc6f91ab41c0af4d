// Feeds arbitrary bytes, split at a fuzzer-chosen point, through the frame
// decoder and every message parser that reads what the jail sends back, and
// checks, beyond "no crash", what the supervisor relies on:
//  - feeding the bytes in two pieces decodes exactly what one piece does
//    (frames and failure alike): a run cannot exploit how reads are split;
//  - no decoded frame exceeds the cap, and the frames re-encoded are a prefix
//    of the input (all of it when nothing is left over and nothing failed);
//  - a refused message says why; an accepted error reply names its type, a
//    setup_error carries a message, and an exit report has a known op;
//  - the started frame is never mistaken for a reply.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace {

using pycage::protocol::FrameDecoder;
using pycage::protocol::RunReplyMeta;

constexpr size_t kCap = 1 << 16;

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Decoded {
  std::vector<std::string> frames;
  bool failed = false;
  bool partial = false;
};

Decoded Decode(std::string_view bytes, size_t split) {
  FrameDecoder decoder(kCap);
  Decoded out;
  for (std::string_view piece : {bytes.substr(0, split), bytes.substr(split)}) {
    if (!decoder.Feed(piece).ok()) {
      out.failed = true;
      break;
    }
  }
  Check(decoder.failed() == out.failed);
  std::string frame;
  while (decoder.Next(&frame)) out.frames.push_back(frame);
  out.partial = !out.failed && decoder.HasPartialFrame();
  return out;
}

void CheckMessages(const std::string& frame) {
  const auto control = pycage::protocol::ParseControlMessage(frame);
  if (!control.ok()) Check(!control.status().message().empty());

  const auto meta = pycage::protocol::ParseRunReplyMeta(frame);
  if (!meta.ok()) {
    Check(!meta.status().message().empty());
  } else if (meta->status == RunReplyMeta::Status::kError) {
    Check(!meta->error.type.empty());
  }
  if (meta.ok() && meta->cpu_ms) Check(*meta->cpu_ms >= 0);
  if (meta.ok()) {
    // Only module names reach the host's preload learner.
    Check(meta->imported.size() <= pycage::protocol::kMaxImportedModules);
    for (const std::string& name : meta->imported) Check(pycage::protocol::IsModuleName(name));
  }
  // The exact started bytes carry an unknown status as far as replies go.
  if (frame == pycage::protocol::kRunStartedFrame) Check(!meta.ok());

  const pycage::Status result = pycage::protocol::ValidateResultJson(frame, 64);
  if (!result.ok()) Check(!result.message().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t split = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);

  const Decoded whole = Decode(bytes, bytes.size());
  const Decoded pieces = Decode(bytes, split);
  Check(whole.failed == pieces.failed && whole.frames == pieces.frames && whole.partial == pieces.partial);

  std::string reencoded;
  for (const std::string& frame : whole.frames) {
    Check(frame.size() <= kCap);
    pycage::protocol::AppendFrame(reencoded, frame);
  }
  Check(bytes.starts_with(reencoded));
  if (!whole.failed && !whole.partial) Check(reencoded == bytes);

  for (const std::string& frame : whole.frames) CheckMessages(frame);
  return 0;
}
