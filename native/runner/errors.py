"""Structured errors for a failed node: {type, message, traceback, line}.

Only frames of the node's own code (filename "<node>") are shown, so line
numbers are node-relative and the runner never appears in a traceback.
"""
import errno as _errno
import re
import traceback

import child_setup

NODE_FILENAME = "<node>"
MAX_TRACEBACK = 64 * 1024
MAX_MESSAGE = 64 * 1024

_MIB = 1024 * 1024
_FORKISH = re.compile(r"fork|spawn|_execute_child|_launch|Popen|system|Process")


def safe_str(exc):
    """str(exc) that survives a user exception whose __str__/__repr__ raise."""
    for fn in (str, repr):
        try:
            s = fn(exc)
            if isinstance(s, str):
                return s
        except BaseException:
            pass
    return "<%s object: str() failed>" % safe_type_name(exc)


def safe_type_name(exc):
    try:
        name = type(exc).__name__
        return name if isinstance(name, str) else "Exception"
    except BaseException:
        return "Exception"


def _limit_text(s, cap):
    b = s.encode("utf-8", "surrogatepass")
    if len(b) <= cap:
        return s
    # Keep the head and, above all, the tail: the last lines say what happened.
    head = b[: cap // 4].decode("utf-8", "ignore")
    tail = b[-(cap - cap // 4 - 64):].decode("utf-8", "ignore")
    return head + "\n... (truncated) ...\n" + tail


def _filter_tb(te):
    """Drop non-node frames from a TracebackException and its chain, in place."""
    seen = set()
    stack = [te]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        cur.stack = traceback.StackSummary.from_list(
            [f for f in cur.stack if f.filename == NODE_FILENAME])
        stack.append(getattr(cur, "__cause__", None))
        stack.append(getattr(cur, "__context__", None))
        for sub in getattr(cur, "exceptions", None) or ():  # ExceptionGroup (3.11+)
            stack.append(sub)
    return te


def _node_frames(exc):
    tb = getattr(exc, "__traceback__", None)
    frames = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == NODE_FILENAME:
            frames.append(tb.tb_lineno)
        tb = tb.tb_next
    return frames


def _innermost_frame_text(exc):
    """Function name and source line of the innermost frame of any file."""
    tb = getattr(exc, "__traceback__", None)
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    code = last.tb_frame.f_code
    try:
        import linecache
        line = linecache.getline(code.co_filename, last.tb_lineno)
    except Exception:
        line = ""
    return code.co_name + " " + line


def format_traceback(exc):
    try:
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        _filter_tb(te)
        text = "".join(te.format())
    except BaseException:
        text = "%s: %s\n" % (safe_type_name(exc), safe_str(exc))
    return _limit_text(text, MAX_TRACEBACK)


def error_info(exc, limits=None):
    """Build the error object of a `status: error` reply."""
    limits = limits or {}
    etype = safe_type_name(exc)
    message = safe_str(exc)
    frames = _node_frames(exc)
    line = frames[-1] if frames else None
    if line is None and isinstance(exc, SyntaxError) \
            and getattr(exc, "filename", None) == NODE_FILENAME:
        line = exc.lineno if isinstance(exc.lineno, int) else None

    mapped = classify(exc, message, limits)
    if mapped is not None:
        etype, message = mapped

    return {
        "type": etype,
        "message": _limit_text(message, MAX_MESSAGE),
        "traceback": format_traceback(exc),
        "line": line,
    }


def _limit_size(limits, key):
    n = limits.get(key)
    if not isinstance(n, int) or n <= 0:
        return None
    from convert import human_bytes
    return human_bytes(n)


def classify(exc, message, limits):
    """Map resource-limit failures to pycage's error types; None keeps the class."""
    if isinstance(exc, RecursionError):
        return None
    if isinstance(exc, MemoryError):
        size = _limit_size(limits, "memoryBytes")
        where = ("the %s address-space limit" % size) if size else "the address-space limit"
        detail = (" (%s)" % message) if message else ""
        return ("MemoryLimitExceeded",
                "the node ran out of memory under %s%s" % (where, detail))
    if isinstance(exc, OSError):
        err = getattr(exc, "errno", None)
        if err == _errno.EFBIG:
            size = _limit_size(limits, "fileSizeBytes")
            lim = ("the %s file-size limit" % size) if size else "the file-size limit"
            return ("OutputLimitExceeded",
                    "a file written by the node exceeded %s" % lim)
        # EAGAIN is also what non-blocking I/O says, so only a failed fork/spawn
        # (seen in the innermost frame: the node's line or a library's) counts.
        if err == _errno.EAGAIN and _FORKISH.search(_innermost_frame_text(exc)):
            return ("ProcessLimitExceeded", _proc_message(limits, message))
    if isinstance(exc, RuntimeError) and "can't start new thread" in message:
        return ("ProcessLimitExceeded", _proc_message(limits, message))
    return None


def _proc_message(limits, message):
    n = limits.get("processes")
    lim = ("the limit of %d processes/threads" % n) if isinstance(n, int) else \
        "the process/thread limit"
    if child_setup.PROCESSES_BASE:
        # The reduced tier: RLIMIT_NPROC counts the uid, not the run.
        lim += (" (the reduced tier counts them per pool: its runs and sessions share one uid, "
                "so busy neighbours leave fewer)")
    return "the node could not start a process or thread: it hit %s (%s)" % (lim, message)
