"""The floor of a warm fork-per-run design on this machine: the same
interpreter with the runner's modules imported (so the heap a fork copies is
the zygote's size), two pre-forked spares, and nothing else: no namespaces,
no seccomp, no rlimits, no supervisor, no captured stdout. A spare reads one
request line from stdin, evaluates it, writes the reply line to stdout and
exits; the parent reaps it and forks the next. bench/js/run_latency.js drives
it beside pycage in the same run, so pycage's figures read against it.

On EOF the parent prints its CPU and its reaped children's, in ms, as JSON
on stderr.

For a bundle's node (bench/js/learning.js): `--site DIR` puts the bundle on
sys.path, and `--warm CODE` runs the node once in the parent before the
first fork, so its modules are imported and their first-use caches built: a
floor below what any warm interpreter that only imports can reach. A node is
statements whose last expression, if any, is the result, as in a run.

Jailed (`--jail FLOOR_LIB --confine CONFINE_LIB`, as root): each fork is
also a full-tier run's own jail, built by the same code and cloned the same
way: pycage's fork server (the runner's fork_server.py and confine.RunJail
over pycage-confine.so) clones each spare into its user, pid and mount
namespaces, an init maps its uid (bench/native/floor_jail.cc), and it gets
/proc and its masks, a /tmp, no capability and the run filter over the
zygote filter. Still no Node addon, supervisor, protocol, zygote loop,
output capture or rlimits: this floor tells what isolation alone costs a
warm fork per run."""
import ast
import ctypes
import gc
import json
import os
import resource
import signal
import socket
import sys

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "native", "runner")
sys.path.insert(0, RUNNER)
# The modules the stdlib zygote imports before it serves (zygote.py).
for name in ("ast", "base64", "collections", "datetime", "decimal", "json", "math", "selectors",
             "socket", "traceback", "child_setup", "convert", "errors", "execute", "frames",
             "restrictions", "session", "startup", "forking", "spares", "session_calls"):
    try:
        __import__(name)
    except Exception:  # a module that needs the jail is not needed for its weight
        pass


def run_node(code):
    """The node's result: its last expression's value, as a run's."""
    try:
        return eval(compile(code, "<node>", "eval"), {})
    except SyntaxError:
        pass
    tree = ast.parse(code, "<node>", "exec")
    scope = {"__name__": "__node__"}
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<node>", "exec"), scope)
    return eval(compile(ast.Expression(last.value), "<node>", "eval"), scope) if last is not None else None


def option(name):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv[:-1] else None


if option("--site"):
    sys.path.append(option("--site"))
if option("--warm"):
    run_node(option("--warm"))
gc.collect()
gc.freeze()

SPARES = 2
AT_EOF = 3  # a spare's exit code when the driver closed stdin
# The jailed floor's run uids: high, unused on a host, one per live spare.
FIRST_SLOT = 200001


def default_tmp_options():
    """A run's /tmp options at the default tmpBytes (native/limits.json)."""
    import child_setup
    with open(os.path.join(RUNNER, "..", "limits.json")) as f:
        limits = json.load(f)["limits"]
    return child_setup.tmp_options(next(e["default"] for e in limits if e["name"] == "tmpBytes"))


class Jail:
    """A run's own jail for each fork (see the module's docstring)."""

    def __init__(self, floor_lib, confine_lib):
        import confine
        floor = ctypes.PyDLL(floor_lib)
        init_ours, init_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        init_theirs.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.slots = list(range(FIRST_SLOT, FIRST_SLOT + SPARES))
        self.slot_of = {}
        me = os.getpid()
        self.init_pid = os.fork()
        if self.init_pid == 0:
            init_ours.close()
            floor.pycage_floor_serve_init.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                                      ctypes.c_uint]
            floor.pycage_floor_serve_init(init_theirs.fileno(), me, self.slots[0], self.slots[-1], os.geteuid())
            os._exit(1)
        init_theirs.close()
        if init_ours.fileno() == confine.INIT_FD:
            init_ours.detach()
        else:
            os.dup2(init_ours.fileno(), confine.INIT_FD)
            init_ours.close()
        delta, size = ctypes.c_void_p(), ctypes.c_size_t()
        err = ctypes.create_string_buffer(512)
        floor.pycage_floor_prepare.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
                                               ctypes.c_char_p, ctypes.c_size_t]
        if floor.pycage_floor_prepare(ctypes.byref(delta), ctypes.byref(size), err, len(err)) != 0:
            sys.exit("jailed floor: %s" % err.value.decode())
        confine.LIB = confine_lib
        self.tmp_options = default_tmp_options()
        # Spares come from a fork server, as a full-tier zygote's do: this
        # process's pages are then shared with the server only, and its
        # loop copies none of them per run.
        import fork_server
        self.server = fork_server.ForkServer.start(confine.RunJail(ctypes.string_at(delta, size.value)),
                                                   os.open(os.devnull, os.O_RDWR), self.spare_main,
                                                   lambda message: sys.stderr.write(message + "\n"))

    @staticmethod
    def spare_main(fd, jail_error):
        """In each spare the server clones (this process's child), jailed."""
        if jail_error:
            sys.stderr.write("jailed floor: %s\n" % jail_error)
            os._exit(1)
        os.close(fd)  # its socket to this process: requests come on stdin here
        spare()

    def fork(self):
        slot = self.slots.pop(0)
        pid, ours = self.server.fork(slot, self.tmp_options)
        ours.close()
        self.slot_of[pid] = slot
        return pid

    def reaped(self, pid):
        self.slots.append(self.slot_of.pop(pid))

    def stop(self):
        """Stop the server and the init and reap them, so that their CPU
        counts with the children's."""
        self.server.stop()
        os.kill(self.init_pid, signal.SIGKILL)
        os.waitpid(self.init_pid, 0)


def spare():
    line = sys.stdin.buffer.readline()
    if not line:
        os._exit(AT_EOF)
    code = json.loads(line)["code"]
    result = run_node(code)
    os.write(1, (json.dumps({"result": result}) + "\n").encode())
    os._exit(0)


def fork_spare(live, jail):
    pid = jail.fork() if jail else os.fork()
    if pid == 0:
        spare()
    live.add(pid)


def main():
    jail = Jail(option("--jail"), option("--confine")) if option("--jail") else None
    live = set()
    while len(live) < SPARES:
        fork_spare(live, jail)
    done = False
    while live:
        pid, status = os.wait()
        if jail and pid in (jail.init_pid, jail.server.pid):
            sys.exit("jailed floor: its init or fork server exited (%d)" % os.waitstatus_to_exitcode(status))
        live.discard(pid)
        if jail:
            jail.reaped(pid)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, AT_EOF):
            # A failed node (its traceback is on stderr): the driver would
            # wait for its reply for ever, so the floor ends here.
            for other in live:
                os.kill(other, signal.SIGKILL)
            sys.exit("floor: a spare failed (exit %d)" % code)
        done = done or code != 0
        if not done:
            fork_spare(live, jail)
    if jail:
        jail.stop()
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write(json.dumps({"parentMs": (me.ru_utime + me.ru_stime) * 1000,
                                 "childrenMs": (kids.ru_utime + kids.ru_stime) * 1000}) + "\n")


if __name__ == "__main__":
    main()
