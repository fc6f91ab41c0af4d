"""The zygote started through the real pycage-jail helper (full tier, host
root): uid slots chosen by the zygote map to distinct host uids. Skipped
without a built helper, root, or /usr/bin/python3."""
import os
import shutil
import tempfile
import time
import unittest

from tests import harness

HELPER = os.path.join(os.path.dirname(os.path.dirname(harness.RUNNER_DIR)),
                      "build", "Release", "pycage-jail")
PYTHON = "/usr/bin/python3"  # under /usr, which the helper always binds
UID_COUNT = 6
LIMITS = {"cpuMs": 5000, "memoryBytes": 512 << 20, "fileSizeBytes": 1 << 20,
          "processes": 16, "openFiles": 64, "tmpBytes": 16 << 20}


def jail_launcher(uid_base, uid_count=UID_COUNT, env=(), binds=()):
    args = [HELPER, "--tier", "full"]
    for bind in binds:
        args += ["--ro-bind", bind]
    if uid_count:
        args += ["--uid-base", str(uid_base), "--uid-count", str(uid_count),
                 "--setenv", "PYCAGE_UID_COUNT=%d" % uid_count]
    args += ["--ro-bind", harness.RUNNER_DIR + ":/pycage/runner"]
    for kv in ("LANG=C.UTF-8", "HOME=/tmp") + tuple(env):
        args += ["--setenv", kv]
    return args + ["--control-fd", "3", "--"]


def start_jailed(uid_base, uid_count=UID_COUNT, env=(), binds=()):
    return harness.Zygote(tier="full", python=PYTHON, script="/pycage/runner/zygote.py",
                          launcher=jail_launcher(uid_base, uid_count, env, binds))


def _usable():
    return os.geteuid() == 0 and os.access(HELPER, os.X_OK) and os.access(PYTHON, os.X_OK)


def host_uids(pid):
    out = {}
    for p in harness.descendants(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        out[p] = int(line.split()[1])
        except OSError:
            pass
    return out


@unittest.skipUnless(_usable(), "needs root, build/Release/pycage-jail and /usr/bin/python3")
class JailedZygote(unittest.TestCase):
    ENV = ()

    def setUp(self):
        self.base = 500000 + (os.getpid() % 1000) * 16
        self.z = start_jailed(self.base, env=self.ENV)
        self.assertEqual(self.z.ready and self.z.ready["tier"], "full", self.z.ready)

    def tearDown(self):
        status, out, err = self.z.close()
        self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, err))

    def test_concurrent_runs_get_distinct_host_uids(self):
        runs = [self.z.start(LIMITS) for _ in range(3)]
        for run in runs:
            run.request("import os, time\ntime.sleep(0.4)\n"
                        "[os.getuid(), os.getgid(), os.getgroups()]")
        time.sleep(0.2)
        seen = host_uids(self.z.pid)
        vals = [run.finish().value for run in runs]
        uids = [v[0] for v in vals]
        self.assertEqual(len(set(uids)), 3, vals)
        for uid, gid, groups in vals:
            self.assertTrue(1 <= uid < UID_COUNT - 1, uid)
            self.assertEqual((gid, groups), (uid, []))
        # From the host: the init is jail uid 0, the zygote the last uid; the 3 runs and the spare each have their own.
        hosts = set(seen.values())
        for uid in uids:
            self.assertIn(self.base + uid, hosts)
        self.assertIn(self.base, hosts)
        self.assertIn(self.base + UID_COUNT - 1, hosts)
        self.assertGreaterEqual(len(hosts - {self.base, self.base + UID_COUNT - 1}), 3 if self.ENV else 4, seen)

    def test_runs_are_jailed_and_report_usage(self):
        for _ in range(3):
            r = self.z.run("import os\nst = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
                           "[os.getpid(), st['CapEff'].strip(), st['Seccomp'].strip(),"
                           " st['NoNewPrivs'].strip()]", limits=LIMITS)
            self.assertEqual(r.value[:4], [1, "0" * 16, "2", "1"])
            self.assertGreater(r.usage["maxRssKb"], 1000)

    def test_no_free_uid_slot(self):
        # 4 slots (uids 1..4; 5 is the zygote's): 4 concurrent runs use them
        # all (with prefork the 4th takes the spare); a 5th finds none. The
        # supervisor never goes that far.
        runs = [self.z.start(LIMITS) for _ in range(4)]
        for run in runs:
            run.request("import time\ntime.sleep(0.5)\n1")
        extra = self.z.start(LIMITS)
        ex = self.z.exit_frame(extra.id)
        self.assertEqual(ex.get("setupError"), "no free uid slot")
        extra.chan.close()
        os.close(extra.out_r)
        os.close(extra.err_r)
        self.assertEqual([run.finish().value for run in runs], [1] * 4)
        self.assertEqual(self.z.run("2", limits=LIMITS).value, 2)


class JailedZygoteNoPrefork(JailedZygote):
    ENV = ("PYCAGE_PREFORK=0",)


@unittest.skipUnless(_usable(), "needs root, build/Release/pycage-jail and /usr/bin/python3")
class JailedSingleUid(unittest.TestCase):
    def test_single_uid_map_stays_uid_0_without_caps(self):
        for env in ((), ("PYCAGE_PREFORK=0",)):
            z = start_jailed(0, uid_count=0, env=env)
            try:
                for _ in range(2):
                    v = z.run("import os\nst = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
                              "[os.getuid(), st['CapEff'].strip(), st['CapBnd'].strip()]",
                              limits=LIMITS).value
                    self.assertEqual(v, [0, "0" * 16, "0" * 16])
            finally:
                z.close()


@unittest.skipUnless(_usable(), "needs root, build/Release/pycage-jail and /usr/bin/python3")
class JailedZygoteWithAThread(unittest.TestCase):
    def test_a_preloaded_module_that_starts_a_thread_fails_runs_with_the_cause(self):
        # The zygote's fork is a raw clone (confine.py): with a second thread
        # it could copy a lock that thread holds, so it refuses and says why.
        site = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, site)
        os.chmod(site, 0o755)
        with open(os.path.join(site, "threader.py"), "w") as f:
            f.write("import threading, time\n"
                    "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n")
        z = start_jailed(600000 + (os.getpid() % 1000) * 16, binds=[site + ":/pycage/site"],
                         env=("PYCAGE_SITE=/pycage/site", "PYCAGE_PRELOAD=threader", "PYCAGE_PREFORK=0"))
        try:
            run = z.start(LIMITS)
            ex = z.exit_frame(run.id)
            self.assertIn("runs other threads", ex.get("setupError") or "", ex)
            run.chan.close()
            os.close(run.out_r)
            os.close(run.err_r)
        finally:
            z.close()


if __name__ == "__main__":
    unittest.main()
