"""What the numba and cupy twins share: which dtypes go to the kernels, and how a batch is
cut into chunks whose im2col columns fit a memory bound. (Plain Python and NumPy: imports
neither numba nor cupy.)"""
import numpy as np

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def kernel_dtype(*arrays):
    """True when every given array (None ignored) is float32, or every one float64: the
    inputs a kernel was written for (anything else runs the reference math)."""
    dtypes = {a.dtype for a in arrays if a is not None}
    return len(dtypes) == 1 and dtypes.pop() in FLOATS


def chunks(n, bytes_per_sample, most_bytes):
    """(start, stop) of consecutive chunks of the n samples, of equal sizes (give or take
    one), each needing at most ``most_bytes`` (at least one sample a chunk; none if n = 0)."""
    if n == 0:
        return []
    most = max(1, most_bytes // max(bytes_per_sample, 1))
    count = -(-n // most)                                  # ceil(n / most) chunks
    bounds = [n * i // count for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))
