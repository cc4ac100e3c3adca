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
run, BLAS is held at one thread, so OpenBLAS's own threads never wake to compete with
ours for the cores (its workers spin for a while after each multi-threaded product; two
pools taking turns on two cores cost LeNet a third of its speed). Between regions the
pool's threads wait by spinning a little, without the GIL, before they sleep (see
SPIN_YIELDS). Each output element is still computed by one thread in a fixed order, so
a piece's results do not depend on the thread count except where an op adds the
pieces' partial sums (dW of a convolution by columns).

Small work runs in the calling thread (starting threads costs more than a small loop):
``work`` (elements touched) below PARALLEL_MIN_ELEMENTS, or a single piece. For loops and
products that are mostly multiply-adds, ``madds(count)`` gives their work in those units:
a vector instruction does MADDS_PER_ELEMENT multiply-adds of float32 in about the time a
loop moves one element (``madds(count, blas=True)``: BLAS_MADDS_PER_ELEMENT, for a Linear
layer's product).

The number of threads is Numba's default (the cores this process may use, or
NUMBA_NUM_THREADS when set); ``set_num_threads`` changes it.
"""
import contextlib
import os
import threading

import numba
import numpy as np

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
        if _STATE["pid"] == os.getpid():
            _STATE["pool"].shutdown()
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
    runs at one thread (also for a single range, so that OpenBLAS's workers stay asleep).
    An exception in any piece is raised here, after every piece has finished."""
    if len(ranges) <= 1:
        with one_blas_thread() if blas else contextlib.nullcontext():
            return [fn(*r) for r in ranges]
    if _STATE["pool"] is None or _STATE["pid"] != os.getpid():    # (none yet, or forked)
        _STATE["pool"] = _Pool(_STATE["threads"] - 1)
        _STATE["pid"] = os.getpid()
    with one_blas_thread() if blas else contextlib.nullcontext():
        return _STATE["pool"].run(fn, ranges)


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


# ----------------------------------------------------------------------------- the pool
# Between two parallel regions a worker waits by spinning, without the GIL, for about
# this many sched_yield calls (about 2 ms on the 2-core build host) before it sleeps on
# an Event; the calling thread waits for the pieces the same way. A sleeping thread is
# woken through the kernel, and on a virtual machine whose idle cores halt, each wake-up
# took tens of microseconds: an empty region of concurrent.futures' pool cost 80-130 us
# on the 2-core build host, more than ReLU takes on 1M numbers serially (about 100 us).
# OpenMP's threads (PyTorch's) wait the same way.
SPIN_YIELDS = 4000

if os.name == "posix" and not numba.config.DISABLE_JIT:
    _sched_yield = numba.types.ExternalFunction("sched_yield", numba.types.int32())

    @numba.njit(nogil=True, cache=True)
    def _spin(flags, k, value, changed, yields):
        """Wait, without the GIL, until flags[k] != value (changed) or == value (not
        changed), for at most ``yields`` calls of sched_yield; True if it happened. (The
        call in the loop makes LLVM read flags[k] afresh each time.)"""
        for _ in range(yields):
            if (flags[k] != value) == changed:
                return True
            _sched_yield()
        return False
else:                                   # no spinning: the Events do all the waiting
    def _spin(flags, k, value, changed, yields):
        return (flags[k] != value) == changed


class _Pool:
    """``workers`` threads, worker w running one piece per region. The protocol, all on
    int64 counters (a region's number):

        caller:    tasks[w] = (fn, range); posted[w] += 1; wake[w].set()
                   if worker w spins: wait until started[w] == posted[w]   (GIL released,
                       so the worker takes it at once instead of sleeping for it)
                   run its own piece; wait until finished[w] == posted[w]
        worker w:  wait until posted[w] changes; started[w] = posted[w];
                   results[w] = fn(*range) (or the exception); finished[w] = posted[w];
                   done[w].set()

    Each wait spins (``_spin``) for SPIN_YIELDS yields, then sleeps on the Event the other
    side sets after writing its counter. The GIL orders tasks and results: a side reads
    them only after the counter moved and it took the GIL the other side released."""

    def __init__(self, workers):
        self.posted, self.started, self.finished, self.spinning = (
            np.zeros(workers, dtype=np.int64) for _ in range(4))
        self.tasks = [None] * workers
        self.results = [None] * workers
        self.wake = [threading.Event() for _ in range(workers)]
        self.done = [threading.Event() for _ in range(workers)]
        self.threads = [threading.Thread(target=self._work, args=(w,), daemon=True,
                                         name=f"minicnn-{w}") for w in range(workers)]
        for t in self.threads:
            t.start()

    def run(self, fn, ranges):
        """fn(*ranges[0]) in the calling thread, fn(*ranges[1 + w]) in worker w; the
        results in order. A piece's exception is raised after every piece has finished."""
        if len(ranges) - 1 > len(self.tasks):
            raise ValueError(f"threads.run: {len(ranges)} ranges for a pool of "
                             f"{len(self.tasks) + 1} threads")
        busy = range(len(ranges) - 1)
        for w in busy:
            self.done[w].clear()
            self.tasks[w] = (fn, ranges[1 + w])
            self.posted[w] += 1
            self.wake[w].set()
        for w in busy:
            if self.spinning[w]:
                _spin(self.started, w, self.posted[w], False, SPIN_YIELDS)
        try:
            first = fn(*ranges[0])
        finally:
            for w in busy:                  # no piece outlives the call
                if not _spin(self.finished, w, self.posted[w], False, SPIN_YIELDS):
                    while self.finished[w] != self.posted[w]:
                        self.done[w].wait()
                        self.done[w].clear()
            results = [self.results[w] for w in busy]
            for w in busy:
                self.results[w] = None      # (the pool keeps no piece's arrays)
        out = [first]
        for ok, value in results:
            if not ok:
                raise value
            out.append(value)
        return out

    def _work(self, w):
        seen = 0
        while True:
            self.spinning[w] = 1
            if not _spin(self.posted, w, seen, True, SPIN_YIELDS):
                self.spinning[w] = 0
                while self.posted[w] == seen:
                    self.wake[w].wait()
                    self.wake[w].clear()
            seen = self.posted[w]
            self.started[w] = seen
            task, self.tasks[w] = self.tasks[w], None
            if task is None:                # shutdown()
                return
            fn, r = task
            try:
                self.results[w] = (True, fn(*r))
            except BaseException as error:  # raised by run(), in the calling thread
                self.results[w] = (False, error)
            self.finished[w] = seen
            self.done[w].set()

    def shutdown(self):
        """Stop the workers (after the pieces they run)."""
        for w in range(len(self.tasks)):
            self.tasks[w] = None
            self.posted[w] += 1
            self.wake[w].set()
        for t in self.threads:
            t.join()
