"""``@kernel``: compile one loop function twice, multi-threaded and single-threaded.

A kernel is written once, as plain loops with ``prange`` over its independent outer
iterations. Numba compiles it

    .parallel   njit(parallel=True, cache=True): the prange loop is split across threads
    .serial     njit(cache=True): prange is an ordinary range

and calling the kernel picks one by the size of the work (and runs serial while the
machine is oversubscribed, see ``_oversubscribed``). Starting the threads of a
parallel region costs microseconds on an idle machine and milliseconds on a busy one
(measured: a 10-element ReLU took 0.9 us serial and 7.9 ms parallel while two other
jobs shared the two cores), so small arrays (gradient checks, tests, the Dense layers
of a small batch) run serial and only large ones (the convolutions of a batch) pay for
the threads.

Worker threads that wait for the next parallel region sleep instead of spinning
(OMP_WAIT_POLICY=PASSIVE, unless the environment already says otherwise): spinning
workers on a shared two-core machine turned that 70,000-element ReLU from 0.04 ms into
18 ms, and a test run's training loop from 25 s into 6 minutes.

With NUMBA_DISABLE_JIT=1 both are the Python function itself (slow, debuggable).
"""
import functools
import os
import time
import types

import numba
import numpy as np

PARALLEL_MIN_ELEMENTS = 1 << 16     # the largest array argument must be at least this big

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # read when the OpenMP pool starts

# Numba's threading layer: 'workqueue' (Numba's own simple pool) unless the user chose one.
# With the OpenMP layer, Numba's workers and OpenBLAS's (which spin between BLAS calls)
# fought over two cores: LeNet training at batch 128 ran at 1,035 img/s against 7,485
# with workqueue and 4,476 on the NumPy reference (benchmarks/bench_lenet.py --threads 2,
# quiet 2-core machine).
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


def _renamed(fn, suffix):
    """A copy of fn under another qualified name, so Numba's on-disk cache keeps the
    serial and parallel compilations of one function apart (it keys files by name)."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix,
                              fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__doc__ = fn.__doc__
    return copy


class Kernel:
    """A loop function compiled serial and parallel; calling it picks one by work size."""

    def __init__(self, fn, reassociate=False):
        self.py_func = fn
        # reassociate: let LLVM reorder float sums (and so vectorise a dot product's
        # reduction into several partial sums); NaN and infinity still propagate.
        fastmath = {"reassoc", "contract"} if reassociate else False
        self.parallel = numba.njit(parallel=True, cache=True, fastmath=fastmath)(fn)
        self.serial = numba.njit(cache=True, fastmath=fastmath)(_renamed(fn, "_serial"))
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        work = max((a.size for a in args if isinstance(a, np.ndarray)), default=0)
        if work >= PARALLEL_MIN_ELEMENTS and numba.get_num_threads() > 1 and not _oversubscribed():
            return self.parallel(*args)
        return self.serial(*args)


_LOAD_CHECK = [0.0, False]     # [time of the last look, the machine was oversubscribed]


def _oversubscribed():
    """True while the machine runs more threads than it has cores (1-minute load average
    above the core count; looked up at most once a second). Then the threads of a
    parallel region mostly wait for a time slice at the barrier: measured on the shared
    2-core build machine at load 11, a training loop ran 3x slower with two threads than
    with one. MINICNN_ALWAYS_PARALLEL=1 turns the look off (the benchmarks set it: they
    compare thread counts and must not fall back to serial kernels on a busy machine)."""
    if os.environ.get("MINICNN_ALWAYS_PARALLEL") == "1":
        return False
    now = time.monotonic()
    if now - _LOAD_CHECK[0] > 1.0:
        try:
            _LOAD_CHECK[1] = os.getloadavg()[0] > (os.cpu_count() or 1)
        except OSError:                               # no load average on this platform
            _LOAD_CHECK[1] = False
        _LOAD_CHECK[0] = now
    return _LOAD_CHECK[1]


def helper(fn):
    """Decorator for a small loop function that kernels call (compiled once, inlined into
    each caller by LLVM; also plain Python under NUMBA_DISABLE_JIT=1)."""
    return numba.njit(cache=True, inline="always")(fn)


def kernel(fn=None, *, reassociate=False):
    """Decorator: ``fn`` becomes a Kernel (see the module docstring). ``@kernel(reassociate=
    True)`` allows reordering float sums, for kernels whose inner loop is a dot product."""
    if fn is None:
        return lambda f: Kernel(f, reassociate)
    return Kernel(fn, reassociate)
