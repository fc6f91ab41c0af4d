"""Drive a real zygote over its control socket, as the C++ supervisor does."""
import array
import fcntl
import json
import os
import select
import socket
import sys
import time

RUNNER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZYGOTE = os.path.join(RUNNER_DIR, "zygote.py")


def frame(obj_or_bytes):
    data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else \
        json.dumps(obj_or_bytes).encode()
    return len(data).to_bytes(4, "little") + data


class FrameReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n = int.from_bytes(self.buf[:4], "little")
                if len(self.buf) >= 4 + n:
                    out, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame within %.1f s" % timeout)
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                try:
                    chunk = self.sock.recv(1 << 20)
                except ConnectionResetError:
                    # The run died with our request unread (killed early).
                    chunk = b""
                if not chunk:
                    return None
                self.buf += chunk

    def read_json(self, timeout=10.0):
        f = self.read(timeout)
        return None if f is None else json.loads(f)


def read_all(fd, timeout=10.0):
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("pipe not closed")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                return out
            out += chunk


class Zygote:
    """A zygote started with posix_spawn: fd 3 = control socket, no preexec_fn."""

    def __init__(self, tier="bypass", python=None, env=None, launcher=None, bpf=None,
                 script=ZYGOTE):
        self.sup, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDONLY)
        bpf_fd = None
        if bpf is not None:
            # A high fd number, so the dup2 actions below cannot clobber it.
            tmp = os.memfd_create("bpf", os.MFD_CLOEXEC)
            os.write(tmp, bpf)
            bpf_fd = fcntl.fcntl(tmp, fcntl.F_DUPFD_CLOEXEC, 50)
            os.close(tmp)
        e = {"PYCAGE_TIER": tier, "LANG": "C.UTF-8", "HOME": "/tmp",
             "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "LD_BIND_NOW": "1"}
        if env:
            e.update(env)
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
            (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3),
        ]
        if bpf_fd is not None:
            actions.append((os.POSIX_SPAWN_DUP2, bpf_fd, 4))
        py = python or sys.executable
        argv = list(launcher or []) + [py, "-I", "-S", script]
        self.pid = os.posix_spawn(argv[0], argv, e, file_actions=actions)
        if bpf_fd is not None:
            os.close(bpf_fd)
        theirs.close()
        for fd in (out_w, err_w, devnull):
            os.close(fd)
        self.reader = FrameReader(self.sup)
        self.next_id = 1
        self.stray = []
        self.ready = self.reader.read_json(timeout=30)

    def send(self, obj, fds=None):
        data = frame(obj)
        if fds:
            self.sup.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                       array.array("i", fds))])
        else:
            self.sup.sendall(data)

    def start(self, limits=None, slot=0, run_id=None, session=None):
        """Start a run (or a call of `session`); returns a Run with the
        supervisor ends of its fds."""
        if run_id is None:
            run_id = self.next_id
            self.next_id += 1
        chan_sup, chan_run = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        command = {"op": "run", "id": run_id, "slot": slot, "limits": limits or {}}
        if session is not None:
            command["session"] = session
        self.send(command, [chan_run.fileno(), out_w, err_w])
        chan_run.close()
        os.close(out_w)
        os.close(err_w)
        return Run(self, run_id, chan_sup, out_r, err_r)

    def run(self, code, inputs=None, limits=None, result_bytes=16 << 20, timeout=20,
            session=None):
        r = self.start(limits, session=session)
        r.request(code, inputs, result_bytes)
        return r.finish(timeout)

    def exit_frame(self, run_id, timeout=20):
        for f in self.stray:
            if f.get("id") == run_id:
                self.stray.remove(f)
                return f
        while True:
            f = self.reader.read_json(timeout)
            if f is None:
                raise EOFError("zygote closed the control socket")
            if f.get("op") == "exit" and f.get("id") == run_id:
                return f
            self.stray.append(f)

    def close(self):
        try:
            self.send({"op": "shutdown"})
        except OSError:
            pass
        self.sup.close()
        _, status = os.waitpid(self.pid, 0)
        out = read_all(self.out_r)
        err = read_all(self.err_r)
        os.close(self.out_r)
        os.close(self.err_r)
        return status, out, err


def children(pid):
    """Host pids of pid's children."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _pid_ns(pid):
    try:
        return os.readlink("/proc/%d/ns/pid" % pid)
    except OSError:
        return None


def run_children(zygote):
    """The zygote's children in pid namespaces of their own: its spares,
    runs and sessions (full tier), not its fork server, which shares its."""
    own = _pid_ns(zygote)
    return [p for p in children(zygote) if _pid_ns(p) not in (own, None)]


def fork_servers(zygote):
    """The zygote's children in its own pid namespace: its fork server."""
    own = _pid_ns(zygote)
    return [p for p in children(zygote) if _pid_ns(p) == own]


def descendants(pid):
    out = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def wait_for(pred, timeout=5.0, step=0.005):
    """Poll pred() until it returns something truthy; return that (or the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Run:
    def __init__(self, zyg, run_id, chan, out_r, err_r):
        self.zyg, self.id, self.chan, self.out_r, self.err_r = zyg, run_id, chan, out_r, err_r

    def request(self, code, inputs=None, result_bytes=16 << 20):
        self.chan.sendall(frame({"code": code, "resultBytes": result_bytes}) +
                          frame(json.dumps(inputs or {}).encode()))

    def finish(self, timeout=20):
        reader = FrameReader(self.chan)
        replies = []
        while True:
            f = reader.read(timeout)
            if f is None:
                break
            replies.append(f)
        out = read_all(self.out_r, timeout)
        err = read_all(self.err_r, timeout)
        ex = self.zyg.exit_frame(self.id, timeout)
        self.chan.close()
        os.close(self.out_r)
        os.close(self.err_r)
        return Result(replies, out, err, ex)


class Result:
    def __init__(self, replies, out, err, ex):
        # The runner's "started" frame precedes every reply once setup worked.
        self.started = bool(replies) and replies[0] == b'{"status":"started"}'
        if self.started:
            replies = replies[1:]
        self.replies, self.stdout, self.stderr, self.exit = replies, out, err, ex
        # meta without "usage", which is checked on its own.
        self.meta = json.loads(replies[0]) if replies else None
        self.usage = self.meta.pop("usage", None) if self.meta else None
        # A session call's first reply from a new session process says so.
        self.session_started = self.meta.pop("sessionStarted", False) if self.meta else None

    @property
    def value(self):
        assert self.meta == {"status": "ok"}, self.meta
        return json.loads(self.replies[1])

    @property
    def error(self):
        assert self.meta and self.meta.get("status") == "error", self.meta
        return self.meta["error"]
