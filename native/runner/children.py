"""The zygote's children: one-shot runs, pre-forked spares and sessions,
the hand-over of a run to a waiting child, and how they are killed."""
import array
import os
import signal
import socket

import frames


class Run:
    __slots__ = ("id", "pid", "pidfd", "slot", "session")

    def __init__(self, run_id, pid, pidfd, slot, session=None):
        self.id, self.pid, self.pidfd, self.slot = run_id, pid, pidfd, slot
        # A session call: the process (and its pidfd) belong to the Session.
        self.session = session


class Spare:
    """A forked child that did the run-independent setup and waits on sock."""
    __slots__ = ("pid", "pidfd", "slot", "sock", "tmp_opts")

    def __init__(self, pid, pidfd, slot, sock, tmp_opts):
        self.pid, self.pidfd, self.slot, self.sock, self.tmp_opts = \
            pid, pidfd, slot, sock, tmp_opts


class Session:
    """A session's long-lived child: it serves one call at a time."""
    __slots__ = ("name", "pid", "pidfd", "slot", "sock", "call", "queued", "cpu_base_ms", "buf")

    def __init__(self, name, pid, pidfd, slot, sock):
        self.name, self.pid, self.pidfd, self.slot, self.sock = name, pid, pidfd, slot, sock
        self.call = None        # the run id of the call in flight
        # (run id, limits, fds) of the next call: the supervisor resolves a
        # call from its reply and EOFs, so the next may come before "done".
        self.queued = None
        self.cpu_base_ms = 0.0  # the process's CPU time when that call started
        self.buf = b""


class SessionSocket:
    """Selector key data for a session's private socket (its pidfd has the Session)."""
    __slots__ = ("session",)

    def __init__(self, sess):
        self.session = sess


# A session's "done" frames are tiny; anything longer is not from our runner.
SESSION_FRAME_CAP = 4096


# After this many spares in a row die before being handed a run, a new spare
# is forked only when a run starts (never from a spare's own death), so a
# spare that cannot live does not turn into a fork loop.
SPARE_FAILURE_LIMIT = 3


def send_call(sock, limits, fds):
    """Hand a run (or a session call) to a waiting child: one frame
    {"limits": …} with the run's three fds on its first byte."""
    data = frames.frame(frames.encode_json({"limits": limits}))
    n = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    if n < len(data):
        sock.sendall(data[n:])


def sigkill(pidfd):
    """SIGKILL through a pidfd: never a recycled pid. Already gone is fine."""
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass


def close_all(fds):
    for fd in fds or ():
        try:
            os.close(fd)
        except OSError:
            pass
