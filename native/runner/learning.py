"""Adaptive preload: which modules a bundle's nodes import, and importing
the ones the host asks for in the next warm interpreter.

Two sides (docs/ARCHITECTURE.md "Adaptive preload"):
  - a run reports, by name only, the modules it imported that the zygote
    lacked (imported_since_fork); the host counts them per bundle;
  - a new zygote imports what the host learned (preload_learned): names it
    vetted before directly, new candidates only after a throwaway probe child
    imported them under watch. A name that fails there, starts a thread,
    opens a socket or starts a process is dropped, with a log line.

A name is only ever imported from the bundle's package tree or the standard
library: never from the runner's own directory or a run's files. The zygote
tells the host what it did in one `pycage-zygote: preload-report {json}`
line on fd 2.
"""
import importlib
import importlib.util
import json
import os
import re
import select
import sys
import _thread  # not threading: its after-fork hook would cost every run of the pool
import time

REPORT_PREFIX = "preload-report "
MAX_REPORTED = 64        # names per run; also the C++ cap
MAX_NAME = 200           # characters; also the C++ cap
MAX_LEARNED = 256        # names the zygote takes from the host at most
PROBE_SECONDS = 60.0     # the whole probe, every candidate together
REPORT_LINE_BYTES = 6000  # under the host's 8 KiB cut of a stderr line

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")

# Audit events a module's import must not raise in the probe: they mean it
# reaches the network, starts a process or signals one. Threads are caught by
# counting them after each import (there is no audit event for them before
# Python 3.13).
_BLOCKED_EVENT_PREFIXES = ("socket.", "urllib.Request", "subprocess.", "os.system", "os.exec",
                           "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
                           "os.killpg", "pty.spawn")
# Socket events that reach no network: the host's own name.
_ALLOWED_EVENTS = frozenset(("socket.gethostname",))


class _State:
    baseline = frozenset()
    roots = ((), "/")
    enabled = False


def valid_name(name):
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and _NAME.match(name) is not None


def import_roots(runner_dir):
    """Where a learned module may come from: sys.path (the standard library
    and the bundle's site directory), never the runner's own directory, even
    when a sys.path entry holds it. Returns (allowed roots, refused root)."""
    runner = os.path.realpath(runner_dir)
    roots = []
    for entry in sys.path:
        if not entry:
            continue
        real = os.path.realpath(entry)
        if real != runner and real not in roots:
            roots.append(real)
    return tuple(roots), runner


def _within(real, root):
    return real == root or real.startswith(root + os.sep)


def _under(path, roots):
    allowed, refused = roots
    real = os.path.realpath(path)
    return not _within(real, refused) and any(_within(real, root) for root in allowed)


def _spec_allowed(spec, roots):
    """True when a module spec's code lives under the allowed roots (or is
    built into the interpreter)."""
    if spec is None:
        return False
    if spec.origin in ("built-in", "frozen"):
        return True
    if spec.origin and spec.has_location:
        return _under(spec.origin, roots)
    locations = list(spec.submodule_search_locations or ())
    return bool(locations) and all(_under(p, roots) for p in locations)


def remember_baseline(runner_dir, enabled):
    """In the zygote, just before it serves: what every run starts with."""
    _State.baseline = frozenset(sys.modules)
    _State.roots = import_roots(runner_dir)
    _State.enabled = enabled


def imported_since_fork():
    """In a run, at reply time: the names of the modules it imported that its
    zygote lacked, parents first, at most MAX_REPORTED. Only modules loaded
    from the bundle or the standard library count; the host trusts none of
    it beyond the names (the zygote checks again before importing any)."""
    if not _State.enabled:
        return []
    if len(sys.modules) <= len(_State.baseline):
        # Nothing was added (or a run removed as many as it added, and then
        # only its own report is lost). Diffing the names would touch every
        # module name, and every page a fresh fork shares holding one.
        return []
    new = sys.modules.keys() - _State.baseline
    if not new:
        return []
    out = []
    for name in sorted(new, key=lambda n: (n.count("."), n)):
        if len(out) >= MAX_REPORTED:
            break
        if not valid_name(name):
            continue
        module = sys.modules.get(name)
        spec = getattr(module, "__spec__", None)
        try:
            if _spec_allowed(spec, _State.roots):
                out.append(name)
        except (TypeError, ValueError, AttributeError, OSError):
            continue
    return out


def names_from(environ, key):
    """A comma-separated list of module names from the environment, valid
    ones only, without repeats, at most MAX_LEARNED."""
    out = []
    for name in environ.get(key, "").split(","):
        if valid_name(name) and name not in out:
            out.append(name)
    return out[:MAX_LEARNED]


def _rss_kb():
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 0


def _thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return _thread._count() + 1  # threads started through _thread (threading too), and this one


class _Blocked(Exception):
    pass


def _audit(event, _args):
    if _Probe.active and event.startswith(_BLOCKED_EVENT_PREFIXES) and event not in _ALLOWED_EVENTS:
        _Probe.active = False  # the error below may itself raise events
        _Probe.reason = "its import tried %s" % event
        raise _Blocked(_Probe.reason)


class _Probe:
    active = False
    reason = None


def _probe_one(name, roots):
    """In the probe child: import `name` under watch. None when it passed,
    else why it is dropped."""
    threads = _thread_count()
    try:
        top = name.partition(".")[0]
        if top not in sys.modules:
            if not _spec_allowed(importlib.util.find_spec(top), roots):
                return "it is not provided by the bundle or the standard library"
        _Probe.active, _Probe.reason = True, None
        try:
            spec = importlib.util.find_spec(name)
            if not _spec_allowed(spec, roots):
                return "it is not provided by the bundle or the standard library"
            importlib.import_module(name)
        finally:
            _Probe.active = False
    except BaseException as e:  # noqa: B036 - a module's import may raise anything
        if _Probe.reason:
            return _Probe.reason
        return "its import failed: %s: %s" % (type(e).__name__, str(e)[:200])
    if _thread_count() > threads:
        return "its import started a thread"
    return None


def _probe_child(names, roots, write_fd):
    """The probe: one line per candidate, "ok NAME" or "drop NAME WHY", as it
    goes, so a hang still tells the zygote which name hung."""
    sys.addaudithook(_audit)
    for name in names:
        why = _probe_one(name, roots)
        line = ("ok %s\n" % name) if why is None else ("drop %s %s\n" % (name, why.replace("\n", " ")))
        os.write(write_fd, line.encode("utf-8", "replace"))


def probe(names, roots, log, timeout=PROBE_SECONDS):
    """Import `names` in a throwaway child of the zygote, under watch.
    Returns (accepted names, [(name, reason)] dropped)."""
    if not names:
        return [], []
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_fd)
            _probe_child(names, roots, write_fd)
        except BaseException:  # noqa: B036 - the child must end here whatever happens
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                break
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_fd)
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        os.waitpid(pid, 0)
    accepted, dropped, seen = [], [], set()
    for line in data.decode("utf-8", "replace").splitlines():
        verdict, _, rest = line.partition(" ")
        name, _, why = rest.partition(" ")
        if name not in names or name in seen:
            continue
        seen.add(name)
        if verdict == "ok":
            accepted.append(name)
        else:
            dropped.append((name, why or "the probe gave no reason"))
    unanswered = [n for n in names if n not in seen]
    if unanswered:
        # The first name without an answer is the one whose import hung or
        # killed the probe; the rest were never tried and stay candidates.
        dropped.append((unanswered[0], "its import did not finish in the probe (hung or crashed it)"))
    for name, why in dropped:
        log("preload of %s dropped: %s" % (name, why))
    return accepted, dropped


def preload_learned(environ, runner_dir, log, denied=lambda _name: False):
    """In a bundle's zygote, before restrictions and the first fork: import
    what the host learned. PYCAGE_PRELOAD_LEARNED names passed a probe
    before; PYCAGE_PRELOAD_TRY names are probed first. Imports stop once the
    zygote grew by PYCAGE_PRELOAD_GROWTH_KB. Returns the report it logs."""
    learned = names_from(environ, "PYCAGE_PRELOAD_LEARNED")
    trying = [n for n in names_from(environ, "PYCAGE_PRELOAD_TRY") if n not in learned]
    if not learned and not trying:
        return None
    try:
        cap_kb = int(environ.get("PYCAGE_PRELOAD_GROWTH_KB", ""))
    except ValueError:
        cap_kb = 128 << 10
    roots = import_roots(runner_dir)
    accepted, dropped = probe([n for n in trying if not denied(n)], roots, log)
    loaded, skipped = [], []
    start = _rss_kb()
    for name in learned + accepted:
        if name in sys.modules:
            loaded.append(name)
            continue
        if denied(name) or (start and _rss_kb() - start > cap_kb):
            skipped.append(name)
            continue
        try:
            spec = importlib.util.find_spec(name)
            if not _spec_allowed(spec, roots):
                dropped.append((name, "it is not provided by the bundle or the standard library"))
                continue
            importlib.import_module(name)
            loaded.append(name)
        except BaseException as e:  # noqa: B036 - a module's import may raise anything
            dropped.append((name, "its import failed: %s: %s" % (type(e).__name__, str(e)[:200])))
            log("preload of %s dropped: %s" % dropped[-1])
    if skipped:
        log("preload: %d learned module(s) left out at the %d KiB growth cap or by restrictions" %
            (len(skipped), cap_kb))
    report = {"loaded": loaded, "dropped": [{"name": n, "reason": r} for n, r in dropped],
              "skipped": skipped, "growthKb": max(0, _rss_kb() - start) if start else 0}
    for line in report_lines(report):
        log(line)
    return report


def report_lines(report, max_bytes=REPORT_LINE_BYTES):
    """The report as `preload-report {json}` lines of at most max_bytes
    each (the host cuts longer stderr lines): every line is a report of its
    own, with a share of the lists; the host merges them."""
    items = [("loaded", n) for n in report["loaded"]] + [("dropped", d) for d in report["dropped"]] + \
        [("skipped", n) for n in report["skipped"]]
    lines = []
    part = {"loaded": [], "dropped": [], "skipped": [], "growthKb": report["growthKb"]}
    for key, item in items:
        part[key].append(item)
        if len(REPORT_PREFIX) + len(json.dumps(part, separators=(",", ":"))) > max_bytes and \
                len(part["loaded"]) + len(part["dropped"]) + len(part["skipped"]) > 1:
            part[key].pop()
            lines.append(REPORT_PREFIX + json.dumps(part, separators=(",", ":")))
            part = {"loaded": [], "dropped": [], "skipped": [], "growthKb": report["growthKb"]}
            part[key].append(item)
    lines.append(REPORT_PREFIX + json.dumps(part, separators=(",", ":")))
    return lines
