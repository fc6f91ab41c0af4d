"""The run child's setup, in the order of PROTOCOL.md ("Run child setup order").

Everything that can be prepared once (ctypes prototypes, the seccomp program,
/dev/null) is prepared at import time in the zygote, so a run only pays for
the syscalls themselves.
"""
import array
import ctypes
import errno
import fcntl
import math
import os
import resource
import socket

import frames
import profiles

# <linux/sched.h>, <sys/mount.h>, <linux/prctl.h>, <linux/securebits.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
SECBIT_NOROOT = 1 << 0
SECBIT_NOROOT_LOCKED = 1 << 1
SECBIT_NO_SETUID_FIXUP = 1 << 2
SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 3
SECBIT_KEEP_CAPS_LOCKED = 1 << 5
SECBIT_NO_CAP_AMBIENT_RAISE = 1 << 6
SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7
SECUREBITS = (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP
              | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED
              | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SYS_CLOSE_RANGE = 436  # same number on every architecture (generic table)

EXIT_SETUP_ERROR = 121
CHAN_FD = 3

_libc = ctypes.CDLL(None, use_errno=True)
_ul = ctypes.c_ulong
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, _ul, _ul, _ul, _ul]
_prctl.restype = ctypes.c_int
_unshare = _libc.unshare
_unshare.argtypes = [ctypes.c_int]
_setns = _libc.setns
_setns.argtypes = [ctypes.c_int, ctypes.c_int]
_mount = _libc.mount
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _ul, ctypes.c_char_p]
_capset = _libc.capset
_capset.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SetupError(Exception):
    def __init__(self, step, call, err, message=None):
        self.step, self.call, self.err = step, call, err
        super().__init__(message or "%s: %s: %s (errno %d)" % (step, call, os.strerror(err), err))

    @classmethod
    def text(cls, message):
        return cls("setup", "", 0, message)


def _check(rc, step, call):
    if rc != 0:
        raise SetupError(step, call, ctypes.get_errno() or errno.EIO)


class Prepared:
    """What the zygote prepares once and every run reuses."""

    def __init__(self, tier, bpf=None):
        self.tier = tier
        self.profile = profiles.profile_of(tier)
        self.devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        self.cap_last = _cap_last_cap()
        self.prog = None
        self._bpf_buf = None
        if bpf is not None:
            if not bpf or len(bpf) % 8 or len(bpf) // 8 > 4096:
                raise ValueError("the run seccomp filter is %d bytes, not a whole "
                                 "sock_filter[] of 1..4096 instructions" % len(bpf))
            self._bpf_buf = ctypes.create_string_buffer(bytes(bpf), len(bpf))
            self.prog = _SockFprog(len(bpf) // 8, ctypes.addressof(self._bpf_buf))
        # Built once so a run does no allocation for them.
        self.cap_hdr = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
        self.cap_data = (_CapData * 2)()


def _cap_last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 63


def tmp_options(tmp_bytes):
    """The /tmp tmpfs mount options for a run's tmpBytes (None: tmpfs default size).

    size= caps the bytes only: inodes and dentries are kernel memory that it
    does not count, and tmpfs's default inode cap is half the host's RAM
    pages (a run made 200,000 empty files in 3 s). One inode per KiB of the
    size cap keeps that memory about as large as the cap itself.
    """
    if isinstance(tmp_bytes, int) and not isinstance(tmp_bytes, bool) and tmp_bytes > 0:
        return b"size=%d,nr_inodes=%d,mode=1777" % (tmp_bytes, max(1024, tmp_bytes // 1024))
    return b"nr_inodes=16384,mode=1777"


def _session():
    try:
        os.setsid()
    except OSError as e:
        raise SetupError("session", "setsid()", e.errno)


def _mounts(tmp_opts):
    # Own mount namespace with a /proc of the run's pid ns and a fresh /tmp.
    _check(_unshare(CLONE_NEWNS), "mounts", "unshare(CLONE_NEWNS)")
    # No propagation change needed: the helper made every mount private
    # before the pivot, and the zygote filter refuses remounts anyway.
    _check(_mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
           "mounts", "mount(proc, /proc)")
    _check(_mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, tmp_opts),
           "mounts", "mount(tmpfs, /tmp, %s)" % tmp_opts.decode())


def _dup_run_fds(prep, fds, stdin=True):
    chan, out_w, err_w = fds
    try:
        os.dup2(chan, 3)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        if stdin:
            os.dup2(prep.devnull, 0)
    except OSError as e:
        raise SetupError("fds", "dup2()", e.errno)
    _close_from(4)


def _seal(prep):
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs",
           "prctl(PR_SET_NO_NEW_PRIVS)")
    if prep.prog is not None:
        _check(_prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
                      ctypes.addressof(prep.prog), 0, 0),
               "seccomp", "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)")


def _fail(fd, e):
    if isinstance(e, SetupError):
        report(fd, str(e))
    else:
        report(fd, "setup: unexpected %s: %s" % (type(e).__name__, e))
    os._exit(EXIT_SETUP_ERROR)


def setup(prep, fds, slot, limits):
    """On-demand run child: steps 1-4 of the run setup. A failure is reported
    on the run channel and ends the process."""
    reply_fd = fds[0]
    try:
        # 1. own session; the standard fds; nothing else inherited.
        _session()
        _dup_run_fds(prep, fds)
        reply_fd = CHAN_FD
        # 2. mounts.
        if prep.profile.per_run_namespaces:
            _mounts(tmp_options(limits.get("tmpBytes")))
        # 3. rlimits.
        set_rlimits(limits)
        # 4. identity, capabilities, no_new_privs, seccomp.
        if prep.profile.drops_capabilities:
            drop_privileges(prep, slot)
        _seal(prep)
    except BaseException as e:
        _fail(reply_fd, e)


# A spare's private socket to the zygote while it waits; its fds 0 and 3 are
# /dev/null then (fd 3 was the zygote's control socket).
SPARE_FD = 4
SPARE_FRAME_CAP = 1 << 16
_SPARE_ANC = socket.CMSG_SPACE(4 * array.array("i").itemsize)


def setup_spare(prep, priv_fd, slot, tmp_opts):
    """Spare child: every setup step that does not depend on the run.

    Returns None or the SetupError text; a spare that failed still waits for
    its run and reports the error there, as an on-demand child would.
    """
    try:
        _session()
        try:
            # /dev/null first: prep.devnull may itself be fd 4.
            os.dup2(prep.devnull, 0)
            os.dup2(prep.devnull, 3)  # no control socket in a run's process
            if priv_fd != SPARE_FD:
                os.dup2(priv_fd, SPARE_FD)
        except OSError as e:
            raise SetupError("fds", "dup2()", e.errno)
        _close_from(SPARE_FD + 1)
        if prep.profile.per_run_namespaces:
            _mounts(tmp_opts)
        if prep.profile.drops_capabilities:
            drop_privileges(prep, slot)
        # The final filter goes on now, not when the run arrives: installing
        # (and JIT-compiling) it costs ~0.4 ms, and nothing the spare does
        # after this (its warm-up, taking the fds, lowering rlimits) needs
        # more than a run may do.
        _seal(prep)
        return None
    except SetupError as e:
        return str(e)
    except BaseException as e:
        return "setup: unexpected %s: %s" % (type(e).__name__, e)


def wait_for_run():
    """Spare child: block until the zygote hands over a run.

    Returns ([chan, stdout_w, stderr_w], limits payload bytes); None when the
    zygote closed the socket (it discarded this spare or is gone).
    """
    sock = socket.socket(fileno=SPARE_FD)
    buf = b""
    fds = []
    try:
        while True:
            try:
                data, anc, _flags, _ = sock.recvmsg(SPARE_FRAME_CAP, _SPARE_ANC,
                                                    socket.MSG_CMSG_CLOEXEC)
            except InterruptedError:
                continue
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(cdata[: len(cdata) - len(cdata) % a.itemsize])
                    fds.extend(a)
            if not data:
                return None
            buf += data
            try:
                got = frames.split_frame(buf, SPARE_FRAME_CAP - frames.HEADER)
            except frames.FrameError:
                return None
            if got is not None:
                return fds, got[0]
    finally:
        sock.detach()  # the fd goes with _close_from in adopt_run


def adopt_run(prep, fds, limits, spare_error):
    """Spare child, run in hand: the run-dependent rest of the setup."""
    reply_fd = fds[0] if fds else -1
    try:
        if spare_error is not None:
            if len(fds) == 3:
                _dup_run_fds(prep, fds, stdin=False)
                reply_fd = CHAN_FD
            raise SetupError.text(spare_error)
        if len(fds) != 3:
            raise SetupError.text("the spare got %d fds, not 3" % len(fds))
        # fd 0 is /dev/null since setup_spare (prep.devnull may be closed now).
        _dup_run_fds(prep, fds, stdin=False)
        reply_fd = CHAN_FD
        # Privileges are gone and the filter is on (setup_spare): rlimits may
        # only be lowered, which is all set_rlimits ever does.
        set_rlimits(limits)
    except BaseException as e:
        _fail(reply_fd, e)


def adopt_call(prep, fds, limits, spare_error, first):
    """Session child, call in hand: take the call's fds as 1-3 (keeping the
    private socket on fd 4 and the session's own files), set this call's CPU
    budget and, on the first call, the session's other rlimits."""
    reply_fd = fds[0] if fds else -1
    try:
        if len(fds) != 3:
            raise SetupError.text("the session got %d fds, not 3" % len(fds))
        try:
            # Out of the way first: a node that closed fd 1 would otherwise
            # receive the next call's fds on the very numbers dup2 targets.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds]
            close_fds = [fd for fd in fds if fd not in high]
            for fd in close_fds:
                os.close(fd)
            reply_fd = high[0]
            os.dup2(high[0], CHAN_FD)
            os.dup2(high[1], 1)
            os.dup2(high[2], 2)
            for fd in high:
                os.close(fd)
        except OSError as e:
            raise SetupError("fds", "dup2()", e.errno)
        reply_fd = CHAN_FD
        if spare_error is not None:
            raise SetupError.text(spare_error)
        if first:
            set_rlimits({k: v for k, v in limits.items() if k != "cpuMs"})
        set_call_cpu(limits.get("cpuMs"))
    except BaseException as e:
        _fail(reply_fd, e)


def set_call_cpu(cpu_ms):
    """A session's CPU budget is per call: RLIMIT_CPU counts the whole
    process, so the soft limit moves to what was used so far plus the budget.
    The hard limit stays where the session started (its SIGKILL backstop)."""
    if not isinstance(cpu_ms, (int, float)) or cpu_ms <= 0:
        return
    ru = resource.getrusage(resource.RUSAGE_SELF)
    used_ms = (ru.ru_utime + ru.ru_stime) * 1000.0
    soft = max(1, int(math.ceil((used_ms + cpu_ms) / 1000.0)))
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (OSError, ValueError) as e:
        raise SetupError("rlimits", "setrlimit(RLIMIT_CPU, %d)" % soft,
                         getattr(e, "errno", None) or errno.EINVAL)


def report(fd, message):
    try:
        frames.write_frame(fd, frames.encode_json({"status": "setup_error", "message": message}))
    except BaseException:
        pass


def _close_from(low):
    _l = ctypes.c_long
    if _syscall(_l(SYS_CLOSE_RANGE), _l(low), _l(0xFFFFFFFF), _l(0)) == 0:
        return
    # Kernels before 5.9: close what /proc lists (the listing fd itself is
    # closed by then, so EBADF is fine).
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd >= low:
                try:
                    os.close(fd)
                except OSError:
                    pass
    except OSError:
        os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


_RLIMITS = (
    # (limit key, resource, name); CPU is special-cased.
    ("memoryBytes", resource.RLIMIT_AS, "RLIMIT_AS"),
    ("fileSizeBytes", resource.RLIMIT_FSIZE, "RLIMIT_FSIZE"),
    ("openFiles", resource.RLIMIT_NOFILE, "RLIMIT_NOFILE"),
    ("processes", resource.RLIMIT_NPROC, "RLIMIT_NPROC"),
)

# Every limit of scope "child" in native/limits.json is enforced here: the
# rlimits above, CPU (set_rlimits, set_call_cpu) and /tmp's size (the tmpfs
# mount). tests/test_limits.py checks this set against the table.
ENFORCED_LIMITS = frozenset(["cpuMs", "tmpBytes"] + [key for key, _, _ in _RLIMITS])


def _setrlimit(res, name, soft, hard):
    cur_soft, cur_hard = resource.getrlimit(res)
    # Only a privileged process may raise a hard limit: never ask for more.
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
        soft = min(soft, hard)
    try:
        resource.setrlimit(res, (soft, hard))
    except (OSError, ValueError) as e:
        raise SetupError("rlimits", "setrlimit(%s, %d, %d)" % (name, soft, hard),
                         getattr(e, "errno", None) or errno.EINVAL)


def set_rlimits(limits):
    cpu_ms = limits.get("cpuMs")
    if isinstance(cpu_ms, (int, float)) and cpu_ms > 0:
        soft = max(1, int(math.ceil(cpu_ms / 1000.0)))
        # Soft: SIGXCPU; hard one second later: SIGKILL.
        _setrlimit(resource.RLIMIT_CPU, "RLIMIT_CPU", soft, soft + 1)
    for key, res, name in _RLIMITS:
        v = limits.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            _setrlimit(res, name, v, v)
    _setrlimit(resource.RLIMIT_CORE, "RLIMIT_CORE", 0, 0)


def drop_privileges(prep, slot):
    # The bounding set and securebits need CAP_SETPCAP, so they go first,
    # while the run is still (namespace) root.
    for cap in range(prep.cap_last + 1):
        if _prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            if err != errno.EINVAL:
                raise SetupError("capabilities", "prctl(PR_CAPBSET_DROP, %d)" % cap, err)
    _check(_prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0), "capabilities",
           "prctl(PR_SET_SECUREBITS, 0x%x)" % SECUREBITS)
    if slot >= 1:
        try:
            os.setgroups([])
        except OSError as e:
            # A user namespace with setgroups "deny" has no groups to drop.
            if e.errno != errno.EPERM or os.getgroups():
                raise SetupError("identity", "setgroups([])", e.errno)
        try:
            os.setresgid(slot, slot, slot)
        except OSError as e:
            raise SetupError("identity", "setresgid(%d)" % slot, e.errno)
        try:
            os.setresuid(slot, slot, slot)
        except OSError as e:
            raise SetupError("identity", "setresuid(%d)" % slot, e.errno)
    # NO_SETUID_FIXUP kept the capabilities across setresuid: clear them all now.
    _check(_capset(ctypes.addressof(prep.cap_hdr), ctypes.addressof(prep.cap_data)),
           "capabilities", "capset(0, 0, 0)")
    _check(_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "capabilities",
           "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")


def enter_pid_namespace():
    """Zygote side: make the next fork pid 1 of a fresh pid namespace."""
    _check(_unshare(CLONE_NEWPID), "pidns", "unshare(CLONE_NEWPID)")


def leave_pid_namespace(pidns_fd):
    """Zygote side, right after the fork: back to our own pid ns for children."""
    _check(_setns(pidns_fd, CLONE_NEWPID), "pidns", "setns(CLONE_NEWPID)")
