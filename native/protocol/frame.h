// Length-prefixed frames: u32 little-endian length, then that many bytes.
//
// Used on the control socket (supervisor <-> zygote) and on each run's
// channel. The decoder is fed untrusted bytes from inside the jail, so it
// never trusts a length beyond its cap and never allocates more than it saw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pycage::protocol {

inline constexpr size_t kFrameHeaderBytes = 4;

void AppendFrame(std::string& out, std::string_view payload);
std::string EncodeFrame(std::string_view payload);

class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Appends bytes. Fails (and stays failed) once a header announces a frame
  // larger than the cap; the caller then drops the channel.
  Status Feed(std::string_view bytes);
  // Pops the oldest complete frame into `frame`.
  bool Next(std::string* frame);
  // True while a frame has started but not finished: EOF now means a torn frame.
  bool HasPartialFrame() const { return buffer_.size() > consumed_; }
  bool failed() const { return failed_; }
  size_t max_frame_bytes() const { return max_frame_bytes_; }

 private:
  void Extract();

  size_t max_frame_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;
  std::deque<std::string> frames_;
  bool failed_ = false;
};

}  // namespace pycage::protocol
