"""The runner enforces every limit that native/limits.json sends to a run."""
import json
import os
import resource
import unittest

import child_setup

_TABLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "limits.json")


def child_scope_limits():
    with open(_TABLE, encoding="utf-8") as f:
        table = json.load(f)["limits"]
    return {entry["name"]: entry for entry in table if entry["scope"] == "child"}


class LimitsTable(unittest.TestCase):
    def test_every_child_limit_is_enforced_and_nothing_else(self):
        self.assertEqual(set(child_scope_limits()), set(child_setup.ENFORCED_LIMITS))

    def test_set_rlimits_applies_each_rlimit_of_the_table(self):
        limits = {name: entry["default"] for name, entry in child_scope_limits().items()}
        limits["openFiles"] = 37
        limits["fileSizeBytes"] = 4096
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                child_setup.set_rlimits(limits)
                ok = (resource.getrlimit(resource.RLIMIT_NOFILE) == (37, 37)
                      and resource.getrlimit(resource.RLIMIT_FSIZE) == (4096, 4096)
                      and resource.getrlimit(resource.RLIMIT_AS)[0] == limits["memoryBytes"])
                code = 0 if ok else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)

    def test_processes_count_what_the_zygote_says_its_uid_already_runs(self):
        # A lane's zygote (LANE_UID) adds its own processes per run; without
        # it the pool-wide base from the environment applies.
        def nproc_after(limits):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    child_setup.set_rlimits(limits)
                    os.write(write, str(resource.getrlimit(resource.RLIMIT_NPROC)[0]).encode())
                finally:
                    os._exit(0)
            os.close(write)
            os.waitpid(pid, 0)
            with os.fdopen(read) as f:
                return int(f.read())
        saved = child_setup.PROCESSES_BASE
        child_setup.PROCESSES_BASE = 41
        try:
            self.assertEqual(nproc_after({"processes": 5, "processesBase": 4}), 9)
            self.assertEqual(nproc_after({"processes": 5}), 46)
        finally:
            child_setup.PROCESSES_BASE = saved


if __name__ == "__main__":
    unittest.main()
