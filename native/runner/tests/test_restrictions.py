"""Restrictions: what node code may import and touch (restrictions.py).

In-process cases install the hooks around each class; the zygote cases check
the same through the real reply (warn mode's audit, the defaults, the
passthrough preload)."""
import json
import os
import shutil
import sys
import tempfile
import unittest

import errors
import execute
import restrictions
from tests import EXTRA_PATH, harness, optional

NETWORK = ("network access is disabled in Python nodes; fetch data with a "
           "datasource node and pass it in")
LIMITS = {"cpuMs": 5000, "memoryBytes": 1 << 30, "fileSizeBytes": 1 << 20,
          "processes": 64, "openFiles": 64, "tmpBytes": 16 << 20}

# A stand-in for a library: its module-level and function-level imports of
# denied modules must pass, and the values it hands over stay usable.
LIBRARY = '''
import socket, ssl
import http.client
def fetch():
    import urllib.request
    return urllib.request.__name__
def call(fn, *args):
    return fn(*args)
def sock():
    return socket
'''


def run(code, inputs=None):
    main = sys.modules.get("__main__")
    try:
        return execute.run_node(code, inputs or {})
    finally:
        sys.modules["__main__"] = main


def fail(code):
    try:
        run(code)
    except BaseException as e:
        return e
    raise AssertionError("no exception from %r" % code)


class Installed(unittest.TestCase):
    CONFIG = {}

    @classmethod
    def setUpClass(cls):
        cls.libdir = tempfile.mkdtemp(prefix="pycage-restr-")
        with open(os.path.join(cls.libdir, "pycage_fake_lib.py"), "w") as f:
            f.write(LIBRARY)
        sys.path.insert(0, cls.libdir)
        restrictions.install(restrictions.parse(json.dumps(cls.CONFIG)))
        restrictions.start_run()

    @classmethod
    def tearDownClass(cls):
        restrictions.uninstall()
        sys.path.remove(cls.libdir)
        sys.modules.pop("pycage_fake_lib", None)
        shutil.rmtree(cls.libdir)

    def tearDown(self):
        restrictions.take_audit()

    def assertDenied(self, code, name, message=None, kind="module"):
        e = fail(code)
        self.assertIsInstance(e, restrictions.RestrictedAccessError, repr(e))
        self.assertIsInstance(e, ImportError)
        text = str(e)
        self.assertIn("'%s'" % name, text)
        self.assertIn(message or NETWORK, text)
        self.assertIn(kind, text)
        return e


class Defaults(Installed):
    """No option given: the network modules are denied to node code."""

    def test_network_modules_raise_the_friendly_error(self):
        for name in ("socket", "ssl", "http.client", "urllib.request", "ftplib", "smtplib",
                     "socketserver", "xmlrpc.client", "_socket"):
            with self.subTest(name=name):
                e = self.assertDenied("import %s" % name, name)
                self.assertEqual(str(e), "module '%s' is not available: %s" % (name, NETWORK))

    def test_error_info_names_the_type_and_the_node_line(self):
        info = errors.error_info(fail("x = 1\nimport socket\n"), {})
        self.assertEqual(info["type"], "RestrictedAccessError")
        self.assertEqual(info["line"], 2)
        self.assertNotIn("restrictions.py", info["traceback"])

    def test_every_import_form_of_the_node(self):
        forms = {
            "from socket import socket": "socket",
            "import socket as s": "socket",
            "from http import client": "http.client",
            "import http.client as hc": "http.client",
            "from http.client import HTTPConnection": "http.client",
            "import urllib.request, urllib.parse": "urllib.request",
            "__import__('ssl')": "ssl",
            "__import__('http.client', fromlist=['x'])": "http.client",
            "import importlib\nimportlib.import_module('socket')": "socket",
            "import importlib\nimportlib.import_module('.client', 'http')": "http.client",
            "import importlib\nimportlib.__import__('ssl')": "ssl",
            "import importlib.util\nimportlib.util.find_spec('smtplib')": "smtplib",
            "import builtins\nbuiltins.__import__('socket')": "socket",
            "globals()['__builtins__'].__import__('socket')": "socket",
            "__builtins__.__dict__['__import__']('socket')": "socket",
            "exec('import socket')": "socket",
            "exec('import socket', {})": "socket",
            "exec('import socket', {'__name__': 'json'})": "socket",
            "eval('__import__(\"ssl\")')": "ssl",
            "exec(compile('import ssl', 'x.py', 'exec'))": "ssl",
            "def f():\n    import socket\nf()": "socket",
        }
        for code, name in forms.items():
            with self.subTest(code=code):
                self.assertDenied(code, name)

    def test_attribute_path_to_a_denied_submodule(self):
        # http.client is in sys.modules (a library imported it): reaching it
        # as an attribute of `http` is denied too.
        import http.client  # noqa: F401  (this file is a library)
        self.assertDenied("import http\nhttp.client", "http.client")
        self.assertDenied("import xmlrpc\nxmlrpc.client", "xmlrpc.client")
        # ... while the rest of the package works.
        self.assertEqual(run("import http\nhttp.HTTPStatus.NOT_FOUND.value"), 404)
        self.assertEqual(run("import urllib.parse\nurllib.parse.quote('a b')"), "a%20b")
        self.assertEqual(run("from urllib.parse import urlsplit\nurlsplit('http://x/y').path"), "/y")

    def test_asyncio_works_but_its_connection_helpers_do_not(self):
        self.assertEqual(run("import asyncio\nasync def f():\n    return 3\nasyncio.run(f())"), 3)
        self.assertDenied("import asyncio\nasyncio.open_connection", "asyncio.open_connection", kind="member")
        self.assertDenied("from asyncio import start_server", "asyncio.start_server", kind="member")

    def test_library_imports_pass(self):
        # Module-level imports of the library, one at call time, and the
        # socket module it hands back (the jail is what stops its use).
        self.assertEqual(run("import pycage_fake_lib\npycage_fake_lib.fetch()"), "urllib.request")
        self.assertEqual(run("import pycage_fake_lib\npycage_fake_lib.sock().__name__"), "socket")

    def test_node_callbacks_run_by_a_library_are_still_the_node(self):
        code = "import pycage_fake_lib\ndef cb():\n    import ssl\npycage_fake_lib.call(cb)"
        self.assertDenied(code, "ssl")

    def test_ordinary_modules_are_untouched(self):
        self.assertEqual(run("import os, json\njson.dumps(os.path.join('a', 'b'))"), '"a/b"')
        self.assertIs(run("import json\njson"), sys.modules["json"])
        self.assertEqual(run("import datetime\ndatetime.date(2020, 1, 2).isoformat()"), "2020-01-02")

    def test_failing_import_keeps_a_normal_error(self):
        e = fail("import pycage_no_such_module")
        self.assertIs(type(e), ModuleNotFoundError)
        e = fail("from . import x")
        self.assertIsInstance(e, ImportError)
        self.assertNotIsInstance(e, restrictions.RestrictedAccessError)

    def test_no_audit_in_enforce_mode(self):
        fail("import socket")
        self.assertEqual(restrictions.take_audit(), [])


class KnownGaps(Installed):
    """What a node can do around the layer (README "Restrictions"). These are
    real outcomes: if one starts failing, the README must change with it."""

    def test_sys_modules_hands_out_an_already_imported_module(self):
        self.assertEqual(run("import sys\nsys.modules['socket'].__name__"), "socket")

    def test_a_library_attribute_hands_out_its_module(self):
        self.assertEqual(run("import pycage_fake_lib\npycage_fake_lib.socket.__name__"), "socket")

    def test_the_import_machinery_itself(self):
        code = ("import importlib._bootstrap as b\n"
                "b._gcd_import('ssl').__name__")
        self.assertEqual(run(code), "ssl")

    def test_import_functions_handed_to_a_library(self):
        # The library makes the call, so it counts as the library's import.
        code = "import pycage_fake_lib\npycage_fake_lib.call(__import__, 'socket').__name__"
        self.assertEqual(run(code), "socket")

    def test_a_module_loaded_by_hand_runs_as_the_node(self):
        # Not a gap: its namespace is in no sys.modules entry, so its own
        # imports are the node's and are checked.
        code = ("import importlib.machinery, importlib.util\n"
                "spec = importlib.machinery.PathFinder.find_spec('smtplib')\n"
                "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)")
        e = fail(code)
        self.assertIsInstance(e, restrictions.RestrictedAccessError)
        self.assertEqual(e.name, "socket")

    def test_a_class_member_through_an_instance_or_a_subclass(self):
        restrictions.install(restrictions.parse('{"deniedMembers": ["datetime.date.today", "datetime.datetime.now"]}'))
        try:
            self.assertEqual(run("import datetime\ntype(datetime.date(2020, 1, 1).today()).__name__"), "date")
            self.assertEqual(run("import datetime\ntype(datetime.datetime(2020, 1, 1).now()).__name__"), "datetime")
            self.assertEqual(run("import datetime\nclass D(datetime.date): pass\ntype(D.today()).__name__"), "D")
            self.assertIsInstance(fail("import datetime\ndatetime.date.today()"), restrictions.RestrictedAccessError)
        finally:
            restrictions.install(restrictions.parse("{}"))

    def test_members_through_the_module_namespace(self):
        restrictions.install(restrictions.parse('{"deniedMembers": ["os.system"]}'))
        try:
            self.assertIs(run("import os\ncallable(vars(os)['system'])"), True)
            self.assertIs(run("import os\ncallable(os.__dict__['system'])"), True)
        finally:
            restrictions.install(restrictions.parse("{}"))

    def test_the_runners_own_modules(self):
        code = "import restrictions\nrestrictions.uninstall()\nimport socket\nsocket.__name__"
        try:
            self.assertEqual(run(code), "socket")
        finally:
            restrictions.install(restrictions.parse("{}"))

    def test_exec_in_a_library_namespace(self):
        code = "import json\nns = vars(json)\nexec('import socket as _s', ns)\nns.pop('_s').__name__"
        self.assertEqual(run(code), "socket")


class Members(Installed):
    CONFIG = {"deniedMembers": ["os.system", "datetime.date.today", "json.decoder.scanstring"],
              "deniedModules": ["subprocess", "email.mime"]}

    def member(self, code, name):
        return self.assertDenied(code, name, "deniedMembers", kind="member")

    def test_operator_denied_module_message(self):
        e = self.assertDenied("import subprocess", "subprocess", "deniedModules")
        self.assertEqual(str(e), "module 'subprocess' is denied in Python nodes by this sandbox's "
                                 "restrictions (deniedModules); remove it from the node or ask the "
                                 "operator to allow it")
        self.assertDenied("import email.mime.text", "email.mime", "deniedModules")
        self.assertEqual(run("import email.utils\nemail.utils.quote('a')"), "a")

    def test_defaults_still_apply(self):
        self.assertDenied("import socket", "socket")

    def test_module_function(self):
        self.member("import os\nos.system('true')", "os.system")
        self.member("from os import system", "os.system")
        self.member("import os\ngetattr(os, 'system')", "os.system")
        self.member("import importlib\nimportlib.import_module('os').system", "os.system")
        self.member("__import__('os').system", "os.system")
        self.member("exec('import os; os.system')", "os.system")

    def test_class_member(self):
        self.member("import datetime\ndatetime.date.today()", "datetime.date.today")
        self.member("from datetime import date\ndate.today()", "datetime.date.today")

    def test_nested_module_member(self):
        self.member("import json.decoder\njson.decoder.scanstring", "json.decoder.scanstring")
        self.member("from json.decoder import scanstring", "json.decoder.scanstring")
        self.assertEqual(run("import json\njson.loads('[1]')"), [1])

    def test_the_rest_of_a_guarded_module_works(self):
        self.assertEqual(run("import os\nos.path.basename('/a/b')"), "b")
        self.assertEqual(run("import os\nos.getpid() > 0"), True)
        self.assertEqual(run("import os, types\nisinstance(os, types.ModuleType)"), True)
        self.assertEqual(run("import os\nos.__name__"), "os")
        self.assertEqual(run("import os\nos.environ['PYCAGE_T'] = '1'\nos.environ.pop('PYCAGE_T')"), "1")

    def test_a_guarded_class_still_behaves_like_the_class(self):
        code = ("import datetime\nfrom datetime import date\n"
                "d = date(2020, 1, 2)\n"
                "class Sub(date):\n    pass\n"
                "[isinstance(d, date), isinstance(datetime.datetime(2020, 1, 1), date),\n"
                " issubclass(Sub, date), Sub(2021, 1, 1).year, date.fromisoformat('2020-03-04').month,\n"
                " date.__name__, date == d.__class__, hash(date) == hash(d.__class__), date.min.year]")
        self.assertEqual(run(code), [True, True, True, 2021, 3, "date", True, True, 1])
        # The one difference, documented: the view is not the class object.
        self.assertIs(run("from datetime import date\ntype(date(2020, 1, 1)) is date"), False)

    def test_star_import_skips_denied_names(self):
        self.assertEqual(run("from os import *\n[getcwd() != '', 'system' in globals()]"), [True, False])

    def test_libraries_keep_the_real_members(self):
        import datetime
        import os
        self.assertTrue(callable(os.system))
        self.assertIsInstance(datetime.date.today(), datetime.date)
        self.assertEqual(run("import pycage_fake_lib\nimport os\npycage_fake_lib.call(len, 'ab')"), 2)

    def test_views_are_stable(self):
        self.assertIs(run("import os\nimport os as again\nos is again"), True)


class Warn(Installed):
    CONFIG = {"mode": "warn", "deniedMembers": ["os.system"], "deniedModules": ["subprocess"]}

    def test_access_goes_through_and_is_recorded_once(self):
        value = run("import socket, subprocess\nimport socket\nimport os\n"
                    "f = os.system\ng = os.system\n[socket.__name__, subprocess.__name__, callable(f)]")
        self.assertEqual(value, ["socket", "subprocess", True])
        audit = restrictions.take_audit()
        self.assertEqual([(a["kind"], a["name"]) for a in audit],
                         [("module", "socket"), ("module", "subprocess"), ("member", "os.system")])
        self.assertEqual(audit[0]["message"], "module 'socket' is not available: " + NETWORK)
        self.assertIn("deniedMembers", audit[2]["message"])
        self.assertEqual(restrictions.take_audit(), [], "take_audit resets")

    def test_audit_is_per_call(self):
        run("import socket")
        self.assertEqual(len(restrictions.take_audit()), 1)
        restrictions.start_run()
        run("import json")
        self.assertEqual(restrictions.take_audit(), [])

    def test_audit_is_capped(self):
        code = ("import importlib.util\nfor i in range(400):\n    try:\n"
                "        importlib.util.find_spec('socket.x%d' % i)\n"
                "    except ImportError:\n        pass\n")
        run(code)  # the submodules do not exist; each was audited before the lookup
        self.assertEqual(len(restrictions.take_audit()), restrictions.MAX_AUDIT)


class Parse(unittest.TestCase):
    def test_defaults(self):
        self.assertEqual(restrictions.from_environ({}),
                         {"mode": "enforce", "defaults": True, "deniedModules": [],
                          "deniedMembers": [], "passthroughModules": []})

    def test_rejects_bad_shapes(self):
        for text in ('[]', '{"mode": "off"}', '{"deniedModules": "socket"}',
                     '{"deniedModules": ["a b"]}', '{"deniedMembers": ["os"]}',
                     '{"passthroughModules": [1]}', '{"defaults": "no"}', 'not json'):
            with self.subTest(text=text), self.assertRaises(ValueError):
                restrictions.parse(text)


class InstalledWithNumericLibraries(Installed):
    """numpy, pandas and matplotlib import and work from node code with the
    defaults and with members denied (their own imports are not the node's)."""
    CONFIG = {"deniedMembers": ["os.system", "datetime.date.today"]}

    @unittest.skipIf(optional("numpy") is None or optional("pandas") is None,
                     "numpy/pandas are not importable")
    def test_numpy_and_pandas(self):
        code = ("import numpy as np, pandas as pd, datetime\n"
                "df = pd.DataFrame({'d': pd.to_datetime(['2020-01-01', '2020-01-03']), 'x': np.arange(2)})\n"
                "[int(df.x.sum()), (df.d.iloc[1] - df.d.iloc[0]).days, isinstance(df.d.iloc[0].date(), datetime.date)]")
        self.assertEqual(run(code), [1, 2, True])

    @unittest.skipIf(optional("matplotlib") is None, "matplotlib is not importable")
    def test_matplotlib(self):
        os.environ.setdefault("MPLBACKEND", "Agg")
        code = ("import io, matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\n"
                "b = io.BytesIO()\nfig.savefig(b, format='png')\nplt.close('all')\nb.getvalue()[:4]")
        self.assertEqual(run(code), b"\x89PNG")


class ZygoteRestrictions(unittest.TestCase):
    """The zygote reads PYCAGE_RESTRICTIONS, installs it before the fork and
    sends the audit in the reply meta."""

    def start(self, env):
        z = harness.Zygote(tier="bypass", env=env)
        self.addCleanup(self.close, z)
        return z

    def close(self, z):
        """Stop the zygote once; returns (status, stdout, stderr)."""
        if not hasattr(z, "closed"):
            z.closed = z.close()
        return z.closed

    def test_defaults_without_the_variable(self):
        z = self.start({})
        r = z.run("import socket", limits=LIMITS)
        self.assertEqual(r.error["type"], "RestrictedAccessError")
        self.assertEqual(r.error["message"], "module 'socket' is not available: " + NETWORK)
        self.assertNotIn("audit", r.meta)
        # The zygote's own `import socket` happened before the hook.
        self.assertEqual(z.run("import json\njson.dumps(1)", limits=LIMITS).value, "1")

    def test_warn_mode_audit_in_the_reply_and_reset_per_run(self):
        env = {"PYCAGE_RESTRICTIONS": json.dumps({"mode": "warn", "deniedMembers": ["os.getpid"]})}
        z = self.start(env)
        r = z.run("import socket, os\nos.getpid() > 0", limits=LIMITS)
        self.assertEqual(r.replies[1], b"true")
        self.assertEqual([(a["kind"], a["name"]) for a in r.meta["audit"]],
                         [("module", "socket"), ("member", "os.getpid")])
        r = z.run("1", limits=LIMITS)
        self.assertEqual(r.meta, {"status": "ok"})
        r = z.run("import ssl\nraise ValueError('x')", limits=LIMITS)
        self.assertEqual(r.error["type"], "ValueError")
        self.assertEqual([a["name"] for a in r.meta["audit"]], ["ssl"])

    def test_operator_lists_and_no_defaults(self):
        env = {"PYCAGE_RESTRICTIONS": json.dumps({"defaults": False, "deniedModules": ["csv"]})}
        z = self.start(env)
        self.assertEqual(z.run("import socket\nsocket.__name__", limits=LIMITS).value, "socket")
        self.assertEqual(z.run("import csv", limits=LIMITS).error["type"], "RestrictedAccessError")

    def test_passthrough_modules_are_imported_in_the_zygote(self):
        env = {"PYCAGE_RESTRICTIONS": json.dumps(
            {"passthroughModules": ["xml.dom.minidom", "pycage_not_installed"]})}
        z = self.start(env)
        r = z.run("import sys\n['xml.dom.minidom' in sys.modules, 'pycage_not_installed' in sys.modules]",
                  limits=LIMITS)
        self.assertEqual(r.value, [True, False])
        _, _, err = self.close(z)
        self.assertNotIn(b"pycage_not_installed", err, "a passthrough module missing here is skipped quietly")

    def test_bad_variable_falls_back_to_the_defaults(self):
        z = self.start({"PYCAGE_RESTRICTIONS": "{\"mode\": 3}"})
        self.assertEqual(z.run("import socket", limits=LIMITS).error["type"], "RestrictedAccessError")
        _, _, err = self.close(z)
        self.assertIn(b"PYCAGE_RESTRICTIONS is not valid", err)

    @unittest.skipIf(optional("pandas") is None or not EXTRA_PATH, "pandas is not importable")
    def test_pandas_preloaded_before_the_hook(self):
        env = {"PYCAGE_SITE": EXTRA_PATH[0], "PYCAGE_PRELOAD": "pandas",
               "PYCAGE_RESTRICTIONS": json.dumps({"deniedMembers": ["os.system"]})}
        z = self.start(env)
        r = z.run("import pandas as pd\nint(pd.Series([1, 2]).sum())", limits=LIMITS, timeout=60)
        self.assertEqual(r.value, 3)


if __name__ == "__main__":
    unittest.main()
