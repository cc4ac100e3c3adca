"""``cupy.cuda`` in the fake: one device (id 0), streams and events that do nothing but
keep time with ``time.perf_counter``; ``runtime`` answers like a machine with one GPU."""
import time

from . import memory, runtime  # noqa: F401

_current = [0]


class Device:
    """``cupy.cuda.Device(i)``: a context manager that makes GPU ``i`` current. The fake has
    device 0 only; CuPy raises CUDARuntimeError (cudaErrorInvalidDevice) for a missing one,
    and so does the fake when the device is used."""

    def __init__(self, device=None):
        self.id = _current[0] if device is None else int(device)
        self._previous = []

    def _check(self):
        if not 0 <= self.id < runtime.getDeviceCount():
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def __enter__(self):
        self._check()
        self._previous.append(_current[0])
        _current[0] = self.id
        return self

    def __exit__(self, *exc):
        _current[0] = self._previous.pop()
        return False

    def use(self):
        self._check()
        _current[0] = self.id

    def synchronize(self):
        self._check()

    @property
    def compute_capability(self):
        return "90"

    @property
    def mem_info(self):
        return runtime.memGetInfo()

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("cupy.cuda.Device", self.id))

    def __int__(self):
        return self.id

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    """A CUDA stream: work in the fake is done when it is issued, so ``synchronize`` returns."""

    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0

    def synchronize(self):
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return self


Stream.null = Stream(null=True)


def get_current_stream(device_id=None):
    return Stream.null


class Event:
    """A CUDA event: ``record()`` notes ``time.perf_counter()`` (the fake's work is synchronous)."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None
        self.disable_timing = disable_timing

    def record(self, stream=None):
        self.time = time.perf_counter()

    def synchronize(self):
        return None

    @property
    def done(self):
        return True


def get_elapsed_time(start_event, end_event):
    """Milliseconds between two recorded events (as CuPy's)."""
    if start_event.time is None or end_event.time is None:
        raise runtime.CUDARuntimeError("cudaErrorInvalidResourceHandle: event not recorded")
    return (end_event.time - start_event.time) * 1000.0


def is_available():
    return runtime.getDeviceCount() > 0
