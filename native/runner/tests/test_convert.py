import base64
import collections
import datetime
import decimal
import enum
import json
import math
import unittest

import convert
from tests import optional

np = optional("numpy")
pd = optional("pandas")


def enc(v):
    return json.loads(convert.dumps(v))


class Plain(unittest.TestCase):
    def test_json_values_pass_through(self):
        v = {"a": [1, 2.5, "x", None, True, False], "b": {"c": ""}}
        self.assertEqual(enc(v), v)

    def test_compact_and_not_ascii_escaped(self):
        self.assertEqual(convert.dumps({"a": [1, "é"]}), '{"a":[1,"é"]}'.encode())

    def test_integers_beyond_the_javascript_range_become_decimal_strings(self):
        edge = 2 ** 53 - 1
        self.assertEqual(enc([2 ** 64, -2 ** 64, 10 ** 20, edge, -edge, edge + 1, -edge - 1]),
                         ["18446744073709551616", "-18446744073709551616", "100000000000000000000",
                          edge, -edge, str(edge + 1), str(-edge - 1)])
        self.assertEqual(enc({"id": 10 ** 20, "n": 3}), {"id": "100000000000000000000", "n": 3})

    def test_long_digit_runs_that_are_not_big_integers_keep_their_json(self):
        v = {"s": "12345678901234567890", "f": 0.30000000000000004, "i": 1234567890123456}
        self.assertEqual(enc(v), v)

    def test_nan_and_infinity_become_null(self):
        self.assertEqual(enc([math.nan, math.inf, -math.inf, 1.5]), [None, None, None, 1.5])

    def test_datetime_date_time(self):
        v = [datetime.datetime(2024, 1, 2, 3, 4, 5, 6), datetime.date(2024, 1, 2),
             datetime.time(3, 4), datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)]
        self.assertEqual(enc(v), ["2024-01-02T03:04:05.000006", "2024-01-02", "03:04:00",
                                  "2024-01-02T00:00:00+00:00"])

    def test_decimal(self):
        self.assertEqual(enc(decimal.Decimal("1.10")), "1.10")

    def test_set_frozenset_tuple(self):
        self.assertEqual(sorted(enc({3, 1})), [1, 3])
        self.assertEqual(enc(frozenset([2])), [2])
        self.assertEqual(enc((1, (2, 3))), [1, [2, 3]])

    def test_bytes(self):
        self.assertEqual(enc(b"\x00\xff"), base64.b64encode(b"\x00\xff").decode())
        self.assertEqual(enc(bytearray(b"ab")), "YWI=")

    def test_dict_keys_like_json_dumps(self):
        v = {1: "i", 2.5: "f", True: "t", None: "n", "s": "s"}
        self.assertEqual(enc(v), json.loads(json.dumps(v)))
        self.assertEqual(enc({False: 0}), {"false": 0})

    def test_bad_key(self):
        with self.assertRaises(TypeError) as cm:
            convert.dumps({"a": {(1, 2): 3}})
        self.assertIn("tuple", str(cm.exception))
        self.assertIn("result['a']", str(cm.exception))

    def test_subclasses(self):
        class Color(enum.IntEnum):
            RED = 1
        Point = collections.namedtuple("Point", "x y")
        v = [Color.RED, Point(1, 2), collections.OrderedDict(a=1)]
        self.assertEqual(enc(v), [1, [1, 2], {"a": 1}])

    def test_unknown_type_names_type_and_path(self):
        Foo = type("Foo", (), {"__module__": "__main__"})  # as if the node defined it
        with self.assertRaises(TypeError) as cm:
            convert.dumps({"a": [0, 1, 2, Foo()]})
        self.assertEqual(
            str(cm.exception),
            "result is not JSON-serialisable: Foo at result['a'][3]; convert it to a "
            "list, dict, str or number before returning")

    def test_top_level_path(self):
        with self.assertRaises(TypeError) as cm:
            convert.dumps(object())
        self.assertIn("object at result;", str(cm.exception))

    def test_timedelta_is_rejected(self):
        with self.assertRaises(TypeError) as cm:
            convert.dumps([datetime.timedelta(1)])
        self.assertIn("datetime.timedelta at result[0]", str(cm.exception))

    def test_depth_limit(self):
        ok = []
        cur = ok
        for _ in range(convert.MAX_DEPTH - 1):
            cur.append([])
            cur = cur[0]
        enc(ok)
        deep = [ok]
        with self.assertRaises(ValueError) as cm:
            convert.dumps(deep)
        self.assertIn("64", str(cm.exception))

    def test_fast_path_gives_the_converters_bytes(self):
        # dumps() tries json's encoder on the raw value first; whatever it
        # takes must encode exactly as the converter's output would.
        import collections
        import enum

        class Color(enum.IntEnum):
            RED = 1

        Point = collections.namedtuple("Point", "x y")
        values = [
            [{"id": i, "name": "n%d" % i, "amount": i * 1.5, "tags": ("a", "b")} for i in range(50)],
            {1: "int key", 2.5: "float key", True: "bool key", None: "none key"},
            collections.OrderedDict(b=1, a=[Point(1, 2)]),
            [Color.RED, 10 ** 30, -0.0, 1e300, "\u00e9\u4e2d"],
        ]
        for value in values:
            slow = json.dumps(convert.to_jsonable(value), allow_nan=False, ensure_ascii=False,
                              separators=(",", ":")).encode("utf-8")
            self.assertEqual(convert.dumps(value), slow, value)

    def test_depth_limit_holds_on_the_fast_path(self):
        # Plain lists, which json's encoder would take: exactly 64 levels
        # pass, 65 fail with the converter's message and path.
        ok = leaf = []
        for _ in range(63):
            leaf.append([])
            leaf = leaf[0]
        self.assertEqual(convert.dumps(ok), b"[" * 64 + b"]" * 64)
        leaf.append([])
        with self.assertRaises(ValueError) as cm:
            convert.dumps(ok)
        self.assertIn("nested more than 64 levels deep at result" + "[0]" * 64, str(cm.exception))

    def test_cycle_is_a_clear_error(self):
        a = []
        a.append(a)
        with self.assertRaises(ValueError) as cm:
            convert.dumps(a)
        self.assertIn("nested more than 64", str(cm.exception))

    def test_lone_surrogate_does_not_crash(self):
        self.assertEqual(enc("a\ud800b"), "a\ufffdb")

    def test_size_limit(self):
        data = convert.dumps("x" * 3 * 1024 * 1024)
        convert.check_size(data, 4 << 20)
        with self.assertRaises(convert.OutputLimitExceeded) as cm:
            convert.check_size(data, 1 << 20)
        self.assertEqual(str(cm.exception), "result is 3.0 MB, over the 1 MB limit (limits.resultBytes)")
        with self.assertRaises(convert.OutputLimitExceeded) as cm:
            convert.check_size(b"x" * 5000, 1000)
        self.assertEqual(str(cm.exception), "result is 5000 bytes, over the 1000 bytes limit (limits.resultBytes)")


@unittest.skipIf(np is None, "numpy is not importable")
class Numpy(unittest.TestCase):
    def test_scalars(self):
        self.assertEqual(enc([np.int64(3), np.float32(1.5), np.bool_(True), np.float64("nan")]),
                         [3, 1.5, True, None])

    def test_arrays(self):
        self.assertEqual(enc(np.arange(6).reshape(2, 3)), [[0, 1, 2], [3, 4, 5]])
        self.assertEqual(enc(np.array([1.0, np.nan, np.inf])), [1.0, None, None])
        self.assertEqual(enc(np.array(7)), 7)

    def test_datetime64(self):
        a = np.array(["2024-01-02", "NaT"], dtype="datetime64[ns]")
        out = enc(a)
        self.assertTrue(out[0].startswith("2024-01-02T00:00:00"))
        self.assertIsNone(out[1])

    def test_numpy_keys(self):
        self.assertEqual(enc({np.int64(1): 2}), {"1": 2})

    def test_object_array_path(self):
        with self.assertRaises(TypeError) as cm:
            convert.dumps({"a": np.array([1, object()], dtype=object)})
        self.assertIn("result['a'][1]", str(cm.exception))


@unittest.skipIf(pd is None, "pandas is not importable")
class Pandas(unittest.TestCase):
    def test_dataframe_records(self):
        df = pd.DataFrame({"a": [1, 2], "b": [0.5, float("nan")], "c": ["x", "y"]})
        self.assertEqual(enc(df), [{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "b": None, "c": "y"}])

    def test_series_and_timestamps(self):
        self.assertEqual(enc(pd.Series([1, 2])), [1, 2])
        self.assertEqual(enc(pd.Timestamp("2024-01-02")), "2024-01-02T00:00:00")
        self.assertEqual(enc([pd.NaT]), [None])
        self.assertEqual(enc(pd.DataFrame({"t": pd.to_datetime(["2024-01-02"])})),
                         [{"t": "2024-01-02T00:00:00"}])

    def test_int_column_names(self):
        self.assertEqual(enc(pd.DataFrame([[1, 2]])), [{"0": 1, "1": 2}])


if __name__ == "__main__":
    unittest.main()
