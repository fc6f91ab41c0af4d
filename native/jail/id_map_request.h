// The one request a run's spare makes to the jail's init: "map my new user
// namespace to uid/gid slot N". The init learns who asks from the kernel
// (SO_PASSCRED), never from the message, and answers on a pipe the request
// carries, so concurrent spares sharing one socket each get their own answer.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/status.h"

namespace pycage::jail::id_map_request {

constexpr uint32_t kMagic = 0x70636d31;  // "pcm1"

struct Message {
  uint32_t magic;
  uint32_t slot;
};

// Spare side: sends the request with a reply pipe and waits for the answer
// (0, or the errno the init's check or write failed with).
Status Send(int init_fd, uint32_t slot);

// Init side: one received request. pid and uid come from SCM_CREDENTIALS;
// reply_fd is -1 when the sender sent none (then nobody waits).
struct Received {
  Message message{};
  pid_t pid = 0;
  uid_t uid = 0;
  int reply_fd = -1;
  bool well_formed = false;
};
// Returns false when nothing was waiting (EAGAIN) or the socket is closed
// (*closed set). Extra descriptors beyond the reply pipe are closed.
bool Receive(int init_fd, Received& out, bool* closed);
void Reply(Received& request, int error);

}  // namespace pycage::jail::id_map_request
