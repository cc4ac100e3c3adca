"""One pool of threads for the numba backend: serial kernels on pieces of the batch.

Every kernel of this folder is a plain serial loop, compiled once by Numba with the GIL
released (kernels/_jit.py). kernels/ops.py makes an op parallel by cutting its batch
(or its rows) into one contiguous piece per thread and running the kernel, and the
matrix products that go with it, on each piece in its own thread:

    split(n, work)        contiguous (start, stop) pieces of range(n): one per thread, or
                          one in all when the work is small
    run(fn, ranges, blas) [fn(start, stop) for each range], each in its own thread (the
                          calling thread runs the first); blas: fn multiplies matrices

One pool, one parallel region per pass of a layer: while pieces that multiply matrices
run, BLAS is held at one thread, so OpenBLAS's own threads never wake to compete with ours for the cores (its
workers spin for a while after each multi-threaded product; two pools taking turns on
two cores cost LeNet a third of its speed). Each output element is still computed by
one thread in a fixed order, so a piece's results do not depend on the thread count
except where an op adds the pieces' partial sums (dW of a convolution by columns).

Small work runs in the calling thread (starting threads costs more than a small loop):
``work`` (elements touched) below PARALLEL_MIN_ELEMENTS, or a single piece. For loops and
products that are mostly multiply-adds, ``madds(count)`` gives their work in those units:
a vector instruction does MADDS_PER_ELEMENT multiply-adds of float32 in about the time a
loop moves one element (``madds(count, blas=True)``: BLAS_MADDS_PER_ELEMENT, for a Linear
layer's product).

The number of threads is Numba's default (the cores this process may use, or
NUMBA_NUM_THREADS when set); ``set_num_threads`` changes it.
"""
import concurrent.futures
import contextlib
import os

import numba

# Below this much work (elements an op touches) an op runs in the calling thread: each
# parallel region costs a thread wake-up and GIL hand-offs. LeNet training at batch 32,
# 2 threads, step median: 6.0-6.8 ms with 1 << 15, 3.8-5.4 ms with 1 << 18 (its ops then
# all run serial); batch 128 11.1-11.3 ms either way.
PARALLEL_MIN_ELEMENTS = 1 << 18
MADDS_PER_ELEMENT = 8
# A BLAS product does its multiply-adds faster than the loops do theirs (37-47 GMAC/s at
# one thread on LeNet's conv2 products, about 17 in the direct conv1 loops), and a Linear
# layer's product is over before a second thread's hand-off (about 85 us a region) pays:
# it goes to two threads only from 32 multiply-adds per element, 8M in all. LeNet at
# batch 128, 2 threads (Dense 400 -> 120 then serial), fresh processes, old / new step
# medians: training 7.24, 7.10, 7.48 / 6.90, 6.91, 7.19 ms.
BLAS_MADDS_PER_ELEMENT = 32

_STATE = {"threads": max(1, numba.config.NUMBA_NUM_THREADS), "pool": None, "pid": None,
          "blas": None}


def num_threads():
    """Threads the numba backend's ops use."""
    return _STATE["threads"]


def set_num_threads(n):
    """Use ``n`` threads (>= 1) from now on."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    if n != _STATE["threads"] and _STATE["pool"] is not None:
        _STATE["pool"].shutdown(wait=True)
        _STATE["pool"] = None
    _STATE["threads"] = n


def pieces(n, parts):
    """``parts`` contiguous (start, stop) ranges covering range(n), sizes within one (fewer
    when n < parts; none when n = 0)."""
    parts = max(1, min(parts, n))
    return [(k * n // parts, (k + 1) * n // parts) for k in range(parts)] if n else []


def split(n, work):
    """The pieces of range(n) an op runs side by side: one per thread when ``work`` (the
    elements it touches) is at least PARALLEL_MIN_ELEMENTS, else one piece."""
    return pieces(n, _STATE["threads"] if work >= PARALLEL_MIN_ELEMENTS else 1)


def madds(count, blas=False):
    """The work (in elements touched) of ``count`` multiply-adds, for split(); ``blas``:
    they are one BLAS product's (BLAS_MADDS_PER_ELEMENT of them per element)."""
    return count // (BLAS_MADDS_PER_ELEMENT if blas else MADDS_PER_ELEMENT)


def run(fn, ranges, blas=False):
    """[fn(start, stop) for (start, stop) in ranges], side by side in the pool's threads;
    the calling thread runs the first range itself. ``blas``: fn calls BLAS, which then
    runs at one thread (also for a single range, so that OpenBLAS's workers stay asleep)."""
    if len(ranges) <= 1:
        with one_blas_thread() if blas else contextlib.nullcontext():
            return [fn(*r) for r in ranges]
    if _STATE["pool"] is None or _STATE["pid"] != os.getpid():    # (none yet, or forked)
        _STATE["pool"] = concurrent.futures.ThreadPoolExecutor(
            _STATE["threads"] - 1, thread_name_prefix="minicnn")
        _STATE["pid"] = os.getpid()
    with one_blas_thread() if blas else contextlib.nullcontext():
        futures = [_STATE["pool"].submit(fn, *r) for r in ranges[1:]]
        try:
            first = fn(*ranges[0])
        finally:
            concurrent.futures.wait(futures)        # no piece outlives the call
        return [first] + [f.result() for f in futures]


def run_split(n, work, fn, blas=False):
    """run(fn, split(n, work), blas)."""
    return run(fn, split(n, work), blas)


@contextlib.contextmanager
def one_blas_thread():
    """BLAS at one thread for the block (the matrix products of the pieces run side by
    side, one per thread); the previous count after."""
    blas = _blas()
    if not blas:
        yield
        return
    before = [lib.get_num_threads() for lib in blas]
    for lib in blas:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, count in zip(blas, before):
            lib.set_num_threads(count)


def _blas():
    """threadpoolctl's controllers of the BLAS libraries loaded (found once)."""
    if _STATE["blas"] is None:
        import numpy  # noqa: F401  (loads NumPy's BLAS, so it is found)
        import threadpoolctl
        _STATE["blas"] = threadpoolctl.ThreadpoolController().select(
            user_api="blas").lib_controllers
    return _STATE["blas"]
