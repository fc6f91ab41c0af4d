"""pycage zygote: a warm interpreter that forks one child per run.

Started as `python -I -S /pycage/runner/zygote.py` (pid 1 of the jail in the
full tier). Speaks the control protocol of native/PROTOCOL.md on fd 3.
Never writes to fd 1; diagnostics go to fd 2, one `pycage-zygote:` line each.

This file is the loop: control frames in, runs out to a spare (or forked on
demand), exit reports back. Its parts, one concern each: startup.py (what
is loaded before the first fork), control.py (the control channel),
slots.py (uid slots), forking.py (a child into its jail, and its reap),
spares.py (children forked ahead of runs, and the fork server),
session_calls.py (sessions), trial.py (the trial jail).
"""
import os
import sys

# -I leaves the script's directory off sys.path; -S leaves site-packages off.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# Everything a run needs is imported here, once, before any fork: a child
# then starts with it all in (copy-on-write) memory and never touches disk.
import ast  # noqa: E402,F401
import base64  # noqa: E402,F401
import builtins  # noqa: E402,F401
import collections  # noqa: E402,F401
import datetime  # noqa: E402,F401
import decimal  # noqa: E402,F401
import gc  # noqa: E402
import json  # noqa: E402,F401
import math  # noqa: E402,F401
import select  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import traceback  # noqa: E402,F401

import child_setup  # noqa: E402
from children import Run, Session, SessionSocket, Spare, close_all, sigkill  # noqa: E402
from control import Control, exit_report  # noqa: E402
from diag import log  # noqa: E402
import execute  # noqa: E402
import figures  # noqa: E402
from forking import Forker, tmp_options_of  # noqa: E402
import frames  # noqa: E402
import learning  # noqa: E402
import profiles  # noqa: E402
import restrictions  # noqa: E402
from session_calls import SessionCalls  # noqa: E402
from slots import UidSlots  # noqa: E402
from spares import Spares  # noqa: E402
import startup  # noqa: E402
from trial import trial  # noqa: E402

CONTROL_FD = 3
BPF_FD = 4


ORPHAN_REAP_S = 1.0
# The reduced tier as a host that may switch uid: the supervisor gives each
# concurrent run a zygote (a lane) under a uid of its own.
LANE_UID = os.environ.get("PYCAGE_LANE_UID") == "1"


class Zygote:
    log = staticmethod(log)

    def __init__(self, sock, prep, prefork=True, uid_count=1, tmp_bytes=16 << 20, spares=1):
        self.sock = sock
        self.ctl = Control(sock, log)
        self.prep = prep
        self.tier = prep.tier
        self.profile = prep.profile
        self.runs = {}
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ, None)
        self.slots = UidSlots(self.profile.per_run_uid, uid_count)
        self.forker = Forker(prep, self.slots, log, self.shutdown)
        self.spares = Spares(self, prefork, spares, child_setup.tmp_options(tmp_bytes))
        self.sessions = SessionCalls(self)

    def known_pids(self):
        """The children the zygote tracks: runs, spares and sessions."""
        return {r.pid for r in self.runs.values()} | self.spares.pids() | self.sessions.pids()

    def send(self, obj):
        self.sock.sendall(frames.frame(frames.encode_json(obj)))

    def on_parent_death(self, _signum, _frame):
        """Reduced tier: the helper's plan makes the host's death a SIGTERM
        here. No pid namespace ends the runs' processes, so end their
        process groups, then exit."""
        try:
            self.shutdown(1)
        finally:
            os._exit(1)

    def serve(self):
        if self.profile.landlock_fs:
            signal.signal(signal.SIGTERM, self.on_parent_death)
        self.send({"op": "ready",
                   "python": "%d.%d.%d" % sys.version_info[:3],
                   "abi": startup.abi_tag(),
                   "tier": self.tier})
        self.spares.start()
        # Reduced tier: orphans of runs and session calls become ours (a
        # subreaper), and their zombies count against the pool uid's
        # RLIMIT_NPROC until reaped. No event says that one died, so look
        # after every event and at least once a second.
        orphans = self.profile.landlock_fs
        while True:
            for key, _ in self.sel.select(ORPHAN_REAP_S if orphans else None):
                if key.data is None:
                    if not self.on_control():
                        return self.shutdown()
                elif isinstance(key.data, Spare):
                    if key.data in self.spares:  # else: handed over or discarded
                        self.spares.on_exit(key.data)
                elif isinstance(key.data, Session):
                    if self.sessions.is_live(key.data):
                        self.sessions.on_exit(key.data)
                elif isinstance(key.data, SessionSocket):
                    if self.sessions.is_live(key.data.session):
                        self.sessions.on_frame(key.data.session)
                elif self.runs.get(key.data.id) is key.data:  # else: reaped already
                    self.on_exit(key.data)
            if orphans:
                self.forker.reap_orphans(self.known_pids())

    def on_control(self):
        """Handle readable fd 3. False means stop (EOF, shutdown, bad stream)."""
        try:
            if not self.ctl.fill():
                return False
            for payload, fds in self.ctl.frames():
                if not self.on_frame(payload, fds):
                    return False
        except frames.FrameError as e:
            log("control: %s; shutting down" % e)
            return False
        except InterruptedError:
            pass
        return True

    def on_frame(self, payload, fds):
        try:
            msg = frames.decode_json(payload)
            op = msg.get("op")
        except (ValueError, AttributeError):
            log("control: a frame is not a JSON object; ignored")
            close_all(fds)
            return True
        if op == "run":
            self.start_run(msg, fds)
        elif op == "kill":
            close_all(fds)
            run = self.runs.get(msg.get("id"))
            if run is None:
                pass
            elif run.session is not None and run.session.queued is not None \
                    and run.session.queued[0] == run.id:
                self.sessions.drop_queued(run.session)
            else:
                self.kill(run)
        elif op == "closeSession":
            close_all(fds)
            self.sessions.close_by_name(msg.get("session"))
        elif op == "shutdown":
            close_all(fds)
            return False
        else:
            close_all(fds)
            log("control: unknown op %r; ignored" % (op,))
        return True

    def start_run(self, msg, fds):
        run_id = msg.get("id")
        if fds is None or len(fds) != 3:
            close_all(fds)
            return self.setup_failed(run_id, "the run frame must carry exactly 3 fds "
                                     "(chan, stdout, stderr), got %d" % len(fds or ()))
        if run_id in self.runs:
            close_all(fds)
            return self.setup_failed(run_id, "run id %r is already running" % (run_id,))
        limits = msg.get("limits") or {}
        # "slot" is still accepted but ignored: the zygote owns the uid slots.
        if not isinstance(limits, dict):
            close_all(fds)
            return self.setup_failed(run_id, "bad limits")
        if LANE_UID:
            # This zygote's uid is its own and runs one run at a time, so
            # RLIMIT_NPROC need leave room only for the zygote, one spare,
            # the earlier run if it is still being reaped, and the sessions
            # it holds: the run gets its own `processes` (one more at most).
            limits = dict(limits, processesBase=3 + len(self.sessions.pids()))
        name = msg.get("session")
        if name is not None:
            try:
                self.sessions.start_call(run_id, name, limits, fds)
            finally:
                close_all(fds)
            return None
        # A request that arrives while an earlier run is still in flight
        # means runs come back to back or concurrently: keep every spare
        # ready, so the next run finds one that has finished warming.
        busy = bool(self.runs)
        try:
            run = self.spares.hand_over(run_id, limits, fds)
            if run is not None:
                self.runs[run_id] = run
                self.sel.modify(run.pidfd, selectors.EVENT_READ, run)
            else:
                self.start_on_demand(run_id, limits, fds)
        finally:
            close_all(fds)
        self.spares.ensure(from_run=True, busy=busy)

    def start_on_demand(self, run_id, limits, fds):
        slot = self.take_slot_reaping()
        if slot is None:
            return self.setup_failed(run_id, "no free uid slot")
        try:
            pid, pidfd, _ = self.forker.fork_into(
                slot, lambda _o, _t, jail_error: self.child(fds, limits, jail_error),
                tmp_options_of(limits), with_socket=False)
        except (OSError, child_setup.SetupError) as e:
            return self.setup_failed(run_id, "fork: %s" % e)
        run = Run(run_id, pid, pidfd, slot)
        self.runs[run_id] = run
        self.sel.register(pidfd, selectors.EVENT_READ, run)

    def child(self, fds, limits, jail_error):
        # The forked run child: it must never get back into the zygote loop.
        try:
            child_setup.setup(self.prep, fds, limits, jail_error)
            execute.serve(limits, self.tier)
        except BaseException:
            pass
        finally:
            os._exit(execute.EXIT_INTERNAL)

    def take_slot_reaping(self):
        """A free uid slot, reaping first what has exited if none is free (a
        run that replied may not have been reaped yet); None if none."""
        slot = self.slots.take()
        if slot is None:
            self.reap_exited()
            slot = self.slots.take()
        return slot

    def reap_exited(self):
        """Reap every run whose pidfd is readable now, without blocking."""
        own = [r for r in self.runs.values() if r.session is None]
        ready = select.select([r.pidfd for r in own], [], [], 0)[0]
        for run in [r for r in own if r.pidfd in ready]:
            self.on_exit(run, refill=False)

    def setup_failed(self, run_id, message):
        log("run %r: %s" % (run_id, message))
        self.send({"op": "exit", "id": run_id, "code": None, "signal": None,
                   "setupError": message})

    def kill(self, run):
        sigkill(run.pidfd)
        self.forker.kill_leftovers(run.pid)

    def reap(self, run):
        try:
            self.sel.unregister(run.pidfd)
        except (KeyError, ValueError):
            pass
        self.forker.kill_leftovers(run.pid)
        _, status, ru = os.wait4(run.pid, 0)
        self.forker.forget(run.pid, self.known_pids)
        os.close(run.pidfd)
        self.runs.pop(run.id, None)
        self.slots.give(run.slot)
        return exit_report(run.id, status, ru)

    def on_exit(self, run, refill=True):
        report = self.reap(run)
        try:
            self.send(report)
        except OSError as e:
            log("control: cannot send exit of run %r: %s" % (run.id, e))
            self.shutdown(1)
        if refill and self.spares.below_target():
            self.spares.ensure()  # a slot came back, or the zygote is idle now

    def shutdown(self, code=0):
        self.spares.close()
        self.sessions.close()
        runs = list(self.runs.values())
        for run in runs:
            self.kill(run)
        for run in runs:
            report = self.reap(run)
            try:
                self.send(report)
            except OSError:
                pass
        os._exit(code)


def _env_int(name, default):
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def main():
    # The supervisor starts the zygote with LD_BIND_NOW=1, so the dynamic
    # linker binds every libc call of the interpreter once, here, and not in
    # each fork that makes one first (about 17 page copies per run). Done by
    # now: runs and their subprocesses do not inherit it.
    os.environ.pop("LD_BIND_NOW", None)
    tier = os.environ.get("PYCAGE_TIER", "full")
    if tier not in profiles.PROFILES:
        log("fatal: PYCAGE_TIER=%r is not one of %s" % (tier, ", ".join(profiles.PROFILES)))
        return 2
    profile = profiles.profile_of(tier)
    try:
        bpf = startup.read_bpf(BPF_FD) if profile.seccomp else None
        prep = child_setup.Prepared(tier, bpf)
        sock = socket.socket(fileno=CONTROL_FD)
    except (OSError, ValueError) as e:
        log("fatal: startup: %s" % e)
        return 1
    if os.environ.get("PYCAGE_TRIAL") == "1":
        return trial(prep, _env_int("PYCAGE_UID_COUNT", 1))
    try:
        sys.stdout.reconfigure(errors="backslashreplace")
        sys.stderr.reconfigure(errors="backslashreplace")
    except (AttributeError, ValueError):
        pass
    config = startup.load_restrictions()
    startup.load_bundle(passthrough=config["passthroughModules"])
    # What earlier runs of this bundle imported (the host's learned list),
    # still before restrictions, as library imports.
    learning.preload_learned(os.environ, _HERE, log, denied=restrictions.denies_module(config))
    # After every zygote import and before the warm-up and the first fork, so
    # runs inherit them and pay nothing to set them up.
    figures.install()
    figures.warm_up(log)
    restrictions.install(config)
    startup.warm_up()
    # Frozen objects are never scanned by the collector, so a child's GC does
    # not dirty (and copy) the zygote's pages.
    gc.collect()
    gc.freeze()
    learning.remember_baseline(_HERE, enabled=os.environ.get("PYCAGE_LEARN") == "1")
    startup.release_free_heap()
    Zygote(sock, prep, prefork=os.environ.get("PYCAGE_PREFORK", "1") != "0",
           uid_count=_env_int("PYCAGE_UID_COUNT", 1),
           tmp_bytes=_env_int("PYCAGE_TMP_BYTES", 16 << 20),
           spares=_env_int("PYCAGE_SPARES", 1)).serve()
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    except BaseException as e:  # noqa: B902 - a zygote crash must say why on fd 2
        log("fatal: %s: %s" % (type(e).__name__, e))
        rc = 1
    os._exit(rc)
