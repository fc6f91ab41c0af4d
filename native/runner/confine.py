"""Each run's own jail, from the zygote's fork, in two calls to
pycage-confine.so, where every step lives (native/jail/run_jail.h; the plan
is printed by `pycage-jail --print-plan`). This module loads the library
once, in the zygote before any bundle is imported, and passes arguments.

The zygote holds no privilege: its forks confine themselves with a user
namespace of their own, whose uid map the jail's init writes. See
docs/ARCHITECTURE.md, "No privilege near bundle code".
"""
import ctypes
import errno
import os

LIB = "/pycage/confine.so"  # where pycage-jail shows it
INIT_FD = 5                 # the jail's init, for the uid map (PROTOCOL.md)
_ERR_CAP = 512


class ConfineError(Exception):
    pass


def no_new_privs():
    """The bypass tier's only step: no exec may gain privileges. (In the full
    tier the run's plan sets it, with everything else.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
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
        self._bpf = bytes(bpf) if bpf else None
        self._err = ctypes.create_string_buffer(_ERR_CAP)

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
