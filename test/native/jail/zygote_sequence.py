# What the zygote does per run (native/runner/confine.py), by hand inside the
# jail under the zygote filter: fd 4 holds the run filter, fd 5 the init's
# socket, /pycage/confine.so the run plan. Prints one line per stage to fd 2.
import ctypes, os, socket, sys

lib = ctypes.PyDLL("/pycage/confine.so")
SLOT = int(sys.argv[1])


def log(msg):
    os.write(2, (msg + "\n").encode())


def status_of(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return line.split()[1]


def libc_unshare():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), "unshare")


log("zygote uid %d caps %s nnp %s" % (os.getuid(), status_of("CapEff"), status_of("NoNewPrivs")))
bpf = os.pread(4, os.fstat(4).st_size, 0)
err = ctypes.create_string_buffer(512)
a, b = socket.socketpair()
r, w = os.pipe()
# A bare clone, without the interpreter's fork hooks: this script runs no thread.
pid = lib.pycage_run_clone()
if pid < 0:
    log("FAIL clone: " + os.strerror(-pid))
    os._exit(3)
if pid == 0:
    a.close()
    os.close(r)
    if lib.pycage_run_confine(5, SLOT, b"size=1048576,nr_inodes=1024,mode=1777", bpf, len(bpf), err, 512) != 0:
        log("FAIL confine: " + err.value.decode())
        os._exit(3)
    log("pids " + " ".join(sorted(p for p in os.listdir("/proc") if p.isdigit())))
    log("uid %d caps %s bnd %s" % (os.getuid(), status_of("CapEff"), status_of("CapBnd")))
    try:
        socket.socket(socket.AF_INET)
        log("inet open")
    except OSError as e:
        log("inet " + os.strerror(e.errno))
    try:
        libc_unshare()
        log("unshare open")
    except OSError as e:
        log("unshare " + os.strerror(e.errno))
    with open("/tmp/x", "w") as f:
        f.write("tmp ok")
    log(open("/tmp/x").read())
    msg, fds, _, _ = socket.recv_fds(b, 16, 1)
    os.write(fds[0], b"via SCM_RIGHTS\n")
    os._exit(7)


socket.send_fds(a, [b"x"], [w])
os.close(w)
b.close()
_, status, ru = os.wait4(pid, 0)
log("child status %d" % os.waitstatus_to_exitcode(status))
log(os.read(r, 100).decode().strip())
