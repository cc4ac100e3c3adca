"""The numba backend's ops: subclasses of the reference Functions with the same
contract (same inputs, outputs, gradients), whose forward and backward call the
compiled kernels of conv.py, pool.py and elementwise.py.

Each class handles float32 and float64 NumPy arrays whose dtypes agree; for anything
else (mixed dtypes, integer data) it runs the reference math of its parent class, so
a kernel never sees an input it was not written for.
"""
import numpy as np

from ..functional.activation import ReLU
from ..functional.conv import Conv2d, Conv2dReLU
from ..functional.linear import Linear
from ..functional.loss import CrossEntropy
from ..functional.norm import BatchNorm
from ..functional.pool import AvgPool2d, MaxPool2d
from . import conv, conv_direct, elementwise, norm, pool, threads
from .batching import chunks, kernel_dtype as _kernel_dtype

def _c(a):
    return np.ascontiguousarray(a)


def _pad(x, padding):
    """x (N, C, H, W) with zero rows/columns ((top, bottom), (left, right)) added, C-contiguous."""
    (pt, pb), (pl, pr) = padding
    if pt + pb + pl + pr == 0:
        return _c(x)
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))


# Convolutions with stride 1 and one group run by direct loops (kernels/conv_direct.py)
# instead of im2col + BLAS when they have at most DIRECT_MAX_CHANNELS input channels, or
# at most DIRECT_MAX_OUT_CHANNELS output channels on planes of at least DIRECT_MIN_PIXELS
# output pixels: the columns cost one copy per kh kw taps of the input, which only
# amortises over many output channels, and the direct loops run fastest on long planes.
# Op times, 2 threads, Intel Xeon, forward / backward (dx included where C > 1), im2col
# against direct: LeNet's conv1 (1 -> 6, 5x5, 32x32, batch 128) 1.15 / 2.61 against
# 0.49 / 0.62 ms; 3 -> 6 2.35 / 8.98 against 1.22 / 2.83; ResNet's 16 -> 16, 3x3 pad 1,
# 32x32, batch 64, 4.72 / 8.21 against 3.56 / 5.74; 32 -> 16 10.3 / 19.3 against
# 7.3 / 11.2; 16 -> 16 on 16x16 1.39 / 2.25 against 1.25 / 2.05; where im2col wins:
# LeNet's conv2 (6 -> 16 on 10x10) 0.98 / 2.13 against 1.16 / 3.34, 32 -> 32 on 16x16
# 3.1 / 5.1 against 3.8 / 6.7, 64 -> 64 on 32x32 16.7 / 28.7 against 21.3 / 39.5 ms
# (each op alone, these limits set so that it takes one path or the other).
DIRECT_MAX_CHANNELS = 4
DIRECT_MAX_OUT_CHANNELS = 16
DIRECT_MIN_PIXELS = 256
DIRECT_BATCH_SLICES = 16    # dW of the direct loops: partial sums over 16 slices of the batch

# The columns of one chunk of samples: at most this many bytes, which bounds the memory
# im2col takes (VGG-16 at 224x224 builds 231 MB of columns per image in its first layers)
# and keeps each chunk in one core's L2 cache (2 MB on the Intel build host) while its
# im2col, products and col2im run one after the other: backward rebuilds the columns,
# which costs less than reading larger ones back from memory. A piece of the batch that is
# one chunk keeps its columns for backward. Step medians, 2 threads, 16 MB / 2 MB chunks,
# Intel Xeon (AVX-512, 2 MB L2), four to six alternating rounds: LeNet training 3x32x32
# batch 256 21.8 / 18.1 ms, 1x32x32 batch 128 9.1 / 8.5 ms, batch 32 4.2 / 4.3 ms,
# inference batch 128 3.13 / 2.85 ms; the VGG conv 72.2 / 50.0 ms; ResNet-20 at batch 64
# 322 / 264 ms. (An earlier measurement, on another build host, had found 1 MB chunks
# no faster than 16 MB for LeNet at 2 threads: batch 32 4.3-5.3 / 4.1-4.9 ms, batch 128
# 11.5-13.8 / 11.8-13.2 ms.)
CHUNK_BYTES = 2 << 20

# Pooling is the cheapest pass of a step (a compare or an add per element): it runs in
# two pieces only when its elements / POOL_ELEMENTS_PER_WORK reach threads.PARALLEL_MIN_
# ELEMENTS, about 1M elements. Max pooling 2x2 at 2 threads, forward + backward, serial /
# two pieces: (128, 6, 28, 28) 0.66 / 0.81 ms, (256, 6, 28, 28) 1.26 / 1.23 ms,
# (256, 18, 28, 28) 3.8 / 3.0 ms. LeNet inference at batch 128 (its first pooling then
# serial), fresh processes, old / new step medians: 3.04, 2.91, 2.92 / 2.89, 2.76, 2.82 ms.
POOL_ELEMENTS_PER_WORK = 4


class Conv2dNumba(Conv2d):
    """Conv2d through the im2col of kernels/conv.py and one BLAS matrix product per group,
    a chunk of samples at a time (L = H_out W_out columns per sample, or a few more in the
    wide layout of stride-1 convolutions, see kernels/conv.py; K = C/g kh kw; n = samples
    in a chunk):

        forward   cols (C kh kw, n L) = im2col(x_pad[chunk])
                  out_g (O/g, n L)     = W_g (O/g, K) @ cols_g (K, n L)
        backward  dW_g    += dOut_g @ cols_g^T
                  dcols_g  = W_g^T @ dOut_g  -> col2im -> dx[chunk]

    The batch is first cut into one piece per thread (kernels/threads.py); each thread runs
    the whole pass (im2col, its products on one BLAS thread, the output copy) over the
    chunks of its piece, and backward adds up the pieces' dW and db. A piece that was one
    chunk (at most CHUNK_BYTES of columns) keeps its columns for backward; otherwise
    backward recomputes them from the saved padded input, which is kh kw times smaller.
    Stride-1 convolutions of one group with few channels, or few output channels on large
    planes (see DIRECT_MAX_CHANNELS), skip the columns and run the direct loops of
    kernels/conv_direct.py. With ``relu`` set (the fused Conv2dReLU) the output pass clips
    at 0 and the dOut pass applies the mask.
    """
    name = "Conv2d"      # errors and anomaly reports name the op, not its kernel
    relu = False

    def forward(self, x, w, b):
        self.on_kernels = _kernel_dtype(x, w, b)
        if not self.on_kernels:
            return super().forward(x, w, b)
        n, c, h, wd = x.shape
        o, c_g, kh, kw = w.shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        (pt, pb), (pl, pr) = self.padding
        h_out = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
        w_out = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
        self.x_pad, self.x_shape, self.w_shape = _pad(x, self.padding), x.shape, w.shape
        w = _c(w)
        self.w_rows = w.reshape(o, c_g * kh * kw)
        self.direct = self.groups == 1 and (sh, sw) == (1, 1) and (
            c <= DIRECT_MAX_CHANNELS or
            o <= DIRECT_MAX_OUT_CHANNELS and h_out * w_out >= DIRECT_MIN_PIXELS)
        bias = _c(b) if b is not None else np.zeros(o, dtype=x.dtype)   # (O,), fused
        out = np.empty((n, o, h_out, w_out), dtype=x.dtype)
        self.y = out if self.relu else np.empty((0, 0, 0, 0), dtype=x.dtype)
        self.cols = None
        if self.direct:
            self.slices = self._slices(n, out.size)
            threads.run(lambda s0, s1: conv_direct.conv2d_direct_forward(
                self.x_pad[self.bounds[s0]:self.bounds[s1]], w, bias, int(self.relu), dh, dw,
                _scratch(h_out, self.x_pad.shape[3], x.dtype),
                out[self.bounds[s0]:self.bounds[s1]]), self.slices)
            return out
        # wide rows for stride 1, unless the extra columns would cost over half again
        w_pad = self.x_pad.shape[3]
        wide = (sh, sw) == (1, 1) and 2 * ((h_out - 1) * w_pad + w_out) <= 3 * h_out * w_out
        self.row_len = w_pad if wide else w_out
        self.pieces = threads.split(n, threads.madds(out.size * c_g * kh * kw))

        def piece(start, stop):                  # one thread: im2col, W @ cols, copy out
            for a, b_ in self._chunks(start, stop, h_out, w_out, x.itemsize):
                cols = self._im2col(a, b_, h_out, w_out)
                conv.rows_to_nchw(self._per_group(self.w_rows, cols), bias, int(self.relu),
                                  self.row_len, out[a:b_])
            one_chunk = (a, b_) == (start, stop) and cols.nbytes <= CHUNK_BYTES
            return cols if one_chunk else None           # kept: no second im2col
        kept = threads.run(piece, self.pieces, blas=True)
        if kept and all(cols is not None for cols in kept):
            self.cols = kept                             # one (C kh kw, n L) per piece
        return out

    def backward(self, dout):
        if not self.on_kernels:
            return super().backward(dout)
        if self.direct:
            return self._backward_direct(_c(dout))
        c = self.x_shape[1]
        o, c_g, kh, kw = self.w_shape
        g, og, k = self.groups, o // self.groups, c_g * kh * kw
        (sh, sw), (dh, dw_) = self.stride, self.dilation
        h_out, w_out = dout.shape[2:]
        dout = _c(dout)
        want_dx, want_dw = self.needs_input_grad[0], self.needs_input_grad[1]
        dx_pad = np.empty(self.x_pad.shape, dtype=dout.dtype) if want_dx else None
        kept = dict(zip([start for start, _ in self.pieces], self.cols)) if self.cols else {}

        def piece(start, stop):                  # one thread: its samples' dW, db and dx
            dw = np.zeros((o, k), dtype=dout.dtype) if want_dw else None
            db = np.zeros(o, dtype=dout.dtype)
            for a, b_ in self._chunks(start, stop, h_out, w_out, dout.itemsize):
                dout_rows, db_chunk = conv.nchw_to_rows(dout[a:b_],              # (O, n L), (O,)
                                                        self.y[a:b_],           # masked if relu
                                                        self.row_len)
                db += db_chunk                                               # db = sum dOut
                if want_dw:
                    cols = kept[start] if kept else self._im2col(a, b_, h_out, w_out)
                    for gi in range(g):                                  # dW_g += dOut_g cols_g^T
                        # as (cols_g dOut_g^T)^T: BLAS runs that shape 1.3-1.8x faster
                        # (one thread; LeNet's conv2 at batch 128 2.7 -> 1.5 ms)
                        dw[gi * og:(gi + 1) * og] += (cols[gi * k:(gi + 1) * k] @
                                                      dout_rows[gi * og:(gi + 1) * og].T).T
                if want_dx:
                    dcols = np.empty((c * kh * kw, dout_rows.shape[1]), dtype=dout.dtype)
                    for gi in range(g):                                  # dcols_g = W_g^T dOut_g
                        np.matmul(self.w_rows[gi * og:(gi + 1) * og].T,  # (into dcols: no copy)
                                  dout_rows[gi * og:(gi + 1) * og], out=dcols[gi * k:(gi + 1) * k])
                    if self.row_len != w_out:                     # col2im
                        conv.col2im_wide(dcols, dx_pad[a:b_], kh, kw, dh, dw_, h_out, w_out)
                    else:
                        conv.col2im_rows(dcols, dx_pad[a:b_], kh, kw, sh, sw, dh, dw_,
                                         h_out, w_out, self.row_len)
            return dw, db
        parts = threads.run(piece, self.pieces, blas=True)
        dw = _total([p[0] for p in parts], (o, k), dout.dtype) if want_dw else None
        db = _total([p[1] for p in parts], (o,), dout.dtype)
        return self._crop(dx_pad), (dw.reshape(self.w_shape) if want_dw else None), \
            (db if self.needs_input_grad[2] else None)

    def _backward_direct(self, dout):
        """dx, dW, db by the direct loops (stride 1, one group), in one parallel region:
        each thread takes whole slices of the batch (their dW and db partial sums, and
        their samples' dx)."""
        dh, dw_ = self.dilation
        want_dx, want_dw, want_db = self.needs_input_grad
        dx_pad = np.empty(self.x_pad.shape, dtype=dout.dtype) if want_dx else None
        want_parts = want_dw or want_db
        slices = len(self.bounds) - 1                      # float64 partial sums per slice
        dw_parts = np.zeros((slices,) + self.w_shape if want_parts else (0,) + self.w_shape)
        db_parts = np.zeros((slices, self.w_shape[0]) if want_parts else (0, self.w_shape[0]))
        o, _, kh, kw = self.w_shape
        top, left = (kh - 1) * dh, (kw - 1) * dw_          # dZ's padding for the full
        h_out, w_out = dout.shape[2:]                     # correlation that gives dx
        if want_dx:     # W flipped in (i, j), axes (O, C) swapped: dx_pad = forward(dZ, w_full)
            w_full = _c(self.w_rows.reshape(self.w_shape)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
            no_bias = np.zeros(w_full.shape[0], dtype=dout.dtype)

        def piece(s0, s1):
            lo, hi = self.bounds[s0], self.bounds[s1]
            if want_parts:
                conv_direct.conv2d_direct_backward_weight(
                    self.x_pad[lo:hi], dout[lo:hi], self.y[lo:hi], dh, dw_,
                    self.bounds[s0:s1 + 1] - lo,
                    _scratch(h_out, self.x_pad.shape[3], dout.dtype),
                    dw_parts[s0:s1], db_parts[s0:s1])
            if want_dx:
                dz = np.empty((hi - lo, o, h_out + 2 * top, w_out + 2 * left), dtype=dout.dtype)
                conv_direct.pad_masked(dout[lo:hi], self.y[lo:hi], top, left, dz)
                conv_direct.conv2d_direct_forward(
                    dz, w_full, no_bias, 0, dh, dw_, _scratch(dx_pad.shape[2], dz.shape[3],
                                                              dz.dtype), dx_pad[lo:hi])
        threads.run(piece, self.slices)
        dw = dw_parts.sum(axis=0).astype(dout.dtype) if want_dw else None
        db = db_parts.sum(axis=0).astype(dout.dtype) if want_db else None
        return self._crop(dx_pad), dw, db

    def _slices(self, n, out_size):
        """The direct loops' slices of the batch (self.bounds: DIRECT_BATCH_SLICES of them,
        at most one per sample) and the pieces of them the threads run (out_size: the
        output's elements, each C kh kw multiply-adds)."""
        slices = min(n, DIRECT_BATCH_SLICES)
        self.bounds = np.array([s * n // slices for s in range(slices + 1)] if n else [0],
                               dtype=np.int64)
        _, c, kh, kw = self.w_shape
        return threads.split(slices, threads.madds(out_size * c * kh * kw))

    def _crop(self, dx_pad):
        """The gradient of x from that of the padded x (None stays None)."""
        if dx_pad is None:
            return None
        (pt, _), (pl, _) = self.padding
        h, wd = self.x_shape[2:]
        return dx_pad[:, :, pt:pt + h, pl:pl + wd] if dx_pad.shape[2:] != (h, wd) else dx_pad

    # -- helpers
    def _chunks(self, start, stop, h_out, w_out, itemsize):
        """Chunks (a, b) of samples start..stop-1 whose columns fit in CHUNK_BYTES."""
        c, (kh, kw) = self.x_shape[1], self.w_shape[2:]
        per_sample = c * kh * kw * self._length(h_out, w_out) * itemsize
        return [(start + a, start + b) for a, b in chunks(stop - start, per_sample, CHUNK_BYTES)]

    def _length(self, h_out, w_out):
        """Columns per sample: H_out W_out, or (H_out - 1) W_pad + W_out when wide."""
        return (h_out - 1) * self.row_len + w_out

    def _im2col(self, start, stop, h_out, w_out):
        _, _, kh, kw = self.w_shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        if self.row_len != w_out:       # (its own kernel: a network of wide convs compiles
            return conv.im2col_wide(self.x_pad[start:stop], kh, kw, dh, dw, h_out, w_out)
        return conv.im2col_rows(self.x_pad[start:stop], kh, kw, sh, sw, dh, dw, h_out, w_out,
                                self.row_len)      # only that one)

    def _per_group(self, w_rows, cols):
        """out_g = W_g @ cols_g for every group g (one product when groups == 1)."""
        g = self.groups
        if g == 1:
            return w_rows @ cols
        og, k = w_rows.shape[0] // g, w_rows.shape[1]
        out = np.empty((w_rows.shape[0], cols.shape[1]), dtype=cols.dtype)
        for gi in range(g):
            out[gi * og:(gi + 1) * og] = w_rows[gi * og:(gi + 1) * og] @ cols[gi * k:(gi + 1) * k]
        return out


def _scratch(h_out, w_pad, dtype):
    """Four planes of h_out rows of w_pad zeros: the direct loops' scratch (allocated here
    by NumPy, so that the kernels compile no allocation of their own)."""
    return np.zeros((4, h_out * w_pad), dtype=dtype)


def _total(parts, shape, dtype):
    """The sum of the pieces' partial results, in piece order (zeros when there are none)."""
    total = np.zeros(shape, dtype=dtype)
    for part in parts:
        total += part
    return total


class Conv2dReLUNumba(Conv2dNumba, Conv2dReLU):
    """Conv2dReLU (relu(conv2d(x, W) + b)) on the same kernels as Conv2dNumba, the ReLU
    fused into the pass that writes the output and the pass that reads dOut."""
    name = "Conv2dReLU"
    relu = True


def _pool_work(x):
    """A pooling pass's work over x, for threads.split (POOL_ELEMENTS_PER_WORK)."""
    return x.size // POOL_ELEMENTS_PER_WORK


class MaxPool2dNumba(MaxPool2d):
    """MaxPool2d by direct window loops (kernels/pool.py), pieces of the batch side by
    side; saves one int32 arg-max per output instead of the reference's im2col copy (none
    when backward cannot be called)."""
    name = "MaxPool2d"      # errors and anomaly reports name the op, not its kernel
    def forward(self, x):
        self.on_kernels = _kernel_dtype(x)
        if not self.on_kernels:
            return super().forward(x)
        (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        out = np.empty((n, c, (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1),
                       dtype=x.dtype)
        argmax = np.empty(out.shape if self.recording else (0, 0, 0, 0), dtype=np.int32)
        x = _c(x)
        if (kh, kw, sh, sw, pt, pl) == (2, 2, 2, 2, 0, 0) and 2 * out.shape[2] <= h and \
                2 * out.shape[3] <= w:                         # the usual 2x2 / stride 2
            threads.run_split(n, _pool_work(x), lambda a, b: pool.max_pool2d_forward_2x2(
                x[a:b], out[a:b], argmax[a:b]))
        else:
            threads.run_split(n, _pool_work(x), lambda a, b: pool.max_pool2d_forward(
                x[a:b], kh, kw, sh, sw, pt, pl, out[a:b], argmax[a:b]))
        self.argmax, self.x_shape = argmax, x.shape
        return out

    def backward(self, dout):
        if not self.on_kernels:
            return super().backward(dout)
        dout, dx = _c(dout), np.empty(self.x_shape, dtype=dout.dtype)
        threads.run_split(len(dx), _pool_work(dx), lambda a, b: pool.max_pool2d_backward(
            dout[a:b], self.argmax[a:b], dx[a:b]))
        return dx


class AvgPool2dNumba(AvgPool2d):
    """AvgPool2d by direct window loops (kernels/pool.py), the reference's divisor."""
    name = "AvgPool2d"      # errors and anomaly reports name the op, not its kernel
    def forward(self, x):
        self.on_kernels = _kernel_dtype(x)
        if not self.on_kernels:
            return super().forward(x)
        (kh, kw), (sh, sw), ((pt, _), (pl, _)) = self.kernel, self.stride, self.padding
        self.divisor_c = _c(np.asarray(self.divisor, dtype=x.dtype))
        self.x_shape, x = x.shape, _c(x)
        out = np.empty(x.shape[:2] + self.divisor_c.shape, dtype=x.dtype)
        threads.run_split(len(x), _pool_work(x), lambda a, b: pool.avg_pool2d_forward(
            x[a:b], self.divisor_c, kh, kw, sh, sw, pt, pl, out[a:b]))
        return out

    def backward(self, dout):
        if not self.on_kernels:
            return super().backward(dout)
        (kh, kw), (sh, sw), ((pt, _), (pl, _)) = self.kernel, self.stride, self.padding
        dout, dx = _c(dout), np.empty(self.x_shape, dtype=dout.dtype)
        threads.run_split(len(dx), _pool_work(dx), lambda a, b: pool.avg_pool2d_backward(
            dout[a:b], self.divisor_c, kh, kw, sh, sw, pt, pl, dx[a:b]))
        return dx


class ReLUNumba(ReLU):
    """ReLU in one pass each way (kernels/elementwise.py); saves the output, not a mask."""
    name = "ReLU"      # errors and anomaly reports name the op, not its kernel
    def forward(self, x):
        self.on_kernels = _kernel_dtype(x)
        if not self.on_kernels:
            return super().forward(x)
        flat = _c(x).reshape(-1)
        y = np.empty_like(flat)
        threads.run_split(flat.size, flat.size, lambda a, b: elementwise.relu_forward(
            flat[a:b], y[a:b]))
        self.y = y.reshape(x.shape)
        return self.y

    def backward(self, g):
        if not self.on_kernels:
            return super().backward(g)
        flat, y = _c(g).reshape(-1), self.y.reshape(-1)
        dx = np.empty_like(flat)
        threads.run_split(flat.size, flat.size, lambda a, b: elementwise.relu_backward(
            flat[a:b], y[a:b], dx[a:b]))
        return dx.reshape(g.shape)


class LinearNumba(Linear):
    """Linear by rows of the batch side by side, each on one BLAS thread, the bias added
    in place by the fused bias kernel (no temporary):

        forward    y[rows] = x[rows] @ W + b
        backward   dx[rows] = dY[rows] W^T;  dW = sum over pieces of x[rows]^T dY[rows]
    """
    name = "Linear"      # errors and anomaly reports name the op, not its kernel
    def forward(self, x, w, b):
        self.on_kernels = b is not None and x.ndim == 2 and _kernel_dtype(x, w, b)
        if not self.on_kernels:
            return super().forward(x, w, b)
        self.x, self.w = x, w
        out = np.empty((len(x), w.shape[1]), dtype=x.dtype)

        def rows(a, b_):
            np.matmul(x[a:b_], w, out=out[a:b_])
            elementwise.bias_activation(out[a:b_], b, 0)
        self.pieces = threads.split(len(x), threads.madds(x.size * w.shape[1], blas=True))
        threads.run(rows, self.pieces, blas=True)
        return out

    def backward(self, g):
        if not self.on_kernels or g.shape != (len(self.x), self.w.shape[1]):
            return super().backward(g)
        want_dx, want_dw, want_db = self.needs_input_grad
        dx = np.empty(self.x.shape, dtype=g.dtype) if want_dx else None

        def rows(a, b_):
            if want_dx:
                np.matmul(g[a:b_], self.w.T, out=dx[a:b_])             # dX = dY W^T
            return self.x[a:b_].T @ g[a:b_] if want_dw else None      # its part of X^T dY
        parts = threads.run(rows, self.pieces, blas=True)
        dw = _total(parts, self.w.shape, g.dtype) if want_dw else None
        return dx, dw, (g.sum(axis=0) if want_db else None)


class CrossEntropyNumba(CrossEntropy):
    """CrossEntropy with log-softmax, softmax and the per-sample loss in one pass."""
    name = "CrossEntropy"      # errors and anomaly reports name the op, not its kernel
    def forward(self, x):
        if not _kernel_dtype(x, self.target) or x.shape[1] == 0:
            return super().forward(x)
        x, q = _c(x), _c(self.target)
        per_sample, self.p = np.empty(len(x), dtype=x.dtype), np.empty_like(x)
        threads.run_split(len(x), x.size, lambda a, b: elementwise.softmax_cross_entropy(
            x[a:b], q[a:b], per_sample[a:b], self.p[a:b]))
        if self.reduction == "none":
            return per_sample
        return per_sample.sum() / (len(x) if self.reduction == "mean" else 1)


class BatchNormNumba(BatchNorm):
    """BatchNorm of x (N, C, H, W) with gamma, beta (C,) by the two-pass kernels of
    kernels/norm.py, one piece of the channels per thread (anything else runs the
    reference); m = N H W values per channel:

        forward    mean, var (biased) per channel;  x_hat = (x - mean) / sqrt(var + eps)
                   y = gamma x_hat + beta;  the running statistics as in the reference
        backward   dbeta = sum dy;  dgamma = sum dy x_hat
                   dx = gamma / sqrt(var + eps) (dy - dbeta / m - x_hat dgamma / m)
                   (in evaluation: dx = gamma / sqrt(var + eps) dy)
    """
    name = "BatchNorm"      # errors and anomaly reports name the op, not its kernel
    def forward(self, x, gamma, beta):
        self.on_kernels = x.ndim == 4 and gamma is not None and beta is not None and \
            _kernel_dtype(x, gamma, beta)
        if not self.on_kernels:
            return super().forward(x, gamma, beta)
        c = x.shape[1]
        x, gamma, beta = _c(x), _c(gamma), _c(beta)
        if self.training:
            mean, var = np.empty(c), np.empty(c)
        else:
            mean = self.running_mean.astype(np.float64)
            var = self.running_var.astype(np.float64)
        inv_std = np.empty(c)
        self.x_hat, y = np.empty_like(x), np.empty_like(x)
        self.pieces = threads.split(c, x.size)
        threads.run(lambda c0, c1: norm.batch_norm_forward(
            x, gamma, beta, self.training, self.eps, mean, var, inv_std, self.x_hat, y, c0, c1),
            self.pieces)
        if self.training:
            self.update_running(mean, var, x.size // c)        # the reference's rule
        self.gamma, self.inv_std = gamma, inv_std
        return y

    def backward(self, dy):
        if not self.on_kernels:
            return super().backward(dy)
        dy = _c(dy)
        c = dy.shape[1]
        dx = np.empty_like(dy) if self.needs_input_grad[0] else np.empty((0, 0, 0, 0), dy.dtype)
        dgamma, dbeta = np.empty(c), np.empty(c)
        threads.run(lambda c0, c1: norm.batch_norm_backward(
            dy, self.x_hat, self.gamma, self.inv_std, self.training, dx, dgamma, dbeta, c0, c1),
            self.pieces)
        return (dx if self.needs_input_grad[0] else None,
                dgamma.astype(dy.dtype) if self.needs_input_grad[1] else None,
                dbeta.astype(dy.dtype) if self.needs_input_grad[2] else None)


NUMBA_KERNELS = {Conv2d: Conv2dNumba, Conv2dReLU: Conv2dReLUNumba, MaxPool2d: MaxPool2dNumba, AvgPool2d: AvgPool2dNumba,
                 ReLU: ReLUNumba, Linear: LinearNumba, CrossEntropy: CrossEntropyNumba,
                 BatchNorm: BatchNormNumba}
