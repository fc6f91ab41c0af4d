import os
import shutil
import sys
import tempfile
import unittest

import install
import startup


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class Distributions(unittest.TestCase):
    def setUp(self):
        self.target = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.target)

    def dist(self, name, version, files, top_level=None):
        info = os.path.join(self.target, "%s-%s.dist-info" % (name.replace("-", "_"), version))
        write(os.path.join(info, "METADATA"), "Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nbody\nName: not-me\n" % (name, version))
        record = []
        for path in files:
            write(os.path.join(self.target, path), "")
            record.append("%s,sha256=x,0" % path)
        write(os.path.join(info, "RECORD"), "\n".join(record) + "\n")
        if top_level is not None:
            write(os.path.join(info, "top_level.txt"), top_level)

    def test_names_versions_and_top_level_modules_from_top_level_txt(self):
        self.dist("Py-Dash", "7.0", ["pydash/__init__.py"], top_level="pydash\n")
        dists = install.list_distributions(self.target)
        self.assertEqual(dists, [{"name": "Py-Dash", "normalizedName": "py-dash", "version": "7.0", "topLevel": ["pydash"]}])

    def test_top_level_modules_from_record_skip_private_tests_scripts_and_metadata(self):
        self.dist("demo", "1.0", ["demo/__init__.py", "single.py", "_private.py", "tests/__init__.py",
                                  "fast.cpython-311-x86_64-linux-gnu.so", "../../bin/demo-cli"])
        dists = install.list_distributions(self.target)
        self.assertEqual(dists[0]["topLevel"], ["demo", "fast", "single"])

    def test_top_level_names_that_were_not_installed_are_dropped(self):
        self.dist("ghost", "1.0", ["ghost/__init__.py"], top_level="ghost\nnever_installed\n")
        self.assertEqual(install.list_distributions(self.target)[0]["topLevel"], ["ghost"])


class Commands(unittest.TestCase):
    config = {"tool": "pip", "target": "/build/site", "requirements": "/build/requirements.txt",
              "report": "/build/report.json", "cache": None,
              "index": {"url": "http://127.0.0.1:1/simple/", "extraUrls": ["http://x/simple/"],
                        "findLinks": ["/pycage/links/0"], "trustedHosts": ["x"]}}

    def test_pip_gets_only_binary_the_report_and_only_the_operator_index(self):
        command = install.tool_command(self.config)
        self.assertEqual(command[:4], [sys.executable, "-I", "-m", "pip"])
        for flag in ("--only-binary=:all:", "--no-cache-dir", "--report", "--target"):
            self.assertIn(flag, command)
        self.assertEqual(command[command.index("--index-url") + 1], "http://127.0.0.1:1/simple/")
        self.assertEqual(command[command.index("--trusted-host") + 1], "x")
        self.assertEqual(command[command.index("-r") + 1], "/build/requirements.txt")

    def test_pip_alone_runs_with_no_site_and_only_the_launcher_directory(self):
        command = install.tool_command(self.config, "/build/tmp/pip-only-x")
        self.assertEqual(command[:6], [sys.executable, "-I", "-S", "-c", install.PIP_MAIN, "/build/tmp/pip-only-x"])
        self.assertEqual(command[6:8], ["install", "--target"])
        self.assertEqual(install.shown_command(command)[:5], [sys.executable, "-I", "-S", "-m", "pip"])

    def test_uv_gets_no_config_and_only_binary(self):
        command = install.tool_command(dict(self.config, tool="uv", uv="/pycage/uv/uv", cache="/cache"))
        self.assertEqual(command[:3], ["/pycage/uv/uv", "pip", "install"])
        self.assertIn("--no-config", command)
        self.assertEqual(command[command.index("--only-binary") + 1], ":all:")
        self.assertEqual(command[command.index("--allow-insecure-host") + 1], "x")

    def test_the_tool_sees_no_config_file_and_none_of_the_callers_environment(self):
        env = install.tool_environment({})
        self.assertEqual(env["PIP_CONFIG_FILE"], os.devnull)
        self.assertEqual(env["UV_NO_CONFIG"], "1")
        self.assertNotIn("PYTHONPATH", env)


class PipAlone(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        saved = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = self.tmp
        self.addCleanup(lambda: os.environ.pop("TMPDIR") if saved is None else os.environ.__setitem__("TMPDIR", saved))
        tempfile.tempdir = None
        self.addCleanup(setattr, tempfile, "tempdir", None)

    def fake_pip(self, main):
        """A pip package whose __main__ is `main`, linked alone into a launcher directory."""
        pkg = os.path.join(self.tmp, "real", "pip")
        write(os.path.join(pkg, "__init__.py"), "")
        write(os.path.join(pkg, "__main__.py"), main)
        only = os.path.join(self.tmp, "only")
        os.makedirs(only)
        os.symlink(pkg, os.path.join(only, "pip"))
        return only

    def test_a_pip_that_starts_alone_runs_alone(self):
        only = self.fake_pip("")
        original = install.pip_only_dir
        install.pip_only_dir = lambda: only
        self.addCleanup(setattr, install, "pip_only_dir", original)
        self.assertEqual(install.pip_alone({}), only)

    def test_a_pip_that_needs_site_packages_runs_with_them_and_says_so(self):
        # A pip that a distribution debundled onto system packages.
        only = self.fake_pip("import pycage_only_in_site_packages\n")
        original = install.pip_only_dir
        install.pip_only_dir = lambda: only
        self.addCleanup(setattr, install, "pip_only_dir", original)
        logged = []
        original_log = install.log
        install.log = logged.append
        self.addCleanup(setattr, install, "log", original_log)
        self.assertIsNone(install.pip_alone({}))
        self.assertEqual(len(logged), 1)
        self.assertIn("does not start without the interpreter's site-packages", logged[0])
        self.assertIn("No module named 'pycage_only_in_site_packages'", logged[0])
        self.assertEqual(install.tool_command(Commands.config, None)[:4], [sys.executable, "-I", "-m", "pip"])

    def test_pip_only_dir_holds_this_interpreters_pip_and_nothing_else(self):
        if install.importlib.util.find_spec("pip") is None:
            self.skipTest("this interpreter has no pip")
        only = install.pip_only_dir()
        self.assertEqual(os.listdir(only), ["pip"])
        self.assertTrue(only.startswith(self.tmp))


class ZygoteBundle(unittest.TestCase):
    def test_site_goes_on_sys_path_and_preload_imports_what_imports(self):
        site = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, site)
        write(os.path.join(site, "pycage_preload_ok.py"), "VALUE = 1\n")
        write(os.path.join(site, "pycage_preload_bad.py"), "raise RuntimeError('no')\n")
        saved = list(sys.path)
        self.addCleanup(setattr, sys, "path", saved)
        loaded = startup.load_bundle({"PYCAGE_SITE": site, "PYCAGE_PRELOAD": "pycage_preload_ok,pycage_preload_bad"})
        self.assertIn(site, sys.path)
        self.assertEqual(loaded, ["pycage_preload_ok"])
        self.assertIn("pycage_preload_ok", sys.modules)


if __name__ == "__main__":
    unittest.main()
