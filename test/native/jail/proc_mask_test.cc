// A run's /proc masks are mounted in a fresh fork of the warm interpreter,
// where every heap allocation copies a page of the interpreter's heap: the
// masking must allocate nothing when it succeeds (proc_mask.h).
#include "jail/proc_mask.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include <gtest/gtest.h>

namespace {

// Every global operator new in this test binary, counted.
std::atomic<long> g_allocations{0};

}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*n*/) noexcept { std::free(p); }

namespace {

using pycage::jail::proc_mask::MaskRunProc;

enum ChildExit { kMasked = 0, kNoNamespace = 2, kMaskFailed = 3, kAllocated = 4 };

TEST(ProcMask, MasksARunsProcWithoutAllocating) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a procfs here needs root";
  char dir_template[] = "/tmp/pycage-proc-mask-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A private mount namespace with its own procfs, as a run child has.
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("proc", dir.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      _exit(kNoNamespace);
    }
    const long before = g_allocations.load();
    const pycage::Status result = MaskRunProc(dir.c_str(), "/dev/null");
    const bool ok = result.ok();
    if (!ok) fprintf(stderr, "%s\n", result.message().c_str());
    const long after = g_allocations.load();
    struct stat st {};
    // The mask is really there: /proc/cmdline shows /dev/null (a character device).
    const bool masked = stat((dir + "/cmdline").c_str(), &st) == 0 && S_ISCHR(st.st_mode);
    _exit(!ok || !masked ? kMaskFailed : after != before ? kAllocated : kMasked);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  rmdir(dir.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  if (WEXITSTATUS(status) == kNoNamespace) GTEST_SKIP() << "no private mount namespace here";
  EXPECT_NE(WEXITSTATUS(status), kMaskFailed) << "the masks were not mounted";
  EXPECT_NE(WEXITSTATUS(status), kAllocated) << "masking allocated memory";
  EXPECT_EQ(WEXITSTATUS(status), kMasked);
}

TEST(ProcMask, ATooLongProcPathIsAnErrorNotAnOverflow) {
  const std::string proc(300, 'p');
  pycage::Status s = MaskRunProc(proc.c_str(), "/dev/null");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("path too long"), std::string::npos) << s.message();
}

}  // namespace
