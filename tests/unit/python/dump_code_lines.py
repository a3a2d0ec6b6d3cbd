"""Dumps, for every code object of some sources, the line table and the interpreter's own answer.

Usage: python3 dump_code_lines.py <samples.py> <work dir> <output.json>

The answer comes from the interpreter, never from a re-implementation: co_lines() on 3.10+,
dis.findlinestarts() on 3.8/3.9, and on every version PyCode_Addr2Line() called through ctypes for
each code unit. Runs (and reports its version) on older interpreters too; the test decides what to
check. Kept to syntax that 3.6 still parses.
"""
import ctypes
import dis
import importlib.util
import json
import os
import sys

# Standard-library modules added to the samples for breadth.
STDLIB_MODULES = ["dis", "inspect", "argparse", "json.decoder", "email.message",
                  "asyncio.base_events", "collections"]

# Appended to the samples: line jumps beyond one table entry (>127, >255, and >65535 lines, which
# needs 3-byte varints in 3.11+), forwards and backwards.
BLANK = "\n" * 300
HUGE_BLANK = "\n" * 70000
LONG_SOURCE = (
    "\n\ndef long_jumps(a):\n"
    "    x = a\n" + BLANK +
    "    y = (x +\n" + BLANK +
    "         1)\n"
    "    while x < 3:\n"
    "        x += 1\n" + BLANK +
    "        y -= 1\n"
    "    with contextlib.suppress(ValueError):\n"
    "        z = 1\n" + BLANK +
    "        z += 1\n"
    "    try:\n"
    "        z = z / y\n" + BLANK +
    "    finally:\n"
    "        z = None\n"
    "    return y\n"
    "\n\n@decorator\n" + BLANK +
    "def far_decorated(a, b):\n"
    "    return (a +\n" + HUGE_BLANK +
    "            b)\n"
)


def addr2line_function():
    function = ctypes.pythonapi.PyCode_Addr2Line
    function.argtypes = [ctypes.py_object, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def expected_ranges(code):
    if sys.version_info >= (3, 10):
        return [list(item) for item in code.co_lines()]
    starts = list(dis.findlinestarts(code))
    ranges = []
    for index, (start, line) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(code.co_code)
        ranges.append([start, end, line])
    return ranges


def describe(code, addr2line):
    no_line = sys.version_info >= (3, 10)
    table = code.co_linetable if no_line else code.co_lnotab
    lines = []
    for offset in range(0, len(code.co_code), 2):
        line = addr2line(code, offset)
        lines.append(None if no_line and line == -1 else line)
    # The first instruction not yet executed: f_lasti -1 (bytes ≤ 3.9, code units after).
    negative = addr2line(code, -1 if sys.version_info < (3, 10) else -2)
    return {
        "name": getattr(code, "co_qualname", code.co_name),
        "filename": code.co_filename,
        "first_line": code.co_firstlineno,
        "table": table.hex(),
        "code_bytes": len(code.co_code),
        "expected": expected_ranges(code),
        "addr2line": lines,
        "addr2line_negative": negative,
    }


def walk(code, out, addr2line):
    out.append(describe(code, addr2line))
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            walk(const, out, addr2line)


def main():
    samples_path, work_dir, output_path = sys.argv[1:4]
    result = {"version": list(sys.version_info[:3]), "executable": sys.executable, "codes": None}
    if sys.version_info >= (3, 8):
        with open(samples_path) as f:
            source = f.read() + LONG_SOURCE
        # The compiled file is written out so that its line numbers point at real lines.
        full_path = os.path.join(work_dir, "samples_full.py")
        with open(full_path, "w") as f:
            f.write(source)
        sources = [(full_path, source)]
        for name in STDLIB_MODULES:
            origin = importlib.util.find_spec(name).origin
            with open(origin, encoding="utf-8") as f:
                sources.append((origin, f.read()))
        addr2line = addr2line_function()
        codes = []
        for path, text in sources:
            walk(compile(text, path, "exec", dont_inherit=True), codes, addr2line)
        result["codes"] = codes
    with open(output_path, "w") as f:
        json.dump(result, f)


main()
