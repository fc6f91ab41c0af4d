"""Sessions end to end: a long-lived child per session, driven like the
supervisor does, in the bypass tier and (where user namespaces exist) the
full tier's per-run setup under `unshare -Urmpf`."""
import os
import signal
import subprocess
import sys
import time
import unittest

from tests import harness
from tests.test_zygote_full import _usable
from tests.test_zygote_jail import start_jailed

LIMITS = {"cpuMs": 1000, "memoryBytes": 512 << 20, "fileSizeBytes": 1 << 20,
          "processes": 16, "openFiles": 64, "tmpBytes": 4 << 20}


class ThreadProbe(unittest.TestCase):
    """confine.single_threaded: how a session sees a thread left running
    where it may not open /proc (the reduced tier)."""

    def test_tells_one_thread_from_two(self):
        # In a fresh interpreter: this one may run other tests' threads
        # (numpy's BLAS pool).
        script = "\n".join([
            "import threading, confine",
            "seen = [confine.single_threaded()]",
            "release = threading.Event()",
            "t = threading.Thread(target=release.wait); t.start()",
            "seen.append(confine.single_threaded())",
            "release.set(); t.join()",
            "import time; deadline = time.time() + 2",
            "while not confine.single_threaded() and time.time() < deadline:",
            "    time.sleep(0.001)  # procfs drops a joined thread a moment later",
            "seen.append(confine.single_threaded())",
            "print(seen)",
        ])
        runner = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = subprocess.run([sys.executable, "-I", "-S", "-c", "import sys; sys.path.insert(0, %r)\n%s" % (runner, script)],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout.strip(), "[True, False, True]", out.stderr)

    def test_is_none_without_proc(self):
        import confine
        real = confine.os.stat

        def no_proc(path, *args, **kwargs):
            if path.startswith("/proc/"):
                raise PermissionError(13, "Permission denied", path)
            return real(path, *args, **kwargs)

        confine.os.stat = no_proc
        try:
            self.assertIsNone(confine.single_threaded())
        finally:
            confine.os.stat = real


class SessionBypass(unittest.TestCase):
    TIER = "bypass"

    @classmethod
    def make_zygote(cls):
        return harness.Zygote(tier="bypass")

    @classmethod
    def setUpClass(cls):
        cls.z = cls.make_zygote()

    @classmethod
    def tearDownClass(cls):
        status, _, err = cls.z.close()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, err)

    def call(self, name, code, inputs=None, limits=LIMITS, timeout=20):
        return self.z.run(code, inputs, limits, session=name, timeout=timeout)

    def test_state_persists_and_first_call_says_started(self):
        r1 = self.call("keep", "import json\nx = a * 2\ndef f(v):\n    return v + x\nx", {"a": 3})
        self.assertIs(r1.session_started, True)
        self.assertEqual(r1.value, 6)
        r2 = self.call("keep", "f(1), json.dumps([x])")
        self.assertIs(r2.session_started, False)
        self.assertEqual(r2.value, [7, "[6]"])
        self.assertEqual((r2.exit["code"], r2.exit["signal"]), (0, None))

    def test_exception_keeps_the_state(self):
        self.call("exc", "counter = 1")
        r = self.call("exc", "counter += 1\nraise KeyError('k')")
        self.assertEqual(r.error["type"], "KeyError")
        self.assertEqual(self.call("exc", "counter").value, 2)

    def test_output_is_per_call(self):
        r1 = self.call("out", "print('one')")
        r2 = self.call("out", "import sys\nprint('two'); print('e', file=sys.stderr)")
        self.assertEqual((r1.stdout, r2.stdout, r2.stderr), (b"one\n", b"two\n", b"e\n"))

    def test_sessions_are_apart(self):
        self.call("a1", "secret = 'a'")
        r = self.call("b1", "'secret' in globals()")
        self.assertIs(r.session_started, True)
        self.assertIs(r.value, False)

    def test_cpu_is_per_call_not_accumulated(self):
        burn = ("import time\nt = time.process_time()\n"
                "while time.process_time() - t < 0.6:\n    pass\n'ok'")
        for _ in range(3):  # 1.8 s in all against a 1 s budget per call
            r = self.call("cpu", burn)
            self.assertEqual(r.value, "ok")
            self.assertLess(r.exit["cpuMs"], 1000)

    def test_cpu_limit_ends_the_session(self):
        self.call("spin", "v = 1")
        r = self.call("spin", "while True:\n    pass", timeout=30)
        self.assertIn(r.exit["signal"] or 0, (0, signal.SIGXCPU, signal.SIGKILL))
        if r.meta is not None:
            self.assertEqual(r.error["type"], "CpuLimitExceeded")
        r2 = self.call("spin", "'v' in globals()")
        self.assertEqual((r2.session_started, r2.value), (True, False))

    def test_kill_ends_the_session_and_the_next_call_starts_fresh(self):
        self.call("killed", "v = 1")
        run = self.z.start(LIMITS, session="killed")
        run.request("import time\nprint('go', flush=True)\ntime.sleep(60)")
        self.assertEqual(os.read(run.out_r, 3), b"go\n")
        self.z.send({"op": "kill", "id": run.id})
        r = run.finish()
        self.assertEqual(r.replies, [])
        self.assertEqual(r.exit["signal"], signal.SIGKILL)
        r2 = self.call("killed", "'v' in globals()")
        self.assertEqual((r2.session_started, r2.value), (True, False))

    def test_close_session(self):
        self.call("closing", "v = 1")
        self.z.send({"op": "closeSession", "session": "closing"})
        r = self.call("closing", "'v' in globals()")
        self.assertEqual((r.session_started, r.value), (True, False))

    def test_processes_of_a_call_do_not_outlive_it(self):
        r = self.call("procs", "import subprocess\n"
                               "p = subprocess.Popen(['sleep', '60'], start_new_session=False)\n"
                               "p.pid")
        self.assertEqual(r.meta["status"], "ok")
        # The stdout EOF came, so the sleeper is gone (it held the pipe).
        r2 = self.call("procs", "import os\ntry:\n    os.kill(p.pid, 0)\n    alive = True\n"
                                "except ProcessLookupError:\n    alive = False\nalive")
        self.assertIs(r2.value, False)

    def test_a_thread_left_running_ends_the_session(self):
        self.call("thr", "kept = 1")
        r = self.call("thr", "import threading, time\n"
                             "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n'left'")
        self.assertEqual(r.value, "left")
        r2 = self.call("thr", "globals().get('kept')")
        self.assertEqual((r2.session_started, r2.value), (True, None))

    def test_a_joined_thread_keeps_the_session(self):
        r = self.call("joined", "import threading\nbox = []\n"
                                "t = threading.Thread(target=box.append, args=(1,))\nt.start(); t.join()\nlen(box)")
        self.assertEqual(r.value, 1)
        r2 = self.call("joined", "len(box)")
        self.assertEqual((r2.session_started, r2.value), (False, 1))

    def test_thousand_calls_keep_one_process(self):
        self.call("many", "n = 0")
        for _ in range(200):
            r = self.call("many", "n += 1\nn")
        self.assertEqual(r.value, 200)
        pids = {self.call("many", "import os\nos.getpid()").value for _ in range(3)}
        self.assertEqual(len(pids), 1)


@unittest.skipUnless(_usable(), "needs build/Release/pycage-jail and /usr/bin/python3")
class SessionFull(SessionBypass):
    TIER = "full"

    @classmethod
    def make_zygote(cls):
        return start_jailed(0, uid_count=0, env=("PYCAGE_TMP_BYTES=%d" % LIMITS["tmpBytes"],))

    def test_tmp_persists_within_the_session_only(self):
        self.call("tmpa", "open('/tmp/f', 'w').write('x')")
        self.assertEqual(self.call("tmpa", "open('/tmp/f').read()").value, "x")
        import os.path  # noqa: F401
        self.assertIs(self.call("tmpb", "import os\nos.path.exists('/tmp/f')").value, False)


if __name__ == "__main__":
    unittest.main()
