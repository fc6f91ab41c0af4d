"""The one framing module every channel of the runner uses."""
import json
import os
import sys
import unittest

import frames


class Framing(unittest.TestCase):
    def test_frame_is_length_then_payload(self):
        self.assertEqual(frames.frame(b"abc"), b"\x03\x00\x00\x00abc")
        self.assertEqual(frames.frame(b""), b"\x00\x00\x00\x00")

    def test_split_frame_waits_for_a_whole_frame(self):
        data = frames.frame(b"hello") + frames.frame(b"x")
        for cut in range(0, 4 + 5):
            self.assertIsNone(frames.split_frame(data[:cut], 100), cut)
        self.assertEqual(frames.split_frame(data, 100), (b"hello", 9))
        self.assertEqual(frames.split_frame(bytearray(data[9:]), 100), (b"x", 5))

    def test_split_frame_refuses_a_length_over_the_cap_before_the_body_arrives(self):
        with self.assertRaises(frames.FrameError) as cm:
            frames.split_frame((1000).to_bytes(4, "little"), 999, "control frame")
        self.assertEqual(str(cm.exception), "control frame of 1000 bytes is over the 999 byte cap")
        self.assertEqual(frames.split_frame(frames.frame(b"a" * 999), 999), (b"a" * 999, 1003))



class ReadAndWriteFrames(unittest.TestCase):
    def pipe_with(self, *writes, close=True):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        for data in writes:
            os.write(w, data)
        if close:
            os.close(w)
        else:
            self.addCleanup(os.close, w)
        return r

    def test_two_frames_in_one_write_come_back_in_order(self):
        r = self.pipe_with(frames.frame(b'{"code":"1"}') + frames.frame(b"{}"))
        self.assertEqual(frames.read_frames(r, (100, 100)), [b'{"code":"1"}', b"{}"])

    def test_frames_split_across_writes_and_larger_than_a_read(self):
        big = b"x" * 200000
        data = frames.frame(b"meta") + frames.frame(big)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        pid = os.fork()
        if pid == 0:
            for i in range(0, len(data), 7001):
                os.write(w, data[i:i + 7001])
            os._exit(0)
        os.close(w)
        self.assertEqual(frames.read_frames(r, (100, 1 << 20), chunk=4096), [b"meta", big])
        os.waitpid(pid, 0)

    def test_eof_before_anything_is_none_and_in_a_frame_is_an_error(self):
        self.assertIsNone(frames.read_frames(self.pipe_with(), (10, 10)))
        with self.assertRaisesRegex(frames.FrameError, "middle of a frame"):
            frames.read_frames(self.pipe_with(frames.frame(b"meta")), (10, 10))
        with self.assertRaisesRegex(frames.FrameError, "middle of a frame"):
            frames.read_frames(self.pipe_with(frames.frame(b"meta")[:6]), (10, 10))

    def test_each_frame_has_its_own_cap_and_nothing_may_follow(self):
        with self.assertRaisesRegex(frames.FrameError, "over the 3 byte cap"):
            frames.read_frames(self.pipe_with(frames.frame(b"ab") + frames.frame(b"abcd")), (10, 3))
        with self.assertRaisesRegex(frames.FrameError, "2 unexpected bytes"):
            frames.read_frames(self.pipe_with(frames.frame(b"a") + frames.frame(b"b") + b"zz"), (10, 10))

    def test_write_frames_writes_both_frames_small_or_large(self):
        for second in (b"{}", b"y" * 70000):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                frames.write_frames(w, b"meta", second)
                os._exit(0)
            os.close(w)
            self.assertEqual(frames.read_frames(r, (10, 1 << 20)), [b"meta", second])
            os.close(r)
            os.waitpid(pid, 0)


if __name__ == "__main__":
    unittest.main()


class DecodeJson(unittest.TestCase):
    """decode_json takes json's C scanner when it can and is json.loads otherwise."""

    CASES = [b'{"a":[1,2.5,"x\\u00e9",null,true,{"b":false}],"n":-0.0}', b'[]', b'"s"', b'7',
             '{"code":"print(\'\u00e9\')"}'.encode(), b'{"big":' + b'1' * 400 + b'}', b'NaN',
             b'{"a":Infinity}', b'"\\ud800"']

    def test_the_same_values_as_json_loads(self):
        for data in self.CASES:
            with self.subTest(data=data[:40]):
                got, want = frames.decode_json(data), json.loads(data)
                if isinstance(want, float) and want != want:
                    self.assertNotEqual(got, got)  # NaN
                else:
                    self.assertEqual(repr(got), repr(want))
        self.assertEqual(frames.decode_json(bytearray(b'{"x":1}')), {"x": 1})
        self.assertEqual(frames.decode_json('{"x":1}'), {"x": 1})

    def test_whitespace_around_and_other_encodings_still_decode(self):
        self.assertEqual(frames.decode_json(b' {"x": 1} \n'), {"x": 1})
        self.assertEqual(frames.decode_json('{"x":[2]}'.encode("utf-16")), {"x": [2]})

    def test_what_json_loads_refuses_fails_with_its_error(self):
        for data in [b'', b'{"x":1} {"y":2}', b'{"x":', b'\xff\xfe{', b'{x:1}', b"{'x':1}"]:
            with self.subTest(data=data):
                with self.assertRaises(ValueError) as got:
                    frames.decode_json(data)
                with self.assertRaises(ValueError) as want:
                    json.loads(data)
                self.assertEqual((type(got.exception), str(got.exception)), (type(want.exception), str(want.exception)))


class EncodeText(unittest.TestCase):
    """encode_text is json.dumps(ensure_ascii=False, compact, allow_nan=…) from one C call."""

    def dumps(self, obj, allow_nan=True):
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan)

    def test_the_same_text_as_json_dumps(self):
        cycle_free = [1, -0.0, 2.5e300, "é\u2028\ud800", None, True, [], {}, {"a": [1, {"b": None}], 1: "int key",
                      2.5: "float key", None: "none key", False: "bool key"}, (1, 2), "plain str", 10 ** 40,
                      [[[[["deep"]]]]], {"z": 1, "a": 2}]
        for obj in cycle_free:
            with self.subTest(obj=repr(obj)[:40]):
                self.assertEqual(frames.encode_text(obj), self.dumps(obj))
                self.assertEqual(frames.encode_text(obj, allow_nan=False), self.dumps(obj, allow_nan=False))
        self.assertEqual(frames.encode_text(float("nan")), "NaN")

    def test_the_same_errors_as_json_dumps(self):
        loop = []
        loop.append(loop)
        cases = [(object(), True), ({(1, 2): 3}, True), (float("inf"), False), ([float("nan")], False), (loop, True),
                 ({1, 2}, True), (b"bytes", True)]
        for obj, allow_nan in cases:
            with self.subTest(obj=type(obj).__name__):
                with self.assertRaises((TypeError, ValueError)) as got:
                    frames.encode_text(obj, allow_nan=allow_nan)
                with self.assertRaises((TypeError, ValueError)) as want:
                    self.dumps(obj, allow_nan=allow_nan)
                self.assertEqual((type(got.exception), str(got.exception)), (type(want.exception), str(want.exception)))

    def test_cpython_takes_the_one_call_path(self):
        if sys.implementation.name == "cpython":
            self.assertTrue(frames._C_ENCODER)

    def test_a_fresh_cycle_check_each_call(self):
        shared = [1]
        with self.assertRaises(TypeError):
            frames.encode_text([shared, object()])  # fails midway, with `shared` seen
        self.assertEqual(frames.encode_text([shared, shared]), "[[1],[1]]")
