"""confine.py's fork-server calls against the built pycage-confine.so, outside
any jail: a spare builds its jail inside the server's call and says which
step failed. Skipped without the built library or where this host allows no
user namespace (the spare's clone is the run's)."""
import os
import socket
import unittest

import confine
from tests.test_zygote_jail import HELPER

LIB = os.path.join(os.path.dirname(HELPER), "pycage-confine.so")


@unittest.skipUnless(os.access(LIB, os.R_OK), "needs build/Release/pycage-confine.so")
class ForkServerSpare(unittest.TestCase):
    def setUp(self):
        saved = confine.LIB
        confine.LIB = LIB
        self.addCleanup(setattr, confine, "LIB", saved)

    def test_a_spare_whose_jail_step_fails_returns_from_the_server_with_that_step(self):
        jail = confine.RunJail(None)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        report_r, report_w = os.pipe()
        server = os.fork()
        if server == 0:
            try:
                ours.close()
                os.close(report_r)
                # fd 5 is where the jail's init listens; here it is /dev/null,
                # so the spare's first step, asking the init for its uid map,
                # fails.
                null = os.open("/dev/null", os.O_RDWR)
                os.dup2(null, confine.INIT_FD)
                fd, jail_error = jail.serve_forks(theirs.detach())  # returns only in a spare
                os.write(report_w, ("%d|%s" % (fd, jail_error)).encode())
            finally:
                os._exit(0)
        theirs.close()
        os.close(report_w)
        try:
            try:
                pid, spare_sock = jail.request_spare(ours.fileno(), 4242, b"size=1048576")
            except OSError as e:
                self.skipTest("no user namespace for the spare's clone here: %s" % e)
            os.close(spare_sock)
            # One write from the spare (the server holds the pipe open too).
            fd, jail_error = os.read(report_r, 4096).decode().split("|", 1)
            # CLONE_PARENT: the spare is this process's child, not the server's.
            self.assertEqual(os.waitpid(pid, 0)[0], pid)
            self.assertGreaterEqual(int(fd), 0)
            self.assertRegex(jail_error, r"^id-map: sendmsg\(init, slot 4242\)")
        finally:
            os.close(report_r)
            ours.close()  # the server exits 0 when its zygote's end closes
            _, status = os.waitpid(server, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)


if __name__ == "__main__":
    unittest.main()
