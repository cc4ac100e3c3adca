"""Which array module and which kernels a call uses.

The reference math in ``minicnn.functional`` is written against an array namespace
``xp`` (NumPy today; CuPy arrays run the same lines). Ops ask ``array_module(x)`` for
the namespace of their input, so the math never names a device.

A *backend* is a name that selects the kernels below the math:

    "numpy"   the reference code in minicnn.functional (always available)

Later backends (Numba on the CPU, CUDA through CuPy) register themselves with
``register_backend``. Pick one with

    mc.set_backend("numpy")            # for the rest of the program
    with mc.use_backend("numpy"): ...  # for a block
    MINICNN_BACKEND=numpy python ...   # from the environment
"""
import contextlib
import os

import numpy as np

_BACKENDS = {"numpy": None}   # name -> a function that says why it is unavailable, or None
_current = None


def register_backend(name, unavailable_reason=None):
    """Make ``name`` selectable. ``unavailable_reason()`` returns a message, or None if usable."""
    _BACKENDS[name] = unavailable_reason


def available_backends():
    """Names of the registered backends that can run on this machine."""
    return [n for n, why in _BACKENDS.items() if why is None or why() is None]


def _check(name):
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(_BACKENDS)}")
    why = _BACKENDS[name]
    reason = why() if why is not None else None
    if reason:
        raise RuntimeError(f"backend {name!r} is not available: {reason}")
    return name


def get_backend():
    """The backend in use: set_backend/use_backend, else $MINICNN_BACKEND, else 'numpy'."""
    global _current
    if _current is None:
        _current = _check(os.environ.get("MINICNN_BACKEND", "numpy"))
    return _current


def set_backend(name):
    """Use backend ``name`` from now on."""
    global _current
    _current = _check(name)


@contextlib.contextmanager
def use_backend(name):
    """Use backend ``name`` inside a ``with`` block, then restore the previous one."""
    global _current
    previous = get_backend()
    _current = _check(name)
    try:
        yield name
    finally:
        _current = previous


def array_module(*arrays):
    """The array namespace (numpy or cupy) of the given arrays; numpy for anything else."""
    for a in arrays:
        module = type(a).__module__
        if module.startswith("cupy"):
            import cupy
            return cupy
    return np
