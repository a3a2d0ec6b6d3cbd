"""numpy's matrix product on OpenBLAS, for tests/integration/test_native_unwind.py.

    python3.11 numpy_matmul.py SECONDS

multiply squares a 400x400 matrix again and again (numpy's matmul calls cblas_dgemm, whose
kernels run on this thread and on OpenBLAS's worker threads) for SECONDS of process CPU time, so
most samples are <module> -> main -> multiply -> [python3.11, numpy, OpenBLAS: C code].
"""
import sys
import time

import numpy as np


def multiply(a, seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        a = a @ a  # MATMUL
        a /= np.abs(a).max()
    return a


def main():
    a = np.random.default_rng(1).random((400, 400))
    multiply(a, float(sys.argv[1]))


main()
