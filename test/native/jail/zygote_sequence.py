# What the zygote does per run, done here by hand inside the jail under the
# zygote filter (fd 4 holds the run filter). Prints one line per stage to fd 2.
import ctypes, os, socket, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 24, 28, 38, 22
SLOT = int(sys.argv[1])

def check(ok, what):
    if not ok:
        e = ctypes.get_errno()
        sys.stderr.write("FAIL %s: %s\n" % (what, os.strerror(e)))
        os._exit(3)

def log(msg):
    os.write(2, (msg + "\n").encode())

own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
check(libc.unshare(CLONE_NEWPID) == 0, "unshare(CLONE_NEWPID)")
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    # run child: pid 1 of its own pid namespace
    a.close()
    check(os.getpid() == 1, "pid 1")
    check(libc.unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS)")
    check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) == 0, "mount(proc)")
    check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1048576,mode=1777") == 0, "mount(tmpfs)")
    log("pids " + " ".join(sorted(p for p in os.listdir("/proc") if p.isdigit())))
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    # SECBIT_NOROOT|NOROOT_LOCKED|NO_SETUID_FIXUP_LOCKED|KEEP_CAPS_LOCKED|NO_CAP_AMBIENT_RAISE|..._LOCKED
    check(libc.prctl(PR_SET_SECUREBITS, 0x01 | 0x02 | 0x08 | 0x20 | 0x40 | 0x80, 0, 0, 0) == 0, "securebits")
    if SLOT:
        os.setgroups([]) if os.getgroups() else None
        os.setresgid(SLOT, SLOT, SLOT)
        os.setresuid(SLOT, SLOT, SLOT)
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    check(libc.capset(hdr, data) == 0, "capset(0)")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs")
    prog = os.pread(4, os.fstat(4).st_size, 0)
    buf = ctypes.create_string_buffer(prog, len(prog))
    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fp = Fprog(len(prog) // 8, ctypes.addressof(buf))
    check(libc.prctl(PR_SET_SECCOMP, 2, ctypes.byref(fp), 0, 0) == 0, "seccomp(run)")
    log("uid %d caps %s" % (os.getuid(), open("/proc/self/status").read().split("CapEff:\t")[1].split()[0]))
    try:
        socket.socket(socket.AF_INET)
        log("inet open")
    except OSError as e:
        log("inet " + os.strerror(e.errno))
    msg, fds, _, _ = socket.recv_fds(b, 16, 1)
    os.write(fds[0], b"via SCM_RIGHTS\n")
    with open("/tmp/x", "w") as f:
        f.write("tmp ok")
    log(open("/tmp/x").read())
    os._exit(0)
check(libc.setns(own_pid_ns, CLONE_NEWPID) == 0, "setns(CLONE_NEWPID)")
pidfd = os.pidfd_open(pid)
socket.send_fds(a, [b"x"], [w])
os.close(w)
_, status, ru = os.wait4(pid, 0)
log("child status %d" % status)
log(os.read(r, 100).decode().strip())
after = os.fork()
if after == 0:
    os._exit(0 if os.getpid() != 1 else 9)
log("back in own pid ns %d" % os.waitpid(after, 0)[1])
