"""The zygote's spares: children forked ahead of runs, each with its
run-independent jail set up and its interpreter warmed, waiting for a run
on a private socket. In the full tier the fork server clones them
(fork_server.py); elsewhere, or when the server is gone, the zygote forks
them itself."""
import collections
import gc
import os
import select
import selectors

import child_setup
from children import Run, Spare, SPARE_FAILURE_LIMIT, send_call, sigkill
import confine
import execute
from fork_server import ForkServer
from forking import tmp_options_of
import frames


class Spares:
    def __init__(self, zygote, prefork, count, tmp_opts):
        self.z = zygote
        self.log = zygote.log
        # Ready ahead of runs, oldest (warmest) first. Two keep back-to-back
        # runs from waiting for the next spare's setup on a 2-core host.
        self.target = max(1, count) if prefork else 0
        self.waiting = collections.deque()
        self.failures = 0
        self.tmp_opts = tmp_opts
        # Full tier: spares come from the fork server, so the zygote's pages
        # stay unshared with its runs; None: fork here.
        self.fork_server = None
        self.use_fork_server = prefork and isinstance(zygote.prep.run_jail, confine.RunJail) and \
            os.environ.get("PYCAGE_FORK_SERVER", "1") != "0"

    def __contains__(self, spare):
        return spare in self.waiting

    def pids(self):
        return {s.pid for s in self.waiting}

    def start(self):
        """Before the first spare: the fork server, where it is used."""
        if self.use_fork_server:
            self.start_fork_server()
        self.ensure()

    def hand_over(self, run_id, limits, fds):
        """Give the run to the oldest spare: its Run, or None when no spare
        could take it."""
        if not self.waiting:
            return None
        spare = self.waiting.popleft()
        if self.z.profile.per_run_namespaces and tmp_options_of(limits) != spare.tmp_opts:
            # Its /tmp has the wrong size and a remount is not allowed here.
            self.discard(spare)
            return None
        try:
            send_call(spare.sock, limits, fds)
        except OSError as e:
            self.log("spare %d: hand-over failed: %s" % (spare.pid, e))
            self.discard(spare)
            return None
        # The spare owns the fds now; our end of its socket is of no more use
        # (queued data and fds stay readable after we close it).
        spare.sock.close()
        self.failures = 0
        return Run(run_id, spare.pid, spare.pidfd, spare.slot)

    def ensure(self, from_run=False, busy=False):
        """Fork spares up to the target (none with prefork off, or while
        spares keep dying). While a single run is in flight only the first:
        a second spare's fork and warm-up would compete with that run for
        the CPU, so it waits until the zygote has nothing running. Under
        load (busy: the run came while another was in flight) nothing is
        idle to wait for, and the full target lets each run take a spare
        forked a run earlier, already warm."""
        while len(self.waiting) < (self.target if busy or not self.z.runs else min(1, self.target)):
            if self.failures >= SPARE_FAILURE_LIMIT and not from_run:
                return
            if not self.fork_spare():
                return

    def below_target(self):
        return len(self.waiting) < self.target

    # The fork server -----------------------------------------------------

    def start_fork_server(self):
        if len(os.listdir("/proc/self/task")) > 1:
            # A preloaded module started a thread: a copy of this process could
            # hold a lock that thread held, so spares keep failing as a raw
            # clone here does (Forker.fork_child), with the cause.
            return
        try:
            self.fork_server = ForkServer.start(self.z.prep.run_jail, self.z.prep.devnull, self.spare_main, self.log)
        except OSError as e:
            self.log("fork server: %s; the zygote forks its spares itself" % e)

    def stop_fork_server(self, why):
        self.log("fork server: %s; the zygote forks its spares itself" % why)
        self.fork_server.stop()
        self.fork_server = None

    def fork_from_server(self, slot):
        """(pid, pidfd, our socket) of a spare the fork server cloned; None
        when the server is gone (stopped, the caller forks itself)."""
        try:
            pid, ours = self.fork_server.fork(slot, self.tmp_opts)
        except BrokenPipeError as e:
            self.stop_fork_server(e)
            return None
        except OSError:
            self.z.slots.give(slot)
            raise
        return pid, self.z.forker.open_pidfd(pid), ours

    # A spare's life --------------------------------------------------------

    def fork_spare(self):
        """True when a spare was forked."""
        slot = self.z.slots.take()
        if slot is None:
            return False  # retried when a reap gives a slot back
        try:
            got = self.fork_from_server(slot) if self.fork_server is not None else None
            pid, pidfd, ours = got or self.z.forker.fork_into(slot, self.spare_child, self.tmp_opts)
        except (OSError, child_setup.SetupError) as e:
            self.log("spare: fork: %s" % e)
            self.failures += 1
            return False
        spare = Spare(pid, pidfd, slot, ours, self.tmp_opts)
        self.waiting.append(spare)
        self.z.sel.register(pidfd, selectors.EVENT_READ, spare)
        return True

    def spare_child(self, ours, theirs, jail_error):
        try:
            ours.close()
            priv = theirs.detach()
        except BaseException:  # noqa: B902 - never back into the zygote loop
            os._exit(execute.EXIT_INTERNAL)
        self.spare_main(priv, jail_error)

    def spare_main(self, priv, jail_error):
        # The spare: it must never get back into the zygote loop either.
        code = execute.EXIT_INTERNAL
        prep = self.z.prep
        try:
            err = child_setup.setup_spare(prep, priv, jail_error)
            # Warm only while nobody waits: when a run was handed over before
            # this spare got here, it is faster to serve it cold than to make
            # it wait for a warm-up.
            if err is None and not select.select([child_setup.SPARE_FD], [], [], 0)[0]:
                execute.warm(0)  # fd 0 is /dev/null (O_RDWR) here
                # The warm-up's objects join the zygote's in the frozen
                # generation: the run's collections never scan them, and
                # the run starts with empty generations. A collection here
                # instead wrote to about 25 more pages of the interpreter
                # in every spare (each a copy).
                gc.freeze()
            elif err is not None:
                self.log("spare: %s" % err)
            got = child_setup.wait_for_run()
            if got is None:
                code = execute.EXIT_NO_REQUEST
                return
            fds, payload = got
            try:
                limits = frames.decode_json(payload).get("limits") or {}
            except (ValueError, AttributeError):
                limits = {}
            child_setup.adopt_run(prep, fds, limits, err)
            execute.serve(limits, self.z.tier)
        except BaseException:
            pass
        finally:
            os._exit(code)

    def discard(self, spare):
        """Kill and reap a spare that will not get a run."""
        sigkill(spare.pidfd)
        self.reap(spare)

    def reap(self, spare):
        try:
            self.z.sel.unregister(spare.pidfd)
        except (KeyError, ValueError):
            pass
        self.z.forker.kill_leftovers(spare.pid)
        # It was SIGKILLed or has exited: this wait is short.
        _, status = os.waitpid(spare.pid, 0)
        self.z.forker.forget(spare.pid, self.z.known_pids)
        os.close(spare.pidfd)
        spare.sock.close()
        self.z.slots.give(spare.slot)
        return status

    def on_exit(self, spare):
        """A spare died before it got a run."""
        self.waiting.remove(spare)
        status = self.reap(spare)
        self.failures += 1
        self.log("spare %d died before a run (status 0x%x); replacing it" % (spare.pid, status))
        self.ensure()

    def close(self):
        if self.fork_server is not None:
            self.fork_server.stop()
        while self.waiting:
            self.discard(self.waiting.popleft())
