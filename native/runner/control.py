"""The zygote's control channel to the supervisor (native/PROTOCOL.md,
"Control socket"): frames in, with the fds that ride on them, and the exit
frame out."""
import array
import os
import socket

import frames
from children import close_all

CONTROL_CAP = 1 << 20


class Control:
    """Reads frames from the control socket and pairs SCM_RIGHTS fds with them.

    A recvmsg stops right after the segment that carried fds, and the fds ride
    on a frame's first byte, so they belong to the last frame that starts
    inside the chunk they arrived with.
    """
    ANC = socket.CMSG_SPACE(16 * array.array("i").itemsize)

    def __init__(self, sock, log):
        self.sock = sock
        self.log = log            # the zygote's stderr logger
        self.buf = bytearray()
        self.buf_pos = 0          # stream offset of buf[0]
        self.pending = []         # [(chunk_start, chunk_end, [fds])]

    def fill(self):
        """Receive once. False on EOF."""
        data, anc, flags, _ = self.sock.recvmsg(65536, self.ANC, socket.MSG_CMSG_CLOEXEC)
        start = self.buf_pos + len(self.buf)
        fds = []
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(cdata[: len(cdata) - len(cdata) % a.itemsize])
                fds.extend(a)
        if flags & socket.MSG_CTRUNC:
            self.log("control: ancillary data truncated; some fds were lost")
        if fds:
            self.pending.append((start, start + max(len(data), 1), fds))
        if not data:
            for _, _, extra in self.pending:
                close_all(extra)
            self.pending = []
            return False
        self.buf += data
        return True

    def frames(self):
        """Yield (payload bytes, fds or None) for every complete frame."""
        while True:
            got = frames.split_frame(self.buf, CONTROL_CAP, "control frame")
            if got is None:
                return
            payload, size = got
            start = self.buf_pos
            end = start + size
            del self.buf[:size]
            self.buf_pos = end
            yield payload, self._fds_for(start, end)

    def _fds_for(self, start, end):
        mine = None
        keep = []
        for item in self.pending:
            c0, c1, fds = item
            if c0 <= start < c1 and end >= c1:
                if mine is not None:
                    close_all(mine)
                mine = fds
            elif c1 <= start:
                self.log("control: dropping %d fds that no frame claimed" % len(fds))
                close_all(fds)
            else:
                keep.append(item)
        self.pending = keep
        return mine


def exit_report(run_id, status, ru, cpu_base_ms=0.0):
    """The control protocol's exit frame for a reaped child (wait4's status
    and rusage); CPU counts from cpu_base_ms (a session's earlier calls)."""
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    total = (ru.ru_utime + ru.ru_stime) * 1000.0
    return {"op": "exit", "id": run_id, "code": code, "signal": sig,
            "cpuMs": round(max(0.0, total - cpu_base_ms), 3), "maxRssKb": ru.ru_maxrss}
