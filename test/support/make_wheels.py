"""Builds the synthetic test wheels into a directory: python3 make_wheels.py DIR

Each wheel is a py3-none-any wheel made with the standard library only, with a
proper *.dist-info (METADATA, WHEEL, top_level.txt, RECORD). Builds are
deterministic (fixed timestamps and permissions, sorted members) and each
wheel is written to a temporary name and renamed into place, so a test that
runs while another test rebuilds never reads half a file. Prints the wheel
file names, one per line.
"""

import base64
import hashlib
import os
import sys
import zipfile

GREET = 'def greet(name):\n    return "hello " + name\n'


def hello(version):
    return {
        "name": "pycage-hello",
        "version": version,
        "summary": "pycage test package: says hello",
        "files": {"pycage_hello.py": f'VERSION = "{version}"\n\n\n{GREET}'},
    }


WHEELS = [
    hello("1.0"),
    hello("2.0"),
    {
        "name": "pycage-needs-hello",
        "version": "1.0",
        "summary": "pycage test package: depends on pycage-hello>=2",
        "requires": ["pycage-hello>=2"],
        "files": {
            "pycage_needs_hello.py": (
                "import pycage_hello\n\n"
                "HELLO_VERSION = pycage_hello.VERSION\n\n\n"
                "def greet(name):\n"
                "    return pycage_hello.greet(name)\n"
            ),
        },
    },
    {
        "name": "pycage-pth",
        "version": "1.0",
        "summary": "pycage test package: ships a .pth file that runs code at interpreter start",
        "top_level": ["pycage_pth"],
        "files": {
            "pycage_pth.pth": 'import os; os.environ["PYCAGE_PTH_RAN"]="1"\n',
            "pycage_pth.py": 'import os\n\n\ndef pth_ran():\n    return os.environ.get("PYCAGE_PTH_RAN") == "1"\n',
        },
    },
    {
        "name": "pycage-zipslip",
        "version": "1.0",
        "summary": "pycage test package: a member path escapes the install directory",
        "top_level": ["pycage_zipslip"],
        "files": {
            "pycage_zipslip.py": 'VERSION = "1.0"\n',
            "../../pycage_zipslip_escaped.py": 'ESCAPED = True\n',
        },
    },
    {
        "name": "pycage-hog",
        "version": "1.0",
        "summary": "pycage test package: allocates 2 GiB at import",
        "files": {"pycage_hog.py": "HOG = bytearray(2 << 30)\n"},
    },
    {
        "name": "pycage-preload-probe",
        "version": "2.0",
        "summary": "pycage test package: at import, records its privileges, tries to raise them and patches the runner",
        "files": {"pycage_preload_probe.py": (
            "import errno\n"
            "import os\n"
            "import signal\n"
            "import sys\n\n\n"
            "def privileges():\n"
            "    try:\n"
            "        status = {}\n"
            "        with open('/proc/self/status') as f:\n"
            "            for line in f:\n"
            "                key, _, value = line.partition(':')\n"
            "                status[key] = value.strip()\n"
            "    except OSError:\n"
            "        return _privileges_without_proc()\n"
            "    return {'uid': os.getuid(), 'capEff': int(status['CapEff'], 16),\n"
            "            'capPrm': int(status['CapPrm'], 16), 'capBnd': int(status['CapBnd'], 16),\n"
            "            'seccompFilters': int(status.get('Seccomp_filters', '0')),\n"
            "            'noNewPrivs': status.get('NoNewPrivs') == '1'}\n\n\n"
            "def _privileges_without_proc():\n"
            "    # No /proc (the reduced tier): the same facts from capget and prctl.\n"
            "    import ctypes\n"
            "    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    header = (ctypes.c_uint32 * 2)(0x20080522, 0)\n"
            "    data = (ctypes.c_uint32 * 6)()\n"
            "    libc.capget(header, data)\n"
            "    bounding = sum(1 << cap for cap in range(64) if libc.prctl(23, cap, 0, 0, 0) == 1)\n"
            "    return {'uid': os.getuid(), 'capEff': data[0] | data[3] << 32, 'capPrm': data[1] | data[4] << 32,\n"
            "            'capBnd': bounding, 'seccompFilters': 1 if libc.prctl(21, 0, 0, 0, 0) == 2 else 0,\n"
            "            'noNewPrivs': libc.prctl(39, 0, 0, 0, 0) == 1}\n\n\n"
            "def _try(fn):\n"
            "    try:\n"
            "        fn()\n"
            "        return 'ALLOWED'\n"
            "    except OSError as e:\n"
            "        return errno.errorcode.get(e.errno, str(e.errno))\n\n\n"
            "def _write(path):\n"
            "    with open(path, 'ab') as f:\n"
            "        f.write(b'')\n\n\n"
            "def attempts():\n"
            "    # Raising privileges, and reaching what sets up later runs: the\n"
            "    # jail's init (pid 1 of the jail), the runner and the confine library.\n"
            "    here = os.path.dirname(sys.modules['child_setup'].__file__) if 'child_setup' in sys.modules else '/pycage/runner'\n"
            "    return {\n"
            "        'setuid0': _try(lambda: os.setuid(0)),\n"
            "        'setresuid0': _try(lambda: os.setresuid(0, 0, 0)),\n"
            "        'setgroups0': _try(lambda: os.setgroups([0])),\n"
            "        'killInit': _try(lambda: os.kill(1, signal.SIGKILL)),\n"
            "        'writeRunner': _try(lambda: _write(os.path.join(here, 'child_setup.py'))),\n"
            "        'writeConfineLib': _try(lambda: _write('/pycage/confine.so')),\n"
            "        'writeInitMap': _try(lambda: _write('/proc/1/uid_map')),\n"
            "    }\n\n\n"
            "AT_IMPORT = dict(privileges(), attempts=attempts())\n"
            "PATCHED = []\n"
            "# What a hostile wheel would do from the warm interpreter: skip the\n"
            "# per-run jail of every later run (a plain fork instead).\n"
            "_confine = sys.modules.get('confine')\n"
            "for _name in ('RunJail', 'ReducedRunJail'):\n"
            "    if _confine is not None and hasattr(_confine, _name):\n"
            "        getattr(_confine, _name).fork = lambda self, slot, tmp_options: os.fork()\n"
            "        PATCHED.append('confine.%s.fork' % _name)\n"
            "# The full tier's fork server clones spares in C: end it at its start, so\n"
            "# the zygote falls back to its own (patched) forks.\n"
            "def _no_fork_server(self, request_fd):\n"
            "    raise OSError(errno.EPERM, 'the fork server was patched away')\n\n\n"
            "if _confine is not None and hasattr(getattr(_confine, 'RunJail', None), 'serve_forks'):\n"
            "    _confine.RunJail.serve_forks = _no_fork_server\n"
            "    PATCHED.append('confine.RunJail.serve_forks')\n"
        )},
    },
    {
        "name": "pycage-lazy",
        "version": "1.0",
        "summary": "pycage test package: submodules a node imports lazily, some with side effects at import",
        "top_level": ["pycage_lazy"],
        "files": {
            "pycage_lazy/__init__.py": "VERSION = '1.0'\n",
            "pycage_lazy/heavy.py": "TABLE = [i * i for i in range(1000)]\n",
            # Each import below also works in a run (its failure is caught),
            # so runs report it; the warm interpreter's probe must refuse it.
            "pycage_lazy/threader.py": (
                "import threading, time\n"
                "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
            ),
            "pycage_lazy/netter.py": (
                "import socket\n"
                "try:\n"
                "    socket.create_connection(('127.0.0.1', 9), timeout=0.5).close()\n"
                "except OSError:\n"
                "    pass\n"
            ),
            "pycage_lazy/spawner.py": (
                "import subprocess, sys\n"
                "try:\n"
                "    subprocess.run([sys.executable, '-c', 'pass'], timeout=5)\n"
                "except (OSError, subprocess.SubprocessError):\n"
                "    pass\n"
            ),
            # Imports only where a run set the flag first: fails in the zygote.
            "pycage_lazy/flaky.py": "import builtins\nOK = builtins.PYCAGE_LAZY_FLAG\n",
        },
    },
    {
        "name": "pycage-broken",
        "version": "1.0",
        "summary": "pycage test package: refuses to import",
        "files": {"pycage_broken.py": 'raise RuntimeError("pycage_broken refuses to import")\n'},
    },
]

# 1980-01-01, the earliest time a zip entry can carry.
EPOCH = (1980, 1, 1, 0, 0, 0)


def record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def wheel_members(spec):
    dist = spec["name"].replace("-", "_")
    info = f"{dist}-{spec['version']}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {spec['name']}",
        f"Version: {spec['version']}",
        f"Summary: {spec['summary']}",
        "Requires-Python: >=3.8",
    ]
    metadata += [f"Requires-Dist: {req}" for req in spec.get("requires", [])]
    wheel = [
        "Wheel-Version: 1.0",
        "Generator: pycage test/support/make_wheels.py",
        "Root-Is-Purelib: true",
        "Tag: py3-none-any",
    ]
    top_level = spec.get("top_level") or sorted(
        {path.split("/")[0].removesuffix(".py") for path in spec["files"] if path.endswith(".py") and "/" not in path}
    )
    members = {path: text.encode("utf-8") for path, text in spec["files"].items()}
    members[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode("utf-8")
    members[f"{info}/WHEEL"] = ("\n".join(wheel) + "\n").encode("utf-8")
    members[f"{info}/top_level.txt"] = ("\n".join(top_level) + "\n").encode("utf-8")
    record = [f"{path},{record_hash(data)},{len(data)}" for path, data in sorted(members.items())]
    record.append(f"{info}/RECORD,,")
    members[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode("utf-8")
    # dist-info last, RECORD last of all, as wheel builders write them.
    order = sorted(members, key=lambda p: (p.startswith(info), p == f"{info}/RECORD", p))
    return [(path, members[path]) for path in order]


def build(spec, out_dir):
    filename = f"{spec['name'].replace('-', '_')}-{spec['version']}-py3-none-any.whl"
    final = os.path.join(out_dir, filename)
    temporary = f"{final}.tmp-{os.getpid()}"
    with zipfile.ZipFile(temporary, "w") as archive:
        for path, data in wheel_members(spec):
            entry = zipfile.ZipInfo(path, date_time=EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o100644 << 16
            archive.writestr(entry, data, compresslevel=9)
    os.replace(temporary, final)
    return filename


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_wheels.py DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    built = [build(spec, out_dir) for spec in WHEELS]
    # Wheels a previous version of this script made and this one no longer does.
    for name in os.listdir(out_dir):
        if name.endswith(".whl") and name not in built:
            os.remove(os.path.join(out_dir, name))
    print("\n".join(built))


if __name__ == "__main__":
    main()
