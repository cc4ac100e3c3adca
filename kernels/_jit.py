"""``@kernel``: a loop function compiled once by Numba, serial, with the GIL released.

A kernel is written once, as plain loops; Numba compiles it (``njit(nogil=True,
cache=True)``) the first time it is called with a new set of argument types (so only for
the dtypes used) and keeps the machine code in its on-disk cache for later runs. Without
the GIL, several threads run one kernel at once on different pieces of a batch:
kernels/threads.py holds that one pool of threads, and kernels/ops.py says how each op's
work is cut into pieces.

(The kernels used to be compiled twice, once with Numba's ``parallel=True`` for large
arrays and once serial for small ones: a first ``minicnn train lenet`` then spent about
27 s compiling, mostly the parallel versions, and at run time Numba's threads and
OpenBLAS's took turns on the cores.)

With NUMBA_DISABLE_JIT=1 a kernel is the Python function itself (slow, debuggable).
"""
import numba


def helper(fn):
    """Decorator for a small loop function that kernels call (compiled once, inlined into
    each caller by LLVM; also plain Python under NUMBA_DISABLE_JIT=1)."""
    return numba.njit(cache=True, inline="always")(fn)


def kernel(fn=None, *, reassociate=False, fma=False):
    """Decorator: ``fn`` compiled by Numba, serial, without the GIL. ``@kernel(fma=True)``
    lets LLVM fuse ``a * b + c`` into one multiply-add instruction (FMA: one rounding
    instead of two), for loops made of multiply-adds; ``@kernel(reassociate=True)`` also
    lets it reorder float sums (and so vectorise a dot product's reduction into several
    partial sums), for kernels whose inner loop is a dot product. NaN and infinity still
    propagate either way."""
    if fn is None:
        return lambda f: kernel(f, reassociate=reassociate, fma=fma)
    fastmath = {"reassoc", "contract"} if reassociate else {"contract"} if fma else False
    return numba.njit(nogil=True, cache=True, fastmath=fastmath)(fn)


@helper
def unsigned(i):
    """``i`` as an unsigned 64-bit index. Numba checks every signed index for a negative
    value (Python's a[-1]) inside the loop, and LLVM then no longer vectorises a loop
    that indexes with computed offsets (``a[start + k]``); loops indexed with unsigned
    numbers (``for k in range(unsigned(n))``, ``a[unsigned(start) + k]``) skip it."""
    return numba.uint64(i)
