// The fork server (jail/fork_server.h): spares it clones are the caller's
// children, carry the request's slot and /tmp options, and the server ends
// with its socket. Needs user namespaces (the clone is the run's).
#include "jail/fork_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

namespace pycage::jail::fork_server {
namespace {

// In each spare: "<slot> <tmp options> <ppid> <pid>" on its socket, then exit 0.
[[noreturn]] void ReportAndExit(const Spare& spare) {
  std::string line = std::to_string(spare.slot) + " " + spare.tmp_options + " " + std::to_string(getppid()) + " " +
                     std::to_string(getpid());
  ssize_t n = write(spare.fd, line.data(), line.size());
  _exit(n == static_cast<ssize_t>(line.size()) ? 0 : 4);
}

class ForkServerTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair_), 0);
    server_ = fork();
    ASSERT_GE(server_, 0);
    if (server_ == 0) {
      close(pair_[0]);
      Result<Spare> spare = Serve(pair_[1]);
      if (!spare.ok()) _exit(3);
      ReportAndExit(spare.value());
    }
    close(pair_[1]);
  }

  void TearDown() override {
    if (pair_[0] >= 0) close(pair_[0]);
    if (server_ > 0) {
      kill(server_, SIGKILL);
      waitpid(server_, nullptr, 0);
    }
  }

  // The server's exit status once it ended (the test told it to), or -1 when
  // it still runs after 5 s (then TearDown kills it).
  int WaitServer() {
    for (int tries = 0; tries < 500; ++tries) {
      int status = 0;
      pid_t got = waitpid(server_, &status, WNOHANG);
      if (got == server_) {
        server_ = -1;
        return status;
      }
      EXPECT_EQ(got, 0);
      usleep(10000);
    }
    ADD_FAILURE() << "the fork server still runs";
    return -1;
  }

  int pair_[2] = {-1, -1};
  pid_t server_ = -1;
};

TEST_F(ForkServerTest, ASpareIsTheCallersChildWithTheRequestedSlotAndOptions) {
  for (uint32_t slot : {7u, 8u}) {
    Outcome got;
    ASSERT_TRUE(RequestSpare(pair_[0], slot, "size=1048576,mode=1777", &got).ok());
    ASSERT_GT(got.pid, 0);
    ASSERT_GE(got.fd, 0);
    char buf[256] = {};
    ssize_t n = read(got.fd, buf, sizeof(buf) - 1);
    ASSERT_GT(n, 0);
    close(got.fd);
    // pid 1 of its own pid namespace; its parent, seen from there, is outside
    // it (0), and for us it is our own child: waitpid succeeds.
    EXPECT_EQ(std::string(buf), std::to_string(slot) + " size=1048576,mode=1777 0 1");
    int status = 0;
    ASSERT_EQ(waitpid(got.pid, &status, 0), got.pid) << "CLONE_PARENT should make the spare the caller's child";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
}

TEST_F(ForkServerTest, TheServerExitsZeroWhenTheZygoteClosesItsEnd) {
  close(pair_[0]);
  pair_[0] = -1;
  int status = WaitServer();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(ForkServerTest, AMalformedRequestEndsTheServerAndTheNextRequestSaysItIsGone) {
  const char junk[5] = "junk";
  ASSERT_EQ(send(pair_[0], junk, sizeof(junk), 0), static_cast<ssize_t>(sizeof(junk)));
  int status = WaitServer();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  Outcome got;
  Status s = RequestSpare(pair_[0], 1, "mode=1777", &got);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.sys_errno(), EPIPE) << s.message();
  EXPECT_EQ(got.pid, 0);
}

TEST_F(ForkServerTest, ARecordLongerThanARequestEndsTheServerToo) {
  char longer[sizeof(Request) + 8] = {};
  ASSERT_EQ(send(pair_[0], longer, sizeof(longer), 0), static_cast<ssize_t>(sizeof(longer)));
  int status = WaitServer();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
}

TEST_F(ForkServerTest, OptionsWithoutTheirEndAreRefusedByTheServer) {
  Request unterminated{};
  unterminated.slot = 1;
  std::memset(unterminated.tmp_options, 'x', sizeof(unterminated.tmp_options));
  ASSERT_EQ(send(pair_[0], &unterminated, sizeof(unterminated), 0), static_cast<ssize_t>(sizeof(unterminated)));
  int status = WaitServer();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
}

TEST_F(ForkServerTest, OptionsLongerThanARequestAreRefusedBeforeSending) {
  Outcome got;
  Status s = RequestSpare(pair_[0], 1, std::string(kTmpOptionsCap, 'x'), &got);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("longer than a request holds"), std::string::npos) << s.message();
  // The server is still there and serves the next, well-formed request.
  ASSERT_TRUE(RequestSpare(pair_[0], 2, "mode=1777", &got).ok());
  close(got.fd);
  EXPECT_EQ(waitpid(got.pid, nullptr, 0), got.pid);
}

TEST(ForkServerThreads, AServerWithASecondThreadRefusesToStart) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  pid_t server = fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    int wake[2];
    if (pipe(wake) != 0) _exit(5);
    std::thread sleeper([&] {
      char c;
      (void)!read(wake[0], &c, 1);
    });
    Result<Spare> spare = Serve(pair[1]);
    int code = !spare.ok() && spare.status().message().find("other threads") != std::string::npos ? 0 : 6;
    (void)!write(wake[1], "x", 1);
    sleeper.join();
    _exit(code);
  }
  close(pair[1]);
  int status = 0;
  ASSERT_EQ(waitpid(server, &status, 0), server);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(pair[0]);
}

}  // namespace
}  // namespace pycage::jail::fork_server
