"""Restrictions (README "Restrictions"): a usability layer, not a boundary.

Temporal-style: what the *node's own code* imports or reaches through an
import is checked against denied modules and members; imports made by library
modules (and by the zygote before install()) pass, so numpy, pandas,
matplotlib or requests keep importing socket, ssl or http.client internally.
The jail is what keeps a determined node off the network; this layer turns
the common mistake into a clear error instead of a confusing one.

Installed once in the zygote, before the warm-up and the fork, so a run pays
only for the checks themselves. The audit list (warn mode) is per call:
start_run() resets it, take_audit() hands it over.

Where it looks:
  - builtins.__import__ (every import statement, __import__(), exec/eval'd
    code), importlib.import_module, importlib.__import__ and
    importlib.util.find_spec, when the calling frame's globals are not the
    namespace of a module in sys.modules (node code, code it exec'd, the
    functions it defined);
  - the objects those return to node code: a module (or class) on the path to
    a denied member or denied submodule comes back as a view whose denied
    attributes raise.
What it does not see (README "Restrictions"): objects reached without an
import (sys.modules, a library's attributes, gc), the import machinery used
directly (loaders, specs), or a node that puts the original __import__ back.
"""
import builtins
import importlib
import importlib.util
import json
import sys
import types

ENV = "PYCAGE_RESTRICTIONS"

NETWORK_MESSAGE = ("network access is disabled in Python nodes; fetch data with a "
                   "datasource node and pass it in")

# Denied by default, on top of the operator's lists: what a node would import
# to open a connection itself. Library imports of them are never affected.
NETWORK_MODULES = (
    "socket", "_socket", "ssl", "_ssl", "socketserver",
    "http.client", "http.server", "urllib.request",
    "ftplib", "smtplib", "poplib", "imaplib", "nntplib", "telnetlib",
    "xmlrpc.client", "xmlrpc.server",
)
# asyncio itself is fine for concurrency; only its connection helpers are not.
NETWORK_MEMBERS = (
    "asyncio.open_connection", "asyncio.start_server",
    "asyncio.open_unix_connection", "asyncio.start_unix_server",
)

MAX_AUDIT = 256          # distinct entries per call; also the C++ cap
MAX_AUDIT_NAME = 200     # characters


class RestrictedAccessError(ImportError):
    """A node imported a denied module or touched a denied member."""


# Tracebacks then say "RestrictedAccessError: ...", like a built-in error,
# rather than naming this runner module.
RestrictedAccessError.__module__ = "builtins"


class _Config:
    mode = "enforce"
    modules = {}      # denied module name -> message
    members = {}      # denied dotted member path -> message
    guarded = frozenset()  # proper prefixes of both: objects that need a view
    installed = False


class _Audit:
    entries = []
    seen = set()


_orig_import = builtins.__import__
_orig_import_module = importlib.import_module
_orig_find_spec = importlib.util.find_spec


def _network_message(kind, name):
    return "%s '%s' is not available: %s" % (kind, name, NETWORK_MESSAGE)


def _operator_message(kind, name):
    what = "module" if kind == "module" else "member"
    field = "deniedModules" if kind == "module" else "deniedMembers"
    return ("%s '%s' is denied in Python nodes by this sandbox's restrictions (%s); "
            "remove it from the node or ask the operator to allow it" % (what, name, field))


def parse(text):
    """The restrictions JSON from the host. Raises ValueError on a bad shape.

    Keys: deniedModules, deniedMembers, passthroughModules (lists of dotted
    names), mode ('enforce'|'warn'), defaults (bool, default true: add the
    network modules; the host turns it off for the bundle smoke test).
    """
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("%s must be a JSON object" % ENV)
    out = {"mode": raw.get("mode", "enforce"), "defaults": raw.get("defaults", True)}
    if out["mode"] not in ("enforce", "warn"):
        raise ValueError("mode must be 'enforce' or 'warn', got %r" % (out["mode"],))
    if not isinstance(out["defaults"], bool):
        raise ValueError("defaults must be a boolean")
    for key in ("deniedModules", "deniedMembers", "passthroughModules"):
        names = raw.get(key, [])
        if not isinstance(names, list) or not all(_dotted(n) for n in names):
            raise ValueError("%s must be a list of dotted names" % key)
        out[key] = names
    if not all("." in n for n in out["deniedMembers"]):
        raise ValueError("deniedMembers must name module.member")
    return out


def _dotted(name):
    return isinstance(name, str) and bool(name) and all(p.isidentifier() for p in name.split("."))


def from_environ(environ):
    """The parsed config of environ[ENV], or the defaults when it is absent."""
    text = environ.get(ENV)
    if not text:
        return parse("{}")
    return parse(text)


def denies_module(config):
    """A predicate: would `config` deny a node's import of this module (or
    of a package above it)? Learned preloads skip those: a node could not
    have asked for them in enforce mode, and a zygote need not carry them."""
    denied = set(config["deniedModules"])
    if config["defaults"]:
        denied.update(NETWORK_MODULES)

    def denies(name):
        parts = name.split(".")
        return any(".".join(parts[:i]) in denied for i in range(1, len(parts) + 1))
    return denies


def install(config):
    """Apply a parsed config to this process (the zygote). Idempotent."""
    modules = {}
    members = {}
    if config["defaults"]:
        modules.update((m, _network_message("module", m)) for m in NETWORK_MODULES)
        members.update((m, _network_message("member", m)) for m in NETWORK_MEMBERS)
    for name in config["deniedModules"]:
        modules[name] = _operator_message("module", name)
    for name in config["deniedMembers"]:
        members[name] = _operator_message("member", name)
    guarded = set()
    for path in list(modules) + list(members):
        parts = path.split(".")
        guarded.update(".".join(parts[:i]) for i in range(1, len(parts)))
    _Config.mode = config["mode"]
    _Config.modules = modules
    _Config.members = members
    _Config.guarded = frozenset(guarded)
    _Views.cache.clear()
    if not _Config.installed:
        builtins.__import__ = _guarded_import
        importlib.__import__ = _guarded_import
        importlib.import_module = _guarded_import_module
        importlib.util.find_spec = _guarded_find_spec
        _Config.installed = True


def uninstall():
    """Undo install() (tests)."""
    builtins.__import__ = _orig_import
    importlib.__import__ = _orig_import
    importlib.import_module = _orig_import_module
    importlib.util.find_spec = _orig_find_spec
    _Config.installed = False
    _Config.modules, _Config.members, _Config.guarded = {}, {}, frozenset()
    _Views.cache.clear()


def start_run():
    """Forget the previous call's audit (a session runs many calls)."""
    _Audit.entries = []
    _Audit.seen = set()


def take_audit():
    """This call's audit entries, [{kind, name, message}], and reset."""
    entries = _Audit.entries
    start_run()
    return entries


def _from_library(g):
    """True when frame globals `g` are a module's namespace in sys.modules.

    Node code runs in __main__'s namespace; code it exec's gets a dict no
    module owns. Both count as the node.
    """
    try:
        name = g.get("__name__")
        if type(name) is not str or name == "__main__":
            return False
        mod = sys.modules.get(name)
        return mod is not None and getattr(mod, "__dict__", None) is g
    except Exception:
        return False


def _deny(kind, name, message):
    """Raise in enforce mode; record and return in warn mode."""
    if _Config.mode == "enforce":
        raise RestrictedAccessError(message, name=name if kind == "module" else None)
    key = (kind, name)
    if key not in _Audit.seen and len(_Audit.entries) < MAX_AUDIT:
        _Audit.seen.add(key)
        _Audit.entries.append({"kind": kind, "name": name[:MAX_AUDIT_NAME], "message": message})


def _denied_module(name):
    """The message for a denied module or a submodule of one, else None."""
    modules = _Config.modules
    if not modules:
        return None
    end = name.find(".")
    while True:
        prefix = name if end < 0 else name[:end]
        message = modules.get(prefix)
        if message is not None:
            return message
        if end < 0:
            return None
        end = name.find(".", end + 1)


def _check_module(name):
    message = _denied_module(name)
    if message is not None:
        _deny("module", name, message)


def _absolute(name, package):
    if not name.startswith("."):
        return name
    try:
        return importlib.util.resolve_name(name, package)
    except (ImportError, ValueError, TypeError):
        return None  # the real import raises its own error


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if _from_library(sys._getframe(1).f_globals) or type(name) is not str:
        return _orig_import(name, globals, locals, fromlist, level)
    absname = name
    if level:
        package = (globals or {}).get("__package__") or None
        absname = _absolute("." * level + name, package)
    if absname:
        _check_module(absname)
        for item in fromlist or ():
            if type(item) is str and item != "*":
                # `from http import client` imports http.client as a side effect.
                _check_module(absname + "." + item)
    mod = _orig_import(name, globals, locals, fromlist, level)
    if fromlist:
        path = absname or getattr(mod, "__name__", None)
    else:
        path = (absname or name).partition(".")[0]
    return _view(mod, path)


def _guarded_import_module(name, package=None):
    if _from_library(sys._getframe(1).f_globals):
        return _orig_import_module(name, package)
    absname = _absolute(name, package) if isinstance(name, str) else None
    if absname:
        _check_module(absname)
    return _view(_orig_import_module(name, package), absname)


def _guarded_find_spec(name, package=None):
    if not _from_library(sys._getframe(1).f_globals) and isinstance(name, str):
        absname = _absolute(name, package)
        if absname:
            _check_module(absname)
    return _orig_find_spec(name, package)


# --- views: what node code gets for an object on the path to a denied name ---

class _Views:
    cache = {}   # path -> view (its target is checked on use)


def _view(obj, path):
    if not path or path not in _Config.guarded:
        return obj
    cached = _Views.cache.get(path)
    if cached is not None and object.__getattribute__(cached, "_pycage_target") is obj:
        return cached
    cls = ModuleView if isinstance(obj, types.ModuleType) else ObjectView
    view = cls.__new__(cls)
    object.__setattr__(view, "_pycage_target", obj)
    object.__setattr__(view, "_pycage_path", path)
    _Views.cache[path] = view
    return view


def _guarded_getattr(view, name):
    target = object.__getattribute__(view, "_pycage_target")
    path = object.__getattribute__(view, "_pycage_path") + "." + name
    if name == "__all__":
        return _public_names(target, path[:-8])
    message = _Config.members.get(path)
    if message is not None:
        _deny("member", path, message)
    else:
        _check_module(path)
    return _view(getattr(target, name), path)


def _public_names(target, prefix):
    """`from m import *` on a view: the real names minus the denied ones, so
    the star import works instead of failing on the first denied name."""
    try:
        names = list(target.__all__)
    except AttributeError:
        names = [n for n in vars(target) if not n.startswith("_")]
    return [n for n in names if type(n) is not str
            or (prefix + "." + n not in _Config.members and _denied_module(prefix + "." + n) is None)]


def _target(obj):
    if isinstance(obj, (ModuleView, ObjectView)):
        return object.__getattribute__(obj, "_pycage_target")
    return obj


class ModuleView(types.ModuleType):
    """A module as node code sees it: every attribute is the real module's,
    except the denied ones. Its own __dict__ stays empty, so every lookup
    reaches __getattr__; vars()/__dict__ give the real namespace."""

    def __getattr__(self, name):
        return _guarded_getattr(self, name)

    def __setattr__(self, name, value):
        setattr(_target(self), name, value)

    def __delattr__(self, name):
        delattr(_target(self), name)

    def __dir__(self):
        return dir(_target(self))

    @property
    def __dict__(self):
        return _target(self).__dict__

    def __repr__(self):
        return repr(_target(self))


class ObjectView:
    """A class (or other object) on the path to a denied member, e.g.
    datetime.date for datetime.date.today: calls, isinstance/issubclass and
    subclassing reach the real class. `type(x) is view` is False."""
    __slots__ = ("_pycage_target", "_pycage_path")

    def __getattr__(self, name):
        return _guarded_getattr(self, name)

    def __setattr__(self, name, value):
        setattr(_target(self), name, value)

    def __call__(self, *args, **kwargs):
        return _target(self)(*args, **kwargs)

    def __instancecheck__(self, obj):
        return isinstance(obj, _target(self))

    def __subclasscheck__(self, cls):
        return issubclass(cls, _target(self))

    def __mro_entries__(self, bases):
        return (_target(self),)

    def __eq__(self, other):
        return _target(self) == _target(other)

    def __hash__(self):
        return hash(_target(self))

    def __dir__(self):
        return dir(_target(self))

    def __repr__(self):
        return repr(_target(self))

    @property
    def __doc__(self):
        return _target(self).__doc__
