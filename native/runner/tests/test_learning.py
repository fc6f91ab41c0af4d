"""learning.py: what a run reports, and what a zygote imports from the host's
learned list (the probe that drops modules with side effects, the caps)."""
import json
import os
import shutil
import sys
import tempfile
import unittest

import learning

RUNNER_DIR = os.path.dirname(os.path.abspath(learning.__file__))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class SiteTestCase(unittest.TestCase):
    """A throwaway site directory on sys.path, with its modules forgotten after."""

    def setUp(self):
        self.site = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.site)
        sys.path.append(self.site)
        self.addCleanup(sys.path.remove, self.site)
        before = set(sys.modules)
        self.addCleanup(lambda: [sys.modules.pop(n) for n in set(sys.modules) - before])
        saved = (learning._State.baseline, learning._State.roots, learning._State.enabled)
        self.addCleanup(lambda: setattr(learning._State, "baseline", saved[0]))
        self.addCleanup(lambda: setattr(learning._State, "roots", saved[1]))
        self.addCleanup(lambda: setattr(learning._State, "enabled", saved[2]))

    def module(self, dotted, text):
        parts = dotted.split(".")
        for i in range(1, len(parts)):
            init = os.path.join(self.site, *parts[:i], "__init__.py")
            if not os.path.exists(init):
                write(init, "")
        write(os.path.join(self.site, *parts) + ".py", text)


class Names(unittest.TestCase):
    def test_valid_names_are_dotted_identifiers_of_at_most_200_characters(self):
        for name in ("numpy", "numpy.ma.core", "_x9", "a" * 200):
            self.assertTrue(learning.valid_name(name), name)
        for name in ("", "a..b", ".a", "a.", "1a", "a-b", "a b", "a/b", "a" * 201, None, 3, "caf\u00e9"):
            self.assertFalse(learning.valid_name(name), name)

    def test_names_from_the_environment_keep_valid_ones_once_up_to_the_cap(self):
        many = ",".join("m%d" % i for i in range(learning.MAX_LEARNED + 10))
        self.assertEqual(learning.names_from({"K": "a,,a,../x,b.c,a b"}, "K"), ["a", "b.c"])
        self.assertEqual(len(learning.names_from({"K": many}, "K")), learning.MAX_LEARNED)
        self.assertEqual(learning.names_from({}, "K"), [])


class RunReport(SiteTestCase):
    def test_reports_bundle_and_stdlib_modules_new_since_the_baseline_parents_first(self):
        self.module("pkglearn.sub.leaf", "X = 1\n")
        learning.remember_baseline(RUNNER_DIR, enabled=True)
        __import__("pkglearn.sub.leaf")
        sys.modules.pop("xdrlib", None)
        __import__("colorsys")
        got = learning.imported_since_fork()
        self.assertIn("pkglearn", got)
        self.assertLess(got.index("pkglearn"), got.index("pkglearn.sub"))
        self.assertLess(got.index("pkglearn.sub"), got.index("pkglearn.sub.leaf"))
        if "colorsys" not in learning._State.baseline:
            self.assertIn("colorsys", got)

    def test_no_more_modules_than_the_baseline_reports_nothing(self):
        # The cheap check that spares a trivial run the diff: a run that
        # removed a module for each one it added loses only its own report.
        self.module("swaplearn", "X = 1\n")
        __import__("colorsys")
        learning.remember_baseline(RUNNER_DIR, enabled=True)
        self.assertEqual(learning.imported_since_fork(), [])
        colorsys = sys.modules.pop("colorsys")
        self.addCleanup(sys.modules.__setitem__, "colorsys", colorsys)
        __import__("swaplearn")
        self.assertEqual(learning.imported_since_fork(), [])
        sys.modules["colorsys"] = colorsys
        self.assertEqual(learning.imported_since_fork(), ["swaplearn"])

    def test_leaves_out_what_the_run_made_itself_and_what_lives_elsewhere(self):
        learning.remember_baseline(RUNNER_DIR, enabled=True)
        elsewhere = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, elsewhere)
        write(os.path.join(elsewhere, "from_tmp_learn.py"), "X = 1\n")
        sys.path.insert(0, elsewhere)
        self.addCleanup(sys.path.remove, elsewhere)
        __import__("from_tmp_learn")
        import types
        sys.modules["fake_learn_mod"] = types.ModuleType("fake_learn_mod")
        sys.modules["bad name"] = types.ModuleType("x")
        got = learning.imported_since_fork()
        for name in ("from_tmp_learn", "fake_learn_mod", "bad name"):
            self.assertNotIn(name, got)

    def test_reports_at_most_the_cap_and_nothing_when_learning_is_off(self):
        for i in range(learning.MAX_REPORTED + 20):
            self.module("floodlearn%d" % i, "")
        learning.remember_baseline(RUNNER_DIR, enabled=True)
        for i in range(learning.MAX_REPORTED + 20):
            __import__("floodlearn%d" % i)
        self.assertEqual(len(learning.imported_since_fork()), learning.MAX_REPORTED)
        learning._State.enabled = False
        self.assertEqual(learning.imported_since_fork(), [])


class Probe(SiteTestCase):
    def setUp(self):
        super().setUp()
        self.logged = []
        self.module("plearn.ok", "X = 1\n")
        self.module("plearn.threader", "import threading, time\n"
                    "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n")
        self.module("plearn.netter", "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM)\n")
        self.module("plearn.connector", "import socket\n"
                    "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=0.2)\nexcept OSError:\n    pass\n")
        self.module("plearn.spawner", "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'pass'])\n")
        self.module("plearn.system", "import os\nos.system('true')\n")
        self.module("plearn.boom", "raise RuntimeError('no')\n")
        self.module("plearn.hangs", "import time\ntime.sleep(30)\n")
        self.roots = learning.import_roots(RUNNER_DIR)

    def test_keeps_well_behaved_modules_and_drops_side_effects_with_the_reason(self):
        names = ["plearn.ok", "plearn.threader", "plearn.netter", "plearn.connector", "plearn.spawner",
                 "plearn.system", "plearn.boom", "plearn_nowhere", "execute", "colorsys"]
        accepted, dropped = learning.probe(names, self.roots, self.logged.append)
        reasons = dict(dropped)
        self.assertEqual(accepted, ["plearn.ok", "colorsys"])
        self.assertEqual(reasons["plearn.threader"], "its import started a thread")
        self.assertRegex(reasons["plearn.netter"], r"tried socket\.__new__")
        self.assertRegex(reasons["plearn.connector"], r"tried socket\.")
        self.assertRegex(reasons["plearn.spawner"], r"tried subprocess\.Popen")
        self.assertRegex(reasons["plearn.system"], r"tried os\.system")
        self.assertRegex(reasons["plearn.boom"], r"import failed: RuntimeError: no")
        self.assertEqual(reasons["plearn_nowhere"], "it is not provided by the bundle or the standard library")
        self.assertEqual(reasons["execute"], "it is not provided by the bundle or the standard library")
        # The probe is a throwaway child: this process imported none of them.
        for name in names:
            if name != "colorsys" and name != "execute":
                self.assertNotIn(name, sys.modules)
        self.assertEqual(len(self.logged), len(dropped))
        self.assertTrue(all(line.startswith("preload of ") for line in self.logged))

    def test_a_thread_is_still_seen_without_proc(self):
        # Where /proc/self/task cannot be listed, the count comes from _thread.
        real_listdir = os.listdir

        def no_proc(path="."):
            if str(path).startswith("/proc"):
                raise PermissionError(13, "denied", path)
            return real_listdir(path)

        os.listdir = no_proc
        self.addCleanup(setattr, os, "listdir", real_listdir)
        accepted, dropped = learning.probe(["plearn.threader", "plearn.ok"], self.roots, self.logged.append)
        self.assertEqual(accepted, ["plearn.ok"])
        self.assertEqual(dropped, [("plearn.threader", "its import started a thread")])

    def test_a_hang_drops_only_the_module_that_hung(self):
        accepted, dropped = learning.probe(["plearn.ok", "plearn.hangs", "colorsys"], self.roots,
                                           self.logged.append, timeout=1.0)
        self.assertEqual(accepted, ["plearn.ok"])
        self.assertEqual(dropped, [("plearn.hangs", "its import did not finish in the probe (hung or crashed it)")])


class PreloadLearned(SiteTestCase):
    def test_imports_learned_names_probes_new_ones_and_reports_in_bounded_lines(self):
        self.module("llearn.a", "X = 1\n")
        self.module("llearn.b", "X = 2\n")
        self.module("llearn.threader", "import threading, time\n"
                    "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n")
        self.module("llearn.denied", "X = 3\n")
        logged = []
        env = {"PYCAGE_PRELOAD_LEARNED": "llearn.a", "PYCAGE_PRELOAD_TRY": "llearn.b,llearn.threader,llearn.denied"}
        report = learning.preload_learned(env, RUNNER_DIR, logged.append, denied=lambda n: n == "llearn.denied")
        self.assertEqual(report["loaded"], ["llearn.a", "llearn.b"])
        self.assertEqual([d["name"] for d in report["dropped"]], ["llearn.threader"])
        self.assertNotIn("llearn.threader", sys.modules)
        self.assertNotIn("llearn.denied", sys.modules)
        lines = [line for line in logged if line.startswith(learning.REPORT_PREFIX)]
        self.assertEqual(len(lines), 1)
        self.assertEqual(json.loads(lines[0][len(learning.REPORT_PREFIX):])["loaded"], ["llearn.a", "llearn.b"])

    def test_stops_at_the_growth_cap(self):
        for name in ("glearn.big1", "glearn.big2", "glearn.big3"):
            self.module(name, "BIG = bytearray(8 << 20)\nfor i in range(0, len(BIG), 4096):\n    BIG[i] = 1\n")
        logged = []
        env = {"PYCAGE_PRELOAD_LEARNED": "glearn.big1,glearn.big2,glearn.big3", "PYCAGE_PRELOAD_GROWTH_KB": "4096"}
        report = learning.preload_learned(env, RUNNER_DIR, logged.append)
        self.assertEqual(report["loaded"], ["glearn.big1"])
        self.assertEqual(report["skipped"], ["glearn.big2", "glearn.big3"])
        self.assertTrue(any("growth cap" in line for line in logged), logged)

    def test_nothing_to_do_without_a_list(self):
        self.assertIsNone(learning.preload_learned({}, RUNNER_DIR, print))

    def test_report_lines_stay_under_the_cut_and_add_up_to_the_report(self):
        report = {"loaded": ["m%d.%s" % (i, "x" * 150) for i in range(100)],
                  "dropped": [{"name": "d%d" % i, "reason": "r" * 200} for i in range(20)],
                  "skipped": ["s%d" % i for i in range(30)], "growthKb": 7}
        lines = learning.report_lines(report, max_bytes=2000)
        self.assertGreater(len(lines), 5)
        merged = {"loaded": [], "dropped": [], "skipped": []}
        for line in lines:
            self.assertLessEqual(len(line), 2000)
            part = json.loads(line[len(learning.REPORT_PREFIX):])
            for key in merged:
                merged[key] += part[key]
        self.assertEqual(merged["loaded"], report["loaded"])
        self.assertEqual(merged["dropped"], report["dropped"])
        self.assertEqual(merged["skipped"], report["skipped"])


if __name__ == "__main__":
    unittest.main()
