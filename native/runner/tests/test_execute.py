import errno
import sys
import unittest

import errors
import execute


def run(code, inputs=None):
    main = sys.modules.get("__main__")
    try:
        return execute.run_node(code, inputs or {})
    finally:
        sys.modules["__main__"] = main


def fail(code, inputs=None, limits=None):
    try:
        run(code, inputs)
    except BaseException as e:
        return errors.error_info(e, limits or {})
    raise AssertionError("no exception")


class Semantics(unittest.TestCase):
    def test_result_variable(self):
        self.assertEqual(run("result = 41 + 1\n'ignored'"), 42)

    def test_last_expression(self):
        self.assertEqual(run("x = 2\nx * 21"), 42)

    def test_neither_is_none(self):
        self.assertIsNone(run("x = 1"))
        self.assertIsNone(run(""))
        self.assertIsNone(run("def f():\n    return 1"))

    def test_inputs_are_globals(self):
        self.assertEqual(run('getOrders["data"][1]', {"getOrders": {"data": [1, 2]}}), 2)

    def test_input_named_result_is_not_the_result(self):
        self.assertEqual(run("x = result + 1\nx", {"result": 1}), 2)
        self.assertIsNone(run("x = 1", {"result": 1}))

    def test_input_named_result_reassigned_to_same_object(self):
        # Small ints are shared objects: only the static check can see this.
        self.assertEqual(run("result = 5\n'last'", {"result": 5}), 5)
        self.assertEqual(run("result = result\n'last'", {"result": [1]}), [1])

    def test_result_assigned_other_ways(self):
        self.assertEqual(run("for result in range(3):\n    pass\n'last'"), 2)
        self.assertEqual(run("def f():\n    global result\n    result = 7\nf()\n'x'", {"result": 1}), 7)
        self.assertEqual(run("globals()['result'] = 9\n'x'"), 9)
        self.assertEqual(run("(result := 3)\n'x'", {"result": 3}), 3)

    def test_function_local_result_is_not_global(self):
        self.assertEqual(run("def f():\n    result = 1\n    return 2\nf()"), 2)

    def test_no_state_between_calls(self):
        run("leaked = 1")
        with self.assertRaises(NameError):
            run("leaked")

    def test_name_is_main_and_module_is_real(self):
        self.assertEqual(run("__name__"), "__main__")
        self.assertEqual(run("import sys\nsys.modules['__main__'].__dict__ is globals()"), True)

    def test_builtins_cannot_be_replaced_by_input(self):
        self.assertEqual(run("len([1])", {"__builtins__": 3}), 1)

    def test_future_import(self):
        self.assertEqual(run("from __future__ import annotations\ndef f(x: Undefined): pass\n1"), 1)


class Errors(unittest.TestCase):
    def test_syntax_error_line(self):
        e = fail("x = 1\ny = (\n")
        self.assertEqual(e["type"], "SyntaxError")
        self.assertEqual(e["line"], 2)
        self.assertIn('File "<node>", line 2', e["traceback"])
        self.assertNotIn("execute.py", e["traceback"])

    def test_runtime_error_line_inside_function(self):
        e = fail("def f(d):\n    return d['missing']\n\nf({})")
        self.assertEqual(e["type"], "KeyError")
        self.assertEqual(e["line"], 2)
        self.assertEqual(e["message"], "'missing'")
        tb = e["traceback"]
        self.assertTrue(tb.startswith("Traceback (most recent call last):\n"))
        self.assertIn('File "<node>", line 4, in <module>', tb)
        self.assertIn('File "<node>", line 2, in f', tb)
        self.assertIn("return d['missing']", tb)
        self.assertTrue(tb.rstrip().endswith("KeyError: 'missing'"))

    def test_traceback_has_no_runner_frames(self):
        e = fail("import json\njson.loads('{')")
        self.assertEqual(e["type"], "JSONDecodeError")
        self.assertEqual(e["line"], 2)
        for name in ("execute.py", "zygote.py", "json/", "decoder.py"):
            self.assertNotIn(name, e["traceback"])

    def test_custom_exception_with_broken_str(self):
        e = fail("class Bad(Exception):\n    def __str__(self):\n        raise ValueError\n"
                 "    def __repr__(self):\n        raise ValueError\nraise Bad()")
        self.assertEqual(e["type"], "Bad")
        self.assertIn("Bad", e["message"])
        self.assertEqual(e["line"], 6)

    def test_recursion_error_stays(self):
        e = fail("def f():\n    return f()\nf()")
        self.assertEqual(e["type"], "RecursionError")
        self.assertEqual(e["line"], 2)
        self.assertLess(len(e["traceback"]), 64 * 1024 + 100)

    def test_memory_error(self):
        e = fail("raise MemoryError()", limits={"memoryBytes": 512 << 20})
        self.assertEqual(e["type"], "MemoryLimitExceeded")
        self.assertIn("512 MB address-space limit", e["message"])

    def test_efbig(self):
        e = fail("import errno, os\nraise OSError(errno.EFBIG, 'File too large')",
                 limits={"fileSizeBytes": 1 << 20})
        self.assertEqual(e["type"], "OutputLimitExceeded")
        self.assertEqual(e["message"], "a file written by the node exceeded the 1 MB file-size limit")

    def test_fork_eagain(self):
        code = ("import errno\ndef fork():\n    raise BlockingIOError(errno.EAGAIN, "
                "'Resource temporarily unavailable')\nfork()")
        e = fail(code, limits={"processes": 5})
        self.assertEqual(e["type"], "ProcessLimitExceeded")
        self.assertIn("5 processes", e["message"])

    def test_fork_eagain_in_the_reduced_tier_says_the_limit_is_shared(self):
        import child_setup
        code = ("import errno\ndef fork():\n    raise BlockingIOError(errno.EAGAIN, "
                "'Resource temporarily unavailable')\nfork()")
        saved = child_setup.PROCESSES_BASE
        child_setup.PROCESSES_BASE = 41
        try:
            e = fail(code, limits={"processes": 5})
        finally:
            child_setup.PROCESSES_BASE = saved
        self.assertEqual(e["type"], "ProcessLimitExceeded")
        self.assertIn("5 processes", e["message"])
        self.assertIn("share one uid", e["message"])
        self.assertNotIn("share one uid", fail(code, limits={"processes": 5})["message"])

    def test_plain_eagain_is_not_a_process_limit(self):
        e = fail("import errno\ndef read():\n    raise BlockingIOError(errno.EAGAIN, 'x')\nread()")
        self.assertEqual(e["type"], "BlockingIOError")

    def test_thread_limit(self):
        e = fail("raise RuntimeError(\"can't start new thread\")")
        self.assertEqual(e["type"], "ProcessLimitExceeded")

    def test_chained_exception_frames_are_filtered(self):
        e = fail("try:\n    1/0\nexcept Exception as x:\n    raise ValueError('v') from x")
        self.assertIn("ZeroDivisionError", e["traceback"])
        self.assertIn("The above exception was the direct cause", e["traceback"])
        self.assertEqual(e["line"], 4)

    def test_traceback_truncated(self):
        e = fail("raise ValueError('x' * 200000)")
        self.assertLessEqual(len(e["traceback"].encode()), 64 * 1024)
        self.assertLessEqual(len(e["message"].encode()), 64 * 1024)
        self.assertTrue(e["traceback"].rstrip().endswith("x"))

    def test_errno_constant(self):
        self.assertEqual(errno.EFBIG, 27)


if __name__ == "__main__":
    unittest.main()
