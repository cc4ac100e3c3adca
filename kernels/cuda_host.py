"""The CUDA source of kernels/cuda/ built for the CPU with g++, to test it without a GPU.

``HostModule`` takes what ``cupy.RawModule`` takes (the source text, CuPy's options, the
name expressions of the template instantiations) and builds a shared library with
``g++ -x c++ -std=c++17 -O1 -shared -fPIC``: kernels/cuda/common.cuh sees no __CUDACC__
and turns __global__ and friends into plain C++, threadIdx / blockIdx into 0 and blockDim /
gridDim into 1. ``HostKernel`` then runs a __global__ function once with that degenerate
launch: the kernels loop grid-stride (or over rows, block by block), so one thread of one
block computes every element, exactly what any launch computes on the GPU.

    module = HostModule(code, options=("-std=c++17", "-I" + folder),
                        name_expressions=["im2col<float>"])
    module.get_function("im2col<float>")((blocks,), (256,), (x, cols, numpy.int32(n), ...))

Arguments follow CuPy's rules, made strict: arrays are passed by pointer (C-contiguous and
aligned), scalars must be NumPy scalars of the exact C type (Python ints and floats are
refused: CuPy would guess their C type, and a wrong guess reads garbage on the GPU).

Builds are cached by a hash of the source, the options, the names, the headers in the
include folders and g++'s version, in $MINICNN_CUDA_HOST_CACHE or a per-user folder
under the temporary directory; each build is written under a temporary name and moved
into place (os.replace), so parallel test runs never load a half-written library.
"""
import ctypes
import functools
import glob
import hashlib
import os
import subprocess
import tempfile

import numpy as np

COMPILER = "g++"
FLAGS = ("-x", "c++", "-std=c++17", "-O1", "-shared", "-fPIC")

# NumPy scalar type -> the C type the kernel's parameter has
SCALAR_TYPES = {np.int32: ctypes.c_int32, np.int64: ctypes.c_int64,
                np.uint32: ctypes.c_uint32, np.float32: ctypes.c_float,
                np.float64: ctypes.c_double}

MAX_BLOCK_THREADS = 1024


class HostCompileError(RuntimeError):
    """g++ refused the source; the message holds its output (file:line: error ...)."""


def export_source(names):
    """The C++ appended to a module's source: one exported pointer per name expression,
    which also instantiates each template (the host twin of NVRTC's name expressions)."""
    lines = ['extern "C" {']
    for k, name in enumerate(names):
        lines.append(f"void *mc_export_{k} = reinterpret_cast<void *>(&{name});")
    lines.append("}")
    return "\n" + "\n".join(lines) + "\n"


def _include_dirs(options):
    """The include folders named by CuPy-style options ("-I<dir>", "--include-path=<dir>")."""
    dirs = []
    for option in options:
        if option.startswith("--include-path="):
            dirs.append(option[len("--include-path="):])
        elif option.startswith("-I"):
            dirs.append(option[2:])
    return dirs


def _defines(options):
    return [option for option in options if option.startswith("-D")]


@functools.lru_cache(maxsize=None)
def compiler_version():
    """g++'s first line of --version (part of the cache key)."""
    try:
        out = subprocess.run([COMPILER, "--version"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise HostCompileError(f"cannot run {COMPILER} to build the CUDA kernels for the "
                               f"host: {error}") from error
    return out.splitlines()[0] if out else ""


def cache_dir():
    """Where host builds are kept: $MINICNN_CUDA_HOST_CACHE, else a per-user temp folder."""
    folder = os.environ.get("MINICNN_CUDA_HOST_CACHE")
    if not folder:
        user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
        folder = os.path.join(tempfile.gettempdir(), f"minicnn-cuda-host-{user}")
    os.makedirs(folder, exist_ok=True)
    return folder


def _header_texts(dirs):
    """The headers of the include folders, sorted by path (so a header edit rebuilds)."""
    texts = []
    for folder in dirs:
        for path in sorted(glob.glob(os.path.join(folder, "*.cuh")) +
                           glob.glob(os.path.join(folder, "*.h"))):
            with open(path, "rb") as f:
                texts.append(path.encode() + b"\0" + f.read())
    return texts


class HostModule:
    """The host twin of ``cupy.RawModule(code=..., options=..., name_expressions=...)``.

    code: the CUDA C source; options: CuPy's options, of which "-I<dir>" and
    "--include-path=<dir>" become include folders and "-D..." are kept (the rest, e.g.
    "-std=c++17" or "-arch=...", are for NVRTC); name_expressions: the template
    instantiations to export, e.g. "im2col<float>".
    """

    def __init__(self, code, options=(), name_expressions=()):
        self.code, self.options = code, tuple(options)
        self.names = tuple(name_expressions)
        self.include_dirs = _include_dirs(self.options)
        self.defines = _defines(self.options)
        self._lib = ctypes.CDLL(self._build())
        self._addresses = {}
        for k, name in enumerate(self.names):
            self._addresses[name] = ctypes.c_void_p.in_dll(self._lib, f"mc_export_{k}").value

    def _build(self):
        """Compile (or find in the cache) the shared library; returns its path."""
        key = hashlib.sha256()
        for part in [self.code.encode(), repr(self.options).encode(),
                     repr(self.names).encode(), compiler_version().encode(),
                     repr(FLAGS).encode()] + _header_texts(self.include_dirs):
            key.update(hashlib.sha256(part).digest())
        digest = key.hexdigest()[:32]
        folder = cache_dir()
        library = os.path.join(folder, f"mc_{digest}.so")
        if os.path.exists(library):
            return library
        source = os.path.join(folder, f"mc_{digest}.{os.getpid()}.cu")
        temp = library + f".{os.getpid()}.tmp"
        with open(source, "w") as f:
            f.write(self.code + export_source(self.names))
        command = [COMPILER, *FLAGS, *[f"-I{d}" for d in self.include_dirs], *self.defines,
                   source, "-o", temp]
        try:
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise HostCompileError(
                    f"{COMPILER} could not build the CUDA source for the host:\n"
                    f"{' '.join(command)}\n{result.stdout}{result.stderr}")
            os.replace(temp, library)             # atomic: readers see all of it or nothing
        finally:
            for path in (source, temp):
                if os.path.exists(path):
                    os.remove(path)
        return library

    def get_function(self, name):
        """The kernel exported under the name expression ``name`` (a HostKernel)."""
        if name not in self._addresses:
            raise KeyError(f"no kernel {name!r} in this module; its name expressions are "
                           f"{list(self.names)} (add the name to name_expressions)")
        return HostKernel(name, self._addresses[name])


def _launch_shape(value, what):
    """(x, y, z) of a grid or block: an int or a tuple of 1-3 positive ints."""
    dims = (value,) if isinstance(value, (int, np.integer)) else value
    if (not isinstance(dims, tuple) or not 1 <= len(dims) <= 3 or
            not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1
                    for d in dims)):
        raise ValueError(f"{what} must be a positive int or a tuple of 1 to 3 positive ints, "
                         f"got {value!r}")
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))


class HostKernel:
    """One exported __global__ function; calling it runs it once on the host (one block of
    one thread), whatever grid and block are given (they are checked, not used)."""

    def __init__(self, name, address):
        self.name, self.address = name, address
        self._prototypes = {}

    def __call__(self, grid, block, args, shared_mem=0):
        _launch_shape(grid, f"{self.name}: grid")
        bx, by, bz = _launch_shape(block, f"{self.name}: block")
        if bx * by * bz > MAX_BLOCK_THREADS:
            raise ValueError(f"{self.name}: a block has at most {MAX_BLOCK_THREADS} threads, "
                             f"got {block!r}")
        if not isinstance(args, tuple):
            raise TypeError(f"{self.name}: args must be a tuple, got {type(args).__name__}")
        types, values = [], []
        for k, a in enumerate(args):
            if isinstance(a, np.ndarray):
                if not a.flags.c_contiguous or not a.flags.aligned:
                    raise ValueError(f"{self.name}: argument {k} must be a C-contiguous, "
                                     f"aligned array (got shape {a.shape}, strides {a.strides})")
                types.append(ctypes.c_void_p)
                values.append(ctypes.c_void_p(a.ctypes.data))
            elif type(a) in SCALAR_TYPES:
                ctype = SCALAR_TYPES[type(a)]
                types.append(ctype)
                values.append(ctype(a.item()))
            elif isinstance(a, (bool, int, float)):
                raise TypeError(f"{self.name}: argument {k} is a Python {type(a).__name__} "
                                f"({a!r}); pass numpy.int64(...), numpy.int32(...), "
                                f"numpy.float32(...) or numpy.float64(...) (CuPy would guess "
                                f"the C type)")
            else:
                raise TypeError(f"{self.name}: argument {k} of type {type(a).__name__} "
                                f"cannot be passed to a kernel")
        types = tuple(types)
        if types not in self._prototypes:
            self._prototypes[types] = ctypes.CFUNCTYPE(None, *types)(self.address)
        self._prototypes[types](*values)
