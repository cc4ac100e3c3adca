"""A NumPy-backed stand-in for CuPy, so the GPU code paths run (and are checked) on a
machine without a GPU. Put ``tests/fake_cupy`` first on ``sys.path`` (``fakegpu.fake_cupy()``
does it) and ``import cupy`` imports this package.

Real CuPy keeps its arrays in GPU memory and refuses to mix them with host arrays:

* an operation that gets a ``numpy.ndarray`` (0-d too) beside a ``cupy.ndarray`` raises
  ``TypeError: Unsupported type <class 'numpy.ndarray'>``; Python and NumPy scalars are fine;
* ``numpy.asarray(cupy_array)`` raises ``TypeError: Implicit conversion to a NumPy array is not
  allowed. Please use `.get()` to construct a NumPy array explicitly.``;
* copies are explicit: ``cupy.asarray(host)`` (host -> device), ``a.get()`` /
  ``cupy.asnumpy(a)`` (device -> host); reading a value (``float(a)``, ``a.item()``,
  ``bool(a)``, ``a.tolist()``) copies to the host and waits for the GPU (a "sync");
* reductions and integer indexing give 0-d ``cupy.ndarray`` results, never NumPy scalars.

The fake mimics all of that (stricter where noted, never looser): ``cupy.ndarray`` is a
subclass of ``numpy.ndarray`` whose ``__module__`` is ``"cupy"``; its ``__array_ufunc__`` and
``__array_function__`` refuse plain NumPy arrays and wrap results as fake arrays; module
functions (``cupy.exp``, ``cupy.pad``, ...) are NumPy's, with the same checks; every copy and
sync is counted in ``_counts`` (read through ``fakegpu.transfers()``).

Known limits (a subclass cannot intercept these; the real CuPy raises):

* ``numpy.asarray(fake)``, ``numpy.array(fake)``, ``numpy.ascontiguousarray(fake)`` and
  ``fake.view(numpy.ndarray)`` silently return host arrays (not counted). Mixing such a
  result back with a fake array then raises, so most slips are still caught downstream.
* ``isinstance(fake, numpy.ndarray)`` is True (a real ``cupy.ndarray`` is not a NumPy array),
  so code that branches on it (``a.get() if not isinstance(a, np.ndarray) else np.array(a)``)
  takes the host branch with the fake: a silent, uncounted copy where CuPy calls ``.get()``.
  Test for a device array by ``type(a).__module__`` (minicnn.device.is_device_array).
* NumPy C code that takes the buffer directly (``memoryview(fake)``, ``fake.ctypes``,
  ``numpy.frombuffer``) works; on a GPU it would not.
* The fake runs NumPy's algorithms: results are NumPy's (CuPy's float sums may differ in the
  last bits), and ``cupy.random`` streams differ from CuPy's.
"""
import numbers
import sys

import numpy

__version__ = "14.0.0+fake"
FAKE = True            # real CuPy has no such attribute: tests may check they got the fake

# Counted transfers: "h2d" and "d2h" explicit copies, "sync" scalar reads, "launches" RawModule
# kernel launches. fakegpu.fake_cupy() rebinds this to its own dict (one count over re-imports).
_counts = {"h2d": 0, "d2h": 0, "sync": 0, "launches": 0}


def _count(kind, n=1):
    _counts[kind] += n


_SCALARS = (numbers.Number, numpy.generic)


def _unsupported(x):
    """The error CuPy raises for an argument it cannot take (a NumPy array, a list...)."""
    return TypeError(f"Unsupported type {type(x)}")


def _is_host_array(x):
    return isinstance(x, numpy.ndarray) and not isinstance(x, ndarray)


def _unwrap(obj):
    """Fake arrays -> base NumPy views, through lists, tuples and dicts; a plain
    ``numpy.ndarray`` anywhere -> TypeError (CuPy's functions take only CuPy arrays)."""
    if isinstance(obj, ndarray):
        return obj.view(numpy.ndarray)
    if isinstance(obj, numpy.ndarray):
        raise _unsupported(obj)
    if type(obj) in (list, tuple):
        return type(obj)(_unwrap(o) for o in obj)
    if type(obj) is dict:
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


def _wrap(obj):
    """NumPy results -> fake arrays: arrays become views, numeric NumPy scalars 0-d arrays
    (CuPy returns 0-d arrays from reductions and integer indexing), tuples/lists each item."""
    if type(obj) is numpy.ndarray:
        return obj.view(ndarray)
    if isinstance(obj, (numpy.number, numpy.bool_)):
        return numpy.asarray(obj).view(ndarray)
    if type(obj) in (list, tuple):
        return type(obj)(_wrap(o) for o in obj)
    return obj


def _call(func, args, kwargs):
    """``func`` (a NumPy function) run like CuPy's function of that name."""
    out = kwargs.get("out")
    result = func(*_unwrap(args), **_unwrap(kwargs))
    if isinstance(out, ndarray) or (type(out) is tuple and out
                                    and all(isinstance(o, ndarray) for o in out)):
        return out if not (type(out) is tuple and len(out) == 1) else out[0]
    return _wrap(result)


class MemoryPointer:
    """What ``cupy.ndarray.data`` is in CuPy: a device pointer (here the host address)."""

    def __init__(self, ptr, size):
        self.ptr, self.device_id, self.size = ptr, 0, size

    def __int__(self):
        return self.ptr


_READ_METHODS = ("item", "tolist")
# ndarray methods that run on the device in CuPy: they run on the base view and the
# results are wrapped (so reductions give 0-d fake arrays, and NumPy arrays are refused).
_DEVICE_METHODS = (
    "all", "any", "argmax", "argmin", "argsort", "astype", "clip", "compress", "conj",
    "copy", "cumprod", "cumsum", "diagonal", "dot", "flatten", "max", "mean", "min",
    "nonzero", "prod", "ravel", "repeat", "reshape", "round", "squeeze", "std",
    "sum", "swapaxes", "take", "trace", "transpose", "var", "choose", "searchsorted",
    "sort", "partition", "argpartition", "fill", "put")


class ndarray(numpy.ndarray):
    """A ``cupy.ndarray`` stand-in: a NumPy array whose type's ``__module__`` is "cupy",
    that refuses host arrays in its operations as CuPy does and counts host reads."""

    __module__ = "cupy"

    # -- the mixing rules ------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "at":
            # ufunc.at(a, indices, b): CuPy needs a CuPy array ``a``; the indices are an index
            # (NumPy arrays in it are copied to the device, counted as h2d, as by a[indices])
            if not isinstance(inputs[0], ndarray):
                raise _unsupported(inputs[0])
            args = (inputs[0].view(numpy.ndarray), _index(inputs[1]),
                    *(_operand(x) for x in inputs[2:]))
        else:
            args = tuple(_operand(x) for x in inputs)
        out = kwargs.get("out")
        if out is not None:
            for o in out:
                if not isinstance(o, ndarray):
                    raise _unsupported(o)
            kwargs["out"] = tuple(o.view(numpy.ndarray) for o in out)
        if "where" in kwargs and not isinstance(kwargs["where"], (bool, numpy.bool_)):
            kwargs["where"] = _operand(kwargs["where"])
        result = getattr(ufunc, method)(*args, **kwargs)
        if method == "at":
            return None
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        return _call(func, args, kwargs)

    # -- indexing ----------------------------------------------------------------------------
    def __getitem__(self, key):
        return _wrap(numpy.ndarray.__getitem__(self.view(numpy.ndarray), _index(key)))

    def __setitem__(self, key, value):
        """CuPy copies a NumPy array into ``a[:]`` / ``a[...]`` (a host -> device copy, counted);
        any other NumPy value that is not 0-d raises ValueError, as in CuPy's ``fill``."""
        if _is_host_array(value) and value.ndim:
            if not (key is Ellipsis or (isinstance(key, slice) and key == slice(None))):
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            _count("h2d")
        elif isinstance(value, ndarray):
            value = value.view(numpy.ndarray)
        elif not isinstance(value, (_SCALARS, numpy.ndarray)):
            raise _unsupported(value)
        numpy.ndarray.__setitem__(self.view(numpy.ndarray), _index(key), value)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    # -- reads that copy to the host and wait for the GPU (counted as "sync") ----------------
    def __float__(self):
        _count("sync")
        return float(self.view(numpy.ndarray))

    def __int__(self):
        _count("sync")
        return int(self.view(numpy.ndarray))

    def __complex__(self):
        _count("sync")
        return complex(self.view(numpy.ndarray))

    def __bool__(self):
        _count("sync")
        return bool(self.view(numpy.ndarray))

    def __index__(self):
        _count("sync")
        return self.view(numpy.ndarray).__index__()

    def item(self, *args):
        _count("sync")
        return self.view(numpy.ndarray).item(*args)

    def tolist(self):
        _count("sync")
        return self.view(numpy.ndarray).tolist()

    def __repr__(self):           # not counted: failure messages should not change counts
        return repr(self.view(numpy.ndarray))

    def __str__(self):
        return str(self.view(numpy.ndarray))

    def __reduce__(self):         # CuPy arrays pickle; unpickling makes a device array again
        return (_from_pickle, (self.view(numpy.ndarray).copy(),))

    # -- device-side attributes ---------------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        """A host copy (``numpy.ndarray``), counted as one device -> host transfer."""
        _count("d2h")
        host = numpy.array(self.view(numpy.ndarray), order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        """Copy the host array ``arr`` into this one (host -> device, counted)."""
        if not isinstance(arr, numpy.ndarray) or isinstance(arr, ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, not {type(arr)}")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError("Shape or dtype mismatch: set needs the same shape and dtype")
        _count("h2d")
        numpy.copyto(self.view(numpy.ndarray), arr)

    @property
    def device(self):
        from . import cuda
        return cuda.Device(0)

    @property
    def data(self):
        return MemoryPointer(self.__array_interface__["data"][0], self.nbytes)

    @property
    def __cuda_array_interface__(self):
        face = self.view(numpy.ndarray).__array_interface__
        return {"shape": face["shape"], "typestr": face["typestr"], "data": face["data"],
                "strides": face["strides"], "descr": face["descr"], "version": 3}

    def toDlpack(self):
        raise NotImplementedError("the fake cupy has no DLPack")


def _device_method(name):
    base = getattr(numpy.ndarray, name)

    def method(self, *args, **kwargs):
        return _call(base, (self, *args), kwargs)
    method.__name__ = name
    method.__doc__ = f"``cupy.ndarray.{name}``: NumPy's, run on the base array, result wrapped."
    return method


for _name in _DEVICE_METHODS:
    setattr(ndarray, _name, _device_method(_name))
del _name


def _from_pickle(host):
    return host.view(ndarray)


def _operand(x):
    """A ufunc input: fake arrays and Python/NumPy scalars only (CuPy refuses the rest)."""
    if isinstance(x, ndarray):
        return x.view(numpy.ndarray)
    if isinstance(x, _SCALARS) and not isinstance(x, numpy.ndarray):
        return x
    raise _unsupported(x)


def _index(key):
    """An index: fake arrays -> base views. CuPy turns NumPy arrays and lists in an index
    into device arrays (a host -> device copy each, counted here)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key.view(numpy.ndarray)
    if isinstance(key, (numpy.ndarray, list)):
        _count("h2d")
    return key


# ----------------------------------------------------------------------------- module functions
def asarray(a, dtype=None, order=None, *, blocking=False):
    """A fake array: ``a`` itself when it already is one of this dtype (no copy, not counted),
    else a copy on the "device" (host data -- arrays, lists, numbers -- counted as h2d)."""
    if isinstance(a, ndarray):
        return _wrap(numpy.asarray(a.view(numpy.ndarray), dtype=dtype, order=order)) \
            if (dtype is not None and numpy.dtype(dtype) != a.dtype) or order == "F" \
            or (order == "C" and not a.flags.c_contiguous) else a
    _count("h2d")
    return numpy.array(a, dtype=dtype, order=order or "K", copy=True).view(ndarray)


def asanyarray(a, dtype=None, order=None, *, blocking=False):
    return asarray(a, dtype=dtype, order=order)


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """Like ``numpy.array``; host input is copied to the "device" (counted as h2d)."""
    if isinstance(obj, ndarray):
        return _wrap(numpy.array(obj.view(numpy.ndarray), dtype=dtype, copy=copy,
                                 order=order, ndmin=ndmin))
    _count("h2d")
    return numpy.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin).view(ndarray)


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A host copy of a fake array (counted as d2h); anything else through numpy.asarray."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return numpy.asarray(a, order=order)


def get_array_module(*args):
    """``cupy`` if any argument is a (fake) CuPy array, else ``numpy``."""
    for a in args:
        if isinstance(a, ndarray):
            return sys.modules[__name__]
    return numpy


class ufunc:
    """``cupy.ufunc``: NumPy's ufunc of the same name with CuPy's argument rules."""

    def __init__(self, numpy_ufunc):
        self._ufunc = numpy_ufunc
        self.__name__ = numpy_ufunc.__name__

    def __call__(self, *args, **kwargs):
        for x in args:
            _operand(x)              # CuPy's ufuncs take device arrays and scalars only
        return _call(self._ufunc, args, kwargs)

    def at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        args = (a, indices) if b is None else (a, indices, b)
        self._ufunc.at(*args)       # goes through ndarray.__array_ufunc__ ("at")

    def reduce(self, *args, **kwargs):
        return _call(self._ufunc.reduce, args, kwargs)

    def accumulate(self, *args, **kwargs):
        return _call(self._ufunc.accumulate, args, kwargs)

    def outer(self, *args, **kwargs):
        return _call(self._ufunc.outer, args, kwargs)

    def __getattr__(self, name):
        return getattr(self._ufunc, name)

    def __repr__(self):
        return f"<ufunc '{self.__name__}' (fake cupy)>"


def _function(numpy_function):
    def function(*args, **kwargs):
        return _call(numpy_function, args, kwargs)
    function.__name__ = getattr(numpy_function, "__name__", "function")
    function.__qualname__ = function.__name__
    function.__doc__ = f"``cupy.{function.__name__}``: NumPy's, with CuPy's argument rules."
    return function


class _Namespace:
    """A submodule (``cupy.linalg``, ``cupy.fft``) made of NumPy's functions with CuPy's rules."""

    def __init__(self, module, name):
        self._module, self.__name__ = module, name

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if callable(value) and not isinstance(value, type):
            value = _function(value)
        setattr(self, name, value)
        return value


linalg = _Namespace(numpy.linalg, "cupy.linalg")
fft = _Namespace(numpy.fft, "cupy.fft")
_NOT_IN_CUPY = {"asmatrix", "matrix", "frombuffer", "fromfile", "memmap", "recarray",
                "ctypeslib", "char", "rec", "ma", "lib", "testing", "polynomial"}


def __getattr__(name):
    """Any other NumPy name: dtypes and constants as NumPy's (``cupy.float32 is
    numpy.float32``), ufuncs as ``cupy.ufunc``, functions wrapped with CuPy's rules."""
    if name.startswith("__") or name in _NOT_IN_CUPY:
        raise AttributeError(f"module 'cupy' (fake) has no attribute {name!r}")
    try:
        value = getattr(numpy, name)
    except AttributeError:
        raise AttributeError(f"module 'cupy' (fake) has no attribute {name!r}") from None
    if isinstance(value, numpy.ufunc):
        value = ufunc(value)
    elif callable(value) and not isinstance(value, type):
        value = _function(value)
    elif type(value).__name__ == "module":
        raise AttributeError(f"module 'cupy' (fake) has no submodule {name!r}")
    globals()[name] = value          # cached: cupy.exp is cupy.exp
    return value


# ----------------------------------------------------------------------------- memory pools
class _MemoryPool:
    """``cupy.get_default_memory_pool()``: the bytes of the live fake arrays are not tracked;
    used_bytes/total_bytes are 0 (tests should not rely on the numbers)."""

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        return None

    def set_limit(self, size=None, fraction=None):
        self._limit = size

    def get_limit(self):
        return getattr(self, "_limit", 0) or 0


_POOL, _PINNED_POOL = _MemoryPool(), _MemoryPool()


def get_default_memory_pool():
    return _POOL


def get_default_pinned_memory_pool():
    return _PINNED_POOL


def synchronize():
    """Wait for the GPU: nothing to wait for in the fake."""
    return None


# ----------------------------------------------------------------------------- kernels
class RawModule:
    """``cupy.RawModule(code=..., options=(), name_expressions=())``: CuPy compiles ``code``
    with NVRTC for the GPU; the fake compiles it for the host with
    ``minicnn.kernels.cuda_host.HostModule`` (g++, common.cuh's shim) and runs each launch
    on the CPU (counted in "launches")."""

    def __init__(self, code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 *, enable_cooperative_groups=False, name_expressions=None, jitify=False):
        if code is None:
            if path is None:
                raise TypeError("RawModule needs code= or path=")
            with open(path) as f:
                code = f.read()
        import importlib
        from minicnn.backend import import_kernels
        kernels = import_kernels()
        host = getattr(kernels, "cuda_host", None) or importlib.import_module(
            kernels.__name__ + ".cuda_host")
        self.code, self.options = code, tuple(options)
        self.name_expressions = tuple(name_expressions or ())
        self._module = host.HostModule(code, self.options, self.name_expressions)

    def get_function(self, name):
        return RawKernel._launcher(self._module.get_function(name), name)

    def compile(self, log_stream=None):
        return None


class RawKernel:
    """A compiled kernel: ``kernel(grid, block, args, shared_mem=0)`` launches it (counted).
    As in CuPy, grid, block and args are tuples and a NumPy array among the args is refused
    (CuPy raises "Unsupported type"); HostKernel is stricter still (Python numbers and
    non-contiguous arrays are refused; CuPy guesses the C type / passes the raw pointer)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("the fake cupy builds kernels through RawModule only")

    @classmethod
    def _launcher(cls, host_kernel, name):
        self = object.__new__(cls)
        self._kernel, self.name = host_kernel, name
        return self

    def __call__(self, grid, block, args, shared_mem=0, **kwargs):
        if not isinstance(grid, tuple) or not isinstance(block, tuple):
            raise TypeError("grid and block must be tuples (CuPy's RawKernel takes tuples)")
        if not isinstance(args, tuple):
            raise TypeError("args must be a tuple (CuPy's RawKernel takes a tuple)")
        for a in args:
            if _is_host_array(a):       # CuPy passes device pointers only
                raise _unsupported(a)
        _count("launches")
        return self._kernel(grid, block, args, shared_mem=shared_mem)


class ElementwiseKernel:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("the fake cupy has no ElementwiseKernel (use RawModule)")


class ReductionKernel(ElementwiseKernel):
    pass


def fuse(*args, **kwargs):
    raise NotImplementedError("the fake cupy has no cupy.fuse")


from . import cuda, random  # noqa: E402  (they import ndarray and _wrap from here)
