"""``cupy.cuda.runtime`` in the fake: one GPU, CUDA 13.0, 16 GiB of "memory"."""

_TOTAL = 16 << 30


class CUDARuntimeError(RuntimeError):
    """CuPy's error for a failing CUDA runtime call (it subclasses RuntimeError there too)."""

    def __init__(self, status, *args):
        super().__init__(status, *args)
        self.status = status


def getDeviceCount():
    return 1


def getDevice():
    from . import _current
    return _current[0]


def setDevice(device):
    if device != 0:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    from . import _current
    _current[0] = device


def getDeviceProperties(device):
    """A dict like CuPy's (``name`` is bytes there as here)."""
    if device != 0:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": b"fake GPU (NumPy on the CPU)", "totalGlobalMem": _TOTAL,
            "major": 9, "minor": 0, "multiProcessorCount": 1, "maxThreadsPerBlock": 1024,
            "sharedMemPerBlock": 48 << 10, "warpSize": 32, "clockRate": 1}


def memGetInfo():
    """(free, total) bytes of the device."""
    return _TOTAL, _TOTAL


def runtimeGetVersion():
    return 13000


def driverGetVersion():
    return 13000


def deviceSynchronize():
    return None
