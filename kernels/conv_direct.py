"""Numba kernels for conv2d by direct loops, for stride 1 and one group: no columns at all.

Reference twin: functional.conv.Conv2d (and Conv2dReLU when ``relu`` is set). Used by
kernels/ops.py for convolutions with few input channels (a network's first layer), where
im2col's columns are kh kw times the input for a matrix product too thin to pay for them.

The trick that makes direct loops fast: keep each plane flat, row-major, with the padded
input's row length W_pad. Then output pixel (y, x) sits at q = y W_pad + x, and the input
pixel that kernel tap (i, j) multiplies with it at

    q + i d_h W_pad + j d_w          (stride 1)

so one tap of one (input channel, output channel) pair is one contiguous multiply-add over
the whole plane, which LLVM vectorises:

    acc[q] += W[o, c, i, j] * x_flat[q + i d_h W_pad + j d_w]      q = 0 .. L-1

Two taps (j, j+1) share each pass over the plane (acc in forward, dOut in the dW sums),
and forward fills two output channels' planes in that pass: fewer loads and stores, which
is what these loops wait for (LeNet's 5x5 conv1 at 2 threads: forward 0.69 -> 0.55 ms
with two taps, -> 0.44 ms with two channels too; dW 0.80 -> 0.69 ms; 3 channels: forward
1.75 -> 1.38 -> 1.07 ms, dW 2.2 -> 1.85 ms).

with L = (H_out - 1) W_pad + W_out. The last W_pad - W_out entries of each row of ``acc``
are 'wide' garbage (windows that run off the right edge); they are never copied out, and
in backward the wide copy of dOut holds zeros there.
"""
import numpy as np

from ._jit import kernel
from .conv import widen_masked


@kernel
def conv2d_direct_forward(x_pad, w, bias, relu, dh, dw, out):
    """Fills out (N, O, H_out, W_out) = act(conv2d(x_pad, w) + bias), stride 1; x_pad
    (N, C, H_pad, W_pad) is already padded; a bias of length 0 means none; relu = 1 clips
    at 0 (the fused Conv2dReLU), 0 leaves it.

    As plain loops:
        for n, o, y, x:
            z = bias[o] + sum_{c, i, j} w[o, c, i, j] * x_pad[n, c, y + i d_h, x + j d_w]
            out[n, o, y, x] = max(z, 0) if relu else z
    """
    n_count, c_count, h_pad, w_pad = x_pad.shape
    o_count, _, kh, kw = w.shape
    h_out, w_out = out.shape[2], out.shape[3]
    length = (h_out - 1) * w_pad + w_out
    has_bias = bias.shape[0] > 0
    pairs = (o_count + 1) // 2                   # output channels o and o + 1 together
    for np_ in range(n_count * pairs):
        n = np_ // pairs
        o = 2 * (np_ % pairs)
        o_next = min(o + 1, o_count - 1)         # (o itself again when O is odd)
        acc = np.empty((2, h_out * w_pad), dtype=out.dtype)
        acc_o, acc_next = acc[0], acc[1]
        bias_o = bias[o] if has_bias else 0.0
        bias_next = bias[o_next] if has_bias else 0.0
        for q in range(acc_o.shape[0]):
            acc_o[q] = bias_o
            acc_next[q] = bias_next
        for c in range(c_count):
            x_flat = x_pad[n, c].reshape(h_pad * w_pad)
            for i in range(kh):
                for j in range(0, kw, 2):
                    start = i * dh * w_pad + j * dw
                    src = x_flat[start:start + length]
                    tap, tap_o_next = w[o, c, i, j], w[o_next, c, i, j]
                    if j + 1 < kw:                     # taps j and j+1 in one pass
                        src_next = x_flat[start + dw:start + dw + length]
                        tap_j_next, tap_both_next = w[o, c, i, j + 1], w[o_next, c, i, j + 1]
                        for q in range(length):
                            acc_o[q] += tap * src[q] + tap_j_next * src_next[q]
                            acc_next[q] += tap_o_next * src[q] + tap_both_next * src_next[q]
                    else:
                        for q in range(length):
                            acc_o[q] += tap * src[q]
                            acc_next[q] += tap_o_next * src[q]
        for k in range(2 if o_next != o else 1):
            for y in range(h_out):
                row = acc[k, y * w_pad:y * w_pad + w_out]
                dst = out[n, o + k, y]
                for x in range(w_out):
                    dst[x] = row[x] * (row[x] > 0) if relu else row[x]


@kernel(reassociate=True)
def conv2d_direct_backward_weight(x_pad, dout, y, dh, dw, bounds, dw_parts, db_parts):
    """Partial sums of dW and db over S consecutive slices of the batch, slice s being
    samples bounds[s] to bounds[s + 1] - 1: fills dw_parts (S, O, C, kh, kw) and db_parts
    (S, O) (float64, zeroed by the caller, who adds up the S parts). dOut (N, O, H_out, W_out) is masked by the fused ReLU when y (the forward
    output) is given (a y of size 0 means no ReLU).

    As plain loops:
        dZ = dOut * [y > 0]   (or dOut)
        for o, c, i, j:  dW[o, c, i, j] = sum_{n, y, x} dZ[n, o, y, x] x_pad[n, c, y + i d_h, x + j d_w]
        for o:           db[o] = sum_{n, y, x} dZ[n, o, y, x]
    Each slice is summed in a fixed order, and the slices are the caller's choice, not
    the thread count's (threads run whole slices), so the result does not depend on how
    many threads run.
    """
    c_count, h_pad, w_pad = x_pad.shape[1], x_pad.shape[2], x_pad.shape[3]
    slices, o_count, _, kh, kw = dw_parts.shape
    h_out, w_out = dout.shape[2], dout.shape[3]
    length = (h_out - 1) * w_pad + w_out
    masked = y.size > 0
    for s in range(slices):
        wide = np.empty(h_out * w_pad, dtype=dout.dtype)   # dZ[n, o] with row length W_pad
        wide[:] = 0                                        # (its gap columns stay 0)
        for n in range(bounds[s], bounds[s + 1]):
            for o in range(o_count):
                widen_masked(dout, y, masked, n, o, w_pad, wide)
                total_db = 0.0
                for q in range(wide.shape[0]):
                    total_db += wide[q]
                db_parts[s, o] += total_db
                for c in range(c_count):
                    x_flat = x_pad[n, c].reshape(h_pad * w_pad)
                    for i in range(kh):
                        for j in range(0, kw, 2):
                            start = i * dh * w_pad + j * dw
                            src = x_flat[start:start + length]
                            # (the sums start from q = 0's term: 0.0 would make them float64)
                            if j + 1 < kw:                 # taps j and j+1 in one pass
                                src_next = x_flat[start + dw:start + dw + length]
                                total = wide[0] * src[0]
                                total_next = wide[0] * src_next[0]
                                for q in range(1, length):
                                    total += wide[q] * src[q]
                                    total_next += wide[q] * src_next[q]
                                dw_parts[s, o, c, i, j + 1] += total_next
                            else:
                                total = wide[0] * src[0]
                                for q in range(1, length):
                                    total += wide[q] * src[q]
                            dw_parts[s, o, c, i, j] += total


@kernel
def conv2d_direct_backward_data(dout, y, w, dh, dw, dx_pad):
    """Fills dx_pad (N, C, H_pad, W_pad), the gradient of the padded input, from dOut
    (masked by the fused ReLU when y is given; a y of size 0 means no ReLU).

    As plain loops:
        dx_pad = 0
        for n, c, o, i, j, y, x:
            dx_pad[n, c, y + i d_h, x + j d_w] += w[o, c, i, j] * dZ[n, o, y, x]
    Each (n, c) plane is written by one pass (pieces of the batch run side by side).
    """
    n_count, c_count, h_pad, w_pad = dx_pad.shape
    o_count, _, kh, kw = w.shape
    h_out, w_out = dout.shape[2], dout.shape[3]
    length = (h_out - 1) * w_pad + w_out
    masked = y.size > 0
    for nc in range(n_count * c_count):
        n = nc // c_count
        c = nc % c_count
        dx_flat = np.empty(h_pad * w_pad, dtype=dx_pad.dtype)
        dx_flat[:] = 0
        wide = np.empty(h_out * w_pad, dtype=dout.dtype)
        wide[:] = 0
        for o in range(o_count):
            widen_masked(dout, y, masked, n, o, w_pad, wide)
            for i in range(kh):
                for j in range(kw):
                    tap = w[o, c, i, j]
                    dst = dx_flat[i * dh * w_pad + j * dw:i * dh * w_pad + j * dw + length]
                    for q in range(length):
                        dst[q] += tap * wide[q]
        dx_pad[n, c] = dx_flat.reshape(h_pad, w_pad)
