"""The one framing module every channel of the runner uses."""
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


if __name__ == "__main__":
    unittest.main()
