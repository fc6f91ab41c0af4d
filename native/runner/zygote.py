"""pycage zygote: a warm interpreter that forks one child per run.

Started as `python -I -S /pycage/runner/zygote.py` (pid 1 of the jail in the
full tier). Speaks the control protocol of native/PROTOCOL.md on fd 3.
Never writes to fd 1; diagnostics go to fd 2, one `pycage-zygote:` line each.
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
import collections  # noqa: E402
import datetime  # noqa: E402,F401
import decimal  # noqa: E402,F401
import gc  # noqa: E402
import importlib  # noqa: E402
import importlib.machinery  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402,F401
import select  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import traceback  # noqa: E402,F401

import child_setup  # noqa: E402
import confine  # noqa: E402
from children import (Run, Session, SessionSocket, Spare, SESSION_FRAME_CAP,  # noqa: E402
                      SPARE_FAILURE_LIMIT, close_all, send_call, sigkill)
from control import Control, exit_report  # noqa: E402
import convert  # noqa: E402
import errors  # noqa: E402
import execute  # noqa: E402
import figures  # noqa: E402
from fork_server import ForkServer  # noqa: E402
import frames  # noqa: E402
import learning  # noqa: E402
import profiles  # noqa: E402
import session  # noqa: E402
import restrictions  # noqa: E402

CONTROL_FD = 3
BPF_FD = 4


def log(msg):
    line = "pycage-zygote: %s\n" % str(msg).replace("\n", " ")
    try:
        frames.write_all(2, line.encode("utf-8", "replace"))
    except OSError:
        pass


def abi_tag():
    # ".cpython-311-x86_64-linux-gnu.so" -> "cpython-311-x86_64-linux-gnu", without sysconfig.
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        parts = suffix.split(".")
        if len(parts) == 3 and parts[2] == "so" and parts[1]:
            return parts[1]
    return sys.implementation.cache_tag or ""


def read_bpf(fd):
    """The run seccomp filter: a sealed memfd of raw struct sock_filter[]."""
    size = os.fstat(fd).st_size
    chunks = []
    off = 0
    while off < size:
        chunk = os.pread(fd, size - off, off)
        if not chunk:
            break
        chunks.append(chunk)
        off += len(chunk)
    os.close(fd)
    return b"".join(chunks)


def load_bundle(environ=os.environ, passthrough=()):
    """Make the bundle importable and import its preload modules, once.

    PYCAGE_SITE is the bundle's package tree (bound read-only); PYCAGE_PRELOAD
    lists its top-level modules (Temporal's passthrough modules): imported
    here, before any fork, every run shares them copy-on-write instead of
    paying their import. A module that fails to import is logged and left for
    the run to import (and fail) itself. `passthrough` (the operator's
    restrictions.passthroughModules) adds to the list; one that is simply not
    installed in this pool is skipped quietly (it is for every pool).
    """
    site = environ.get("PYCAGE_SITE", "")
    if site and site not in sys.path:
        sys.path.append(site)
    if site:
        _prepare_matplotlib(site, environ)
    loaded = []
    preload = list(filter(None, environ.get("PYCAGE_PRELOAD", "").split(",")))
    optional = [n for n in passthrough if n not in preload]
    for name in preload + optional:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ModuleNotFoundError as e:
            if name not in optional or e.name != name.partition(".")[0]:
                log("preload of %s failed: %s: %s" % (name, type(e).__name__, e))
        except BaseException as e:  # noqa: B036 - a module's import may raise anything, SystemExit included
            log("preload of %s failed: %s: %s" % (name, type(e).__name__, e))
    return loaded


def load_restrictions(environ=os.environ):
    """The operator's restrictions (PYCAGE_RESTRICTIONS), or the defaults."""
    try:
        return restrictions.from_environ(environ)
    except ValueError as e:
        # The host validates them first; if they still do not parse, keep the
        # default (network) restrictions rather than none.
        log("%s is not valid (%s); using the default restrictions" % (restrictions.ENV, e))
        return restrictions.parse("{}")


def _prepare_matplotlib(site, environ):
    # The installer built matplotlib's font cache into the bundle, but the
    # bundle is read-only and matplotlib wants a writable config dir (else it
    # warns and rebuilds the cache, ~250 ms). The zygote's own temporary
    # directory is writable (/tmp; the scratch directory in the reduced
    # tier): copy the cache there before matplotlib is imported.
    cache = os.path.join(site, ".pycage-mplconfig")
    if not os.path.isdir(cache):
        return
    target = environ.get("MPLCONFIGDIR") or os.path.join(environ.get("TMPDIR") or "/tmp", "pycage-mplconfig")
    try:
        os.makedirs(target, exist_ok=True)
        for entry in os.listdir(cache):
            source = os.path.join(cache, entry)
            if os.path.isfile(source):
                with open(source, "rb") as src, open(os.path.join(target, entry), "wb") as dst:
                    dst.write(src.read())
        os.environ["MPLCONFIGDIR"] = target
    except OSError as e:
        log("matplotlib font cache not copied: %s" % e)


def warm_up():
    """Pay the first-use costs (compile, ast, json, traceback, codecs) once."""
    main_mod = sys.modules.get("__main__")
    try:
        value = execute.run_node(
            "import math\nxs = [i * 2 for i in range(3)]\n"
            "def f(a):\n    return a['k']\n"
            "result = {'xs': xs, 'pi': math.pi, 'k': f(inp), 'b': b'x', 's': {1}}\n"
            "result\n", {"inp": {"k": 1.5}})
        convert.check_size(convert.dumps(value), 1 << 20)
        execute.run_node("x = 1\nx + 1\n", {"result": None})
        try:
            execute.run_node("def g():\n    return 1 / 0\ng()\n", {})
        except ZeroDivisionError as e:
            frames.encode_json(errors.error_info(e, {}))
        try:
            execute.run_node("x = (\n", {})
        except SyntaxError as e:
            frames.encode_json(errors.error_info(e, {}))
        try:
            convert.dumps(object())
        except TypeError:
            pass
        frames.encode_json({"s": "\ud800"})
        json.loads('{"a":[1,2.5,"x",null,true,{"b":false}]}')
    finally:
        sys.modules["__main__"] = main_mod


def release_free_heap():
    """glibc keeps the pages of freed heap chunks mapped, and every fork
    copies their page-table entries: give them back once, after the imports
    and before the first fork. About 0.9 MB of a stdlib zygote's 10 MB of
    anonymous memory (README, "Benchmark")."""
    try:
        confine.libc().malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to give back this way


class Zygote:
    def __init__(self, sock, prep, prefork=True, uid_count=1, tmp_bytes=16 << 20, spares=1):
        self.sock = sock
        self.ctl = Control(sock, log)
        self.prep = prep
        self.tier = prep.tier
        self.profile = prep.profile
        self.runs = {}
        self.sessions = {}
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ, None)
        # uid slots: with a multi-uid map (full tier) each child owns one of
        # 1..count-2 from its fork to its reap (count-1 is the zygote's own
        # uid); otherwise everyone is slot 0.
        self.multi_uid = self.profile.per_run_uid and uid_count > 2
        # FIFO: the slot freed longest ago is taken first, so a uid is not
        # reused the moment its previous run is reaped.
        self.free_slots = collections.deque(range(1, uid_count - 1) if self.multi_uid else ())
        # Spares ready ahead of runs, oldest (warmest) first. Two keep back-to-
        # back runs from waiting for the next spare's setup on a 2-core host.
        self.spare_target = max(1, spares) if prefork else 0
        self.spares = collections.deque()
        self.spare_failures = 0
        self.spare_tmp_opts = child_setup.tmp_options(tmp_bytes)
        # Full tier: spares come from the fork server (fork_server.py), so
        # the zygote's pages stay unshared with its runs; None: fork here.
        self.fork_server = None
        self.use_fork_server = prefork and isinstance(prep.run_jail, confine.RunJail) and \
            os.environ.get("PYCAGE_FORK_SERVER", "1") != "0"

    def take_slot(self):
        """A free uid slot, or None when there is none."""
        if not self.multi_uid:
            return 0
        if not self.free_slots:
            return None
        return self.free_slots.popleft()

    def give_slot(self, slot):
        if self.multi_uid and slot:
            self.free_slots.append(slot)

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
                   "abi": abi_tag(),
                   "tier": self.tier})
        if self.use_fork_server:
            self.start_fork_server()
        self.ensure_spare()
        while True:
            for key, _ in self.sel.select():
                if key.data is None:
                    if not self.on_control():
                        return self.shutdown()
                elif isinstance(key.data, Spare):
                    if key.data in self.spares:  # else: handed over or discarded
                        self.on_spare_exit(key.data)
                elif isinstance(key.data, Session):
                    if self.sessions.get(key.data.name) is key.data:
                        self.on_session_exit(key.data)
                elif isinstance(key.data, SessionSocket):
                    if self.sessions.get(key.data.session.name) is key.data.session:
                        self.on_session_frame(key.data.session)
                elif self.runs.get(key.data.id) is key.data:  # else: reaped already
                    self.on_exit(key.data)

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
            msg = json.loads(payload)
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
                self.drop_queued(run.session)
            else:
                self.kill(run)
        elif op == "closeSession":
            close_all(fds)
            sess = self.sessions.get(msg.get("session"))
            if sess is not None:
                self.end_session(sess)
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
        name = msg.get("session")
        if name is not None:
            try:
                self.start_session_call(run_id, name, limits, fds)
            finally:
                close_all(fds)
            return None
        try:
            if not self.hand_to_spare(run_id, limits, fds):
                self.start_on_demand(run_id, limits, fds)
        finally:
            close_all(fds)
        self.ensure_spare(from_run=True)

    def hand_to_spare(self, run_id, limits, fds):
        """Give the run to the oldest spare. False: no usable spare."""
        if not self.spares:
            return False
        spare = self.spares.popleft()
        if self.profile.per_run_namespaces and \
                child_setup.tmp_options(limits.get("tmpBytes")) != spare.tmp_opts:
            # Its /tmp has the wrong size and a remount is not allowed here.
            self.discard_spare(spare)
            return False
        try:
            send_call(spare.sock, limits, fds)
        except OSError as e:
            log("spare %d: hand-over failed: %s" % (spare.pid, e))
            self.discard_spare(spare)
            return False
        # The spare owns the fds now; our end of its socket is of no more use
        # (queued data and fds stay readable after we close it).
        spare.sock.close()
        self.spare_failures = 0
        run = Run(run_id, spare.pid, spare.pidfd, spare.slot)
        self.runs[run_id] = run
        self.sel.modify(spare.pidfd, selectors.EVENT_READ, run)
        return True

    # Sessions ---------------------------------------------------------------

    def start_session_call(self, run_id, name, limits, fds):
        if not isinstance(name, str) or not name:
            return self.setup_failed(run_id, "bad session name")
        sess = self.sessions.get(name)
        if sess is None:
            sess = self.fork_session(run_id, name, limits)
            if sess is None:
                return None
        if sess.call is not None:
            if sess.queued is not None:
                return self.setup_failed(run_id, "session %r already has a call waiting" % (name,))
            sess.queued = (run_id, limits, [os.dup(fd) for fd in fds])
            self.runs[run_id] = Run(run_id, sess.pid, sess.pidfd, sess.slot, sess)
            return None
        return self.hand_to_session(sess, run_id, limits, fds)

    def hand_to_session(self, sess, run_id, limits, fds):
        name = sess.name
        try:
            send_call(sess.sock, limits, fds)
        except OSError as e:
            # It died between calls: reap it and let the run start a new one.
            log("session %r: hand-over failed: %s" % (name, e))
            self.kill_session(sess)
            self.reap_session(sess)
            return self.start_session_call(run_id, name, limits, fds)
        sess.call = run_id
        # kill(run) then SIGKILLs the session's process: the session ends.
        self.runs[run_id] = Run(run_id, sess.pid, sess.pidfd, sess.slot, sess)
        return None

    def fork_session(self, run_id, name, limits):
        slot = self.take_slot_reaping()
        if slot is None:
            self.setup_failed(run_id, "no free uid slot for a new session")
            return None
        try:
            pid, pidfd, ours = self.fork_into(
                slot, lambda ours, theirs, jail_error: self.session_child(ours, theirs, jail_error),
                tmp_opts=child_setup.tmp_options(limits.get("tmpBytes")))
        except (OSError, child_setup.SetupError) as e:
            self.setup_failed(run_id, "session fork: %s" % e)
            return None
        sess = Session(name, pid, pidfd, slot, ours)
        self.sessions[name] = sess
        self.sel.register(pidfd, selectors.EVENT_READ, sess)
        self.sel.register(ours, selectors.EVENT_READ, SessionSocket(sess))
        return sess

    def session_child(self, ours, theirs, jail_error):
        code = execute.EXIT_INTERNAL
        try:
            ours.close()
            priv = theirs.detach()
            err = child_setup.setup_spare(self.prep, priv, jail_error)
            session.serve(self.prep, err, self.tier)  # never returns
        except BaseException:
            pass
        finally:
            os._exit(code)

    def on_session_frame(self, sess):
        """The session's private socket is readable: a "done" frame, or EOF.
        The session runs the node's code, so what it says is checked."""
        try:
            data = sess.sock.recv(SESSION_FRAME_CAP)
        except OSError:
            data = b""
        if not data:
            # Closed its end: it is exiting; the pidfd reports the rest.
            self.sel.unregister(sess.sock)
            return
        sess.buf += data
        while len(sess.buf) >= frames.HEADER:
            try:
                got = frames.split_frame(sess.buf, SESSION_FRAME_CAP) if sess.call is not None else False
            except frames.FrameError:
                got = False
            if got is False:
                log("session %r: unexpected data on its socket; killing it" % (sess.name,))
                return self.end_session(sess)
            if got is None:
                return None
            payload, size = got
            sess.buf = sess.buf[size:]
            try:
                msg = json.loads(payload)
                total = float(msg["cpuTotalMs"])
                rss = int(msg["maxRssKb"])
                if msg.get("op") != "done":
                    raise ValueError("not a done frame")
            except (ValueError, KeyError, TypeError):
                log("session %r: malformed frame; killing it" % (sess.name,))
                return self.end_session(sess)
            run_id, sess.call = sess.call, None
            self.runs.pop(run_id, None)
            cpu = max(0.0, total - sess.cpu_base_ms)
            sess.cpu_base_ms = total
            self.send({"op": "exit", "id": run_id, "code": 0, "signal": None,
                       "cpuMs": round(cpu, 3), "maxRssKb": rss})
            if sess.queued is not None:
                run_id, limits, fds = sess.queued
                sess.queued = None
                try:
                    self.hand_to_session(sess, run_id, limits, fds)
                finally:
                    close_all(fds)
        return None

    def drop_queued(self, sess):
        """A waiting call was killed before it started: only it ends."""
        run_id, _, fds = sess.queued
        sess.queued = None
        close_all(fds)
        self.runs.pop(run_id, None)
        self.send({"op": "exit", "id": run_id, "code": None, "signal": signal.SIGKILL,
                   "cpuMs": 0.0, "maxRssKb": 0})

    def end_session(self, sess):
        """Kill and reap now, so a call that follows gets a new session."""
        self.kill_session(sess)
        self.on_session_exit(sess)

    def kill_session(self, sess):
        sigkill(sess.pidfd)
        self.kill_leftovers(sess.pid)

    def reap_session(self, sess):
        """Wait for a dead (or killed) session; returns the exit report of
        its call in flight, or None."""
        self.sessions.pop(sess.name, None)
        for fileobj in (sess.pidfd, sess.sock):
            try:
                self.sel.unregister(fileobj)
            except (KeyError, ValueError):
                pass
        self.kill_leftovers(sess.pid)
        _, status, ru = os.wait4(sess.pid, 0)
        self.forget_child(sess.pid)
        os.close(sess.pidfd)
        sess.sock.close()
        self.give_slot(sess.slot)
        if sess.call is None:
            return None
        self.runs.pop(sess.call, None)
        return exit_report(sess.call, status, ru, sess.cpu_base_ms)

    def on_session_exit(self, sess):
        report = self.reap_session(sess)
        if report is not None:
            try:
                self.send(report)
            except OSError as e:
                log("control: cannot send exit of run %r: %s" % (report["id"], e))
                self.shutdown(1)
        if sess.queued is not None:
            # The next call gets a fresh session (and its reply says so).
            run_id, limits, fds = sess.queued
            sess.queued = None
            self.runs.pop(run_id, None)
            try:
                self.start_session_call(run_id, sess.name, limits, fds)
            finally:
                close_all(fds)

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
            log("fatal: pidfd_open(%d): %s" % (pid, e))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.shutdown(1)

    def forget_child(self, pid):
        """After a reap: what the child's jail left (the reduced tier's
        scratch directory) goes, and so do the zombies of its orphans."""
        forget = getattr(self.prep.run_jail, "forget", None)
        if forget is not None:
            forget(pid)
            self.reap_orphans()

    def reap_orphans(self):
        """Reduced tier: the zygote is a child subreaper (the helper's plan),
        so a run's orphans become its children once their parent died. Reap
        those it does not know; a known child is left to its pidfd."""
        known = {r.pid for r in self.runs.values()} | {s.pid for s in self.spares} | \
            {s.pid for s in self.sessions.values()}
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

    def take_slot_reaping(self):
        """A free uid slot, reaping first what has exited if none is free (a
        run that replied may not have been reaped yet); None if none."""
        slot = self.take_slot()
        if slot is None:
            self.reap_exited()
            slot = self.take_slot()
        return slot

    def fork_into(self, slot, child_main, with_socket=True, tmp_opts=None):
        """Fork a child for `slot` (its /tmp mounted with tmp_opts), with a
        private socketpair unless told not to. The child runs
        child_main(ours, theirs, jail_error), which never returns.
        Returns (pid, pidfd, our socket end or None); on failure the slot is
        given back, the sockets are closed and the error is raised."""
        ours = theirs = None
        try:
            if with_socket:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pid, jail_error = self.fork_child(slot, tmp_opts or self.spare_tmp_opts)
        except OSError:
            self.give_slot(slot)
            for end in (ours, theirs):
                if end is not None:
                    end.close()
            raise
        if pid == 0:
            child_main(ours, theirs, jail_error)  # never returns
        if theirs is not None:
            theirs.close()
        return pid, self.open_pidfd(pid), ours

    def start_on_demand(self, run_id, limits, fds):
        slot = self.take_slot_reaping()
        if slot is None:
            return self.setup_failed(run_id, "no free uid slot")
        try:
            pid, pidfd, _ = self.fork_into(slot, lambda _o, _t, jail_error: self.child(fds, limits, jail_error),
                                           with_socket=False,
                                           tmp_opts=child_setup.tmp_options(limits.get("tmpBytes")))
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

    def ensure_spare(self, from_run=False):
        """Fork spares up to the target (none with prefork off, or while
        spares keep dying). While a run is in flight only the first: a
        second spare's fork and warm-up would compete with that run for the
        CPU, so it waits until the zygote has nothing running."""
        while len(self.spares) < (self.spare_target if not self.runs else min(1, self.spare_target)):
            if self.spare_failures >= SPARE_FAILURE_LIMIT and not from_run:
                return
            if not self.fork_spare():
                return

    def start_fork_server(self):
        if len(os.listdir("/proc/self/task")) > 1:
            # A preloaded module started a thread: a copy of this process could
            # hold a lock that thread held, so spares keep failing as a raw
            # clone here does (fork_child), with the cause.
            return
        try:
            self.fork_server = ForkServer.start(self.prep.run_jail, self.prep.devnull, self.spare_main, log)
        except OSError as e:
            log("fork server: %s; the zygote forks its spares itself" % e)

    def stop_fork_server(self, why):
        log("fork server: %s; the zygote forks its spares itself" % why)
        self.fork_server.stop()
        self.fork_server = None

    def fork_from_server(self, slot):
        """(pid, pidfd, our socket) of a spare the fork server cloned; None
        when the server is gone (stopped, the caller forks itself)."""
        try:
            pid, ours = self.fork_server.fork(slot, self.spare_tmp_opts)
        except BrokenPipeError as e:
            self.stop_fork_server(e)
            return None
        except OSError:
            self.give_slot(slot)
            raise
        return pid, self.open_pidfd(pid), ours

    def fork_spare(self):
        """True when a spare was forked."""
        slot = self.take_slot()
        if slot is None:
            return False  # retried when a reap gives a slot back
        try:
            got = self.fork_from_server(slot) if self.fork_server is not None else None
            pid, pidfd, ours = got or self.fork_into(slot, self.spare_child)
        except (OSError, child_setup.SetupError) as e:
            log("spare: fork: %s" % e)
            self.spare_failures += 1
            return False
        spare = Spare(pid, pidfd, slot, ours, self.spare_tmp_opts)
        self.spares.append(spare)
        self.sel.register(pidfd, selectors.EVENT_READ, spare)
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
        try:
            err = child_setup.setup_spare(self.prep, priv, jail_error)
            # Warm only while nobody waits: when a run was handed over before
            # this spare got here, it is faster to serve it cold than to make
            # it wait for a warm-up.
            if err is None and not select.select([child_setup.SPARE_FD], [], [], 0)[0]:
                execute.warm(0)  # fd 0 is /dev/null (O_RDWR) here
                gc.collect()     # the warm-up's garbage, not the run's problem
            elif err is not None:
                log("spare: %s" % err)
            got = child_setup.wait_for_run()
            if got is None:
                code = execute.EXIT_NO_REQUEST
                return
            fds, payload = got
            try:
                limits = json.loads(payload).get("limits") or {}
            except (ValueError, AttributeError):
                limits = {}
            child_setup.adopt_run(self.prep, fds, limits, err)
            execute.serve(limits, self.tier)
        except BaseException:
            pass
        finally:
            os._exit(code)

    def discard_spare(self, spare):
        """Kill and reap a spare that will not get a run."""
        sigkill(spare.pidfd)
        self.reap_spare(spare)

    def reap_spare(self, spare):
        try:
            self.sel.unregister(spare.pidfd)
        except (KeyError, ValueError):
            pass
        self.kill_leftovers(spare.pid)
        # It was SIGKILLed or has exited: this wait is short.
        _, status = os.waitpid(spare.pid, 0)
        self.forget_child(spare.pid)
        os.close(spare.pidfd)
        spare.sock.close()
        self.give_slot(spare.slot)
        return status

    def on_spare_exit(self, spare):
        self.spares.remove(spare)
        status = self.reap_spare(spare)
        self.spare_failures += 1
        log("spare %d died before a run (status 0x%x); replacing it" % (spare.pid, status))
        self.ensure_spare()

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
        self.kill_leftovers(run.pid)

    def kill_leftovers(self, pid):
        """Without a per-run pid namespace a child's own processes would
        outlive it; setsid made its pid their process group id. The pid cannot
        be reused while unreaped, so this never hits a stranger."""
        if self.profile.per_run_namespaces:
            return  # the pid namespace dies with its pid 1
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass

    def reap(self, run, block=True):
        try:
            self.sel.unregister(run.pidfd)
        except (KeyError, ValueError):
            pass
        self.kill_leftovers(run.pid)
        _, status, ru = os.wait4(run.pid, 0)
        self.forget_child(run.pid)
        os.close(run.pidfd)
        self.runs.pop(run.id, None)
        self.give_slot(run.slot)
        return exit_report(run.id, status, ru)

    def on_exit(self, run, refill=True):
        report = self.reap(run)
        try:
            self.send(report)
        except OSError as e:
            log("control: cannot send exit of run %r: %s" % (run.id, e))
            self.shutdown(1)
        if refill and len(self.spares) < self.spare_target:
            self.ensure_spare()  # a slot came back, or the zygote is idle now

    def shutdown(self, code=0):
        if self.fork_server is not None:
            self.fork_server.stop()
        while self.spares:
            self.discard_spare(self.spares.popleft())
        for sess in list(self.sessions.values()):
            self.kill_session(sess)
            report = self.reap_session(sess)
            try:
                if report is not None:
                    self.send(report)
                if sess.queued is not None:
                    self.drop_queued(sess)
            except OSError:
                pass
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


def trial(prep, uid_count):
    """PYCAGE_TRIAL=1: prove the jail instead of serving it. Fork one run
    child through the same per-run plan a run gets, check it is confined,
    and exit 0; else log the failed step and exit 3. Nothing is imported
    from a bundle."""
    slot = 1 if prep.profile.per_run_uid and uid_count > 2 else 0
    try:
        if prep.run_jail is not None:
            pid = prep.run_jail.fork(slot, child_setup.tmp_options(1 << 20))
        else:
            pid = os.fork()
            if pid == 0:
                confine.no_new_privs()
    except confine.ConfineError as e:  # only ever raised in the child
        log("trial: %s" % e)
        os._exit(3)
    except OSError as e:
        log("trial: fork: %s" % e)
        return 3
    if pid == 0:
        if prep.profile.per_run_namespaces and os.getpid() != 1:
            log("trial: the run is pid %d, not pid 1 of its own pid namespace" % os.getpid())
            os._exit(3)
        if prep.profile.landlock_fs:
            problem = _reduced_leak()
            if problem:
                log("trial: %s" % problem)
                os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        log("trial: the run child ended with status 0x%x" % status)
        return 3
    log("trial ok")
    return 0


def _reduced_leak():
    """In a reduced-tier trial run: what its confinement fails to stop, or
    None. The kernel may accept Landlock and seccomp and still not enforce
    what the tier promises (an LSM list without landlock, say)."""
    import socket as _socket
    try:
        os.open(os.path.join(os.path.dirname(os.environ["TMPDIR"]), "escape"), os.O_CREAT | os.O_WRONLY, 0o600)
        return "landlock-filesystem: the run could write outside its scratch directory"
    except PermissionError:
        pass
    try:
        _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM).close()
        return "apply-seccomp: the run could open an AF_INET socket"
    except OSError:
        pass
    return None


def _env_int(name, default):
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def main():
    tier = os.environ.get("PYCAGE_TIER", "full")
    if tier not in profiles.PROFILES:
        log("fatal: PYCAGE_TIER=%r is not one of %s" % (tier, ", ".join(profiles.PROFILES)))
        return 2
    profile = profiles.profile_of(tier)
    try:
        bpf = read_bpf(BPF_FD) if profile.seccomp else None
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
    config = load_restrictions()
    load_bundle(passthrough=config["passthroughModules"])
    # What earlier runs of this bundle imported (the host's learned list),
    # still before restrictions, as library imports.
    learning.preload_learned(os.environ, _HERE, log, denied=restrictions.denies_module(config))
    # After every zygote import and before the warm-up and the first fork, so
    # runs inherit them and pay nothing to set them up.
    figures.install()
    figures.warm_up(log)
    restrictions.install(config)
    warm_up()
    # Frozen objects are never scanned by the collector, so a child's GC does
    # not dirty (and copy) the zygote's pages.
    gc.collect()
    gc.freeze()
    learning.remember_baseline(_HERE, enabled=os.environ.get("PYCAGE_LEARN") == "1")
    release_free_heap()
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
