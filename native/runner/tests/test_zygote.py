"""The zygote end to end in the bypass tier, driven like the supervisor does."""
import json
import os
import signal
import socket
import sys
import time
import unittest

from tests import EXTRA_PATH, harness, optional

LIMITS = {"cpuMs": 5000, "memoryBytes": 512 << 20, "fileSizeBytes": 1 << 20,
          "processes": 64, "openFiles": 64, "tmpBytes": 16 << 20}


class ZygoteBypass(unittest.TestCase):
    """Every case runs twice: with the pre-forked spare (default) and without."""
    ENV = {}

    @classmethod
    def setUpClass(cls):
        cls.z = harness.Zygote(tier="bypass", env=cls.ENV)

    @classmethod
    def tearDownClass(cls):
        status, out, err = cls.z.close()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, err)
        assert out == b"", out  # the zygote never writes to fd 1

    def run_code(self, code, inputs=None, limits=LIMITS, **kw):
        return self.z.run(code, inputs, limits, **kw)

    def test_ready(self):
        r = self.z.ready
        self.assertEqual(r["op"], "ready")
        self.assertEqual(r["tier"], "bypass")
        self.assertEqual(r["python"], "%d.%d.%d" % sys.version_info[:3])
        self.assertTrue(r["abi"].startswith("cpython-"), r["abi"])

    def test_the_stdlib_pool_registers_no_fork_hook_of_threading(self):
        # threading's after-fork hook would run in every spare (about 70
        # page copies); a node that needs threading imports it itself.
        r = self.run_code("import sys\n'threading' in sys.modules")
        self.assertEqual((r.meta, r.replies[1:]), ({"status": "ok"}, [b"false"]))

    def test_ok_reply_and_exit_frame(self):
        r = self.run_code("x = a + 1\nx * 2", {"a": 2})
        self.assertEqual((r.meta, r.replies[1:]), ({"status": "ok"}, [b"6"]))
        ex = r.exit
        self.assertEqual(set(ex), {"op", "id", "code", "signal", "cpuMs", "maxRssKb"})
        self.assertEqual((ex["code"], ex["signal"]), (0, None))
        self.assertIsInstance(ex["cpuMs"], float)
        self.assertGreater(ex["maxRssKb"], 0)

    def test_stdout_stderr_separate(self):
        r = self.run_code("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n"
                          "sys.stdout.write('no newline')\nresult = 1")
        self.assertEqual(r.stdout, b"to out\nno newline")
        self.assertEqual(r.stderr, b"to err\n")
        self.assertEqual(r.value, 1)

    def test_error_reply(self):
        r = self.run_code("def f():\n    raise ValueError('bad')\n\nf()")
        self.assertEqual(r.meta["status"], "error")
        e = r.error
        self.assertEqual((e["type"], e["message"], e["line"]), ("ValueError", "bad", 2))
        self.assertNotIn("runner", e["traceback"])
        self.assertEqual(len(r.replies), 1)
        self.assertEqual(r.exit["code"], 0)

    def test_syntax_error_reply(self):
        e = self.run_code("x = 1\nif x\n    pass").error
        self.assertEqual((e["type"], e["line"]), ("SyntaxError", 2))

    def test_non_serialisable_result(self):
        e = self.run_code("result = {'a': [1, object()]}").error
        self.assertEqual(e["type"], "TypeError")
        self.assertIn("object at result['a'][1]", e["message"])

    def test_result_over_limit(self):
        e = self.run_code("'x' * 3000000", result_bytes=1 << 20).error
        self.assertEqual(e["type"], "OutputLimitExceeded")
        self.assertIn("over the 1 MB limit", e["message"])

    def test_big_inputs_and_result(self):
        data = list(range(200000))
        r = self.run_code("result = {'n': len(data), 'data': data}", {"data": data})
        self.assertEqual(r.value["n"], 200000)
        self.assertEqual(r.value["data"][-1], 199999)

    def test_state_does_not_leak(self):
        r1 = self.run_code("import json\njson.leak = 1\nglobal_from_run1 = 42\nresult = 1")
        self.assertEqual(r1.value, 1)
        r2 = self.run_code("import json\n"
                           "result = ['global_from_run1' in globals(), hasattr(json, 'leak')]")
        self.assertEqual(r2.value, [False, False])

    def test_no_trace_of_the_warm_up(self):
        # The spare ran a throwaway node before this one: nothing of it shows.
        r = self.run_code("import sys, linecache\n"
                          "result = {'globals': sorted(k for k in globals() if k != 'result'),"
                          " 'main': sys.modules['__main__'].__dict__ is globals(),"
                          " 'src': linecache.getline('<node>', 1)}", {"a": 1})
        self.assertEqual(r.value, {"globals": ["__builtins__", "__doc__", "__loader__", "__name__",
                                               "__package__", "__spec__", "a", "linecache", "sys"],
                                   "main": True, "src": "import sys, linecache\n"})

    def test_the_zygotes_bind_now_is_not_inherited(self):
        # The harness starts the zygote with LD_BIND_NOW=1, as the supervisor
        # does; it is the zygote's own, not the node's or its subprocesses'.
        r = self.run_code("import os, subprocess\n"
                          "env = subprocess.run(['env'], capture_output=True).stdout\n"
                          "[os.environ.get('LD_BIND_NOW'), env.count(b'LD_BIND_NOW')]")
        self.assertEqual(r.value, [None, 0])

    def test_the_warm_ups_objects_are_out_of_the_nodes_reach(self):
        # The spare keeps its warm-up's objects frozen, not collected: the
        # collector's own views of the heap do not show them either.
        r = self.run_code("import gc\n"
                          "found = [o for o in gc.get_objects() if isinstance(o, dict) and '_pycage_warm' in o]\n"
                          "gc.collect()\n"
                          "[len(found), len(gc.garbage)]")
        self.assertEqual(r.value, [0, 0])

    def test_usage_in_replies(self):
        for code in ("1 + 1", "raise ValueError('x')"):
            r = self.run_code(code)
            self.assertIn(r.meta["status"], ("ok", "error"))
            self.assertEqual(set(r.usage), {"cpuMs", "maxRssKb"}, code)
            self.assertIsInstance(r.usage["cpuMs"], float)
            self.assertGreater(r.usage["maxRssKb"], 1000)
            # The exit report counts the same process, a little later.
            self.assertLessEqual(r.usage["cpuMs"], r.exit["cpuMs"] + 0.01)

    def wait_until_zygote_drops(self, pipe_fd, timeout=5.0):
        pipe = os.readlink("/proc/self/fd/%d" % pipe_fd)
        fd_dir = "/proc/%d/fd" % self.z.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            held = []
            for name in os.listdir(fd_dir):
                try:
                    held.append(os.readlink(os.path.join(fd_dir, name)))
                except OSError:
                    pass
            if pipe not in held:
                return
            time.sleep(0.005)
        self.fail("the zygote still holds %s after %.1f s" % (pipe, timeout))

    def test_reply_and_eofs_before_the_exit_frame(self):
        # The zygote is stopped, so no exit frame can come; the reply and EOF
        # on all three streams must arrive anyway.
        run = self.z.start(LIMITS)
        run.request("import sys, time\nprint('go', flush=True)\ntime.sleep(0.2)\n"
                    "print('out')\n2 + 3")
        self.assertEqual(os.read(run.out_r, 3), b"go\n")
        # The zygote closes its copies of the run's fds just after the hand-over;
        # stop it only once it has (it closes chan, stdout, stderr in that order).
        self.wait_until_zygote_drops(run.err_r)
        os.kill(self.z.pid, signal.SIGSTOP)
        try:
            reader = harness.FrameReader(run.chan)
            self.assertEqual(reader.read(5), b'{"status":"started"}')
            meta = json.loads(reader.read(5))
            self.assertEqual(meta["status"], "ok")
            self.assertIn("usage", meta)
            self.assertEqual(reader.read(5), b"5")
            self.assertIsNone(reader.read(5))
            self.assertEqual(harness.read_all(run.out_r, 5), b"out\n")
            self.assertEqual(harness.read_all(run.err_r, 5), b"")
        finally:
            os.kill(self.z.pid, signal.SIGCONT)
        self.assertEqual(self.z.exit_frame(run.id)["code"], 0)
        run.chan.close()
        os.close(run.out_r)
        os.close(run.err_r)

    def test_only_fds_0_to_3(self):
        r = self.run_code(
            "import os\n"
            "def is_open(fd):\n"
            "    try:\n        os.fstat(fd)\n        return True\n"
            "    except OSError:\n        return False\n"
            "fds = [int(x) for x in os.listdir('/proc/self/fd')]\n"
            "result = sorted(fd for fd in fds if is_open(fd))")
        self.assertEqual(r.value, [0, 1, 2, 3])

    def test_own_session(self):
        r = self.run_code("import os\nos.getsid(0) == os.getpid()")
        self.assertIs(r.value, True)

    def test_no_new_privs(self):
        r = self.run_code("[l for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0]")
        self.assertEqual(r.value.split(), ["NoNewPrivs:", "1"])

    def test_rlimits_applied(self):
        r = self.run_code("import resource as r\n"
                          "[r.getrlimit(x) for x in (r.RLIMIT_CPU, r.RLIMIT_AS, r.RLIMIT_FSIZE,"
                          " r.RLIMIT_NOFILE, r.RLIMIT_NPROC, r.RLIMIT_CORE)]")
        self.assertEqual(r.value, [[5, 6], [512 << 20] * 2, [1 << 20] * 2, [64, 64],
                                   [64, 64], [0, 0]])

    def test_file_size_limit(self):
        e = self.run_code("with open('/tmp/pycage-test-big', 'wb') as f:\n"
                          "    try:\n        f.write(b'x' * (2 << 20))\n"
                          "    finally:\n        import os\n"
                          "        os.unlink('/tmp/pycage-test-big')\n").error
        self.assertEqual(e["type"], "OutputLimitExceeded")
        self.assertIn("1 MB file-size limit", e["message"])

    def test_memory_limit(self):
        limits = dict(LIMITS, memoryBytes=256 << 20)
        e = self.run_code("x = bytearray(400 * 1024 * 1024)", limits=limits).error
        self.assertEqual(e["type"], "MemoryLimitExceeded")
        self.assertIn("256 MB", e["message"])

    def test_kill_infinite_loop(self):
        run = self.z.start(LIMITS)
        run.request("while True:\n    pass")
        time.sleep(0.2)
        self.z.send({"op": "kill", "id": run.id})
        r = run.finish()
        self.assertEqual(r.replies, [])
        self.assertEqual((r.exit["code"], r.exit["signal"]), (None, signal.SIGKILL))

    def test_kill_takes_the_runs_children_too(self):
        run = self.z.start(LIMITS)
        run.request("import subprocess, sys\n"
                    "p = subprocess.Popen(['sleep', '30'])\n"
                    "print(p.pid, flush=True)\n"
                    "while True:\n    pass")
        line = b""
        while not line.endswith(b"\n"):
            line += os.read(run.out_r, 100)
        child = int(line)
        self.z.send({"op": "kill", "id": run.id})
        r = run.finish()
        self.assertEqual(r.exit["signal"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.02)
        self.assertFalse(_alive(child))

    def test_cpu_limit(self):
        limits = dict(LIMITS, cpuMs=1000)
        t = time.monotonic()
        r = self.run_code("while True:\n    pass", limits=limits, timeout=30)
        self.assertIn(r.exit["signal"], (signal.SIGXCPU, signal.SIGKILL))
        # RLIMIT_CPU fires on tick-sampled time, which on this VM can be well
        # ahead of the precise figure rusage reports (seen: 750 ms at a 1 s limit).
        self.assertGreaterEqual(r.exit["cpuMs"], 500, r.exit)
        self.assertLess(time.monotonic() - t, 10)

    def test_cancel_before_request(self):
        run = self.z.start(LIMITS)
        run.chan.shutdown(socket.SHUT_WR)
        r = run.finish()
        self.assertEqual(r.replies, [])
        self.assertEqual(r.exit["code"], 122)

    def test_run_frame_without_fds(self):
        self.z.send({"op": "run", "id": 999, "slot": 0, "limits": {}})
        ex = self.z.exit_frame(999)
        self.assertEqual((ex["code"], ex["signal"]), (None, None))
        self.assertIn("3 fds", ex["setupError"])

    def test_concurrent_runs(self):
        runs = [self.z.start(LIMITS) for _ in range(4)]
        for i, run in enumerate(runs):
            run.request("import time\ntime.sleep(0.1)\nn * 10", {"n": i})
        results = [run.finish() for run in runs]
        self.assertEqual([r.value for r in results], [0, 10, 20, 30])

    def test_fork_in_node_replies_once(self):
        r = self.run_code("import os\npid = os.fork()\nif pid == 0:\n    result = 'child'\n"
                          "else:\n    os.waitpid(pid, 0)\n    result = 'parent'")
        self.assertEqual(len(r.replies), 2)
        self.assertEqual((r.meta, r.replies[1]), ({"status": "ok"}, b'"parent"'))

    def test_unknown_op_is_ignored(self):
        self.z.send({"op": "bogus"})
        self.assertEqual(self.run_code("1").value, 1)

    @unittest.skipIf(optional("numpy") is None or not EXTRA_PATH, "numpy is not importable")
    def test_numpy_result(self):
        code = ("import sys\nsys.path.extend(%r)\nimport numpy as np\n"
                "result = {'a': np.arange(3), 'm': np.float64(2.5)}" % (EXTRA_PATH,))
        r = self.run_code(code)
        self.assertEqual(r.value, {"a": [0, 1, 2], "m": 2.5})


_alive = harness.alive


class ZygoteBypassNoPrefork(ZygoteBypass):
    ENV = {"PYCAGE_PREFORK": "0"}


class ZygoteBypassTwoSpares(ZygoteBypass):
    ENV = {"PYCAGE_SPARES": "2"}


class TwoSpares(unittest.TestCase):
    """PYCAGE_SPARES=2 (what the supervisor asks for): two spares wait, the
    one of them takes the next run, and the pool is refilled."""

    def setUp(self):
        self.z = harness.Zygote(tier="bypass", env={"PYCAGE_SPARES": "2"})

    def tearDown(self):
        status, _, err = self.z.close()
        self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, err))

    def idle_children(self):
        return harness.wait_for(lambda: (lambda kids: kids if len(kids) == 2 else None)(
            harness.children(self.z.pid)))

    def test_two_spares_wait_and_one_serves_the_run(self):
        first = self.idle_children()
        self.assertEqual(len(first or []), 2, "expected two spare children")
        r = self.z.run("import os\nos.getpid()", limits=LIMITS)
        self.assertIn(r.value, first)
        again = self.idle_children()
        self.assertEqual(len(again or []), 2, "the pool of spares was not refilled")
        self.assertNotIn(r.value, again)

    def test_a_run_that_comes_while_another_is_in_flight_refills_both_spares(self):
        self.idle_children()
        runs = [self.z.start(LIMITS)]
        runs[0].request("import time\ntime.sleep(30)")
        # One run in flight: the one spare left stays alone, since a second
        # one's fork and warm-up would compete with the run.
        time.sleep(0.3)
        self.assertEqual(len(harness.children(self.z.pid)), 2, "one run and one spare")
        # A run that came while the first was in flight takes that spare, and
        # both spares are forked again: under load each run finds one ready.
        runs.append(self.z.start(LIMITS))
        runs[1].request("import time\ntime.sleep(30)")
        kids = harness.wait_for(lambda: (lambda k: k if len(k) == 4 else None)(harness.children(self.z.pid)))
        self.assertEqual(len(kids or []), 4, "two runs and two spares")
        for run in runs:
            self.z.send({"op": "kill", "id": run.id})
            self.assertEqual(run.finish().exit["signal"], signal.SIGKILL)


class SpareBypass(unittest.TestCase):
    """The pre-forked spare itself (bypass tier: run pids are host pids)."""

    def setUp(self):
        self.z = harness.Zygote(tier="bypass")

    def tearDown(self):
        status, out, err = self.z.close()
        self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, err))

    def spare(self, not_=None):
        """The zygote's one idle child, once there is exactly one (other than not_)."""
        def one():
            kids = [p for p in harness.children(self.z.pid) if p != not_]
            return kids[0] if len(kids) == 1 else None
        pid = harness.wait_for(one)
        self.assertIsNotNone(pid, "no single spare child")
        return pid

    def test_run_is_served_by_the_spare_and_a_new_spare_follows(self):
        seen = set()
        for _ in range(3):
            spare = self.spare()
            self.assertNotIn(spare, seen)
            seen.add(spare)
            r = self.z.run("import os\nos.getpid()", limits=LIMITS)
            self.assertEqual(r.value, spare)
        self.assertEqual(len(harness.wait_for(lambda: harness.children(self.z.pid))), 1)

    def test_spare_is_set_up_and_warm_before_the_run(self):
        spare = self.spare()
        # Idle spare: own session, fds 0-4 only (4: its socket to the zygote).
        harness.wait_for(lambda: sorted(int(x) for x in os.listdir("/proc/%d/fd" % spare))
                         == [0, 1, 2, 3, 4])
        self.assertEqual(sorted(int(x) for x in os.listdir("/proc/%d/fd" % spare)),
                         [0, 1, 2, 3, 4])
        self.assertEqual(os.getsid(spare), spare)
        # fd 3 is no longer the control socket.
        self.assertEqual(os.readlink("/proc/%d/fd/3" % spare), "/dev/null")

    def test_killed_spare_is_replaced(self):
        first = self.spare()
        os.kill(first, signal.SIGKILL)
        second = self.spare(not_=first)
        self.assertNotEqual(first, second)
        r = self.z.run("import os\nos.getpid()", limits=LIMITS)
        self.assertEqual(r.value, second)

    def test_spare_serves_concurrent_runs(self):
        runs = [self.z.start(LIMITS) for _ in range(3)]
        for i, run in enumerate(runs):
            run.request("import os, time\ntime.sleep(0.05)\n[n, os.getpid()]", {"n": i})
        vals = [run.finish().value for run in runs]
        self.assertEqual([v[0] for v in vals], [0, 1, 2])
        self.assertEqual(len({v[1] for v in vals}), 3)

    def test_shutdown_kills_the_spare(self):
        spare = self.spare()
        self.z.send({"op": "shutdown"})
        _, status = os.waitpid(self.z.pid, 0)
        self.assertEqual(os.WEXITSTATUS(status), 0)
        self.assertFalse(_alive(spare))
        self.z.sup.close()
        os.close(self.z.out_r)
        os.close(self.z.err_r)
        self.z.close = lambda: (status, b"", b"")

    def test_no_spare_when_prefork_is_off(self):
        z = harness.Zygote(tier="bypass", env={"PYCAGE_PREFORK": "0"})
        try:
            time.sleep(0.1)
            self.assertEqual(harness.children(z.pid), [])
            self.assertEqual(z.run("1").value, 1)
            self.assertEqual(harness.wait_for(lambda: harness.children(z.pid) == []), True)
        finally:
            z.close()


class ZygoteLifecycle(unittest.TestCase):
    def test_eof_kills_runs_and_exits(self):
        z = harness.Zygote(tier="bypass")
        run = z.start(LIMITS)
        run.request("while True:\n    pass")
        time.sleep(0.1)
        z.sup.shutdown(socket.SHUT_WR)
        _, status = os.waitpid(z.pid, 0)
        self.assertTrue(os.WIFEXITED(status))
        self.assertEqual(os.WEXITSTATUS(status), 0)
        # The run started, then was killed before it could reply.
        reader = harness.FrameReader(run.chan)
        self.assertEqual(reader.read(5), b'{"status":"started"}')
        self.assertEqual(reader.read(5), None)
        z.sup.close()
        run.chan.close()
        for fd in (z.out_r, z.err_r, run.out_r, run.err_r):
            os.close(fd)

    def test_shutdown_reports_killed_runs(self):
        z = harness.Zygote(tier="bypass")
        run = z.start(LIMITS)
        run.request("while True:\n    pass")
        time.sleep(0.1)
        z.send({"op": "shutdown"})
        ex = z.exit_frame(run.id)
        self.assertEqual(ex["signal"], signal.SIGKILL)
        status, out, err = z.close()
        self.assertEqual(os.WEXITSTATUS(status), 0)
        run.chan.close()
        os.close(run.out_r)
        os.close(run.err_r)

    def test_bad_tier_is_reported_on_stderr(self):
        z = harness.Zygote(tier="nope")
        self.assertIsNone(z.ready)  # EOF instead of a ready frame
        _, status = os.waitpid(z.pid, 0)
        err = harness.read_all(z.err_r)
        self.assertEqual(os.WEXITSTATUS(status), 2)
        self.assertTrue(err.startswith(b"pycage-zygote: fatal: PYCAGE_TIER"), err)
        z.sup.close()
        os.close(z.out_r)
        os.close(z.err_r)

    def test_warm_run_is_fast(self):
        z = harness.Zygote(tier="bypass")
        try:
            times = []
            for _ in range(30):
                t = time.perf_counter()
                self.assertEqual(z.run("1").value, 1)
                times.append(time.perf_counter() - t)
            times.sort()
            # Generous: the harness is Python too. The real target (<= 2 ms) is
            # measured from the C++ side.
            self.assertLess(times[len(times) // 2], 0.025)
        finally:
            z.close()


if __name__ == "__main__":
    unittest.main()
