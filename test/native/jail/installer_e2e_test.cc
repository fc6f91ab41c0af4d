// End-to-end tests of `pycage-jail --profile installer`: the real helper, real
// namespaces, the host's network. Unlike the run profile, stdout and stderr
// are the caller's, so programs print normally.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "jail/landlock.h"
#include "subprocess.h"

namespace pycage::jail {
namespace {

using testing::Outcome;

const std::string kPython = PYCAGE_TEST_PYTHON_EXE;
const std::string kPrefix = PYCAGE_TEST_PYTHON_PREFIX;

bool UnderUsr(const std::string& path) { return path == "/usr" || path.rfind("/usr/", 0) == 0; }

// The prefix must be visible inside; /usr is bound anyway.
std::vector<std::string> PythonBinds() {
  if (UnderUsr(kPrefix)) return {};
  return {"--ro-bind", kPrefix};
}

Outcome Installer(std::vector<std::string> opts, const std::vector<std::string>& program,
                  const std::vector<std::string>& extra_front = {}) {
  std::vector<std::string> argv{PYCAGE_JAIL, "--profile", "installer"};
  argv.insert(argv.end(), extra_front.begin(), extra_front.end());
  auto binds = PythonBinds();
  argv.insert(argv.end(), binds.begin(), binds.end());
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.emplace_back("--");
  argv.insert(argv.end(), program.begin(), program.end());
  return testing::Run(argv, {"HOST_SECRET=1"}, 120000);
}

Outcome Py(const std::string& code, std::vector<std::string> opts = {}) {
  opts.insert(opts.end(), {"--setenv", "HOME=/tmp", "--setenv", "LANG=C.UTF-8"});
  return Installer(std::move(opts), {kPython, "-I", "-c", code});
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pycage-installer-test-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) testing::Run({"/bin/rm", "-rf", path_});
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One-shot TCP server on 127.0.0.1: answers each connection with `reply`.
class TcpServer {
 public:
  explicit TcpServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        ++accepted_;
        ssize_t ignored = send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        (void)ignored;
        close(c);
      }
    });
  }
  ~TcpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// A package index: the host's python serving `dir` over HTTP on 127.0.0.1.
class HttpServer {
 public:
  explicit HttpServer(const std::string& dir) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      const char* code =
          "import functools, http.server, sys\n"
          "class Quiet(http.server.SimpleHTTPRequestHandler):\n"
          "    def log_message(self, *args): pass\n"
          "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=sys.argv[1]))\n"
          "print(s.server_address[1], flush=True)\n"
          "s.serve_forever()\n";
      execl(kPython.c_str(), kPython.c_str(), "-I", "-c", code, dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    port_ = std::atoi(line.c_str());
  }
  ~HttpServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// tinypkg-1.0-py3-none-any.whl in `dir`, built with zipfile (no network,
// no build tools): tinypkg.VALUE == 42.
bool MakeWheel(const std::string& dir) {
  const char* code =
      "import base64, hashlib, os, sys, zipfile\n"
      "files = {'tinypkg/__init__.py': b'VALUE = 42\\n',\n"
      "         'tinypkg-1.0.dist-info/METADATA': b'Metadata-Version: 2.1\\nName: tinypkg\\nVersion: 1.0\\n',\n"
      "         'tinypkg-1.0.dist-info/WHEEL': b'Wheel-Version: 1.0\\nGenerator: pycage-test\\n"
      "Root-Is-Purelib: true\\nTag: py3-none-any\\n'}\n"
      "def rec(n, d):\n"
      "    h = base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()\n"
      "    return '%s,sha256=%s,%d' % (n, h, len(d))\n"
      "record = '\\n'.join([rec(n, d) for n, d in files.items()] + ['tinypkg-1.0.dist-info/RECORD,,']) + '\\n'\n"
      "with zipfile.ZipFile(os.path.join(sys.argv[1], 'tinypkg-1.0-py3-none-any.whl'), 'w') as z:\n"
      "    for n, d in files.items(): z.writestr(n, d)\n"
      "    z.writestr('tinypkg-1.0.dist-info/RECORD', record)\n";
  Outcome o = testing::Run({kPython, "-I", "-c", code, dir});
  return o.code() == 0;
}

// A PEP 503 "simple" index with tinypkg under `dir`/simple/tinypkg/.
bool MakeIndex(const std::string& dir) {
  const std::string pkg = dir + "/simple/tinypkg";
  if (testing::Run({"/bin/mkdir", "-p", pkg}).code() != 0 || !MakeWheel(pkg)) return false;
  std::ofstream(pkg + "/index.html")
      << "<!DOCTYPE html><html><body><a href=\"tinypkg-1.0-py3-none-any.whl\">tinypkg-1.0-py3-none-any.whl</a>"
         "</body></html>\n";
  return true;
}

TEST(Installer, ReachesATcpServerOnLoopbackByAddressAndByName) {
  TcpServer server("pong\n");
  ASSERT_GT(server.port(), 0);
  const std::string port = std::to_string(server.port());
  Outcome o = Py("import socket\n"
                 "for host in ('127.0.0.1', 'localhost'):\n"
                 "    s = socket.create_connection((host, " + port + "), timeout=10)\n"
                 "    print(host, s.recv(16).decode().strip())\n"
                 "print(len(socket.getaddrinfo('localhost', 80, flags=socket.AI_ADDRCONFIG)) > 0)\n");
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.out, "127.0.0.1 pong\nlocalhost pong\nTrue\n") << o.err;
  EXPECT_GE(server.accepted(), 2);
}

TEST(Installer, RunProfileStillHasNoNetworkEvenWithAServerListening) {
  TcpServer server("pong\n");
  ASSERT_GT(server.port(), 0);
  std::vector<std::string> argv{PYCAGE_JAIL};
  if (geteuid() == 0) argv.insert(argv.end(), {"--uid-base", "100000", "--uid-count", "4"});
  argv.insert(argv.end(), {"--", "/usr/bin/python3", "-I", "-S", "-c",
                           "import socket, sys\n"
                           "try:\n  socket.create_connection(('127.0.0.1', " + std::to_string(server.port()) +
                               "), timeout=2); print('connected', file=sys.stderr)\n"
                               "except OSError as e:\n  print('refused', file=sys.stderr)\n"});
  Outcome o = testing::Run(argv, {}, 120000);
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.err, "refused\n");
  EXPECT_EQ(server.accepted(), 0);
}

TEST(Installer, WritesOnlyItsBindsAndTmp) {
  TempDir build;
  ASSERT_FALSE(build.path().empty());
  const std::string code =
      "import os\n"
      "open('/build/out.txt', 'w').write('built')\n"
      "os.makedirs('/build/site/pkg'); print('bind ok')\n"
      "open('/tmp/scratch', 'w').write('x'); print('tmp ok')\n"
      "for p in ['/x', '/etc/x', '/usr/x', '/usr/lib/x', '" + kPrefix + "/x', '" + kPrefix + "/lib/x', "
      "'/proc/sys/kernel/printk_ratelimit', '/dev/x']:\n"
      "    try:\n"
      "        open(p, 'w').write('5'); print('WROTE', p)\n"
      "    except OSError as e:\n"
      "        print(e.strerror)\n";
  Outcome o = Py(code, {"--bind", build.path() + ":/build"});
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.out,
            "bind ok\ntmp ok\nRead-only file system\nRead-only file system\nRead-only file system\n"
            "Read-only file system\nRead-only file system\nRead-only file system\nRead-only file system\n"
            "Read-only file system\n")
      << o.err;
  EXPECT_EQ(ReadFile(build.path() + "/out.txt"), "built");
  struct stat st {};
  EXPECT_EQ(stat((build.path() + "/site/pkg").c_str(), &st), 0);
}

TEST(Installer, SeesNoHostSecrets) {
  const std::string code =
      "import os\n"
      "print(open('/proc/self/environ', 'rb').read().split(b'\\0')[:-1])\n"
      "print(open('/proc/1/environ', 'rb').read().split(b'\\0')[:-1])\n"
      "print([p for p in os.listdir('/proc') if p.isdigit()])\n"
      "print(os.path.exists('/home'), os.path.exists('/var'), os.path.exists('/work'), os.path.exists('/sys'))\n"
      "print(sorted(os.listdir('/root')) if os.path.exists('/root') else 'no /root')\n"
      "print(os.listdir('/etc/ssl/private') if os.path.isdir('/etc/ssl/private') else [])\n"
      "print(sorted(os.listdir('/etc')))\n";
  Outcome o = Py(code, {"--setenv", "A=1"});
  ASSERT_EQ(o.code(), 0) << o.err;
  std::vector<std::string> lines;
  std::istringstream in(o.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 7u) << o.out;
  // The helper got HOST_SECRET=1; the jail has only what --setenv said, and
  // its pid 1 is the program itself, not the host's init.
  EXPECT_EQ(lines[0], "[b'A=1', b'HOME=/tmp', b'LANG=C.UTF-8']");
  EXPECT_EQ(lines[1], lines[0]);
  EXPECT_EQ(lines[2], "['1']");
  EXPECT_EQ(lines[3], "False False False False");
  // /root holds at most the path down to a bound python prefix.
  if (kPrefix.rfind("/root/", 0) == 0) {
    std::string first = kPrefix.substr(6, kPrefix.find('/', 6) - 6);
    EXPECT_EQ(lines[4], "['" + first + "']");
  } else {
    EXPECT_EQ(lines[4], "no /root");
  }
  EXPECT_EQ(lines[5], "[]");  // private keys are masked
  // /etc: the fixed binds plus the network configuration, nothing else.
  std::string etc = "[";
  std::vector<std::string> names = {"alternatives", "ld.so.cache", "localtime", "matplotlibrc", "resolv.conf", "hosts",
                                    "nsswitch.conf", "host.conf", "gai.conf", "ssl", "ca-certificates", "pki"};
  std::sort(names.begin(), names.end());
  bool first = true;
  for (const auto& n : names) {
    if (access(("/etc/" + n).c_str(), F_OK) != 0) continue;
    etc += (first ? "'" : ", '") + n + "'";
    first = false;
  }
  EXPECT_EQ(lines[6], etc + "]");
}

TEST(Installer, KeepsStdioAndClosesEverythingElse) {
  // A careless caller leaks an fd; the jail must not see it.
  int leaked = open("/etc/hostname", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 0);
  Outcome o = Py("import os, sys\n"
                 "open_fds = []\n"
                 "for fd in range(3, 256):\n"
                 "    try:\n"
                 "        os.fstat(fd); open_fds.append(fd)\n"
                 "    except OSError:\n"
                 "        pass\n"
                 "print('out', open_fds); print('err', file=sys.stderr)\n"
                 "import stat; print(stat.S_ISCHR(os.fstat(0).st_mode))\n");
  close(leaked);
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.out, "out []\nTrue\n");
  EXPECT_EQ(o.err, "err\n");
}

TEST(Installer, ExitsWithTheProgramsStatus) {
  EXPECT_EQ(Installer({}, {"/bin/sh", "-c", "exit 7"}).code(), 7);
  // The program is pid 1 of its namespace, deaf to its own kill -9; the
  // kernel's RLIMIT_CPU SIGKILL still gets through: 128 + 9.
  EXPECT_EQ(Installer({"--rlimit-cpu", "1"}, {"/bin/sh", "-c", "while :; do :; done"}).code(), 128 + SIGKILL);
}

TEST(Installer, SetsTheRequestedRlimits) {
  Outcome o = Py("import resource as r\n"
                 "for n in ('RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE'):\n"
                 "    print(n, *r.getrlimit(getattr(r, n)))\n"
                 "import os\n"
                 "fd = os.open('/tmp/big', os.O_WRONLY | os.O_CREAT)\n"
                 "print(os.write(fd, b'x' * 8192))\n"
                 "try:\n"
                 "    os.write(fd, b'x')\n"
                 "except OSError as e:\n"
                 "    print(e.strerror)\n",
                 {"--rlimit-as", "4294967296", "--rlimit-cpu", "120", "--rlimit-fsize", "4096", "--rlimit-nofile",
                  "64"});
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.out,
            "RLIMIT_AS 4294967296 4294967296\nRLIMIT_CPU 120 120\nRLIMIT_FSIZE 4096 4096\n"
            "RLIMIT_NOFILE 64 64\nRLIMIT_CORE 0 0\n4096\nFile too large\n")
      << o.err;
}

TEST(Installer, HasNoCapabilitiesAndDiesOnNamespaceOrMountSyscalls) {
  Outcome o = Py("print(open('/proc/self/status').read().split('CapBnd:')[1].split()[0])");
  EXPECT_EQ(o.out, "0000000000000000\n") << o.err;
  // unshare(CLONE_NEWUSER): SIGSYS, whatever the flags.
  o = Py("import ctypes; ctypes.CDLL(None).unshare(0x10000000); print('survived')");
  EXPECT_EQ(o.code(), 128 + SIGSYS) << o.out << o.err;
  EXPECT_EQ(o.out, "");
  o = Py("import ctypes; ctypes.CDLL(None).mount(b'none', b'/tmp', b'tmpfs', 0, None); print('survived')");
  EXPECT_EQ(o.code(), 128 + SIGSYS) << o.out << o.err;
}

TEST(Installer, CannotReachTheHostsAbstractUnixSockets) {
  // Abstract sockets belong to the network namespace, which the installer
  // shares with the host.
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = "pycage-installer-test-" + std::to_string(getpid());
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  Outcome o = Py("import socket\n"
                 "try:\n"
                 "    s = socket.socket(socket.AF_UNIX)\n"
                 "    s.connect('\\0" + name + "'); print('connected')\n"
                 "except OSError as e:\n"
                 "    print('refused', e.errno)\n"
                 "a, b = socket.socketpair(); a.send(b'x'); print(b.recv(1))\n");
  close(listener);
  EXPECT_EQ(o.code(), 0) << o.err;
  // Landlock's scope answers EPERM; without it, socket(AF_UNIX) is refused.
  const bool scoped = landlock::AbiVersion() >= landlock::kScopeAbi;
  EXPECT_EQ(o.out, std::string(scoped ? "refused 1\n" : "refused 97\n") + "b'x'\n") << o.err;
}

TEST(Installer, PipRunsInside) {
  Outcome o = Installer({"--setenv", "HOME=/tmp", "--setenv", "PIP_DISABLE_PIP_VERSION_CHECK=1"},
                        {kPython, "-I", "-m", "pip", "--version"});
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.out.rfind("pip ", 0), 0u) << o.out << o.err;
}

const std::vector<std::string> kPipEnv = {"--setenv", "HOME=/tmp", "--setenv", "PIP_DISABLE_PIP_VERSION_CHECK=1",
                                          "--setenv", "PIP_ROOT_USER_ACTION=ignore", "--setenv", "LANG=C.UTF-8"};

TEST(Installer, PipInstallsAWheelFromFindLinksIntoTheBindDirectory) {
  TempDir wheels, build;
  ASSERT_TRUE(MakeWheel(wheels.path()));
  std::vector<std::string> opts = {"--ro-bind", wheels.path() + ":/wheels", "--bind", build.path() + ":/build"};
  opts.insert(opts.end(), kPipEnv.begin(), kPipEnv.end());
  Outcome o = Installer(opts, {kPython, "-I", "-m", "pip", "install", "--no-index", "--find-links", "/wheels",
                               "--no-cache-dir", "--target", "/build/site", "tinypkg"});
  EXPECT_EQ(o.code(), 0) << o.out << o.err;
  EXPECT_EQ(ReadFile(build.path() + "/site/tinypkg/__init__.py"), "VALUE = 42\n") << o.out << o.err;
  // pip download into the bind directory as well.
  o = Installer(opts, {kPython, "-I", "-m", "pip", "download", "--no-index", "--find-links", "/wheels", "-d",
                       "/build/dl", "tinypkg"});
  EXPECT_EQ(o.code(), 0) << o.out << o.err;
  EXPECT_EQ(access((build.path() + "/dl/tinypkg-1.0-py3-none-any.whl").c_str(), F_OK), 0) << o.out << o.err;
}

TEST(Installer, PipInstallsFromAnIndexOnLoopback) {
  TempDir index, build;
  ASSERT_TRUE(MakeIndex(index.path()));
  HttpServer server(index.path());
  ASSERT_GT(server.port(), 0);
  std::vector<std::string> opts = {"--bind", build.path() + ":/build"};
  opts.insert(opts.end(), kPipEnv.begin(), kPipEnv.end());
  Outcome o = Installer(opts, {kPython, "-I", "-m", "pip", "install", "--index-url",
                               "http://localhost:" + std::to_string(server.port()) + "/simple", "--cache-dir",
                               "/build/cache", "--target", "/build/site", "tinypkg"});
  EXPECT_EQ(o.code(), 0) << o.out << o.err;
  EXPECT_EQ(ReadFile(build.path() + "/site/tinypkg/__init__.py"), "VALUE = 42\n") << o.out << o.err;
}

// uv is not part of the toolchain: PYCAGE_TEST_UV names a uv binary, e.g.
// PYCAGE_TEST_UV=/tmp/uvtool/bin/uv after `python3 -m pip install --target /tmp/uvtool uv`.
std::string UvBinary() {
  const char* env = std::getenv("PYCAGE_TEST_UV");
  std::string uv = env != nullptr ? env : "";
  return !uv.empty() && access(uv.c_str(), X_OK) == 0 ? uv : std::string();
}

TEST(Installer, UvInstallsFromAnIndexOnLoopback) {
  const std::string uv = UvBinary();
  if (uv.empty()) GTEST_SKIP() << "no uv: set PYCAGE_TEST_UV to a uv binary";
  TempDir index, build;
  ASSERT_TRUE(MakeIndex(index.path()));
  HttpServer server(index.path());
  ASSERT_GT(server.port(), 0);
  Outcome o = Installer({"--ro-bind", uv + ":/opt/uv", "--bind", build.path() + ":/build", "--setenv", "HOME=/tmp",
                         "--setenv", "UV_CACHE_DIR=/build/uv-cache", "--setenv", "UV_NO_PROGRESS=1"},
                        {"/opt/uv", "pip", "install", "--index-url",
                         "http://127.0.0.1:" + std::to_string(server.port()) + "/simple", "--python", kPython,
                         "--target", "/build/site", "tinypkg"});
  EXPECT_EQ(o.code(), 0) << o.out << o.err;
  EXPECT_EQ(ReadFile(build.path() + "/site/tinypkg/__init__.py"), "VALUE = 42\n") << o.out << o.err;
}

TEST(Installer, WorksWithAUidRangeAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "--uid-base needs host root";
  TempDir wheels, build;
  ASSERT_TRUE(MakeWheel(wheels.path()));
  // Jail uid 0 is host uid 100000 here: the build directory must be its,
  // and the wheels readable by it (mkdtemp makes 0700 directories).
  ASSERT_EQ(chown(build.path().c_str(), 100000, 100000), 0);
  ASSERT_EQ(chmod(wheels.path().c_str(), 0755), 0);
  std::vector<std::string> opts = {"--ro-bind", wheels.path() + ":/wheels", "--bind", build.path() + ":/build"};
  opts.insert(opts.end(), kPipEnv.begin(), kPipEnv.end());
  Outcome o = Installer(opts,
                        {kPython, "-I", "-m", "pip", "install", "--no-index", "--find-links", "/wheels",
                         "--no-cache-dir", "--target", "/build/site", "tinypkg"},
                        {"--uid-base", "100000", "--uid-count", "1"});
  EXPECT_EQ(o.code(), 0) << o.out << o.err;
  struct stat st {};
  ASSERT_EQ(stat((build.path() + "/site/tinypkg/__init__.py").c_str(), &st), 0) << o.out << o.err;
  EXPECT_EQ(st.st_uid, 100000u);
}

TEST(Installer, PrintPlanShowsTheInstallerProfile) {
  Outcome o = testing::Run({PYCAGE_JAIL, "--print-plan", "--profile", "installer", "--bind", "/srv/b:/build",
                            "--rlimit-nofile", "128", "--", "/bin/true"});
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_NE(o.out.find("helper compile-seccomp installer"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("child  bind /srv/b /newroot/build\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("child  rebind-ro /newroot/proc/sys\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("child  setup-fds keep-stdio\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("child  setrlimit RLIMIT_NOFILE 128\n"), std::string::npos) << o.out;
  if (access("/etc/hosts", F_OK) == 0) {
    EXPECT_NE(o.out.find(" /newroot/etc/hosts\n"), std::string::npos) << o.out;
  }
  EXPECT_EQ(o.out.find("child  ro-bind /etc/passwd"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace pycage::jail
