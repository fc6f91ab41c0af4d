"""pycage installer step: runs inside the installer jail (see PROTOCOL.md).

    python -I /pycage/runner/install.py /build/config.json

The config (written by js/installer.js) names the tool (pip or uv), the
target directory, the canonical requirements file and the operator's index.
This script runs the tool with --only-binary=:all:, compiles .pyc, lists the
installed distributions with their top-level modules, builds matplotlib's font
cache, and writes the result JSON. It never reads options from anywhere but
the config: the jail's environment is empty and pip's config files are off.
pip runs with -I -S and itself alone added to sys.path: the interpreter's
site-packages never reach it.

Exit status: 0 done; 1 the tool failed (its own output is on stderr);
2 this script failed (message on stderr).
"""
import compileall
import importlib.util
import json
import os
import re
import py_compile
import subprocess
import sys
import tempfile

MPL_CONFIG = ".pycage-mplconfig"
# Top-level names a wheel ships that are not meant to be imported by users.
NOT_MODULES = {"tests", "test", "testing", "docs", "doc", "examples", "benchmarks", "bin", "include", "share"}


def log(message):
    sys.stderr.write("pycage-install: %s\n" % message)
    sys.stderr.flush()


def shown_command(command):
    """The command as a person reads it: `-m pip` for the launcher."""
    if len(command) > 5 and command[3:5] == ["-c", PIP_MAIN]:
        return command[:3] + ["-m", "pip"] + command[6:] + ["(sys.path: the standard library and pip only)"]
    return command


def index_args_pip(index):
    args = []
    if index.get("url"):
        args += ["--index-url", index["url"]]
    for url in index.get("extraUrls") or []:
        args += ["--extra-index-url", url]
    for link in index.get("findLinks") or []:
        args += ["--find-links", link]
    for host in index.get("trustedHosts") or []:
        args += ["--trusted-host", host]
    if index.get("proxy"):
        args += ["--proxy", index["proxy"]]
    if index.get("caBundle"):
        args += ["--cert", index["caBundle"]]
    return args


def index_args_uv(index):
    args = []
    if index.get("url"):
        args += ["--index-url", index["url"]]
    for url in index.get("extraUrls") or []:
        args += ["--extra-index-url", url]
    for link in index.get("findLinks") or []:
        args += ["--find-links", link]
    for host in index.get("trustedHosts") or []:
        args += ["--allow-insecure-host", host]
    return args


# pip runs with -I -S: no site-packages at all, and only pip_only_dir()
# (which holds pip and nothing else) added to the standard library's path.
PIP_MAIN = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
            "runpy.run_module('pip', run_name='__main__', alter_sys=True)")


def pip_only_dir():
    """A fresh directory whose one entry links to this interpreter's pip.

    The interpreter's site-packages (Debian's dist-packages: numpy, scipy,
    yaml...) is none of the bundle's business; pip itself is the one thing
    of it the installer needs. pip vendors its own dependencies (Debian's
    pip too); one that a distribution debundled onto system packages does
    not start there, and pip_alone() says so."""
    spec = importlib.util.find_spec("pip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pip is not installed for %s; install it (apt-get install python3-pip) "
                           "or use installer: { tool: 'uv' }" % sys.executable)
    only = tempfile.mkdtemp(prefix="pip-only-")
    os.symlink(os.path.realpath(list(spec.submodule_search_locations)[0]), os.path.join(only, "pip"))
    return only


def pip_alone(config):
    """pip_only_dir() when pip starts from it alone, else None (logged)."""
    only = pip_only_dir()
    probe = subprocess.run([sys.executable, "-I", "-S", "-c", PIP_MAIN, only, "--version"],
                           env=tool_environment(config), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if probe.returncode == 0:
        return only
    why = (probe.stderr.decode("utf-8", "replace").strip().splitlines() or ["exit %d" % probe.returncode])[-1]
    log("WARNING: pip of %s does not start without the interpreter's site-packages (%s); it runs with "
        "them on its path. Use installer: { tool: 'uv' } or an interpreter whose pip vendors its "
        "dependencies to keep them out" % (sys.executable, why))
    return None


def tool_command(config, pip_dir=None):
    target = config["target"]
    requirements = config["requirements"]
    index = config.get("index") or {}
    if config["tool"] == "uv":
        command = [config["uv"], "pip", "install", "--target", target, "--python", sys.executable,
                   "--only-binary", ":all:", "--no-config", "--link-mode", "copy", "--no-progress",
                   "-r", requirements]
        command += ["--cache-dir", config["cache"]] if config.get("cache") else ["--no-cache"]
        return command + index_args_uv(index)
    # --target makes pip's resolver ignore what the interpreter has installed,
    # and pip does not even see it (pip_only_dir); --no-warn-conflicts stops
    # its last step, a check of the new packages against whatever else is on
    # its path.
    launcher = ["-I", "-S", "-c", PIP_MAIN, pip_dir] if pip_dir else ["-I", "-m", "pip"]
    command = [sys.executable] + launcher + ["install", "--target", target, "--only-binary=:all:",
               "--no-input", "--disable-pip-version-check", "--no-compile", "--no-warn-script-location",
               "--no-warn-conflicts",
               "--progress-bar", "off", "--report", config["report"], "-r", requirements]
    command += ["--cache-dir", config["cache"]] if config.get("cache") else ["--no-cache-dir"]
    return command + index_args_pip(index)


def tool_environment(config):
    env = {key: value for key, value in os.environ.items()
           if key in ("PATH", "HOME", "LANG", "SSL_CERT_FILE", "SSL_CERT_DIR", "TMPDIR")}
    # No configuration file may add an index or an option behind our back.
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INPUT"] = "1"
    env["PIP_ROOT_USER_ACTION"] = "ignore"
    env["UV_NO_CONFIG"] = "1"
    # The operator's proxy and CA (pip also gets them as options); nothing of
    # the host's own proxy settings reaches the installer.
    index = config.get("index") or {}
    if index.get("proxy"):
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env[name] = index["proxy"]
    if index.get("caBundle"):
        env["SSL_CERT_FILE"] = index["caBundle"]
    return env


def read_metadata(dist_info):
    name = version = None
    with open(os.path.join(dist_info, "METADATA"), encoding="utf-8", errors="replace") as f:
        for line in f:
            if line in ("\n", "\r\n"):
                break
            if line.startswith("Name:") and name is None:
                name = line[5:].strip()
            elif line.startswith("Version:") and version is None:
                version = line[8:].strip()
    return name, version


def top_level_modules(target, dist_info):
    """The importable top-level names a distribution installed."""
    names = set()
    top_level = os.path.join(dist_info, "top_level.txt")
    if os.path.isfile(top_level):
        with open(top_level, encoding="utf-8", errors="replace") as f:
            names.update(line.strip().replace("/", ".").split(".")[0] for line in f if line.strip())
    else:
        record = os.path.join(dist_info, "RECORD")
        if os.path.isfile(record):
            with open(record, encoding="utf-8", errors="replace") as f:
                for line in f:
                    path = line.rsplit(",", 2)[0]
                    first, _, rest = path.partition("/")
                    if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__"):
                        continue
                    if rest:
                        names.add(first)
                    elif first.endswith(".py"):
                        names.add(first[:-3])
                    elif first.endswith(".so"):
                        names.add(first.split(".")[0])
    return sorted(name for name in names if _is_user_module(target, name))


def _is_user_module(target, name):
    if not name.isidentifier() or name.startswith("_") or name in NOT_MODULES:
        return False
    if os.path.isdir(os.path.join(target, name)) or os.path.isfile(os.path.join(target, name + ".py")):
        return True
    prefix = name + "."
    return any(entry.startswith(prefix) and entry.endswith(".so") for entry in os.listdir(target))


def normalize(name):
    out = []
    dash = False
    for ch in name.lower():
        if ch in "-_.":
            dash = True
            continue
        if dash and out:
            out.append("-")
        dash = False
        out.append(ch)
    return "".join(out)


def list_distributions(target):
    dists = []
    for entry in sorted(os.listdir(target)):
        if not entry.endswith(".dist-info"):
            continue
        dist_info = os.path.join(target, entry)
        try:
            name, version = read_metadata(dist_info)
        except OSError:
            continue
        if not name or not version:
            continue
        dists.append({"name": name, "normalizedName": normalize(name), "version": version,
                      "topLevel": top_level_modules(target, dist_info)})
    return dists


def compile_tree(target):
    # Hash-based pycs that are never checked against the source: the tree is
    # read-only and immutable once published, and import keeps them valid
    # however the files' mtimes change on the way.
    compileall.compile_dir(target, quiet=2, workers=1,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def build_font_cache(target):
    if not os.path.isdir(os.path.join(target, "matplotlib")):
        return False
    config_dir = os.path.join(target, MPL_CONFIG)
    os.makedirs(config_dir, exist_ok=True)
    env = {"MPLCONFIGDIR": config_dir, "MPLBACKEND": "Agg", "HOME": "/tmp", "LANG": "C.UTF-8",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    code = "import sys; sys.path.insert(0, %r); import matplotlib.font_manager" % target
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], env=env, timeout=300, check=False)
    if done.returncode != 0:
        log("matplotlib font cache not built (exit %s); runs will build it" % done.returncode)
        return False
    return True


_URL_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@]+@")


def redact(text):
    """An index URL's credentials never reach a log line."""
    return _URL_USERINFO.sub(r"\1***@", text)


def main(argv):
    if len(argv) != 2:
        log("usage: install.py CONFIG.json")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        config = json.load(f)
    target = config["target"]
    os.makedirs(target, exist_ok=True)
    command = tool_command(config, pip_alone(config) if config["tool"] == "pip" else None)
    log("running %s" % redact(" ".join(shown_command(command))))
    done = subprocess.run(command, env=tool_environment(config), stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        log("%s failed with exit status %d" % (config["tool"], done.returncode))
        return 1
    compile_tree(target)
    fonts = build_font_cache(target)
    result = {"tool": config["tool"], "distributions": list_distributions(target), "fontCache": fonts}
    with open(config["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as e:  # noqa: BLE001 - one clear line for the host, not a traceback
        log("failed: %s: %s" % (type(e).__name__, redact(str(e))))
        sys.exit(2)
