"""Runner tests. PYCAGE_TEST_EXTRA_PATH (os.pathsep-separated) is appended to
sys.path so numpy/pandas cases can run under an interpreter started without
site-packages; they are skipped when those modules do not import."""
import os
import sys

EXTRA_PATH = [p for p in os.environ.get("PYCAGE_TEST_EXTRA_PATH", "").split(os.pathsep) if p]
for _p in EXTRA_PATH:
    if _p not in sys.path:
        sys.path.append(_p)

_RUNNER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _RUNNER not in sys.path:
    sys.path.insert(0, _RUNNER)


def optional(name):
    try:
        return __import__(name)
    except Exception:
        return None
