"""The cupy backend's ops: subclasses of the reference Functions with the same contract
(same inputs, outputs, gradients), whose forward and backward launch the CUDA kernels of
kernels/cuda/ through ``cupy.RawModule`` and multiply matrices with ``cupy.matmul``
(cuBLAS). The GPU twins of kernels/ops.py's Numba classes.

Each class handles float32 and float64 CuPy arrays whose dtypes agree; for anything else
(mixed dtypes, integer data) it runs the reference math of its parent class on the CuPy
arrays (through ``xp``), so a kernel never sees an input it was not written for.

Nothing here imports CuPy until an op runs. Every kernel argument that is not an array is
a NumPy scalar of the exact C type of its parameter (int -> numpy.int32, long long ->
numpy.int64, T -> numpy.float32 / numpy.float64), and nothing reads a device value back
to the host (no float(), .item(), .get() or bool() of a device array): a step queues its
kernels and never waits for them.
"""
import glob
import hashlib
import os

import numpy as np

from ..functional.activation import ReLU
from ..functional.conv import Conv2d, Conv2dReLU
from ..functional.linear import Linear
from ..functional.loss import CrossEntropy
from ..functional.pool import AvgPool2d, MaxPool2d
from .batching import chunks, kernel_dtype as _kernel_dtype

CUDA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda")

# The kernels of each source file (each instantiated for float and double: "im2col<float>").
KERNELS = {
    "conv.cu": ("im2col", "col2im", "rows_to_nchw", "nchw_to_rows"),
    "pool.cu": ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                "avg_pool2d_backward"),
    "elementwise.cu": ("relu_forward", "relu_backward", "bias_activation",
                       "softmax_cross_entropy_forward", "softmax_cross_entropy_backward"),
}
C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
OPTIONS = ("-std=c++17", "-I" + CUDA_DIR)     # CuPy adds the -arch of the current GPU

THREADS = 256                 # threads per block of the element kernels
MAX_BLOCKS = 65535 * 16       # grid-stride loops cover the rest
MAX_ROW_THREADS = 1024        # block-per-row kernels: a power of two, at most this
MAX_ROW_BLOCKS = 65535

# The columns of one chunk of samples: at most this many bytes (VGG-16 at 224x224 and
# batch 16 would build 1.85 GB of columns in float32 in its first layer). A batch that
# fits in one chunk keeps its columns for backward.
CHUNK_BYTES = 1 << 30

_MODULES = {}          # None: the cupy module; filename: (RawModule, its kernels by name)


def _cupy():
    import cupy
    return cupy


def name_expressions(filename):
    """The instantiations of a source file: every kernel for float and for double."""
    return [f"{k}<{t}>" for k in KERNELS[filename] for t in ("float", "double")]


def source(filename):
    """The text of kernels/cuda/<filename> as RawModule gets it: the file, then a comment
    with the SHA-256 of the headers it may include. CuPy caches compiled modules by their
    source text alone, so without it an edited header would run a stale binary."""
    with open(os.path.join(CUDA_DIR, filename)) as f:
        code = f.read()
    digest = hashlib.sha256()
    for header in sorted(glob.glob(os.path.join(CUDA_DIR, "*.cuh"))):
        with open(header, "rb") as f:
            digest.update(os.path.basename(header).encode() + b"\0" + f.read())
    return code + f"\n// kernels/cuda/*.cuh: sha256 {digest.hexdigest()}\n"


def module(filename):
    """cupy.RawModule of kernels/cuda/<filename>, compiled once (per CuPy module)."""
    cupy = _cupy()
    if _MODULES.get(None) is not cupy:       # another cupy was imported (a test's fake)
        _MODULES.clear()
        _MODULES[None] = cupy
    if filename not in _MODULES:
        raw = cupy.RawModule(code=source(filename), options=OPTIONS,
                             name_expressions=name_expressions(filename))
        _MODULES[filename] = (raw, {})
    return _MODULES[filename]


def kernel(filename, name, dtype):
    """The kernel ``name<float>`` or ``name<double>`` (by dtype) of a source file."""
    raw, functions = module(filename)
    expression = f"{name}<{C_TYPES[np.dtype(dtype)]}>"
    if expression not in functions:
        functions[expression] = raw.get_function(expression)
    return functions[expression]


def launch(filename, name, dtype, count, args):
    """Launch an element kernel (grid-stride) over ``count`` elements; nothing if 0."""
    if count <= 0:
        return
    blocks = min(-(-count // THREADS), MAX_BLOCKS)
    kernel(filename, name, dtype)((blocks,), (THREADS,), args)


def launch_rows(filename, name, dtype, rows, row_length, args):
    """Launch a block-per-row kernel: one block (a power of two of threads, enough for
    the row, at most MAX_ROW_THREADS) per row, at most MAX_ROW_BLOCKS blocks. The kernels
    keep their shared memory in a static array of MC_MAX_BLOCK slots (no dynamic part)."""
    if rows <= 0:
        return
    threads = 32
    while threads < min(row_length, MAX_ROW_THREADS):
        threads *= 2
    kernel(filename, name, dtype)((min(rows, MAX_ROW_BLOCKS),), (threads,), args)


def _i32(v):
    return np.int32(v)


def _chunks(n, bytes_per_sample):
    """Chunks of samples whose columns fit in CHUNK_BYTES (batching.chunks)."""
    return chunks(n, bytes_per_sample, CHUNK_BYTES)


class Conv2dCuPy(Conv2d):
    """Conv2d through the im2col of kernels/cuda/conv.cu and one batched cuBLAS product
    over the groups, a chunk of samples at a time (L = H_out W_out columns per sample,
    K = C/g kh kw, n = samples in a chunk):

        forward   cols (C kh kw, n L) = im2col(x[chunk])          (padding in the kernel)
                  out (g, O/g, n L)   = W (g, O/g, K) @ cols (g, K, n L)
                  out[chunk]          = rows_to_nchw(out) + b      (relu? clipped)
        backward  dOut_rows (O, n L)  = nchw_to_rows(dOut)         (relu? masked by y > 0)
                  db += sum over columns of dOut_rows
                  dW  += dOut_rows (g, O/g, n L) @ cols^T (g, n L, K)
                  dcols = W^T (g, K, O/g) @ dOut_rows  -> col2im -> dx[chunk]

    The columns are kept for backward only when the whole batch was one chunk (at most
    CHUNK_BYTES); otherwise backward recomputes them from the saved input. With ``relu``
    set (the fused Conv2dReLU) the output pass clips at 0 and the dOut pass masks.
    """
    name = "Conv2d"      # errors and anomaly reports name the op, not its kernel
    relu = False

    def forward(self, x, w, b):
        self.on_kernels = _kernel_dtype(x, w, b)
        if not self.on_kernels:
            return super().forward(x, w, b)
        cp = _cupy()
        n, c, h, wd = x.shape
        o, c_g, kh, kw = w.shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        (pt, pb), (pl, pr) = self.padding
        h_out = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
        w_out = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
        self.x, self.x_shape, self.w_shape = cp.ascontiguousarray(x), x.shape, w.shape
        self.out_hw = (h_out, w_out)
        self.w_rows = cp.ascontiguousarray(w).reshape(o, c_g * kh * kw)
        has_bias = b is not None
        bias = cp.ascontiguousarray(b) if has_bias else cp.empty(0, dtype=x.dtype)
        out = cp.empty((n, o, h_out, w_out), dtype=x.dtype)
        plane = h_out * w_out
        chunks = _chunks(n, c * kh * kw * plane * x.itemsize)
        cols = None
        for start, stop in chunks:
            cols = self._im2col(start, stop)
            rows = self._per_group(cols)                                  # (O, n L)
            launch("conv.cu", "rows_to_nchw", x.dtype, (stop - start) * o * plane,
                   (rows, bias, out[start:stop], _i32(stop - start), _i32(o), _i32(plane),
                    _i32(has_bias), _i32(self.relu)))
        self.cols = cols if len(chunks) == 1 else None       # backward needs no second im2col
        self.y = out if self.relu else None
        return out

    def backward(self, dout):
        if not self.on_kernels:
            return super().backward(dout)
        cp = _cupy()
        n, c, h, wd = self.x_shape
        o, c_g, kh, kw = self.w_shape
        g, og, k = self.groups, o // self.groups, c_g * kh * kw
        (sh, sw), (dh, dw_) = self.stride, self.dilation
        (pt, _), (pl, _) = self.padding
        h_out, w_out = self.out_hw
        plane = h_out * w_out
        dout = cp.ascontiguousarray(dout)
        want_dx, want_dw, want_db = self.needs_input_grad
        dx = cp.empty(self.x_shape, dtype=dout.dtype) if want_dx else None
        dw = cp.zeros((g, og, k), dtype=dout.dtype) if want_dw else None
        db = cp.zeros(o, dtype=dout.dtype) if want_db else None
        w_t = self.w_rows.reshape(g, og, k).transpose(0, 2, 1)             # (g, K, O/g)
        for start, stop in _chunks(n, c * kh * kw * plane * dout.itemsize):
            m = stop - start
            rows = cp.empty((o, m * plane), dtype=dout.dtype)             # dOut (O, n L)
            mask = self.y[start:stop] if self.relu else dout[start:stop]
            launch("conv.cu", "nchw_to_rows", dout.dtype, o * m * plane,
                   (dout[start:stop], mask, rows, _i32(m), _i32(o), _i32(plane),
                    _i32(self.relu)))
            if want_db:
                db += rows.sum(axis=1)                                     # db = sum dOut
            rows_g = rows.reshape(g, og, m * plane)
            if want_dw:
                cols = self.cols if self.cols is not None else self._im2col(start, stop)
                # dW_g += dOut_g @ cols_g^T
                dw += cp.matmul(rows_g, cols.reshape(g, k, m * plane).transpose(0, 2, 1))
            if want_dx:
                dcols = cp.matmul(w_t, rows_g).reshape(c * kh * kw, m * plane)  # W_g^T dOut_g
                launch("conv.cu", "col2im", dout.dtype, m * c * h * wd,
                       (dcols, dx[start:stop], _i32(m), _i32(c), _i32(h), _i32(wd), _i32(kh),
                        _i32(kw), _i32(sh), _i32(sw), _i32(pt), _i32(pl), _i32(dh), _i32(dw_),
                        _i32(h_out), _i32(w_out)))
        return dx, (dw.reshape(self.w_shape) if want_dw else None), db

    def _im2col(self, start, stop):
        """cols (C kh kw, n L) of the samples start:stop of the saved input."""
        cp = _cupy()
        _, c, h, wd = self.x_shape
        _, _, kh, kw = self.w_shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        (pt, _), (pl, _) = self.padding
        h_out, w_out = self.out_hw
        m = stop - start
        cols = cp.empty((c * kh * kw, m * h_out * w_out), dtype=self.x.dtype)
        launch("conv.cu", "im2col", self.x.dtype, cols.size,
               (self.x[start:stop], cols, _i32(m), _i32(c), _i32(h), _i32(wd), _i32(kh),
                _i32(kw), _i32(sh), _i32(sw), _i32(pt), _i32(pl), _i32(dh), _i32(dw),
                _i32(h_out), _i32(w_out)))
        return cols

    def _per_group(self, cols):
        """out_g = W_g @ cols_g for every group, as one batched product: (O, n L)."""
        cp = _cupy()
        g = self.groups
        if g == 1:
            return cp.matmul(self.w_rows, cols)
        o, k = self.w_rows.shape
        out = cp.matmul(self.w_rows.reshape(g, o // g, k), cols.reshape(g, k, cols.shape[1]))
        return out.reshape(o, cols.shape[1])


class Conv2dReLUCuPy(Conv2dCuPy, Conv2dReLU):
    """Conv2dReLU (relu(conv2d(x, W) + b)) on the same kernels as Conv2dCuPy, the ReLU
    fused into the pass that writes the output and the pass that reads dOut."""
    name = "Conv2dReLU"
    relu = True


def _pool_args(op, x_shape, h_out, w_out):
    """The geometry arguments shared by the four pooling kernels, as int32 scalars."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), ((pt, _), (pl, _)) = op.kernel, op.stride, op.padding
    return tuple(_i32(v) for v in (n, c, h, w, kh, kw, sh, sw, pt, pl, h_out, w_out))


class MaxPool2dCuPy(MaxPool2d):
    """MaxPool2d by direct window loops (kernels/cuda/pool.cu); saves one int32 arg-max
    per output (none when backward cannot be called); backward gathers per input pixel."""
    name = "MaxPool2d"      # errors and anomaly reports name the op, not its kernel

    def forward(self, x):
        self.on_kernels = _kernel_dtype(x)
        if not self.on_kernels:
            return super().forward(x)
        cp = _cupy()
        (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        h_out = (h + pt + pb - kh) // sh + 1
        w_out = (w + pl + pr - kw) // sw + 1
        out = cp.empty((n, c, h_out, w_out), dtype=x.dtype)
        with_argmax = bool(self.recording)
        self.argmax = cp.empty(out.shape if with_argmax else (0,), dtype=np.int32)
        self.x_shape = x.shape
        launch("pool.cu", "max_pool2d_forward", x.dtype, out.size,
               (cp.ascontiguousarray(x), out, self.argmax) +
               _pool_args(self, x.shape, h_out, w_out) + (_i32(with_argmax),))
        return out

    def backward(self, dout):
        if not self.on_kernels:
            return super().backward(dout)
        cp = _cupy()
        dx = cp.empty(self.x_shape, dtype=dout.dtype)
        launch("pool.cu", "max_pool2d_backward", dout.dtype, dx.size,
               (cp.ascontiguousarray(dout), self.argmax, dx) +
               _pool_args(self, self.x_shape, *dout.shape[2:]))
        return dx


class AvgPool2dCuPy(AvgPool2d):
    """AvgPool2d by direct window loops (kernels/cuda/pool.cu), the reference's divisor
    (H_out, W_out); backward gathers per input pixel."""
    name = "AvgPool2d"      # errors and anomaly reports name the op, not its kernel

    def forward(self, x):
        self.on_kernels = _kernel_dtype(x)
        if not self.on_kernels:
            return super().forward(x)
        cp = _cupy()
        self.divisor_c = cp.ascontiguousarray(cp.asarray(self.divisor, dtype=x.dtype))
        h_out, w_out = self.divisor_c.shape
        out = cp.empty(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
        self.x_shape = x.shape
        launch("pool.cu", "avg_pool2d_forward", x.dtype, out.size,
               (cp.ascontiguousarray(x), self.divisor_c, out) +
               _pool_args(self, x.shape, h_out, w_out))
        return out

    def backward(self, dout):
        if not self.on_kernels or dout.dtype != self.divisor_c.dtype:
            return super().backward(dout)
        cp = _cupy()
        dx = cp.empty(self.x_shape, dtype=dout.dtype)
        launch("pool.cu", "avg_pool2d_backward", dout.dtype, dx.size,
               (cp.ascontiguousarray(dout), self.divisor_c, dx) +
               _pool_args(self, self.x_shape, *dout.shape[2:]))
        return dx


class ReLUCuPy(ReLU):
    """ReLU in one pass each way (kernels/cuda/elementwise.cu); saves the output, not a
    mask."""
    name = "ReLU"      # errors and anomaly reports name the op, not its kernel

    def forward(self, x):
        self.on_kernels = _kernel_dtype(x)
        if not self.on_kernels:
            return super().forward(x)
        cp = _cupy()
        x = cp.ascontiguousarray(x)
        self.y = cp.empty_like(x)
        launch("elementwise.cu", "relu_forward", x.dtype, x.size,
               (x, self.y, np.int64(x.size)))
        return self.y

    def backward(self, g):
        if not self.on_kernels:
            return super().backward(g)
        if g.dtype != self.y.dtype:
            return g * (self.y > 0)                      # dy/dx = [x > 0], as the reference
        cp = _cupy()
        g = cp.ascontiguousarray(g)
        dx = cp.empty_like(g)
        launch("elementwise.cu", "relu_backward", g.dtype, g.size,
               (g, self.y, dx, np.int64(g.size)))
        return dx


class LinearCuPy(Linear):
    """Linear as one cuBLAS product, the bias added in place by the fused bias kernel
    (no temporary): y (M, O) = x (M, I) @ W (I, O); y[m, o] += b[o]. Backward is the
    reference's (three products)."""
    name = "Linear"      # errors and anomaly reports name the op, not its kernel

    def forward(self, x, w, b):
        if b is None or x.ndim != 2 or not _kernel_dtype(x, w, b):
            return super().forward(x, w, b)
        cp = _cupy()
        self.x, self.w = x, w
        y = cp.ascontiguousarray(cp.matmul(x, w))
        launch("elementwise.cu", "bias_activation", y.dtype, y.size,
               (y, cp.ascontiguousarray(b), np.int64(y.shape[0]), _i32(y.shape[1]), _i32(0)))
        return y


class CrossEntropyCuPy(CrossEntropy):
    """CrossEntropy with log-softmax, softmax and the per-sample loss in one block-per-row
    kernel; backward (p - q) * g / divisor in one element kernel, g left on the device."""
    name = "CrossEntropy"      # errors and anomaly reports name the op, not its kernel

    def forward(self, x):
        self.on_kernels = (_kernel_dtype(x, self.target) and x.ndim == 2 and
                           x.shape[0] > 0 and x.shape[1] > 0)
        if not self.on_kernels:
            return super().forward(x)
        cp = _cupy()
        n, c = x.shape
        self.target = cp.ascontiguousarray(self.target)
        per_sample = cp.empty(n, dtype=x.dtype)
        self.p = cp.empty((n, c), dtype=x.dtype)
        launch_rows("elementwise.cu", "softmax_cross_entropy_forward", x.dtype, n, c,
                    (cp.ascontiguousarray(x), self.target, per_sample, self.p, _i32(n),
                     _i32(c)))
        if self.reduction == "none":
            return per_sample
        return per_sample.sum() / (n if self.reduction == "mean" else 1)

    def backward(self, g):
        if not self.on_kernels or g.dtype != self.p.dtype:
            return super().backward(g)
        cp = _cupy()
        n, c = self.p.shape
        g = cp.ascontiguousarray(g).reshape(-1)
        per_row = self.reduction == "none"
        divisor = self.p.dtype.type(n if self.reduction == "mean" else 1)
        dx = cp.empty_like(self.p)
        launch("elementwise.cu", "softmax_cross_entropy_backward", dx.dtype, dx.size,
               (self.p, self.target, g, dx, _i32(n), _i32(c), _i32(per_row), divisor))
        return dx


CUPY_KERNELS = {Conv2d: Conv2dCuPy, Conv2dReLU: Conv2dReLUCuPy, MaxPool2d: MaxPool2dCuPy,
                AvgPool2d: AvgPool2dCuPy, ReLU: ReLUCuPy, Linear: LinearCuPy,
                CrossEntropy: CrossEntropyCuPy}
