"""Which array module and which kernels a call uses.

The reference math in ``minicnn.functional`` is written against an array namespace
``xp`` (NumPy today; CuPy arrays run the same lines). Ops ask ``array_module(x)`` for
the namespace of their input, so the math never names a device.

A *backend* is a name that selects the kernels below the math:

    "numpy"   the reference code in minicnn.functional (always available)
    "numba"   compiled CPU kernels from minicnn.kernels (needs the numba package);
              the default whenever numba can be imported
    "cupy"    an NVIDIA GPU: weights are made on it (minicnn.device), and ops on GPU
              arrays run the CUDA kernels of kernels/cuda/ (needs CuPy: pip install -e ".[gpu]")

Pick one with

    mc.set_backend("numpy")            # for the rest of the program
    with mc.use_backend("numpy"): ...  # for a block
    MINICNN_BACKEND=numpy python ...   # from the environment

How an op finds its kernel. Every op is a reference ``Function`` (say ``Conv2d``); a
backend may register a subclass of it with the same contract whose ``forward`` and
``backward`` call compiled kernels::

    register_kernel("numba", Conv2d, Conv2dNumba)     # done by minicnn.kernels

and the op's entry point asks for the class to run::

    op = implementation(Conv2d, x)     # Conv2dNumba for NumPy arrays, Conv2dCuPy for CuPy
    return op(stride, ...)(x, w, b)    # arrays, Conv2d itself under "numpy"

So the reference class is the whole math, untouched; which class runs is decided here,
below it, by where the arrays are: GPU arrays get the CUDA twins (under any backend but
"numpy", which runs the reference math on them through ``xp``), host arrays the Numba
twins (under "numba" or "cupy", when numba imports).
"""
import contextlib
import ctypes
import importlib
import importlib.util
import os
import sys
import time

import numpy as np

_BACKENDS = {}        # name -> a function that says why it is unavailable, or None
_LOADERS = {}         # name -> a function that imports the backend's kernels (once)
_LOADED = set()
_IMPLEMENTATIONS = {}  # (backend name, reference Function class) -> the class to run
_current = None


def register_backend(name, unavailable_reason=None, loader=None):
    """Make ``name`` selectable. ``unavailable_reason()`` returns a message, or None if
    usable; ``loader()`` imports the kernels (it runs the first time an op needs them)."""
    _BACKENDS[name] = unavailable_reason
    if loader is not None:
        _LOADERS[name] = loader


def register_kernel(backend, reference, implementation_class):
    """Run ``implementation_class`` (a subclass of the reference Function with the same
    contract) instead of ``reference`` when ``backend`` is in use."""
    if not issubclass(implementation_class, reference):
        raise TypeError(f"{implementation_class.__name__} must subclass {reference.__name__}")
    _IMPLEMENTATIONS[(backend, reference)] = implementation_class


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


def default_backend():
    """$MINICNN_BACKEND if set, else 'numba' when numba can be imported, else 'numpy'."""
    name = os.environ.get("MINICNN_BACKEND")
    if name:
        return name
    return "numba" if "numba" in available_backends() else "numpy"


def set_num_threads(n):
    """The numba backend runs each op on ``n`` threads from now on (default: the cores
    this process may use, or NUMBA_NUM_THREADS), like ``torch.set_num_threads``."""
    if _numba_unavailable() is not None:
        raise RuntimeError(f"set_num_threads: the numba backend is unavailable: "
                           f"{_numba_unavailable()}")
    import_kernels()
    importlib.import_module("minicnn.kernels.threads").set_num_threads(n)


def get_num_threads():
    """The threads the numba backend runs each op on (1 when numba is unavailable)."""
    if _numba_unavailable() is not None:
        return 1
    import_kernels()
    return importlib.import_module("minicnn.kernels.threads").num_threads()


def get_backend():
    """The backend in use: set_backend/use_backend, else ``default_backend()``."""
    global _current
    if _current is None:
        _current = _check(default_backend())
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


def implementation(reference, *arrays):
    """The Function class to run for the op ``reference`` on these arrays.

    Under "numpy": ``reference``. Otherwise the "cupy" twin when an input is a GPU array,
    the "numba" twin (if numba imports) for host arrays, ``reference`` when none is
    registered. ``arrays`` are the op's input arrays (None for an absent input is skipped).
    """
    name = get_backend()
    if name == "numpy":
        return reference
    if any(type(a).__module__.startswith("cupy") for a in arrays if a is not None):
        name = "cupy"
    elif name == "cupy":
        if _numba_unavailable() is not None:
            return reference
        name = "numba"
    if name not in _LOADED:
        _LOADED.add(name)
        if name in _LOADERS:
            _LOADERS[name]()
    return _IMPLEMENTATIONS.get((name, reference), reference)


# ----------------------------------------------------------------------------- numba
_NUMBA_ERROR = []     # [] before the first check, then [None] or [the reason]


def _numba_unavailable():
    """None if numba imports, else why not (checked once)."""
    if not _NUMBA_ERROR:
        try:
            import numba  # noqa: F401
            _NUMBA_ERROR.append(None)
        except ImportError as e:          # not installed, or a broken install
            _NUMBA_ERROR.append(f"numba cannot be imported ({e}); pip install numba")
    return _NUMBA_ERROR[0]


def import_kernels():
    """Import ``minicnn.kernels``.

    Installed, it is a sub-package (setuptools maps the top-level ``kernels/`` folder
    to it). Run from a source checkout (``PYTHONPATH=.``, nothing installed) there is
    no ``minicnn/kernels``; then the folder ``kernels/`` beside ``minicnn/`` is loaded
    under the name ``minicnn.kernels``, so its relative imports work the same way.
    """
    try:
        return importlib.import_module("minicnn.kernels")
    except ModuleNotFoundError as e:
        if e.name != "minicnn.kernels":
            raise
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")
    spec = importlib.util.spec_from_file_location(
        "minicnn.kernels", os.path.join(folder, "__init__.py"),
        submodule_search_locations=[folder])
    if spec is None:
        raise ModuleNotFoundError(f"minicnn.kernels is not installed and {folder} is missing",
                                  name="minicnn.kernels")
    module = importlib.util.module_from_spec(spec)
    sys.modules["minicnn.kernels"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["minicnn.kernels"]
        raise
    import minicnn
    minicnn.kernels = module
    return module


class CompileWatch:
    """Watches Numba compile kernels between start() and stop(): calls ``on_first()``
    once, when the first compile starts (a kernel missing from Numba's on-disk cache: the
    first run after an install or a change; loads from the cache are not compiles), and
    adds up the seconds spent compiling in ``seconds``. A no-op under the numpy backend
    or without numba."""

    def __init__(self, on_first):
        self.on_first, self.seconds, self.listener = on_first, 0.0, None

    def start(self):
        if self.listener is not None or get_backend() == "numpy" or \
                _numba_unavailable() is not None:
            return
        from numba.core import event
        watch = self

        class Listener(event.Listener):
            depth, started = 0, None

            def on_start(self, ev):                     # compiles nest: time the outer one
                if self.depth == 0:
                    if self.started is None:
                        watch.on_first()
                    self.started = time.perf_counter()
                self.depth += 1

            def on_end(self, ev):
                self.depth -= 1
                if self.depth == 0:
                    watch.seconds += time.perf_counter() - self.started

        self.listener = Listener()
        event.register("numba:compile", self.listener)

    def stop(self):
        if self.listener is not None:
            from numba.core import event
            event.unregister("numba:compile", self.listener)
            self.listener = None


def _load_numba_kernels():
    import_kernels().register_numba_kernels()


register_backend("numpy")
register_backend("numba", _numba_unavailable, _load_numba_kernels)


# ----------------------------------------------------------------------------- cupy
_CUPY_ERROR = []      # [] before the first check, then [None] or [the reason]
GPU_INSTALL = ('pip install -e ".[gpu]" (CuPy for CUDA 13 with its CUDA libraries, '
               'cupy-cuda13x[ctk]; NVIDIA driver >= 580), or pip install "cupy-cuda12x[ctk]" '
               'for a driver of the CUDA 12 series (>= 525)')


def cupy_unavailable_reason():
    """None if CuPy imports and sees a GPU, else why not in words (checked once)."""
    if not _CUPY_ERROR:
        _CUPY_ERROR.append(_probe_cupy())
    return _CUPY_ERROR[0]


def _probe_cupy():
    try:
        import cupy
    except ImportError as e:
        return f"CuPy is not installed ({e}); to use an NVIDIA GPU, {GPU_INSTALL}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:       # CUDARuntimeError, or a driver/library that fails to load
        return (f"CuPy {getattr(cupy, '__version__', '?')} is installed but cannot use a GPU: "
                f"{type(e).__name__}: {e}. It needs an NVIDIA GPU and its driver (>= 580 "
                f"for cupy-cuda13x; on an older driver {GPU_INSTALL.split(', or ')[-1]})")
    if count < 1:
        return "CuPy is installed but found no CUDA GPU on this machine"
    return None


def forget_cupy():
    """Forget what was learnt about CuPy (its availability and loaded kernels), so the
    next use imports it afresh (the tests swap in a NumPy-backed stand-in)."""
    _CUPY_ERROR.clear()
    _LOADED.discard("cupy")
    from .device import forget_pending_checks
    forget_pending_checks()
    for key in [k for k in _IMPLEMENTATIONS if k[0] == "cupy"]:
        del _IMPLEMENTATIONS[key]
    kernels = sys.modules.get("minicnn.kernels.cuda_ops")
    if kernels is not None and hasattr(kernels, "forget_modules"):
        kernels.forget_modules()


def _load_cupy_kernels():
    import_kernels().register_cupy_kernels()


register_backend("cupy", cupy_unavailable_reason, _load_cupy_kernels)


# ----------------------------------------------------------------------------- memory
def keep_freed_memory_for_reuse():
    """Ask glibc's malloc to keep large freed blocks for reuse (Linux only).

    A training step allocates and frees the same large arrays every step (im2col
    columns, activations, gradients). By default glibc serves blocks above a threshold
    with fresh pages from the kernel and gives them back on free, so every step pays a
    page fault for every 4 KiB it touches again: measured on LeNet at batch 128, that was
    16 ms of a 46 ms training step (the kernels' own work took 25 ms). With the
    thresholds raised the freed blocks stay in the heap and are reused; the peak memory
    is the same, it is only not handed back between steps. Other libraries in the process
    (PyTorch too) see the same malloc. MINICNN_MALLOC_TUNING=0, or any MALLOC_* or
    GLIBC_TUNABLES setting of your own, leaves malloc alone. Returns True if applied.
    """
    if not sys.platform.startswith("linux") or os.environ.get("MINICNN_MALLOC_TUNING") == "0":
        return False
    if "GLIBC_TUNABLES" in os.environ or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3           # from glibc's <malloc.h>
        ok = libc.mallopt(m_mmap_threshold, 32 << 20)         # 32 MiB: glibc's maximum
        ok &= libc.mallopt(m_trim_threshold, 256 << 20)
        return bool(ok)
    except (OSError, AttributeError):                         # not glibc (musl, ...)
        return False


keep_freed_memory_for_reuse()
