#include "protocol/frame.h"

namespace pycage::protocol {

void AppendFrame(std::string& out, std::string_view payload) {
  const auto length = static_cast<uint32_t>(payload.size());
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((length >> shift) & 0xff));
  out.append(payload);
}

std::string EncodeFrame(std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeaderBytes + payload.size());
  AppendFrame(out, payload);
  return out;
}

Status FrameDecoder::Feed(std::string_view bytes) {
  if (failed_) return Status::Error(ErrorCode::kInternal, "frame decoder already failed");
  buffer_.append(bytes);
  Extract();
  if (failed_) {
    return Status::Error(ErrorCode::kInternal,
                         "frame larger than the " + std::to_string(max_frame_bytes_) + "-byte cap");
  }
  return Status::Ok();
}

void FrameDecoder::Extract() {
  while (buffer_.size() - consumed_ >= kFrameHeaderBytes) {
    const auto* header = reinterpret_cast<const unsigned char*>(buffer_.data() + consumed_);
    const uint32_t length = static_cast<uint32_t>(header[0]) | (static_cast<uint32_t>(header[1]) << 8) |
                            (static_cast<uint32_t>(header[2]) << 16) | (static_cast<uint32_t>(header[3]) << 24);
    if (length > max_frame_bytes_) {
      failed_ = true;
      return;
    }
    if (buffer_.size() - consumed_ - kFrameHeaderBytes < length) break;
    frames_.emplace_back(buffer_, consumed_ + kFrameHeaderBytes, length);
    consumed_ += kFrameHeaderBytes + length;
  }
  // Compact once the consumed prefix dominates, so a long stream of small
  // frames does not grow the buffer without bound.
  if (consumed_ > 0 && consumed_ * 2 >= buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
}

bool FrameDecoder::Next(std::string* frame) {
  if (frames_.empty()) return false;
  *frame = std::move(frames_.front());
  frames_.pop_front();
  return true;
}

}  // namespace pycage::protocol
