"""Each run's own jail, built by calls to pycage-confine.so, where every
step lives (native/jail/run_jail.h; the plan is printed by `pycage-jail
--print-plan`): two for a fork of the zygote (the clone, then the jail), one
for a spare of the fork server (its call returns in the spare, jailed).
This module loads the library once, in the zygote before any bundle is
imported, and passes arguments.

The zygote holds no privilege: its forks confine themselves with a user
namespace of their own, whose uid map the jail's init writes. See
docs/ARCHITECTURE.md, "No privilege near bundle code".
"""
import ctypes
import errno
import os
import shutil
import signal

LIB = "/pycage/confine.so"  # where pycage-jail shows it
INIT_FD = 5                 # the jail's init, for the uid map (PROTOCOL.md)
_ERR_CAP = 512


class ConfineError(Exception):
    pass


def libc():
    """The C library the interpreter runs on."""
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi():
    """The kernel's Landlock ABI version, 0 without Landlock. Asked in the
    zygote: a run's filter refuses landlock_create_ruleset."""
    v = libc().syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, VERSION)
    return v if v > 0 else 0


# First Landlock ABI whose domains scope signals (native/jail/landlock.h).
SIGNAL_SCOPE_ABI = 6


def single_threaded():
    """True when the calling process runs one thread, False when more, None
    when this cannot be told. procfs counts a process's threads in the link
    count of its task directory (2 + threads), and stat() of a path needs no
    right that Landlock or a container's filter withholds: the reduced tier,
    which may not open /proc, can still ask."""
    try:
        links = os.stat("/proc/self/task").st_nlink
    except OSError:
        return None
    return None if links < 3 else links == 3


def no_new_privs():
    """The bypass tier's only step: no exec may gain privileges. (In the full
    tier the run's plan sets it, with everything else.)"""
    if libc().prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise ConfineError("no_new_privs: prctl(PR_SET_NO_NEW_PRIVS): %s" % os.strerror(ctypes.get_errno()))


class RunJail:
    def __init__(self, bpf):
        # PyDLL: the calls keep the GIL, as os.fork() does around fork().
        lib = ctypes.PyDLL(LIB)
        self._clone = lib.pycage_run_clone
        self._clone.argtypes = []
        self._clone.restype = ctypes.c_int
        self._confine = lib.pycage_run_confine
        self._confine.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                                  ctypes.c_char_p, ctypes.c_size_t]
        self._confine.restype = ctypes.c_int
        api = ctypes.pythonapi
        self._before_fork = api.PyOS_BeforeFork
        self._after_fork_parent = api.PyOS_AfterFork_Parent
        self._after_fork_child = api.PyOS_AfterFork_Child
        for hook in (self._before_fork, self._after_fork_parent, self._after_fork_child):
            hook.argtypes = []
            hook.restype = None
        self._serve = lib.pycage_fork_server_serve
        self._serve.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ctypes.c_size_t]
        self._serve.restype = ctypes.c_int
        self._request = lib.pycage_fork_server_request
        self._request.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                  ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ctypes.c_size_t]
        self._request.restype = ctypes.c_int
        self._pid = ctypes.c_int()
        self._fd = ctypes.c_int()
        self._bpf = bytes(bpf) if bpf else None
        self._err = ctypes.create_string_buffer(_ERR_CAP)

    def serve_forks(self, request_fd):
        """In the fork server (fork_server.py): serve spare requests; never
        returns there. Returns in each new spare, confined as fork() leaves
        a child: (its socket fd, None or the failed jail step's text).
        Raises ConfineError when the server cannot start."""
        fd = ctypes.c_int()
        bpf = self._bpf
        self._before_fork()  # once: the server runs no Python after this
        # In a spare the jail is built before this returns (one call, not
        # two: each call's return copies pages of a fresh fork).
        rc = self._serve(request_fd, INIT_FD, bpf, len(bpf) if bpf else 0, ctypes.byref(fd), self._err, _ERR_CAP)
        if rc < 0:
            self._after_fork_parent()
            raise ConfineError(self._err.value.decode(errors="replace"))
        self._after_fork_child()
        return fd.value, (self._err.value.decode(errors="replace") if rc else None)

    def request_spare(self, server_fd, slot, tmp_options):
        """In the zygote: one spare from the fork server, as (pid, the
        zygote's socket fd). Raises OSError when the clone failed there (a
        spare failure) and BrokenPipeError when the server is gone."""
        rc = self._request(server_fd, slot, tmp_options, ctypes.byref(self._pid), ctypes.byref(self._fd),
                           self._err, _ERR_CAP)
        if rc < 0:
            raise BrokenPipeError(errno.EPIPE, self._err.value.decode(errors="replace"))
        if rc > 0:
            raise OSError(rc, "fork server: clone(CLONE_PARENT|CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID): %s"
                          % os.strerror(rc))
        return self._pid.value, self._fd.value

    def fork(self, slot, tmp_options):
        """Fork a confined child: os.fork()'s interpreter bookkeeping around a
        clone into the run's own namespaces. Returns the pid in the zygote
        (raises OSError there); in the child, 0 once it is pid 1 of its own
        jail, as uid `slot`, with no capability and the run filter on. A
        failed step raises ConfineError in the child (which must then report
        it and exit)."""
        self._before_fork()
        pid = self._clone()
        if pid != 0:
            self._after_fork_parent()
            if pid == -errno.EDEADLK:
                raise OSError(errno.EDEADLK, "the warm interpreter runs other threads (a module it imported "
                              "started one), so it cannot fork a run safely")
            if pid < 0:
                raise OSError(-pid, "clone(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID): %s" % os.strerror(-pid))
            return pid
        self._after_fork_child()
        bpf = self._bpf
        if self._confine(INIT_FD, slot, tmp_options, bpf, len(bpf) if bpf else 0, self._err, _ERR_CAP) != 0:
            raise ConfineError(self._err.value.decode(errors="replace"))
        return 0


class ReducedRunJail:
    """The reduced tier (no namespaces): each fork is its own session,
    dies with the zygote, works in a scratch directory of its own under the
    zygote's, and narrows the zygote's Landlock domain to it before the run
    filter goes on (native/jail/reduced_run.h). Made in the zygote before any
    bundle import, from what the helper put in the environment."""

    def __init__(self, bpf):
        lib = ctypes.PyDLL(os.environ["PYCAGE_CONFINE_LIB"])
        self._confine = lib.pycage_reduced_confine
        self._confine.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                                  ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
        self._confine.restype = ctypes.c_int
        self._libc = libc()
        self.base = os.environ["PYCAGE_SCRATCH"]
        # O_PATH fds of the read-only paths, opened once; every run re-grants
        # them to itself (a new Landlock domain starts from nothing).
        read = []
        for path in os.environ.get("PYCAGE_LANDLOCK_READ", "").split(":"):
            if path:
                try:
                    read.append(os.open(path, os.O_PATH | os.O_CLOEXEC))
                except FileNotFoundError:
                    pass
        self._read = (ctypes.c_int * len(read))(*read)
        self._devnull = os.open("/dev/null", os.O_PATH | os.O_CLOEXEC)
        self._bpf = bytes(bpf) if bpf else None
        self._err = ctypes.create_string_buffer(_ERR_CAP)
        self._next = 0
        self._extra = None  # O_PATH fd of the zygote's matplotlib config, once set
        # Each run's domain refuses signals to processes outside it, so
        # kill(-1) from a run reaches exactly what it started.
        self.signal_scoped = landlock_abi() >= SIGNAL_SCOPE_ABI
        # How a session learns that a call left a thread running; asked
        # here, before any bundle import, with one thread.
        self.threads_countable = single_threaded() is True
        self.scratch = {}  # pid -> its scratch directory, removed at its reap

    def fork(self, slot, tmp_options):
        """Fork a confined child (slot and tmp_options do not apply: one uid,
        no tmpfs). Returns the pid in the zygote; in the child, 0 once
        confined, or ConfineError for the failed step."""
        del slot, tmp_options
        self._next += 1
        scratch = os.path.join(self.base, "r%d" % self._next)
        os.mkdir(scratch, 0o700)
        zygote = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        if pid != 0:
            self.scratch[pid] = scratch
            return pid
        try:
            # Its own process group, which the filter then keeps it in: the
            # zygote's killpg reaches every process the run starts.
            os.setsid()
            if self._libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
            if os.getppid() != zygote:
                raise OSError(errno.ESRCH, "the zygote exited during the fork")
            os.chdir(scratch)
            os.environ["HOME"] = os.environ["TMPDIR"] = scratch
            target = os.open(scratch, os.O_PATH | os.O_CLOEXEC)
        except OSError as e:
            raise ConfineError("reduced-run: %s: %s" % (e.strerror or e, getattr(e, "filename", "") or ""))
        writable = (ctypes.c_int * 2)(target, self._devnull)
        bpf = self._bpf
        read = self._read_with_zygote_files()
        rc = self._confine(read, len(read), writable, 2, bpf, len(bpf) if bpf else 0, self._err, _ERR_CAP)
        os.close(target)
        if rc != 0:
            raise ConfineError(self._err.value.decode(errors="replace"))
        return 0

    def _read_with_zygote_files(self):
        """The read-only paths, plus what the zygote wrote into its own
        scratch tree for its runs to read: matplotlib's config and font
        cache (startup.py, _prepare_matplotlib), set before any fork."""
        config = os.environ.get("MPLCONFIGDIR", "")
        if self._extra is None and config.startswith(self.base + "/"):
            try:
                self._extra = os.open(config, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                self._extra = -1
        if self._extra is None or self._extra < 0:
            return self._read
        fds = list(self._read) + [self._extra]
        return (ctypes.c_int * len(fds))(*fds)

    def forget(self, pid):
        """The child `pid` was reaped: its scratch directory goes."""
        scratch = self.scratch.pop(pid, None)
        if scratch is not None:
            remove_tree(scratch)


def remove_tree(path):
    """Remove a run's scratch tree, also the parts it made unreadable or
    unwritable (chmod 0): the owner may always give itself access back.
    Symlinks are removed, never followed."""
    try:
        os.chmod(path, 0o700, follow_symlinks=False)
        with os.scandir(path) as entries:
            names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    except OSError:
        names = []
    for name, is_dir in names:
        child = os.path.join(path, name)
        if is_dir:
            remove_tree(child)
        else:
            try:
                os.unlink(child)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass
