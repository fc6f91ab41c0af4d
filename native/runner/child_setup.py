"""The run child's setup after its jail is built (confine.py): its session,
its fds, its rlimits; and how a setup failure is reported on the run channel.
The order is PROTOCOL.md's ("Run child setup order").
"""
import array
import errno
import fcntl
import math
import os
import resource
import socket
import _socket

import confine
import frames
import profiles

EXIT_SETUP_ERROR = 121
CHAN_FD = 3


class SetupError(Exception):
    def __init__(self, step, call, err, message=None):
        self.step, self.call, self.err = step, call, err
        super().__init__(message or "%s: %s: %s (errno %d)" % (step, call, os.strerror(err), err))

    @classmethod
    def text(cls, message):
        return cls("setup", "", 0, message)


class Prepared:
    """What the zygote prepares once and every run reuses."""

    def __init__(self, tier, bpf=None):
        self.tier = tier
        self.profile = profiles.profile_of(tier)
        self.devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        if bpf is not None and (not bpf or len(bpf) % 8 or len(bpf) // 8 > 4096):
            raise ValueError("the run seccomp filter is %d bytes, not a whole "
                             "sock_filter[] of 1..4096 instructions" % len(bpf))
        # Loaded before any bundle import (zygote.main), with the library's
        # own copy of the filter.
        if self.profile.per_run_namespaces:
            self.run_jail = confine.RunJail(bpf)
        elif self.profile.landlock_fs:
            self.run_jail = confine.ReducedRunJail(bpf)
        else:
            self.run_jail = None
        # A session call may start processes and threads where the session
        # can end them once the call returns (a pid namespace's kill(-1), or
        # a Landlock domain that scopes signals: reduced tier, ABI >= 6) and
        # can tell that none of its threads is left (confine.single_threaded).
        # The bypass tier contains nothing either way.
        self.session_calls_fork = not self.profile.landlock_fs or (
            getattr(self.run_jail, "signal_scoped", False) and getattr(self.run_jail, "threads_countable", False))


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
    if os.getsid(0) == os.getpid():
        return  # the fork made it a session leader already (reduced tier)
    try:
        os.setsid()
    except OSError as e:
        raise SetupError("session", "setsid()", e.errno)


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


def _fail(fd, e):
    if isinstance(e, SetupError):
        report(fd, str(e))
    else:
        report(fd, "setup: unexpected %s: %s" % (type(e).__name__, e))
    os._exit(EXIT_SETUP_ERROR)


def setup(prep, fds, limits, jail_error=None):
    """On-demand run child, its jail built (or jail_error): session, fds,
    rlimits. A failure is reported on the run channel and ends the process."""
    reply_fd = fds[0]
    try:
        _session()
        _dup_run_fds(prep, fds)
        reply_fd = CHAN_FD
        if jail_error is not None:
            raise SetupError.text(jail_error)
        set_rlimits(limits)
    except BaseException as e:
        _fail(reply_fd, e)


# A spare's private socket to the zygote while it waits; its fds 0 and 3 are
# /dev/null then (fd 3 was the zygote's control socket).
SPARE_FD = 4
SPARE_FRAME_CAP = 1 << 16
_SPARE_ANC = socket.CMSG_SPACE(4 * array.array("i").itemsize)


def setup_spare(prep, priv_fd, jail_error=None):
    """Spare child, its jail built (or jail_error): every setup step that
    does not depend on the run.

    Returns None or the SetupError text; a spare that failed still waits for
    its run and reports the error there, as an on-demand child would.
    """
    if jail_error is not None:
        return jail_error
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
    # The C type: socket.py's class runs Python per fork. Its family, type
    # and protocol given, so it does not ask the kernel for them.
    sock = _socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, SPARE_FD)
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
        # Privileges are gone and the filter is on (confine.py): rlimits may
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
            if not prep.session_calls_fork:
                # Reduced tier where a session could not end or see what a
                # call started once it returns (above): a session call
                # starts no process or thread at all (RLIMIT_NPROC 0;
                # SECURITY.md).
                _setrlimit(resource.RLIMIT_NPROC, "RLIMIT_NPROC", 0, 0)
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
    # One close_range(2) where the kernel has it; 1 << 20 is the kernel's
    # default cap on descriptor numbers (fs.nr_open).
    os.closerange(low, 1 << 20)


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


# The reduced tier's runs share one uid with their pool (and, without a uid
# of its own, with the host), and RLIMIT_NPROC counts all of that uid's
# processes: the helper says how many there may be before a run starts any.
# Where each run has a zygote and uid of its own, the zygote counts them per
# run instead ("processesBase" beside the limits; zygote.py, LANE_UID).
PROCESSES_BASE = int(os.environ.get("PYCAGE_PROCESSES_BASE", "0") or 0)


def set_rlimits(limits):
    cpu_ms = limits.get("cpuMs")
    if isinstance(cpu_ms, (int, float)) and cpu_ms > 0:
        soft = max(1, int(math.ceil(cpu_ms / 1000.0)))
        # Soft: SIGXCPU; hard one second later: SIGKILL.
        _setrlimit(resource.RLIMIT_CPU, "RLIMIT_CPU", soft, soft + 1)
    for key, res, name in _RLIMITS:
        v = limits.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            if key == "processes":
                v += limits.get("processesBase", PROCESSES_BASE)
            _setrlimit(res, name, v, v)
    _setrlimit(resource.RLIMIT_CORE, "RLIMIT_CORE", 0, 0)
