"""Python frames above native frames without frame pointers, for bench/native_unwind.sh.

    python3.11 python_native_depth.py LIBRARY PYTHON_FRAMES NATIVE_FRAMES SECONDS

descend recurses until PYTHON_FRAMES Python frames are on the stack (<module>, main, descend
x PYTHON_FRAMES-3 and spin_natively), then calls, through ctypes, LIBRARY's native_recurse (workloads/
native_depth_lib.c), which recurses NATIVE_FRAMES deep and spins, again and again for SECONDS of
CPU time: <module> -> main -> descend ... -> [python3.11, _ctypes, libffi] -> native_recurse x
NATIVE_FRAMES -> spin.
"""
import ctypes
import sys
import time


def descend(levels, call):
    if levels > 1:
        return descend(levels - 1, call)
    return call()


def main():
    library, python_frames, native_frames, seconds = sys.argv[1:5]
    native_recurse = ctypes.CDLL(library).native_recurse
    native_recurse.argtypes = [ctypes.c_int]
    depth = int(native_frames)
    end = time.process_time() + float(seconds)

    def spin_natively():
        while time.process_time() < end:
            native_recurse(depth)

    descend(max(1, int(python_frames) - 3), spin_natively)


main()
