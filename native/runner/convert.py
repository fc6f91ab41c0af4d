"""Turn a node's result into JSON text (the rules in the README).

numpy and pandas are recognised by duck typing on type(x).__module__, so the
runner never imports them itself: a zygote without them stays small, and a
result can only hold their objects if the node imported them already.
"""
import base64
import datetime
import decimal
import math
import re

import frames

MAX_DEPTH = 64
# Integers beyond JavaScript's exact range (Number.MAX_SAFE_INTEGER) come
# back as decimal strings, so they keep their value.
MAX_SAFE_INT = 2 ** 53 - 1
_LONG_DIGITS = re.compile(r"\d{16,}")

_MIB = 1024 * 1024


class OutputLimitExceeded(Exception):
    """The encoded result is larger than the run's resultBytes."""


def _type_name(x):
    t = type(x)
    mod = getattr(t, "__module__", None) or ""
    name = getattr(t, "__name__", None) or "?"
    if mod in ("builtins", "__main__", ""):
        return name
    # "pandas.Timedelta", not "pandas._libs.tslibs.timedeltas.Timedelta".
    return "%s.%s" % (mod.split(".")[0], name)


def format_path(path):
    parts = ["result"]
    for key in path:
        if isinstance(key, int) and not isinstance(key, bool):
            parts.append("[%d]" % key)
        else:
            try:
                parts.append("[%r]" % (key,))
            except Exception:
                parts.append("[<key>]")
    return "".join(parts)


def _not_serialisable(x, path):
    return TypeError(
        "result is not JSON-serialisable: %s at %s; convert it to a list, dict, "
        "str or number before returning" % (_type_name(x), format_path(path)))


def _float(x):
    x = float(x)
    return None if (math.isnan(x) or math.isinf(x)) else x


def _key(k, path):
    """Dict keys follow json.dumps: str kept, int/float/bool/None stringified."""
    if isinstance(k, str):
        return str(k)
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    mod = type(k).__module__ or ""
    if mod.startswith("numpy") and hasattr(k, "item"):
        # numpy scalar keys (groupby/value_counts dicts) behave like their Python value.
        try:
            k = k.item()
        except Exception:
            raise _not_serialisable(k, path)
        if not isinstance(k, (str, int, float, bool, type(None))):
            raise TypeError("result has a dict key of type %s at %s; use str keys"
                            % (_type_name(k), format_path(path)))
        return _key(k, path)
    if isinstance(k, int):
        return int.__repr__(k)
    if isinstance(k, float):
        if math.isnan(k):
            return "NaN"
        if math.isinf(k):
            return "Infinity" if k > 0 else "-Infinity"
        return float.__repr__(k)
    raise TypeError("result has a dict key of type %s at %s; use str keys"
                    % (_type_name(k), format_path(path)))


class _Converter:
    __slots__ = ("path",)

    def __init__(self):
        self.path = []

    def conv(self, x, depth):
        # Fast paths first: most results are plain JSON already.
        t = type(x)
        if t is int:
            return x if -MAX_SAFE_INT <= x <= MAX_SAFE_INT else str(x)
        if t is str or t is bool or x is None:
            return x
        if t is float:
            return None if (x != x or x in (math.inf, -math.inf)) else x
        if t is dict or t is list or t is tuple:
            return self.container(x, depth)
        mod = getattr(t, "__module__", None) or ""
        if mod.startswith("numpy"):
            return self.numpy(x, depth)
        if mod.startswith("pandas"):
            return self.pandas(x, depth)
        # Subclasses of the builtin types (IntEnum, namedtuple, OrderedDict, np.float64...).
        if isinstance(x, bool):
            return bool(x)
        if isinstance(x, int):
            return self.conv(int(x), depth)
        if isinstance(x, float):
            return _float(x)
        if isinstance(x, str):
            return str(x)
        if isinstance(x, (dict, list, tuple, set, frozenset)):
            return self.container(x, depth)
        if isinstance(x, (datetime.datetime, datetime.date, datetime.time)):
            return x.isoformat()
        if isinstance(x, decimal.Decimal):
            return str(x)
        if isinstance(x, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(x)).decode("ascii")
        raise _not_serialisable(x, self.path)

    def container(self, x, depth):
        path = self.path
        if depth >= MAX_DEPTH:  # depth = containers around x
            raise ValueError("result is nested more than %d levels deep at %s "
                             "(or contains a reference cycle)"
                             % (MAX_DEPTH, format_path(path)))
        depth += 1
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                path.append(k)
                out[_key(k, path)] = self.conv(v, depth)
                path.pop()
            return out
        out = []
        append = out.append
        path.append(0)
        for i, v in enumerate(x):
            path[-1] = i
            append(self.conv(v, depth))
        path.pop()
        return out

    def numpy(self, x, depth):
        name = type(x).__name__
        if hasattr(x, "tolist") and hasattr(x, "dtype") and hasattr(x, "shape") \
                and getattr(x, "ndim", 0) >= 1:
            kind = getattr(x.dtype, "kind", "")
            if kind == "M":
                # tolist() would give raw integers for ns precision.
                flat = [None if str(v) == "NaT" else str(v) for v in x.ravel()]
                return self.reshape(flat, x.shape)
            return self.conv(x.tolist(), depth)
        if name == "datetime64":
            s = str(x)
            return None if s == "NaT" else s
        if hasattr(x, "item"):
            try:
                v = x.item()
            except Exception:
                raise _not_serialisable(x, self.path)
            if type(v) is type(x):  # item() gave nothing simpler: stop recursing
                raise _not_serialisable(x, self.path)
            return self.conv(v, depth)
        raise _not_serialisable(x, self.path)

    @staticmethod
    def reshape(flat, shape):
        if len(shape) <= 1:
            return flat
        step = len(flat) // shape[0] if shape[0] else 0
        return [_Converter.reshape(flat[i * step:(i + 1) * step], shape[1:])
                for i in range(shape[0])]

    def pandas(self, x, depth):
        name = type(x).__name__
        if name in ("NaTType", "NAType"):
            return None
        if name == "DataFrame" and hasattr(x, "to_dict"):
            return self.conv(x.to_dict(orient="records"), depth)
        if isinstance(x, datetime.datetime):  # Timestamp
            return x.isoformat()
        if hasattr(x, "tolist") and not isinstance(x, datetime.timedelta):
            # Series, Index, Categorical, extension arrays.
            return self.conv(x.tolist(), depth)
        raise _not_serialisable(x, self.path)


def to_jsonable(value):
    """Return a structure of dict/list/str/int/float/bool/None, or raise
    TypeError/ValueError naming the offending path."""
    return _Converter().conv(value, 0)


_CONTAINERS = (dict, list, tuple)


def _nested_deeper_than(value, limit):
    """True if containers nest more than `limit` levels (a reference cycle
    nests forever). Walks containers only, a level at a time."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        extend = below.extend
        for c in level:
            extend([x for x in (c.values() if isinstance(c, dict) else c) if isinstance(x, _CONTAINERS)])
        level = below
    return False


def _encode(value):
    return frames.encode_text(value, allow_nan=False)


def dumps(value):
    """Convert and encode a result: UTF-8 bytes of compact JSON.

    Most results are plain JSON already: json's C encoder takes them as they
    are, which is about twice as fast on a large result as converting first.
    Anything it refuses (NaN, numpy, pandas, dates, sets, bytes, a cycle) or
    that nests too deep goes through the converter, which gives the same JSON
    or the error that names the offending path."""
    text = None
    try:
        text = _encode(value)
    except (TypeError, ValueError, RecursionError):
        pass
    if text is not None and _LONG_DIGITS.search(text):
        text = None  # maybe an integer JavaScript cannot hold: the converter decides
    if text is None or _nested_deeper_than(value, MAX_DEPTH):
        text = _encode(to_jsonable(value))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return frames.clean_text(text).encode("utf-8")


def check_size(data, limit):
    if limit is not None and len(data) > limit:
        raise OutputLimitExceeded("result is %s, over the %s limit (limits.resultBytes)"
                                  % (human_bytes(len(data)), human_bytes(limit)))


def human_bytes(n):
    """'16 MB' for whole MiB, '1.5 MB' above one MiB, else '1000 bytes'."""
    v = n / _MIB
    if v >= 1:
        return ("%d MB" % v) if v == int(v) else ("%.1f MB" % v)
    return "%d bytes" % n
