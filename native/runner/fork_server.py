"""The fork server: the zygote's spares, forked by a copy of the zygote that
runs no Python after it starts (native/jail/fork_server.h).

After every fork, each page the zygote's Python touches is copied again
while a live fork still shares it: about 250 pages, a millisecond of CPU, per
run. The server is forked once, before the first spare; from then on it waits
in pycage-confine.so and clones each spare with CLONE_PARENT, so the spare is
the zygote's own child (pidfd, wait4, the init's uid map check) but shares
the server's pages, which nobody touches. The zygote's own pages are shared
only with the server, so each is copied at most once.

Full tier only (the run's clone into its namespaces lives in the server's
C loop); the zygote forks spares itself when the server is absent or gone.
See docs/ARCHITECTURE.md, "The fork server".
"""
import os
import signal
import socket

CONTROL_FD = 3  # the zygote's control socket (PROTOCOL.md)


class ForkServer:
    def __init__(self, pid, sock, run_jail):
        self.pid = pid
        self.sock = sock
        self._run_jail = run_jail

    @classmethod
    def start(cls, run_jail, devnull, spare_main, log):
        """Fork the server. In the zygote: the ForkServer. In each spare the
        server forks later: spare_main(socket fd, jail error or None), which
        never returns."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid != 0:
            theirs.close()
            return cls(pid, ours, run_jail)
        code = 1
        try:
            ours.close()
            # The server and its spares hold no control socket: the
            # supervisor sees the zygote's end close when the zygote exits.
            os.dup2(devnull, CONTROL_FD)
            fd, jail_error = run_jail.serve_forks(theirs.detach())  # returns only in a spare
            spare_main(fd, jail_error)
        except BaseException as e:  # noqa: B902 - the server must never return into the zygote's loop
            log("fork server: %s" % e)
        finally:
            os._exit(code)

    def fork(self, slot, tmp_options):
        """(pid, socket) of a new spare, the zygote's child. OSError: the
        clone failed (a spare failure); BrokenPipeError: the server is gone."""
        pid, fd = self._run_jail.request_spare(self.sock.fileno(), slot, tmp_options)
        return pid, socket.socket(fileno=fd)

    def stop(self):
        """Close the server's socket (it exits) and reap it."""
        self.sock.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass
