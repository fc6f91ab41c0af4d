"""Length-prefixed frames (u32 little-endian length, then the payload).

Raw fd I/O on purpose: the run child may only use the syscalls its seccomp
filter allows, and plain read/write are always among them.
"""
import json
import os

HEADER = 4


class FrameError(Exception):
    pass


def read_exact(fd, n):
    """Read exactly n bytes; b'' only on EOF before the first byte."""
    if n == 0:
        return b""
    chunks = []
    got = 0
    while got < n:
        try:
            chunk = os.read(fd, min(n - got, 1 << 20))
        except InterruptedError:
            continue
        if not chunk:
            if got == 0:
                return b""
            raise FrameError("channel closed in the middle of a frame")
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_frame(fd, cap):
    """Return the next frame's payload, or None on a clean EOF."""
    hdr = read_exact(fd, HEADER)
    if not hdr:
        return None
    n = int.from_bytes(hdr, "little")
    if n > cap:
        raise FrameError("frame of %d bytes is over the %d byte cap" % (n, cap))
    body = read_exact(fd, n)
    if len(body) != n:
        raise FrameError("channel closed in the middle of a frame")
    return body


def read_frames(fd, caps, chunk=1 << 16):
    """Read len(caps) frames in a row (the i-th at most caps[i] bytes) with
    as few reads as the sender's writes allow: the run's request comes in one
    write and nothing follows it on the channel, so reading ahead is safe.
    Returns the payloads, or None on a clean EOF before the first byte."""
    buf = bytearray()
    out = []
    while len(out) < len(caps):
        got = split_frame(buf, caps[len(out)])
        if got is not None:
            payload, size = got
            out.append(payload)
            del buf[:size]
            continue
        # Read at least the rest of the frame being assembled, once its size is known.
        want = chunk
        if len(buf) >= HEADER:
            want = max(chunk, HEADER + int.from_bytes(buf[:HEADER], "little") - len(buf))
        try:
            data = os.read(fd, min(want, 1 << 24))
        except InterruptedError:
            continue
        if not data:
            if not buf and not out:
                return None
            raise FrameError("channel closed in the middle of a frame")
        buf += data
    if buf:
        raise FrameError("%d unexpected bytes after the request" % len(buf))
    return out


def frame(payload):
    """One frame: the 4-byte little-endian length, then the payload."""
    return len(payload).to_bytes(HEADER, "little") + payload


def split_frame(buf, cap, what="frame"):
    """The first complete frame in `buf`: (payload, bytes it took), or None
    while `buf` does not hold one yet. FrameError when its length is over cap."""
    if len(buf) < HEADER:
        return None
    n = int.from_bytes(buf[:HEADER], "little")
    if n > cap:
        raise FrameError("%s of %d bytes is over the %d byte cap" % (what, n, cap))
    if len(buf) < HEADER + n:
        return None
    return bytes(buf[HEADER:HEADER + n]), HEADER + n


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


def write_frames(fd, first, second):
    """Two frames in one write when they are small, else without copying the
    large second payload."""
    head = frame(first) + len(second).to_bytes(HEADER, "little")
    if len(second) <= 65536:
        write_all(fd, head + second)
    else:
        write_all(fd, head)
        write_all(fd, second)


def write_frame(fd, payload):
    if len(payload) <= 65536:
        # One syscall for the common small frame.
        write_all(fd, frame(payload))
    else:
        # Avoid copying a large result just to prepend four bytes.
        write_all(fd, len(payload).to_bytes(HEADER, "little"))
        write_all(fd, payload)


def clean_text(s):
    """Replace lone surrogates so the text encodes as valid UTF-8."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# json's C scanner, called directly: json.loads runs four Python functions
# and two regular expressions around it, and every fresh fork copies the
# pages they touch (three decodes per run).
_scan_json = json.JSONDecoder().scan_once


def decode_json(data):
    """json.loads for the UTF-8 JSON of frames: one C call when the text is a
    single value with nothing around it (what our encoders write); anything
    else goes through json.loads, with its errors."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        value, end = _scan_json(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        pass
    return json.loads(data)


def _c_encoder_works():
    try:
        encode = json.encoder.c_make_encoder({}, None, json.encoder.encode_basestring, None, ":", ",",
                                             False, False, True)
        return "".join(encode([1, "\u00e9"], 0)) == '[1,"\u00e9"]'
    except Exception:  # noqa: BLE001 - another interpreter's internals: use json.dumps
        return False


_C_ENCODER = getattr(json.encoder, "c_make_encoder", None) is not None and _c_encoder_works()
_not_serializable = json.JSONEncoder().default  # the TypeError json.dumps raises


def encode_text(obj, allow_nan=True):
    """json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
    allow_nan=allow_nan): the same text and errors, from one call to json's C
    encoder (json.dumps runs four Python functions around it, in every fresh
    fork, twice per run)."""
    if not _C_ENCODER or isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan)
    encode = json.encoder.c_make_encoder({}, _not_serializable, json.encoder.encode_basestring, None,
                                         ":", ",", False, False, allow_nan)
    return "".join(encode(obj, 0))


def encode_json(obj):
    """Compact UTF-8 JSON for meta/control frames; never fails on surrogates."""
    text = encode_text(obj)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return clean_text(text).encode("utf-8")
