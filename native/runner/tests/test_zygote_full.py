"""The full tier's per-run jail through the real pycage-jail (one mapped
uid, as an unprivileged host would have): the zygote's forks confine
themselves with pycage-confine.so. Skipped without a built helper or
/usr/bin/python3."""
import os
import time
import unittest

from tests import harness
from tests.test_zygote_jail import HELPER, PYTHON, start_jailed

LIMITS = {"cpuMs": 1000, "memoryBytes": 512 << 20, "fileSizeBytes": 1 << 20,
          "processes": 5, "openFiles": 64, "tmpBytes": 4 << 20}


def _usable():
    return os.access(HELPER, os.X_OK) and os.access(PYTHON, os.X_OK)


@unittest.skipUnless(_usable(), "needs build/Release/pycage-jail and /usr/bin/python3")
class ZygoteFull(unittest.TestCase):
    """With the spare (its /tmp sized like LIMITS asks); the subclass: without."""
    ENV = {"PYCAGE_TMP_BYTES": str(LIMITS["tmpBytes"])}

    @classmethod
    def setUpClass(cls):
        cls.z = start_jailed(0, uid_count=0, env=tuple("%s=%s" % kv for kv in cls.ENV.items()))

    @classmethod
    def tearDownClass(cls):
        status, out, err = cls.z.close()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, err)

    def test_ready(self):
        self.assertEqual(self.z.ready["tier"], "full")

    def test_run_is_jailed(self):
        code = ("import os\n"
                "st = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
                "vfs = os.statvfs('/tmp')\n"
                "result = {'pid': os.getpid(), 'pids': [p for p in os.listdir('/proc') if p.isdigit()],"
                " 'caps': [st[k].strip() for k in ('CapEff', 'CapPrm', 'CapInh', 'CapBnd', 'CapAmb')],"
                " 'nnp': st['NoNewPrivs'].strip(), 'seccomp': st['Seccomp'].strip(),"
                " 'tmp': vfs.f_blocks * vfs.f_frsize}")
        v = self.z.run(code, limits=LIMITS).value
        self.assertEqual(v["pid"], 1)
        self.assertIn("1", v["pids"])
        self.assertEqual(v["caps"], ["0" * 16] * 5)
        self.assertEqual((v["nnp"], v["seccomp"]), ("1", "2"))
        self.assertEqual(v["tmp"], 4 << 20)

    def test_tmp_is_per_run(self):
        self.z.run("open('/tmp/x', 'w').write('x')", limits=LIMITS)
        self.assertEqual(self.z.run("import os\nos.listdir('/tmp')", limits=LIMITS).value, [])

    def test_cpu_limit_is_reported(self):
        # A pid-namespace init ignores SIGXCPU's default action: the runner says it.
        r = self.z.run("while True:\n    pass", limits=LIMITS, timeout=30)
        self.assertEqual(r.error["type"], "CpuLimitExceeded")
        self.assertGreater(r.usage["cpuMs"], 500)

    def test_state_does_not_leak(self):
        self.assertEqual(self.z.run("import os\nos.leak = 1\ng1 = 1\nresult = 1",
                                    limits=LIMITS).value, 1)
        v = self.z.run("import os\n['g1' in globals(), hasattr(os, 'leak'),"
                       " '_pycage_warm' in globals()]", limits=LIMITS).value
        self.assertEqual(v, [False, False, False])

    def test_other_tmp_size(self):
        # Not the spare's /tmp size: the zygote forks a child the old way.
        for size in (8 << 20, 4 << 20, 2 << 20):
            code = "import os\nv = os.statvfs('/tmp')\nv.f_blocks * v.f_frsize"
            r = self.z.run(code, limits=dict(LIMITS, tmpBytes=size))
            self.assertEqual(r.value, size)
            self.assertIn("usage", r.replies[0].decode())

    def zygote_pid(self):
        # pycage-jail, then the jail's init (pid 1), then the zygote.
        init = harness.children(self.z.pid)
        self.assertEqual(len(init), 1)
        kids = harness.children(init[0])
        self.assertEqual(len(kids), 1)
        return kids[0]

    def test_run_is_served_by_the_spare(self):
        if self.ENV.get("PYCAGE_PREFORK") == "0":
            self.skipTest("no spare")
        zpid = self.zygote_pid()
        spare = harness.wait_for(lambda: harness.run_children(zpid))
        self.assertEqual(len(spare), 1)
        run = self.z.start(LIMITS)
        run.request("import time\ntime.sleep(0.3)\n1")
        time.sleep(0.15)
        now = harness.run_children(zpid)
        self.assertIn(spare[0], now)   # the spare is the run now
        self.assertEqual(len(now), 2)  # plus the next spare
        self.assertEqual(run.finish().value, 1)

    def test_spare_discarded_on_tmp_mismatch_and_replaced(self):
        zpid = self.zygote_pid()
        before = harness.wait_for(lambda: harness.run_children(zpid))
        run = self.z.start(dict(LIMITS, tmpBytes=8 << 20))
        run.request("import time\ntime.sleep(0.3)\n1")
        time.sleep(0.15)
        now = harness.run_children(zpid)
        if self.ENV.get("PYCAGE_PREFORK") != "0":
            self.assertEqual(len(before), 1)
            self.assertNotIn(before[0], now)     # killed, not serving the run
            self.assertEqual(len(now), 2)        # the run and a new spare
        self.assertEqual(run.finish().value, 1)


    def test_spares_come_from_the_fork_server_and_are_the_zygotes_children(self):
        zpid = self.zygote_pid()
        if self.ENV.get("PYCAGE_PREFORK") == "0":
            self.assertEqual(harness.fork_servers(zpid), [])  # no spares, no server
            return
        if self.ENV.get("PYCAGE_FORK_SERVER") == "0":
            self.assertTrue(harness.wait_for(lambda: harness.run_children(zpid)))
            self.assertEqual(harness.fork_servers(zpid), [])  # the zygote forks its spares itself
            return
        servers = harness.fork_servers(zpid)
        self.assertEqual(len(servers), 1, servers)
        self.assertEqual(harness.children(servers[0]), [])  # CLONE_PARENT: the spares are the zygote's
        self.assertTrue(harness.wait_for(lambda: harness.run_children(zpid)))

    def test_runs_go_on_when_the_fork_server_dies(self):
        if self.ENV.get("PYCAGE_PREFORK") == "0" or self.ENV.get("PYCAGE_FORK_SERVER") == "0":
            self.skipTest("no fork server")
        # A separate zygote: this one loses its server.
        z = start_jailed(0, uid_count=0, env=tuple("%s=%s" % kv for kv in self.ENV.items()))
        try:
            init = harness.children(z.pid)[0]
            zpid = harness.children(init)[0]
            server = harness.wait_for(lambda: harness.fork_servers(zpid))
            self.assertEqual(len(server), 1)
            self.assertEqual(z.run("1", limits=LIMITS).value, 1)
            os.kill(server[0], 9)
            harness.wait_for(lambda: not harness.alive(server[0]))
            for i in range(3):  # the first finds it gone; the zygote forks its spares from then on
                self.assertEqual(z.run("%d" % i, limits=LIMITS).value, i)
            self.assertEqual(harness.wait_for(lambda: harness.fork_servers(zpid) == []), True)  # reaped
            self.assertTrue(harness.run_children(zpid))  # a spare again, forked by the zygote
        finally:
            status, _out, err = z.close()
        self.assertIn(b"fork server:", err)
        self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, err))


class ZygoteFullNoForkServer(ZygoteFull):
    """Spares forked by the zygote itself, as when its fork server is gone."""
    ENV = dict(ZygoteFull.ENV, PYCAGE_FORK_SERVER="0")


class ZygoteFullNoPrefork(ZygoteFull):
    ENV = {"PYCAGE_PREFORK": "0"}

    def test_kill(self):
        run = self.z.start(LIMITS)
        run.request("import subprocess\nsubprocess.Popen(['sleep', '30'])\nwhile True:\n    pass")
        self.z.send({"op": "kill", "id": run.id})
        self.assertEqual(run.finish().exit["signal"], 9)


if __name__ == "__main__":
    unittest.main()
