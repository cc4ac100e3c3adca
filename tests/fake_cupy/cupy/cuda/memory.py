"""``cupy.cuda.memory`` in the fake: the out-of-memory error CuPy raises (a MemoryError)."""


class OutOfMemoryError(MemoryError):
    """Raised by CuPy when an allocation fails (``OutOfMemoryError(size, total, limit)``)."""

    def __init__(self, size=0, total=0, limit=0):
        super().__init__(f"Out of memory allocating {size:,} bytes "
                         f"(allocated so far: {total:,} bytes, limit set to: {limit:,} bytes).")
