"""The full tier's per-run setup, with `unshare -Urmpf` standing in for
pycage-jail (user, mount and pid namespaces; an allow-all run filter).
Skipped where unprivileged user namespaces are unavailable."""
import os
import shutil
import struct
import subprocess
import unittest

from tests import harness

UNSHARE = shutil.which("unshare")
ALLOW_ALL = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K, SECCOMP_RET_ALLOW
LIMITS = {"cpuMs": 1000, "memoryBytes": 512 << 20, "fileSizeBytes": 1 << 20,
          "processes": 5, "openFiles": 64, "tmpBytes": 4 << 20}


def _userns_ok():
    if not UNSHARE:
        return False
    try:
        return subprocess.run([UNSHARE, "-Urmpf", "true"], timeout=10,
                              capture_output=True).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@unittest.skipUnless(_userns_ok(), "unprivileged user namespaces are not available")
class ZygoteFull(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.z = harness.Zygote(tier="full", bpf=ALLOW_ALL,
                               launcher=[UNSHARE, "-Urmpf", "--mount-proc"])

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

    def test_kill(self):
        run = self.z.start(LIMITS)
        run.request("import subprocess\nsubprocess.Popen(['sleep', '30'])\nwhile True:\n    pass")
        self.z.send({"op": "kill", "id": run.id})
        self.assertEqual(run.finish().exit["signal"], 9)


if __name__ == "__main__":
    unittest.main()
