"""Time N sequential trivial runs (`1+1`) through the zygote protocol, with
and without the pre-forked spare. Not a unit test.

    python3 native/runner/tests/bench_zygote.py [-n 500] [--tier bypass|full|all]

For each run it reports, from the supervisor's side of the sockets:
  resolve  run frame sent -> reply read and EOF on chan, stdout and stderr
           (when the supervisor can resolve the run)
  exit     run frame sent -> the zygote's exit frame
Three pacings: "gap5ms" waits 5 ms after each exit frame (a run that finds
the system idle: the warm-run latency); "serial" starts the next run right
after the exit frame; "b2b" starts it right after resolve, as a supervisor
that resolves on EOF does (exit frames are drained as they come). The driver is Python, so add its own cost
(~0.1-0.2 ms) to every figure; the C++ supervisor's numbers are lower.
The full tier uses build/Release/pycage-jail (host root needed).
"""
import argparse
import array
import json
import os
import select
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests import harness  # noqa: E402
from tests import test_zygote_jail  # noqa: E402

LIMITS = {"cpuMs": 5000, "memoryBytes": 512 << 20, "fileSizeBytes": 1 << 20,
          "processes": 16, "openFiles": 64, "tmpBytes": 16 << 20}
REQUEST = harness.frame({"code": "1+1", "resultBytes": 1 << 20}) + harness.frame(b"{}")


class Driver:
    def __init__(self, z):
        self.z = z
        self.buf = b""
        self.exits = set()
        self.next_id = 1

    def drain(self, block_for=None):
        """Read control frames; with block_for, until that run's exit frame."""
        while block_for is None or block_for not in self.exits:
            r, _, _ = select.select([self.z.sup], [], [], None if block_for is not None else 0)
            if not r:
                return
            chunk = self.z.sup.recv(1 << 16)
            if not chunk:
                raise EOFError("zygote went away")
            self.buf += chunk
            while len(self.buf) >= 4:
                n = int.from_bytes(self.buf[:4], "little")
                if len(self.buf) < 4 + n:
                    break
                msg = json.loads(self.buf[4:4 + n])
                self.buf = self.buf[4 + n:]
                if msg.get("op") == "exit":
                    if msg.get("code") != 0:
                        raise RuntimeError("run failed: %r" % msg)
                    self.exits.add(msg["id"])

    def one(self, wait_exit):
        run_id = self.next_id
        self.next_id += 1
        chan_sup, chan_run = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        data = harness.frame({"op": "run", "id": run_id, "limits": LIMITS})
        t0 = time.perf_counter()
        self.z.sup.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     array.array("i", [chan_run.fileno(), out_w, err_w]))])
        chan_run.close()
        os.close(out_w)
        os.close(err_w)
        chan_sup.sendall(REQUEST)
        open_fds = {chan_sup.fileno(): b"", out_r: b"", err_r: b""}
        while open_fds:
            r, _, _ = select.select(list(open_fds), [], [], 10)
            if not r:
                raise TimeoutError("run %d did not finish" % run_id)
            for fd in r:
                chunk = os.read(fd, 65536)
                if chunk:
                    open_fds[fd] += chunk
                else:
                    reply = open_fds.pop(fd)
                    if fd == chan_sup.fileno() and b'"status":"ok"' not in reply:
                        raise RuntimeError("bad reply %r" % reply)
        t_resolve = time.perf_counter() - t0
        chan_sup.close()
        os.close(out_r)
        os.close(err_r)
        t_exit = None
        if wait_exit:
            self.drain(block_for=run_id)
            t_exit = time.perf_counter() - t0
        else:
            self.drain()
        return t_resolve, t_exit


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] * 1000.0


def bench(label, make, n, wait_exit, gap=0.0):
    z = make()
    try:
        if not z.ready:
            print("%-28s zygote did not start" % label)
            return None
        d = Driver(z)
        for _ in range(20):  # warm-up, and let the first spare get ready
            d.one(True)
        time.sleep(0.05)
        res, ex = [], []
        for _ in range(n):
            if gap:
                time.sleep(gap)
            a, b = d.one(wait_exit)
            res.append(a)
            if b is not None:
                ex.append(b)
        d.drain(block_for=d.next_id - 1)
    finally:
        z.close()
    line = "%-28s resolve p50 %6.3f p99 %6.3f ms" % (label, pct(res, 50), pct(res, 99))
    if ex:
        line += " | exit p50 %6.3f p99 %6.3f ms" % (pct(ex, 50), pct(ex, 99))
    print(line, flush=True)
    return pct(res, 50), pct(res, 99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--tier", default="all", choices=("bypass", "full", "all"))
    args = ap.parse_args()
    tiers = []
    if args.tier in ("bypass", "all"):
        tiers.append(("bypass", lambda env: harness.Zygote(tier="bypass", env=env)))
    if args.tier in ("full", "all"):
        if test_zygote_jail._usable():
            base = 600000 + (os.getpid() % 1000) * 16
            tiers.append(("full", lambda env: test_zygote_jail.start_jailed(
                base, env=tuple("%s=%s" % kv for kv in env.items()))))
        else:
            print("full tier skipped: needs root, build/Release/pycage-jail, /usr/bin/python3")
    for tier, start in tiers:
        for pacing, wait_exit, gap in (("gap5ms", True, 0.005), ("serial", True, 0.0),
                                       ("b2b", False, 0.0)):
            got = {}
            for name, env in (("prefork", {}), ("no-prefork", {"PYCAGE_PREFORK": "0"})):
                got[name] = bench("%s %s %s" % (tier, pacing, name),
                                  lambda: start(env), args.n, wait_exit, gap)
            if got["prefork"] and got["no-prefork"]:
                print("%-28s prefork/no-prefork resolve p50 ratio %.2f, p99 ratio %.2f"
                      % ("%s %s" % (tier, pacing),
                         got["prefork"][0] / got["no-prefork"][0],
                         got["prefork"][1] / got["no-prefork"][1]), flush=True)


if __name__ == "__main__":
    main()
