"""The zygote's side of sessions: one long-lived child per session name
(session.py runs in it), its calls handed over one at a time, one more
queued, and its "done" frames checked, since that child runs a node's
code."""
import os
import selectors
import signal

import child_setup
from children import (Run, Session, SessionSocket, SESSION_FRAME_CAP, close_all, send_call,
                      sigkill)
from control import exit_report
import execute
import frames
from forking import tmp_options_of
import session


class SessionCalls:
    def __init__(self, zygote):
        self.z = zygote
        self.log = zygote.log
        self.by_name = {}

    def pids(self):
        return {s.pid for s in self.by_name.values()}

    def is_live(self, sess):
        return self.by_name.get(sess.name) is sess

    def start_call(self, run_id, name, limits, fds):
        if not isinstance(name, str) or not name:
            return self.z.setup_failed(run_id, "bad session name")
        sess = self.by_name.get(name)
        if sess is None:
            sess = self.fork_session(run_id, name, limits)
            if sess is None:
                return None
        if sess.call is not None:
            if sess.queued is not None:
                return self.z.setup_failed(run_id, "session %r already has a call waiting" % (name,))
            sess.queued = (run_id, limits, [os.dup(fd) for fd in fds])
            self.z.runs[run_id] = Run(run_id, sess.pid, sess.pidfd, sess.slot, sess)
            return None
        return self.hand_over(sess, run_id, limits, fds)

    def hand_over(self, sess, run_id, limits, fds):
        name = sess.name
        try:
            send_call(sess.sock, limits, fds)
        except OSError as e:
            # It died between calls: reap it and let the run start a new one.
            self.log("session %r: hand-over failed: %s" % (name, e))
            self.kill(sess)
            self.reap(sess)
            return self.start_call(run_id, name, limits, fds)
        sess.call = run_id
        # kill(run) then SIGKILLs the session's process: the session ends.
        self.z.runs[run_id] = Run(run_id, sess.pid, sess.pidfd, sess.slot, sess)
        return None

    def fork_session(self, run_id, name, limits):
        slot = self.z.take_slot_reaping()
        if slot is None:
            self.z.setup_failed(run_id, "no free uid slot for a new session")
            return None
        try:
            pid, pidfd, ours = self.z.forker.fork_into(slot, self.session_child, tmp_options_of(limits))
        except (OSError, child_setup.SetupError) as e:
            self.z.setup_failed(run_id, "session fork: %s" % e)
            return None
        sess = Session(name, pid, pidfd, slot, ours)
        self.by_name[name] = sess
        self.z.sel.register(pidfd, selectors.EVENT_READ, sess)
        self.z.sel.register(ours, selectors.EVENT_READ, SessionSocket(sess))
        return sess

    def session_child(self, ours, theirs, jail_error):
        code = execute.EXIT_INTERNAL
        try:
            ours.close()
            priv = theirs.detach()
            err = child_setup.setup_spare(self.z.prep, priv, jail_error)
            session.serve(self.z.prep, err, self.z.tier)  # never returns
        except BaseException:
            pass
        finally:
            os._exit(code)

    def on_frame(self, sess):
        """The session's private socket is readable: a "done" frame, or EOF.
        The session runs the node's code, so what it says is checked."""
        try:
            data = sess.sock.recv(SESSION_FRAME_CAP)
        except OSError:
            data = b""
        if not data:
            # Closed its end: it is exiting; the pidfd reports the rest.
            self.z.sel.unregister(sess.sock)
            return
        sess.buf += data
        while len(sess.buf) >= frames.HEADER:
            try:
                got = frames.split_frame(sess.buf, SESSION_FRAME_CAP) if sess.call is not None else False
            except frames.FrameError:
                got = False
            if got is False:
                self.log("session %r: unexpected data on its socket; killing it" % (sess.name,))
                return self.end(sess)
            if got is None:
                return None
            payload, size = got
            sess.buf = sess.buf[size:]
            try:
                msg = frames.decode_json(payload)
                total = float(msg["cpuTotalMs"])
                rss = int(msg["maxRssKb"])
                if msg.get("op") != "done":
                    raise ValueError("not a done frame")
            except (ValueError, KeyError, TypeError):
                self.log("session %r: malformed frame; killing it" % (sess.name,))
                return self.end(sess)
            run_id, sess.call = sess.call, None
            self.z.runs.pop(run_id, None)
            cpu = max(0.0, total - sess.cpu_base_ms)
            sess.cpu_base_ms = total
            self.z.send({"op": "exit", "id": run_id, "code": 0, "signal": None,
                         "cpuMs": round(cpu, 3), "maxRssKb": rss})
            if sess.queued is not None:
                run_id, limits, fds = sess.queued
                sess.queued = None
                try:
                    self.hand_over(sess, run_id, limits, fds)
                finally:
                    close_all(fds)
        return None

    def drop_queued(self, sess):
        """A waiting call was killed before it started: only it ends."""
        run_id, _, fds = sess.queued
        sess.queued = None
        close_all(fds)
        self.z.runs.pop(run_id, None)
        self.z.send({"op": "exit", "id": run_id, "code": None, "signal": signal.SIGKILL,
                     "cpuMs": 0.0, "maxRssKb": 0})

    def close_by_name(self, name):
        sess = self.by_name.get(name)
        if sess is not None:
            self.end(sess)

    def end(self, sess):
        """Kill and reap now, so a call that follows gets a new session."""
        self.kill(sess)
        self.on_exit(sess)

    def kill(self, sess):
        sigkill(sess.pidfd)
        self.z.forker.kill_leftovers(sess.pid)

    def reap(self, sess):
        """Wait for a dead (or killed) session; returns the exit report of
        its call in flight, or None."""
        self.by_name.pop(sess.name, None)
        for fileobj in (sess.pidfd, sess.sock):
            try:
                self.z.sel.unregister(fileobj)
            except (KeyError, ValueError):
                pass
        self.z.forker.kill_leftovers(sess.pid)
        _, status, ru = os.wait4(sess.pid, 0)
        self.z.forker.forget(sess.pid, self.z.known_pids)
        os.close(sess.pidfd)
        sess.sock.close()
        self.z.slots.give(sess.slot)
        if sess.call is None:
            return None
        self.z.runs.pop(sess.call, None)
        return exit_report(sess.call, status, ru, sess.cpu_base_ms)

    def on_exit(self, sess):
        report = self.reap(sess)
        if report is not None:
            try:
                self.z.send(report)
            except OSError as e:
                self.log("control: cannot send exit of run %r: %s" % (report["id"], e))
                self.z.shutdown(1)
        if sess.queued is not None:
            # The next call gets a fresh session (and its reply says so).
            run_id, limits, fds = sess.queued
            sess.queued = None
            self.z.runs.pop(run_id, None)
            try:
                self.start_call(run_id, sess.name, limits, fds)
            finally:
                close_all(fds)

    def close(self):
        """Shutdown: every session killed and reaped, its call and any queued
        call reported."""
        for sess in list(self.by_name.values()):
            self.kill(sess)
            report = self.reap(sess)
            try:
                if report is not None:
                    self.z.send(report)
                if sess.queued is not None:
                    self.drop_queued(sess)
            except OSError:
                pass
