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
statements whose last expression, if any, is the result, as in a run."""
import ast
import gc
import json
import os
import resource
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


def spare():
    line = sys.stdin.buffer.readline()
    if not line:
        os._exit(AT_EOF)
    code = json.loads(line)["code"]
    result = run_node(code)
    os.write(1, (json.dumps({"result": result}) + "\n").encode())
    os._exit(0)


def fork_spare(live):
    pid = os.fork()
    if pid == 0:
        spare()
    live.add(pid)


def main():
    live = set()
    while len(live) < SPARES:
        fork_spare(live)
    done = False
    while live:
        pid, status = os.wait()
        live.discard(pid)
        done = done or os.waitstatus_to_exitcode(status) != 0
        if not done:
            fork_spare(live)
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write(json.dumps({"parentMs": (me.ru_utime + me.ru_stime) * 1000,
                                 "childrenMs": (kids.ru_utime + kids.ru_stime) * 1000}) + "\n")


if __name__ == "__main__":
    main()
