"""The trial jail (PYCAGE_TRIAL=1): the zygote proves its per-run jail
instead of serving it. The host's probe starts it (native/supervisor/
trial_jail.cc) before it settles on a tier."""
import os

import child_setup
import confine
from diag import log


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
