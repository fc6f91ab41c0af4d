"""Figures: matplotlib figures of a call come back as PNG in the reply meta.

The zygote cases use the interpreter's matplotlib (PYCAGE_TEST_EXTRA_PATH as
the bundle site) and are skipped without it."""
import base64
import json
import os
import shutil
import struct
import sys
import tempfile
import unittest

import execute
import figures
from tests import EXTRA_PATH, harness, optional

LIMITS = {"cpuMs": 20000, "memoryBytes": 1 << 30, "fileSizeBytes": 1 << 20,
          "processes": 64, "openFiles": 64, "tmpBytes": 16 << 20}
HAVE_MPL = bool(EXTRA_PATH) and optional("matplotlib") is not None
PNG = b"\x89PNG\r\n\x1a\n"


def png_size(b64):
    """(width, height) from a PNG's IHDR chunk."""
    data = base64.b64decode(b64, validate=True)
    assert data[:8] == PNG, data[:8]
    return struct.unpack(">II", data[16:24])


def plot(n, size=(2, 1), dpi=50):
    """Node code that opens n identical pyplot figures of size*dpi pixels."""
    return ("import matplotlib.pyplot as plt\n"
            "for i in range(%d):\n"
            "    plt.figure(figsize=%r, dpi=%d)\n"
            "    plt.plot([0, 1], [1, 0])\n" % (n, size, dpi))


class NoMatplotlib(unittest.TestCase):
    def test_collect_without_pyplot_imports_nothing(self):
        if "matplotlib.pyplot" in sys.modules:
            self.skipTest("pyplot was imported by another test in this process")
        figures.start_run()
        self.assertEqual(figures.collect(), ([], False))
        self.assertNotIn("matplotlib", sys.modules)

    def test_zygote_run_without_plots_has_no_figures_and_no_matplotlib(self):
        z = harness.Zygote(tier="bypass", env={"MPLBACKEND": "Agg"})
        try:
            r = z.run("import sys\nsorted(m for m in sys.modules if m.startswith('matplotlib'))",
                      limits=LIMITS)
            self.assertEqual((r.meta, r.value), ({"status": "ok"}, []))
        finally:
            z.close()


@unittest.skipUnless(HAVE_MPL, "matplotlib is not importable")
class InProcess(unittest.TestCase):
    """Caps and per-call reset, with the real matplotlib in this process."""

    @classmethod
    def setUpClass(cls):
        os.environ.setdefault("MPLBACKEND", "Agg")
        figures.install()

    def run_node(self, code):
        main = sys.modules.get("__main__")
        try:
            return execute.run_node(code, {})
        finally:
            sys.modules["__main__"] = main

    def setUp(self):
        figures.start_run()

    def test_count_cap_drops_the_rest(self):
        self.run_node(plot(figures.MAX_FIGURES + 3))
        figs, truncated = figures.collect()
        self.assertEqual((len(figs), truncated), (figures.MAX_FIGURES, True))
        self.assertEqual(self.run_node("import matplotlib.pyplot as plt\nplt.get_fignums()"), [])

    def test_byte_cap_drops_the_rest(self):
        self.run_node(plot(1))
        one, _ = figures.collect()
        size = len(base64.b64decode(one[0]["data"]))
        old = figures.MAX_PNG_BYTES
        figures.MAX_PNG_BYTES = 2 * size + size // 2   # room for two of them
        try:
            self.run_node(plot(4))
            figs, truncated = figures.collect()
        finally:
            figures.MAX_PNG_BYTES = old
        self.assertEqual((len(figs), truncated), (2, True))

    def test_next_call_starts_empty(self):
        self.run_node(plot(2))
        self.assertEqual(len(figures.collect()[0]), 2)
        figures.start_run()
        self.run_node("x = 1")
        self.assertEqual(figures.collect(), ([], False))

    def test_a_figure_that_cannot_draw_is_left_out(self):
        code = (plot(1) + "from matplotlib.artist import Artist\n"
                "class Broken(Artist):\n    def draw(self, renderer):\n        raise ValueError('broken artist')\n"
                "plt.figure().add_artist(Broken())\nplt.figure(figsize=(1, 1), dpi=20)\n")
        self.run_node(code)
        notes = []
        figs, truncated = figures.collect(notes.append)
        self.assertEqual((len(figs), truncated), (2, False))
        self.assertEqual(len(notes), 1)
        self.assertEqual(notes[0], "a figure could not be drawn and was left out: ValueError: broken artist")


@unittest.skipUnless(HAVE_MPL, "matplotlib is not importable")
class ZygoteFigures(unittest.TestCase):
    """Through the real zygote: pyplot preloaded (patched in the zygote) and
    not (patched by the import hook when the node imports it)."""
    PRELOAD = "matplotlib.pyplot"

    @classmethod
    def setUpClass(cls):
        cls.mplconfig = tempfile.mkdtemp(prefix="pycage-mpl-")
        cls.z = harness.Zygote(tier="bypass", env={
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": cls.mplconfig,
            "PYCAGE_SITE": EXTRA_PATH[0], "PYCAGE_PRELOAD": cls.PRELOAD})

    @classmethod
    def tearDownClass(cls):
        cls.z.close()
        shutil.rmtree(cls.mplconfig, ignore_errors=True)

    def run_code(self, code):
        return self.z.run(code, limits=LIMITS, timeout=60)

    def test_open_figures_come_back_in_number_order(self):
        code = ("import matplotlib.pyplot as plt\n"
                "plt.figure(2, figsize=(3, 1), dpi=50)\nplt.figure(1, figsize=(2, 1), dpi=50)\n"
                "plt.plot([1, 2])\n'done'")
        r = self.run_code(code)
        meta = dict(r.meta)
        figs = meta.pop("figures")
        self.assertEqual(meta, {"status": "ok"})
        self.assertEqual(json.loads(r.replies[1]), "done")
        self.assertEqual([f["type"] for f in figs], ["image/png"] * 2)
        self.assertEqual([png_size(f["data"]) for f in figs], [(100, 50), (150, 50)])

    def test_show_captures_and_closes(self):
        code = ("import matplotlib.pyplot as plt\n"
                "plt.figure(figsize=(2, 1), dpi=50)\nplt.plot([1, 2])\nplt.show()\n"
                "after_first = plt.get_fignums()\n"
                "plt.figure(figsize=(1, 1), dpi=50)\nplt.plot([2, 1])\nplt.show(block=False)\n"
                "result = [after_first, plt.get_fignums()]")
        r = self.run_code(code)
        self.assertEqual(json.loads(r.replies[1]), [[], []])
        self.assertEqual([png_size(f["data"]) for f in r.meta["figures"]], [(100, 50), (50, 50)])
        self.assertEqual(r.stderr, b"", "no 'non-interactive backend' warning")

    def test_figure_show_captures_that_figure(self):
        code = ("import matplotlib.pyplot as plt\n"
                "a = plt.figure(figsize=(1, 1), dpi=50)\nb = plt.figure(figsize=(2, 2), dpi=50)\n"
                "b.show()\nplt.get_fignums()")
        r = self.run_code(code)
        self.assertEqual(json.loads(r.replies[1]), [1])
        # b when shown, then a at the end of the call.
        self.assertEqual([png_size(f["data"]) for f in r.meta["figures"]], [(100, 100), (50, 50)])

    def test_figures_come_back_with_an_error(self):
        r = self.run_code(plot(1) + "raise RuntimeError('after plotting')")
        self.assertEqual(r.meta["error"]["type"], "RuntimeError")
        self.assertEqual(len(r.meta["figures"]), 1)

    def test_nothing_leaks_into_the_next_run(self):
        self.run_code(plot(2))
        r = self.run_code("import matplotlib.pyplot as plt\nplt.get_fignums()")
        self.assertEqual((r.meta, json.loads(r.replies[1])), ({"status": "ok"}, []))

    def test_count_cap_in_the_reply(self):
        r = self.run_code(plot(figures.MAX_FIGURES + 1, size=(1, 1), dpi=10))
        self.assertEqual(len(r.meta["figures"]), figures.MAX_FIGURES)
        self.assertIs(r.meta["figuresTruncated"], True)


class ZygoteFiguresImportedByTheNode(ZygoteFigures):
    PRELOAD = ""


if __name__ == "__main__":
    unittest.main()
