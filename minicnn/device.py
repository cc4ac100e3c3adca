"""Where arrays live: the host ("cpu") or an NVIDIA GPU through CuPy ("cuda:0").

A Tensor's data is a NumPy array (host memory) or a CuPy array (GPU memory); the math in
``minicnn.functional`` runs on either through ``xp = array_module(x)``. This module names
the devices and moves arrays between them:

    normalize_device("gpu")      -> "cuda:0"   ("cpu", "cuda", "cuda:1", "gpu", "gpu:0")
    device_of(array)             -> "cpu" or "cuda:N"
    to_device(array, "cuda")     -> a CuPy copy on GPU 0 (the array itself if already there)
    to_host(array)               -> a NumPy array (a copy from the GPU, as is on the host)
    default_device()             -> "cuda:0" under the cupy backend, else "cpu"

Weights are made on ``default_device()`` (so ``mc.set_backend("cupy")`` before building
a model puts it on the GPU), ``model.to("cuda")`` moves a model, and fit, evaluate and
predict move each batch to the model's device once. Copies between host and GPU happen
only here, so they can be counted (``copy_counts()``; the GPU tests use it to prove that a
training step copies nothing but its batch).
"""
import numpy as np

_DEVICE_NAMES = ("cpu", "cuda", "gpu")
_COPIES = {"to_device": 0, "to_host": 0}


def copy_counts(reset=False):
    """{'to_device': n, 'to_host': m}: the copies between host and GPU made here so far
    (``reset=True`` starts again from 0 after reading)."""
    counts = dict(_COPIES)
    if reset:
        _COPIES.update(to_device=0, to_host=0)
    return counts


def cupy_or_error():
    """The cupy module, or a RuntimeError that says what to install or what is missing."""
    from .backend import cupy_unavailable_reason
    reason = cupy_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    import cupy
    return cupy


def is_device_array(a):
    """True for a CuPy array (GPU memory); False for NumPy arrays, numbers and None."""
    return type(a).__module__.startswith("cupy") and hasattr(a, "shape")


def normalize_device(device):
    """'cpu' or 'cuda:N' for a device name ('cpu', 'cuda', 'cuda:N', 'gpu', 'gpu:N')."""
    text = str(device).strip().lower() if isinstance(device, str) else None
    kind, _, index = (text or "").partition(":")
    if kind not in _DEVICE_NAMES or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise ValueError(f"unknown device {device!r}: use 'cpu', or 'cuda' / 'cuda:N' "
                         f"('gpu' is the same as 'cuda') for an NVIDIA GPU through CuPy")
    return "cpu" if kind == "cpu" else f"cuda:{int(index or 0)}"


def device_of(a):
    """'cuda:N' for a CuPy array on GPU N, else 'cpu'."""
    return f"cuda:{a.device.id}" if is_device_array(a) else "cpu"


def default_device():
    """'cuda:0' when the cupy backend is in use, else 'cpu': where new weights are made."""
    from .backend import get_backend
    return "cuda:0" if get_backend() == "cupy" else "cpu"


def to_device(a, device):
    """``a`` on ``device``: the same array when it is already there, else a copy."""
    device = normalize_device(device)
    if device == "cpu":
        return to_host(a)
    cupy = cupy_or_error()
    index = int(device.partition(":")[2])
    if is_device_array(a) and a.device.id == index:
        return a
    _COPIES["to_device"] += 1
    with cupy.cuda.Device(index):
        return cupy.asarray(a)           # host -> GPU (or GPU -> GPU) copy


def to_host(a):
    """``a`` as a NumPy array in host memory (a copy when it was on a GPU)."""
    if is_device_array(a):
        run_pending_checks()             # a read waits for the GPU anyway: report them now
        _COPIES["to_host"] += 1
        return a.get()
    return a if isinstance(a, np.ndarray) else np.asarray(a)


def mixed_devices_message(what, arrays):
    """None when every given array (None skipped) is on one device, else an error text
    that says which input is where and the ``.to()`` call that fixes it."""
    where = [(i, a, device_of(a)) for i, a in enumerate(arrays) if a is not None]
    devices = sorted({d for _, _, d in where})
    if len(devices) < 2:
        return None
    listing = ", ".join(f"input {i} {tuple(getattr(a, 'shape', ()))} on {d}" for i, a, d in where)
    gpu = next(d for d in devices if d != "cpu")
    return (f"{what}: its inputs are on different devices ({listing}). Put them on one "
            f"device first: x.to('{gpu}') for a tensor (or mc.Tensor(x, device='{gpu}')), "
            f"model.to('{gpu}') for a model's weights; or .to('cpu') the other way")


# ----------------------------------------------------------------------------- checks
# A check of data on a GPU ("is every label in range?") needs its answer on the host, and
# reading it makes the host wait for the GPU: at every step of a training loop. So, like
# CUDA's own device-side asserts, such a check is kept as a flag on the GPU and reported at
# the next read back to the host (to_host, Tensor.item(), .numpy(), a progress line).
_PENDING = []            # (flag array, message, error class) not read yet
_MOST_PENDING = 256      # beyond this many, read them at once (bounded memory)


def check(failed, message, error=ValueError):
    """Raise ``error(message)`` if the 0-d boolean array ``failed`` is true: at once for
    host arrays; for GPU arrays at the next read back to the host (``run_pending_checks``)."""
    if not is_device_array(failed):
        if bool(failed):
            raise error(message)
        return
    _PENDING.append((failed, message, error))
    if len(_PENDING) >= _MOST_PENDING:
        run_pending_checks()


def forget_pending_checks():
    """Drop the GPU checks not read yet (their arrays belong to a CuPy being swapped out)."""
    _PENDING.clear()


def run_pending_checks():
    """Read the GPU checks not read yet (one copy) and raise the first that failed."""
    read_numbers([])


def read_numbers(values):
    """Python floats of the 0-d GPU arrays ``values``, read in one copy together with the
    pending checks (which raise first if one failed): a training loop's log line."""
    pending, _PENDING[:] = list(_PENDING), []
    if not pending and not values:
        return []
    import cupy
    flags = [f.reshape(()).astype(np.float64) for f, _, _ in pending]
    numbers = cupy.stack(flags + [v.reshape(()).astype(np.float64) for v in values]).get()
    _COPIES["to_host"] += 1
    for flag, (_, message, error) in zip(numbers, pending):
        if flag:
            raise error(message)
    return [float(v) for v in numbers[len(pending):]]
