"""minicnn.kernels — the fast twins of the reference math.

This folder is installed as the sub-package ``minicnn.kernels`` (from a source
checkout, ``minicnn.backend.import_kernels`` loads it under that name). Each kernel
here has the same contract as a reference op in ``minicnn.functional`` and a test that
holds the two together (tests/test_kernels.py). The reference NumPy code is what runs
when no kernel is registered, or under ``mc.use_backend("numpy")``.

    conv.py         im2col / col2im over the whole batch ("rows" layout), rows <-> NCHW
                    with the bias folded in
    pool.py         max / average pooling forward and backward, direct window loops
    elementwise.py  ReLU, fused bias + activation, softmax cross-entropy
    ops.py          the numba backend's Function subclasses that call them
    batching.py     what both backends' twins share: the dtypes for kernels, batch chunks
    cuda/           the same ops in CUDA C (one .cu per op family, element bodies in .cuh
                    headers), for GPU arrays
    cuda_ops.py     the cupy backend's Function subclasses: launch cuda/ through CuPy
    cuda_host.py    the same CUDA source built for the CPU with g++, for the tests
    norm.py         batch normalisation forward and backward, two passes each way
    threads.py      the one pool of threads: an op's kernel on one piece of the batch per
                    thread, BLAS at one thread meanwhile
    _jit.py         ``@kernel``: each loop function compiled once, serial and without the
                    GIL, ``cache=True`` (then loaded from ``__pycache__`` or
                    $NUMBA_CACHE_DIR)

``NUMBA_DISABLE_JIT=1`` runs the same functions as plain Python loops, for debugging.
"""


def register_numba_kernels():
    """Register the numba backend's ops with minicnn.backend (imports numba)."""
    from ..backend import register_kernel
    from .ops import NUMBA_KERNELS
    for reference, fast in NUMBA_KERNELS.items():
        register_kernel("numba", reference, fast)


def register_cupy_kernels():
    """Register the CUDA twins (kernels/cuda_ops.py) for GPU arrays (imports nothing
    from CuPy until an op runs)."""
    from ..backend import register_kernel
    from .cuda_ops import CUPY_KERNELS
    for reference, fast in CUPY_KERNELS.items():
        register_kernel("cupy", reference, fast)
