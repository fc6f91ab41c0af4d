"""A session: one long-lived run child that serves calls in order and keeps
its globals, imports and functions between them.

The zygote forks it like a spare (its own pid and mount namespaces, /tmp, uid
slot, dropped privileges and the run filter), then forwards each call to it
over the private socket on fd 4: one frame {"limits": {...}} carrying the
call's [chan, stdout_w, stderr_w]. After each reply the session hands fds 1-3
back to /dev/null, kills whatever the call started, and tells the zygote
{"op": "done", "cpuTotalMs": F, "maxRssKb": K} so it can report the call's
exit. A CPU-limit signal, a kill or a crash ends the process; so does a call
that leaves a thread running (nothing may run between calls); the next call
of that session starts a fresh one.
"""
import os
import resource
import signal
import time
import types

import child_setup
import confine
import execute
import frames

PRIVATE_FD = child_setup.SPARE_FD


def serve(prep, spare_error, tier):
    """The session child's loop. Never returns."""
    code = execute.EXIT_INTERNAL
    pid = os.getpid()
    try:
        module = types.ModuleType("__main__")
        first = True
        while True:
            got = child_setup.wait_for_run()
            if got is None:
                code = execute.EXIT_NO_REQUEST  # closed, or the zygote is gone
                return
            fds, payload = got
            limits = _limits_of(payload)
            child_setup.adopt_call(prep, fds, limits, spare_error, first)
            execute.serve_call(limits, tier, module, {"sessionStarted": True} if first else {})
            if os.getpid() != pid:
                return  # a process the node forked finished its copy of the node
            if prep.session_calls_fork and _threads_left():
                # Python cannot stop a thread, and one left running would use
                # CPU (or fork) between calls with no limit on it: the
                # session ends here. Its reply is out; the next call starts
                # a fresh session and says sessionRestarted.
                code = execute.EXIT_OK
                return
            first = False
            _end_call(prep)
            _send_done()
    except BaseException:
        pass
    finally:
        os._exit(code)


THREAD_GRACE_S = 0.1


def _threads_left():
    """Whether a thread besides the caller still runs, after a short grace
    for those that are about to finish."""
    deadline = time.monotonic() + THREAD_GRACE_S
    while True:
        # "Cannot tell" (None) counts as a thread left: the session ends
        # rather than let one run unchecked.
        alone = confine.single_threaded() is True
        if alone or time.monotonic() >= deadline:
            return not alone
        time.sleep(0.005)


def _limits_of(payload):
    try:
        limits = frames.decode_json(payload).get("limits")
    except (ValueError, AttributeError):
        return {}
    return limits if isinstance(limits, dict) else {}


def _end_call(prep):
    """Nothing of a call but its in-process state outlives it: its stdio goes
    back to /dev/null (EOF for the supervisor) and its processes die."""
    for fd in (1, 2, execute.CHAN_FD):
        try:
            os.dup2(0, fd)  # fd 0 is /dev/null for the whole session
        except OSError:
            pass
    _kill_leftovers(prep)


def _kill_leftovers(prep):
    contained = prep.profile.per_run_namespaces or prep.profile.landlock_fs
    if contained and prep.session_calls_fork:
        # kill(-1) reaches every process the caller may signal, never the
        # caller: as pid 1 of its own pid namespace, every other process in
        # it; under a Landlock domain that scopes signals, exactly the
        # processes started inside the session's own domain, wherever they
        # moved (the warm interpreter, other runs and the host are outside).
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    elif not contained:
        # bypass: the processes of our own process group (setsid made it
        # ours). A node that left the group is not contained here; bypass
        # contains nothing.
        me = os.getpid()
        try:
            names = os.listdir("/proc")
        except OSError:
            names = []
        for name in names:
            if not name.isdigit() or int(name) == me:
                continue
            try:
                if os.getpgid(int(name)) == me:
                    os.kill(int(name), signal.SIGKILL)
                    os.waitpid(int(name), 0)  # ours when we forked it
            except OSError:
                pass
    # (The reduced tier without signal scoping has nothing to kill: its
    # calls start no process, RLIMIT_NPROC 0.)
    # Reap them (orphans of the call are ours too as the namespace's init;
    # in the reduced tier they go to the zygote, a subreaper). In bypass a
    # child outside our group may still run: do not wait for it.
    flags = 0 if contained else os.WNOHANG
    while True:
        try:
            if os.waitpid(-1, flags)[0] == 0:
                break
        except ChildProcessError:
            break
        except InterruptedError:
            continue


def _send_done():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    frames.write_frame(PRIVATE_FD, frames.encode_json({
        "op": "done",
        "cpuTotalMs": round((ru.ru_utime + ru.ru_stime) * 1000.0, 3),
        "maxRssKb": ru.ru_maxrss,
    }))
