"""What the zygote loads before its first fork: the run filter, the
bundle and the learned modules' imports, the restrictions and the warm-up,
so that every run starts with them in copy-on-write memory."""
import importlib
import importlib.machinery
import os
import sys

import confine
import convert
from diag import log
import errors
import execute
import frames
import restrictions


def abi_tag():
    # ".cpython-311-x86_64-linux-gnu.so" -> "cpython-311-x86_64-linux-gnu", without sysconfig.
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        parts = suffix.split(".")
        if len(parts) == 3 and parts[2] == "so" and parts[1]:
            return parts[1]
    return sys.implementation.cache_tag or ""


def read_bpf(fd):
    """The run seccomp filter: a sealed memfd of raw struct sock_filter[]."""
    size = os.fstat(fd).st_size
    chunks = []
    off = 0
    while off < size:
        chunk = os.pread(fd, size - off, off)
        if not chunk:
            break
        chunks.append(chunk)
        off += len(chunk)
    os.close(fd)
    return b"".join(chunks)


def load_bundle(environ=os.environ, passthrough=()):
    """Make the bundle importable and import its preload modules, once.

    PYCAGE_SITE is the bundle's package tree (bound read-only); PYCAGE_PRELOAD
    lists its top-level modules (Temporal's passthrough modules): imported
    here, before any fork, every run shares them copy-on-write instead of
    paying their import. A module that fails to import is logged and left for
    the run to import (and fail) itself. `passthrough` (the operator's
    restrictions.passthroughModules) adds to the list; one that is simply not
    installed in this pool is skipped quietly (it is for every pool).
    """
    site = environ.get("PYCAGE_SITE", "")
    if site and site not in sys.path:
        sys.path.append(site)
    if site:
        _prepare_matplotlib(site, environ)
    loaded = []
    preload = list(filter(None, environ.get("PYCAGE_PRELOAD", "").split(",")))
    optional = [n for n in passthrough if n not in preload]
    for name in preload + optional:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ModuleNotFoundError as e:
            if name not in optional or e.name != name.partition(".")[0]:
                log("preload of %s failed: %s: %s" % (name, type(e).__name__, e))
        except BaseException as e:  # noqa: B036 - a module's import may raise anything, SystemExit included
            log("preload of %s failed: %s: %s" % (name, type(e).__name__, e))
    return loaded


def load_restrictions(environ=os.environ):
    """The operator's restrictions (PYCAGE_RESTRICTIONS), or the defaults."""
    try:
        return restrictions.from_environ(environ)
    except ValueError as e:
        # The host validates them first; if they still do not parse, keep the
        # default (network) restrictions rather than none.
        log("%s is not valid (%s); using the default restrictions" % (restrictions.ENV, e))
        return restrictions.parse("{}")


def _prepare_matplotlib(site, environ):
    # The installer built matplotlib's font cache into the bundle, but the
    # bundle is read-only and matplotlib wants a writable config dir (else it
    # warns and rebuilds the cache, ~250 ms). The zygote's own temporary
    # directory is writable (/tmp; the scratch directory in the reduced
    # tier): copy the cache there before matplotlib is imported.
    cache = os.path.join(site, ".pycage-mplconfig")
    if not os.path.isdir(cache):
        return
    target = environ.get("MPLCONFIGDIR") or os.path.join(environ.get("TMPDIR") or "/tmp", "pycage-mplconfig")
    try:
        os.makedirs(target, exist_ok=True)
        for entry in os.listdir(cache):
            source = os.path.join(cache, entry)
            if os.path.isfile(source):
                with open(source, "rb") as src, open(os.path.join(target, entry), "wb") as dst:
                    dst.write(src.read())
        os.environ["MPLCONFIGDIR"] = target
    except OSError as e:
        log("matplotlib font cache not copied: %s" % e)


def warm_up():
    """Pay the first-use costs (compile, ast, json, traceback, codecs) once."""
    main_mod = sys.modules.get("__main__")
    try:
        value = execute.run_node(
            "import math\nxs = [i * 2 for i in range(3)]\n"
            "def f(a):\n    return a['k']\n"
            "result = {'xs': xs, 'pi': math.pi, 'k': f(inp), 'b': b'x', 's': {1}}\n"
            "result\n", {"inp": {"k": 1.5}})
        convert.check_size(convert.dumps(value), 1 << 20)
        execute.run_node("x = 1\nx + 1\n", {"result": None})
        try:
            execute.run_node("def g():\n    return 1 / 0\ng()\n", {})
        except ZeroDivisionError as e:
            frames.encode_json(errors.error_info(e, {}))
        try:
            execute.run_node("x = (\n", {})
        except SyntaxError as e:
            frames.encode_json(errors.error_info(e, {}))
        try:
            convert.dumps(object())
        except TypeError:
            pass
        frames.encode_json({"s": "\ud800"})
        frames.decode_json(b'{"a":[1,2.5,"x",null,true,{"b":false}]}')
    finally:
        sys.modules["__main__"] = main_mod


def release_free_heap():
    """glibc keeps the pages of freed heap chunks mapped, and every fork
    copies their page-table entries: give them back once, after the imports
    and before the first fork. About 0.9 MB of a stdlib zygote's 10 MB of
    anonymous memory (README, "Benchmark")."""
    try:
        confine.libc().malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to give back this way
