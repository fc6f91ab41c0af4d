"""Each run's own jail, from the zygote's fork, in three calls to
pycage-confine.so, where every step lives (native/jail/run_jail.h; the plan
is printed by `pycage-jail --print-plan`). This module loads the library
once, in the zygote before any bundle is imported, and passes arguments.

The zygote holds no privilege: its forks confine themselves with a user
namespace of their own, whose uid map the jail's init writes. See
docs/ARCHITECTURE.md, "No privilege near bundle code".
"""
import ctypes
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
        lib = ctypes.CDLL(LIB)
        self._enter = lib.pycage_run_enter
        self._enter.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_char_p, ctypes.c_size_t]
        self._enter.restype = ctypes.c_int
        self._seal = lib.pycage_run_seal
        self._seal.argtypes = [ctypes.c_uint, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                               ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        self._seal.restype = ctypes.c_int
        self._keep = lib.pycage_run_keep
        self._keep.argtypes = [ctypes.c_int, ctypes.c_int]
        self._keep.restype = None
        self._bpf = bytes(bpf) if bpf else None
        self._err = ctypes.create_string_buffer(_ERR_CAP)

    def fork(self, slot, tmp_options):
        """os.fork() into a confined child. Returns the pid in the zygote; in
        the child, 0 once it is pid 1 of its own jail, as uid `slot`, with no
        capability and the run filter on. A failed step raises ConfineError
        in the child (which must then report it and exit)."""
        pid = os.fork()
        if pid:
            return pid
        if self._enter(INIT_FD, slot, self._err, _ERR_CAP) != 0:
            raise ConfineError(self._err.value.decode(errors="replace"))
        try:
            keeper_r, keeper_w = os.pipe()
            pid1 = os.fork()
        except OSError as e:
            raise ConfineError("keeper: %s" % e)
        if pid1:
            # The spare stays as the keeper: it ends as pid 1 ends.
            self._keep(pid1, keeper_w)
            os._exit(127)  # not reached
        os.close(keeper_w)
        bpf = self._bpf
        if self._seal(slot, tmp_options, bpf, len(bpf) if bpf else 0, keeper_r, self._err, _ERR_CAP) != 0:
            raise ConfineError(self._err.value.decode(errors="replace"))
        return 0
