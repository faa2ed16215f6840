"""Thread counts of the numeric libraries for serving: one thread per request, the requests in parallel.

A query multiplies a few query vectors with at most a few hundred candidate rows: too little
work to share between threads, and a server answers several requests at once. With the
libraries' defaults (a thread per core in OpenMP/OpenBLAS, FAISS's OpenMP pool) eight concurrent
clients start eight times as many threads as there are cores, which then wait for each other:
issue 14 measured 19 requests/s that way against 49 with one thread each.

Set before NumPy, FAISS or ONNX Runtime is imported (the pools size themselves at import);
a variable already set in the environment wins, so an operator can still choose.
"""

from __future__ import annotations

import os
import sys

#: The variables OpenMP, OpenBLAS, MKL, Accelerate and numexpr read their thread count from.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")


def limit_numeric_threads(threads: int = 1) -> dict[str, str]:
    """Give each numeric library ``threads`` threads unless the environment says otherwise; returns the values used.

    FAISS, when already imported, is told directly as well (its OpenMP pool may exist already).
    """
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    return {name: os.environ[name] for name in THREAD_VARIABLES}
