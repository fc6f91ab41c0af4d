"""The zygote's diagnostics: one `pycage-zygote:` line each on fd 2, which
the supervisor turns into `log` events. Never fd 1: a run's stdout is its
own."""
import frames


def log(msg):
    line = "pycage-zygote: %s\n" % str(msg).replace("\n", " ")
    try:
        frames.write_all(2, line.encode("utf-8", "replace"))
    except OSError:
        pass
