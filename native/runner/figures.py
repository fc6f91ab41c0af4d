"""Matplotlib figures of a call, as PNG (README "Figures").

Figures that pyplot still has open when the call ends, and those passed to
plt.show() / Figure.show() during it, are rendered to PNG and closed, so
nothing carries over to the next call of a session. matplotlib is never
imported here: a run whose node did not import pyplot pays one dict lookup.
When pyplot is not loaded yet, a meta_path finder patches it as it loads.
"""
import base64
import io
import sys

MAX_FIGURES = 16              # per call; also the C++ cap
MAX_PNG_BYTES = 4 << 20       # all figures of a call together; also the C++ cap
PYPLOT = "matplotlib.pyplot"


class _Call:
    figures = []      # [{"type": "image/png", "data": base64}]
    png_bytes = 0
    truncated = False


def start_run():
    """Forget the previous call's figures (a session runs many calls)."""
    _Call.figures = []
    _Call.png_bytes = 0
    _Call.truncated = False


def _render(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _add(fig):
    """Render one figure into this call's list, within the caps."""
    if _Call.truncated:
        return  # past a cap: the rest is dropped, not rendered
    if len(_Call.figures) >= MAX_FIGURES:
        _Call.truncated = True
        return
    png = _render(fig)
    if _Call.png_bytes + len(png) > MAX_PNG_BYTES:
        _Call.truncated = True
        return
    _Call.png_bytes += len(png)
    _Call.figures.append({"type": "image/png", "data": base64.b64encode(png).decode("ascii")})


def _open_figures():
    """pyplot's open figures in figure-number order (Gcf keeps activation order)."""
    from matplotlib._pylab_helpers import Gcf
    managers = sorted(Gcf.get_all_fig_managers(), key=lambda m: m.num)
    return [m.canvas.figure for m in managers]


def _capture_open(on_error=None):
    plt = sys.modules[PYPLOT]
    try:
        for fig in _open_figures():
            if on_error is None:
                _add(fig)
                continue
            try:
                _add(fig)
            except Exception as e:  # a figure that cannot draw must not lose the others
                on_error(e)
    finally:
        plt.close("all")


def _show(*args, **kwargs):
    """plt.show(): capture every open figure and close them (Agg cannot show)."""
    _capture_open()


def _figure_show(self, *args, **kwargs):
    """Figure.show(): capture this figure and close it."""
    try:
        _add(self)
    finally:
        plt = sys.modules.get(PYPLOT)
        if plt is not None:
            plt.close(self)


def _patch(pyplot):
    if getattr(pyplot.show, "_pycage", False):
        return
    _show._pycage = True
    pyplot.show = _show
    figure_cls = sys.modules["matplotlib.figure"].Figure
    figure_cls.show = _figure_show


class _PatchingLoader:
    """Wraps pyplot's loader: patch show right after the module executes."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class PyplotWatcher:
    """A meta_path finder that only acts on matplotlib.pyplot."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != PYPLOT:
            return None
        for finder in sys.meta_path:
            if finder is cls or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def install():
    """In the zygote: patch pyplot now if it is loaded, else when it loads."""
    pyplot = sys.modules.get(PYPLOT)
    if pyplot is not None:
        _patch(pyplot)
    elif PyplotWatcher not in sys.meta_path:
        sys.meta_path.insert(0, PyplotWatcher)


def warm_up(log=None):
    """In the zygote, when pyplot is preloaded: draw and encode one throwaway
    plot, so the font objects, text layout caches and PNG encoder a plot
    needs are built once and shared copy-on-write, not rebuilt by every run
    (about half of a small plot node's time). Library code only, no node's."""
    pyplot = sys.modules.get(PYPLOT)
    if pyplot is None:
        return
    try:
        fig, ax = pyplot.subplots()
        ax.plot([0, 1, 2], [0, 1, 0], label="warm")
        ax.set_title("pycage 0123456789")
        ax.set_xlabel("x")
        ax.legend()
        _render(fig)
    except Exception as e:  # noqa: BLE001 - a failed warm-up only costs speed
        if log is not None:
            log("matplotlib warm-up failed: %s: %s" % (type(e).__name__, e))
    finally:
        try:
            pyplot.close("all")
        except Exception:  # noqa: BLE001
            pass


def collect(log=None):
    """End of a call: capture what is still open, close everything and return
    (figures, truncated). `log(text)` hears about figures that failed to draw."""
    if PYPLOT in sys.modules:
        def on_error(e):
            if log is not None:
                log("a figure could not be drawn and was left out: %s: %s"
                    % (type(e).__name__, e))
        _capture_open(on_error)
    figures, truncated = _Call.figures, _Call.truncated
    start_run()
    return figures, truncated
