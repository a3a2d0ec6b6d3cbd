"""A CPython process whose frame chain lies (tests/integration/test_hostile.py), for 3.11 and newer:
    python corrupt_frames.py loop|unmapped|garbage SECONDS
spin() rewrites the `previous` link of its own interpreter frame through ctypes, then spins for
SECONDS and leaves with os._exit (returning would follow the broken link):
  loop      previous = the frame itself: the chain never ends
  unmapped  previous = an address below mmap_min_addr, never mapped
  garbage   previous = the bytes of a buffer filled with 0x41: every field of that "frame" is junk
The link is found by value (the caller's interpreter frame address among the first words of the
frame), so no layout of a particular version is assumed. Prints "corrupted=MODE word=N" once done.
"""
import ctypes
import os
import sys
import time

FRAME_OBJECT_F_FRAME = 24  # PyFrameObject: ob_refcnt, ob_type, f_back, then f_frame (3.11–3.14)
UNMAPPED = 0x1000  # below vm.mmap_min_addr (4096 at least), so never a mapping
WORDS_SCANNED = 16


def interpreter_frame(frame_object):
    return ctypes.c_uint64.from_address(id(frame_object) + FRAME_OBJECT_F_FRAME).value


def busy(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xFFFFFFFF
    return x


def spin(mode, seconds):
    own = interpreter_frame(sys._getframe())
    caller = interpreter_frame(sys._getframe(1))
    words = (ctypes.c_uint64 * WORDS_SCANNED).from_address(own)
    links = [i for i, word in enumerate(words) if word == caller]
    if len(links) != 1:
        print(f"previous link not found: {links}", flush=True)
        os._exit(3)
    junk = ctypes.create_string_buffer(b"\x41" * 4096)
    target = {"loop": own, "unmapped": UNMAPPED, "garbage": ctypes.addressof(junk)}[mode]
    words[links[0]] = target
    print(f"corrupted={mode} word={links[0]}", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        busy(20000)
    sys.stdout.flush()
    os._exit(0)


def main():
    spin(sys.argv[1], float(sys.argv[2]))


if __name__ == "__main__":
    main()
