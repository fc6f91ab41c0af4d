"""Forking the zygote's children into their per-run jails, and what their
end leaves: the process groups of the reduced tier's runs, its scratch
directories and the zombies of orphans. Runs, spares and sessions all come
through here."""
import os
import signal
import socket
import time

import child_setup
import confine


class Forker:
    def __init__(self, prep, slots, log, on_fatal):
        self.prep = prep
        self.slots = slots
        self.log = log
        self.on_fatal = on_fatal  # the zygote's shutdown(code): never returns

    def fork_child(self, slot, tmp_opts):
        """Fork a child; in the full tier it is pid 1 of its own jail
        (confine.py). Returns (pid, None) in the zygote and (0, None or the
        failed jail step's text) in the child; raises OSError in the zygote."""
        run_jail = self.prep.run_jail
        if run_jail is None:
            pid = os.fork()
            if pid == 0:
                try:
                    confine.no_new_privs()
                except confine.ConfineError as e:
                    return 0, str(e)
            return pid, None
        try:
            return run_jail.fork(slot, tmp_opts), None
        except confine.ConfineError as e:
            return 0, str(e)  # only ever raised in the child

    def open_pidfd(self, pid):
        try:
            return os.pidfd_open(pid)
        except OSError as e:
            self.log("fatal: pidfd_open(%d): %s" % (pid, e))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return self.on_fatal(1)

    def fork_into(self, slot, child_main, tmp_opts, with_socket=True):
        """Fork a child for `slot` (its /tmp mounted with tmp_opts), with a
        private socketpair unless told not to. The child runs
        child_main(ours, theirs, jail_error), which never returns.
        Returns (pid, pidfd, our socket end or None); on failure the slot is
        given back, the sockets are closed and the error is raised."""
        ours = theirs = None
        try:
            if with_socket:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pid, jail_error = self.fork_child(slot, tmp_opts)
        except OSError:
            self.slots.give(slot)
            for end in (ours, theirs):
                if end is not None:
                    end.close()
            raise
        if pid == 0:
            child_main(ours, theirs, jail_error)  # never returns
        if theirs is not None:
            theirs.close()
        return pid, self.open_pidfd(pid), ours

    def kill_leftovers(self, pid):
        """Without a per-run pid namespace a child's own processes would
        outlive it; setsid made its pid their process group id. The pid cannot
        be reused while unreaped, so this never hits a stranger."""
        if self.prep.profile.per_run_namespaces:
            return  # the pid namespace dies with its pid 1
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass

    def forget(self, pid, known_pids):
        """After a reap: what the child's jail left (the reduced tier's
        scratch directory) goes, and so do the zombies of its orphans.
        known_pids() are the children the zygote still tracks."""
        forget = getattr(self.prep.run_jail, "forget", None)
        if forget is not None:
            forget(pid)
            self.drain_group(pid)
            self.reap_orphans(known_pids())

    DRAIN_S = 1.0

    def drain_group(self, pgid):
        """Reduced tier: the processes a child started got SIGKILL with its
        group (kill_leftovers) and become the zygote's as their parents die
        (it is a subreaper). Until reaped they still count against the pool
        uid's RLIMIT_NPROC, and the next run would find no process left to
        start: reap the group now, until it is empty (killpg(pgid, 0) says
        ESRCH once even its zombies are gone) or for at most DRAIN_S. The
        pgid stays ours while any member is left, so this never hits a
        stranger; waitpid(-pgid) reaps only members of that group."""
        deadline = time.monotonic() + self.DRAIN_S
        while True:
            try:
                while os.waitpid(-pgid, os.WNOHANG)[0] != 0:
                    pass
            except ChildProcessError:
                pass
            try:
                os.killpg(pgid, 0)
            except OSError:
                return  # ESRCH: the group is gone
            if time.monotonic() >= deadline:
                self.log("process group %d: still not empty %.1f s after its SIGKILL" % (pgid, self.DRAIN_S))
                return
            time.sleep(0.001)

    @staticmethod
    def reap_orphans(known):
        """Reduced tier: the zygote is a child subreaper (the helper's plan),
        so a run's orphans become its children once their parent died. Reap
        those it does not know; a known child is left to its pidfd."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid in known:
                return
            try:
                os.waitpid(info.si_pid, 0)
            except ChildProcessError:
                return


def tmp_options_of(limits):
    """The /tmp options a run's limits ask for."""
    return child_setup.tmp_options(limits.get("tmpBytes"))
