"""Node semantics: read the request from fd 3, run it, reply once.

Runs in the run child after child_setup; everything it needs was imported by
the zygote, so nothing here should touch the filesystem.
"""
import ast
import builtins
import linecache
import os
import resource
import _signal  # not signal: its enum conversions run Python that a fresh fork copies pages for
import sys
import types

import convert
import errors
import figures
import frames
import learning
import profiles
import restrictions

CHAN_FD = 3
META_CAP = 64 * 1024 * 1024   # the code travels in the meta frame
INPUTS_CAP = 1 << 31

EXIT_OK = 0
EXIT_REPLY_FAILED = 1
EXIT_NO_REQUEST = 122
EXIT_INTERNAL = 123

_NOT_SET = object()


class _State:
    # Set once the reply is being written, so the SIGXCPU handler can never
    # interleave a second reply with the first.
    replying = False
    limits = {}
    pid = None
    # Sessions: fields added to every reply meta, and the CPU time already
    # spent by earlier calls (usage is per call).
    reply_extra = {}
    cpu_base_ms = 0.0


def parse_node(code):
    """Split node code into (exec code object, eval code object or None, flags)."""
    tree = ast.parse(code, errors.NODE_FILENAME, "exec")
    flags = _future_flags(tree)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        # Like Pyodide's runPython: the value of a trailing expression is the result.
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, errors.NODE_FILENAME, "exec", flags=flags, dont_inherit=True)
    tail = None
    if last is not None:
        tail = compile(last, errors.NODE_FILENAME, "eval", flags=flags, dont_inherit=True)
    return body, tail, tree


def _future_flags(tree):
    import __future__
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feat = getattr(__future__, alias.name, None)
                if feat is not None:
                    flags |= feat.compiler_flag
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            break
    return flags


def assigns_result(tree):
    """True if the code binds the global name `result` somewhere.

    Needed besides the identity check because `result = <same object as the
    input>` (small ints, interned strings) is invisible to it.
    """
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Global) and "result" in node.names:
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            # Their bodies are other scopes; only `global result` (found above
            # wherever it is) makes them bind ours. Decorators/defaults are ours.
            for sub in ast.walk(node):
                if isinstance(sub, ast.Global) and "result" in sub.names:
                    return True
            if getattr(node, "name", None) == "result":
                return True
            continue
        if isinstance(node, ast.Name) and node.id == "result" \
                and isinstance(node.ctx, (ast.Store, ast.Del)):
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) == "result":
            return True
        if isinstance(node, ast.ExceptHandler) and node.name == "result":
            return True
        if getattr(node, "name", None) == "result" and type(node).__name__ in ("MatchAs", "MatchStar"):
            return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def run_node(code, inputs, module=None):
    """Execute node code with inputs as globals; return the node's result.

    `module` is a session's own __main__, whose globals persist between
    calls; by default every node gets a fresh one.
    Exceptions from the node propagate unchanged (their tracebacks hold the
    <node> frames errors.py keeps).
    """
    # Source lines for tracebacks of code that has no file.
    linecache.cache[errors.NODE_FILENAME] = (
        len(code), None, code.splitlines(True), errors.NODE_FILENAME)
    body, tail, tree = parse_node(code)

    # A real module object as __main__, so pickle, dataclasses and
    # multiprocessing can find classes the node defines.
    if module is None:
        module = types.ModuleType("__main__")
    g = module.__dict__
    g["__builtins__"] = builtins
    g.update(inputs)
    g["__builtins__"] = builtins  # an input may not replace the builtins
    sys.modules["__main__"] = module

    before = g.get("result", _NOT_SET)
    exec(body, g)
    value = None
    if tail is not None:
        value = eval(tail, g)
    after = g.get("result", _NOT_SET)
    if after is not _NOT_SET and (after is not before or assigns_result(tree)):
        return after
    return value


def _usage():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = (ru.ru_utime + ru.ru_stime) * 1000.0 - _State.cpu_base_ms
    return {"cpuMs": round(max(cpu_ms, 0.0), 3), "maxRssKb": ru.ru_maxrss}


def cpu_ms_so_far():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1000.0


def _reply_ok(data, fd=CHAN_FD, extra=None):
    frames.write_frames(fd, frames.encode_json(dict({"status": "ok", "usage": _usage()}, **_State.reply_extra,
                                                    **(extra or {}))), data)


def _reply_error(info, extra=None):
    frames.write_frame(CHAN_FD, frames.encode_json(
        dict({"status": "error", "error": info, "usage": _usage()}, **_State.reply_extra, **(extra or {}))))


def start_call():
    """Per-call state of figures and restrictions starts empty."""
    figures.start_run()
    restrictions.start_run()


def call_extras():
    """The optional reply-meta fields of the call that just ended: its figures
    (rendered and closed now) and the restrictions audit (warn mode)."""
    extra = {}
    try:
        figs, truncated = figures.collect(_note)
    except BaseException as e:  # drawing runs library code; never lose the reply to it
        figs, truncated = [], False
        _note("figures could not be collected: %s: %s" % (errors.safe_type_name(e), errors.safe_str(e)))
    if figs:
        extra["figures"] = figs
    if truncated:
        extra["figuresTruncated"] = True
    audit = restrictions.take_audit()
    if audit:
        extra["audit"] = audit
    imported = learning.imported_since_fork()
    if imported:
        extra["imported"] = imported
    return extra


def _note(text):
    # The run's own stderr: the node's author sees why a figure is missing.
    try:
        sys.stderr.write("pycage: %s\n" % text)
    except BaseException:
        pass


def _close_run_fds():
    # EOF on the reply channel and both pipes now, not after the kernel has
    # torn down the address space (exit closes files only after that), so
    # the supervisor can resolve the run without waiting for the exit report.
    for fd in (1, 2, CHAN_FD):
        try:
            os.close(fd)
        except OSError:
            pass


def _flush_std():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:
            pass


def _on_sigxcpu(signum, frame):
    # Full tier only: the run is pid 1 of its pid namespace, and the kernel
    # drops SIGXCPU's default action for a namespace init, so say it ourselves.
    if _State.replying or os.getpid() != _State.pid:
        return
    _State.replying = True
    secs = _State.limits.get("cpuMs")
    lim = ("%g s" % (-(-secs // 1000))) if isinstance(secs, int) else "the limit"
    try:
        _flush_std()
        _reply_error({"type": "CpuLimitExceeded",
                      "message": "the node used more CPU time than %s" % lim,
                      "traceback": "", "line": None})
        _close_run_fds()
    finally:
        os._exit(EXIT_OK)


def serve(limits, tier):
    """Read one request from fd 3, run it, reply. Never returns."""
    _State.limits = limits or {}
    _State.pid = os.getpid()
    if profiles.profile_of(tier).per_run_namespaces:  # pid 1: no default action
        _signal.signal(_signal.SIGXCPU, _on_sigxcpu)
    code = EXIT_INTERNAL
    try:
        code = _serve()
        if _State.replying and os.getpid() == _State.pid:
            _close_run_fds()
    finally:
        os._exit(code)


def serve_call(limits, tier, module, reply_extra):
    """One call of a session: like serve(), but in the session's own module
    and returning to the caller once the reply is written. A CPU-limit signal
    still ends the process (the session dies and says so)."""
    _State.limits = limits or {}
    _State.pid = os.getpid()
    _State.replying = False
    _State.reply_extra = reply_extra
    _State.cpu_base_ms = cpu_ms_so_far()
    if profiles.profile_of(tier).per_run_namespaces:  # pid 1: no default action
        _signal.signal(_signal.SIGXCPU, _on_sigxcpu)
    return _serve(module)


def warm(fd):
    """A spare's warm-up: run a throwaway node through the request, execute and
    reply code paths, writing the reply to fd (/dev/null), so the copy-on-write
    faults of those paths are paid before a run arrives. Leaves no globals
    behind: every node gets a fresh __main__, which is put back here."""
    main_mod = sys.modules.get("__main__")
    try:
        meta = frames.decode_json(b'{"code":"_pycage_warm = {\'a\': [1, 2.5]}\\n_pycage_warm\\n",'
                                  b'"resultBytes":1048576}')
        inputs = frames.decode_json(b'{"x":1}')
        start_call()
        value = run_node(meta["code"], inputs)
        data = convert.dumps(value)
        convert.check_size(data, meta["resultBytes"])
        _reply_ok(data, fd, call_extras())
    finally:
        sys.modules["__main__"] = main_mod
        linecache.cache.pop(errors.NODE_FILENAME, None)


# Sent once setup is done and before the node's code runs: a setup_error
# after it can only come from the node's code, and the supervisor refuses it.
STARTED_FRAME = b'{"status":"started"}'


def _serve(module=None):
    try:
        frames.write_frame(CHAN_FD, STARTED_FRAME)
    except OSError:
        return EXIT_NO_REQUEST
    try:
        request = frames.read_frames(CHAN_FD, (META_CAP, INPUTS_CAP))
    except (frames.FrameError, OSError):
        return EXIT_NO_REQUEST
    if request is None:
        return EXIT_NO_REQUEST  # cancelled before the request arrived
    meta_raw, inputs_raw = request
    del request

    data = None
    info = None
    runner_pid = os.getpid()
    try:
        start_call()
        meta = frames.decode_json(meta_raw)
        code = meta.get("code")
        if not isinstance(code, str):
            raise TypeError("the request has no code string")
        result_bytes = meta.get("resultBytes")
        inputs = frames.decode_json(inputs_raw) if inputs_raw else {}
        if not isinstance(inputs, dict):
            raise TypeError("inputs must be a JSON object, got %s" % type(inputs).__name__)
        del meta_raw, inputs_raw
        value = run_node(code, inputs, module)
        del inputs
        data = convert.dumps(value)
        convert.check_size(data, result_bytes)
    except convert.OutputLimitExceeded as e:
        data = None
        info = {"type": "OutputLimitExceeded", "message": str(e), "traceback": "", "line": None}
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: the run ends here
        data = None
        try:
            info = errors.error_info(e, _State.limits)
        except BaseException:
            info = {"type": errors.safe_type_name(e), "message": errors.safe_str(e),
                    "traceback": "", "line": None}
        e = None

    # A process the node forked runs this same code path when its copy of the
    # node ends; only the run's own pid 1 may reply (or draw its figures).
    extra = call_extras() if os.getpid() == runner_pid else None
    _flush_std()
    if _State.replying or os.getpid() != runner_pid:
        return EXIT_OK
    _State.replying = True
    try:
        if info is None:
            _reply_ok(data, extra=extra)
        else:
            _reply_error(info, extra)
    except BaseException:
        return EXIT_REPLY_FAILED
    return EXIT_OK
