"""Numba kernels for conv2d by direct loops, for stride 1 and one group: no columns at all.

Reference twin: functional.conv.Conv2d (and Conv2dReLU when ``relu`` is set). Used by
kernels/ops.py for stride-1 convolutions whose planes are large next to their channel
count (a network's first layer, ResNet's 16-channel 32x32 stage), where im2col's columns
are kh kw times the input and copying them costs as much as the product.

The trick that makes direct loops fast: keep each plane flat, row-major, with the padded
input's row length W_pad. Then output pixel (y, x) sits at q = y W_pad + x, and the input
pixel that kernel tap (i, j) multiplies with it at

    q + i d_h W_pad + j d_w          (stride 1)

so one tap of one (input channel, output channel) pair is one contiguous multiply-add over
the whole plane, which LLVM vectorises:

    acc[q] += W[o, c, i, j] * x_flat[q + i d_h W_pad + j d_w]      q = 0 .. L-1

with L = (H_out - 1) W_pad + W_out. The last W_pad - W_out entries of each row of ``acc``
are 'wide' garbage (windows that run off the right edge); they are never copied out, and
in backward the wide copy of dOut holds zeros there.

Each pass over the plane does the taps j, j+1, j+2 of one kernel row for four output
channels at once: 3 loads of x and 4 of acc feed 12 multiply-adds (fused, FMA) and 4
stores, so the loop waits on the multiply-adds rather than on memory. (One tap pair for
two channels, the earlier loop, did 4 multiply-adds per 4 loads and 2 stores, without
FMA. One thread, Intel Xeon: LeNet's conv1 forward 15.4 -> 19.4 GMAC/s; 16 channels
3x3 on 32x32: forward 17 -> 33, dW 16 -> 39, dx 8.5 -> 23.)

Backward:
    dW[o, c, i, j] = sum_{n, q} dZ_wide[n, o, q] x_flat[n, c, q + i d_h W_pad + j d_w]
        twelve such sums per pass (four channels o, three taps j), each vectorised into
        partial sums (``reassociate``)
    dx_pad = the forward loops run on dZ padded by (kh - 1) d_h rows and (kw - 1) d_w
        columns each side, with W flipped in (i, j) and its channel axes swapped
        (the 'full' correlation: dx_pad[c, y, x] = sum_{o, i, j} W[o, c, i, j]
        dZ[o, y - i d_h, x - j d_w]), so dx has the forward's speed.
"""
import numpy as np

from ._jit import helper, kernel
from .conv import widen_masked


@kernel(fma=True)
def conv2d_direct_forward(x_pad, w, bias, relu, dh, dw, acc, out):
    """Fills out (N, O, H_out, W_out) = act(conv2d(x_pad, w) + bias), stride 1; x_pad
    (N, C, H_pad, W_pad) is already padded; bias (O,) (zeros for a layer without one);
    relu = 1 clips at 0 (the fused Conv2dReLU), 0 leaves it. acc (4, H_out W_pad), of out's
    dtype, is
    scratch (the caller's: a kernel that allocates compiles NumPy's allocation too).

    As plain loops:
        for n, o, y, x:
            z = bias[o] + sum_{c, i, j} w[o, c, i, j] * x_pad[n, c, y + i d_h, x + j d_w]
            out[n, o, y, x] = max(z, 0) if relu else z
    """
    n_count, c_count, h_pad, w_pad = x_pad.shape
    o_count, _, kh, kw = w.shape
    h_out, w_out = out.shape[2], out.shape[3]
    length = (h_out - 1) * w_pad + w_out
    blocks = (o_count + 3) // 4                 # output channels o .. o + 3 together
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    for nb in range(n_count * blocks):
        n = nb // blocks
        o = 4 * (nb % blocks)
        # (past the last channel, the block repeats it; those sums are never copied out)
        o0, o1, o2, o3 = o, min(o + 1, o_count - 1), min(o + 2, o_count - 1), \
            min(o + 3, o_count - 1)
        for k, ok in enumerate((o0, o1, o2, o3)):
            acc[k, :] = bias[ok]
        for c in range(c_count):
            x_flat = x_pad[n, c].reshape(h_pad * w_pad)
            for i in range(kh):
                for j in range(0, kw, 3):
                    start = i * dh * w_pad + j * dw
                    s0 = x_flat[start:start + length]
                    if j + 2 < kw:                         # taps j, j+1, j+2
                        s1 = x_flat[start + dw:start + dw + length]
                        s2 = x_flat[start + 2 * dw:start + 2 * dw + length]
                        w00, w01, w02 = w[o0, c, i, j], w[o0, c, i, j + 1], w[o0, c, i, j + 2]
                        w10, w11, w12 = w[o1, c, i, j], w[o1, c, i, j + 1], w[o1, c, i, j + 2]
                        w20, w21, w22 = w[o2, c, i, j], w[o2, c, i, j + 1], w[o2, c, i, j + 2]
                        w30, w31, w32 = w[o3, c, i, j], w[o3, c, i, j + 1], w[o3, c, i, j + 2]
                        for q in range(length):
                            u0, u1, u2 = s0[q], s1[q], s2[q]
                            a0[q] += w00 * u0 + w01 * u1 + w02 * u2
                            a1[q] += w10 * u0 + w11 * u1 + w12 * u2
                            a2[q] += w20 * u0 + w21 * u1 + w22 * u2
                            a3[q] += w30 * u0 + w31 * u1 + w32 * u2
                    elif j + 1 < kw:                       # the last two taps of the row
                        s1 = x_flat[start + dw:start + dw + length]
                        w00, w01 = w[o0, c, i, j], w[o0, c, i, j + 1]
                        w10, w11 = w[o1, c, i, j], w[o1, c, i, j + 1]
                        w20, w21 = w[o2, c, i, j], w[o2, c, i, j + 1]
                        w30, w31 = w[o3, c, i, j], w[o3, c, i, j + 1]
                        for q in range(length):
                            u0, u1 = s0[q], s1[q]
                            a0[q] += w00 * u0 + w01 * u1
                            a1[q] += w10 * u0 + w11 * u1
                            a2[q] += w20 * u0 + w21 * u1
                            a3[q] += w30 * u0 + w31 * u1
                    else:                                  # the last tap of the row
                        w00, w10, w20, w30 = w[o0, c, i, j], w[o1, c, i, j], \
                            w[o2, c, i, j], w[o3, c, i, j]
                        for q in range(length):
                            u0 = s0[q]
                            a0[q] += w00 * u0
                            a1[q] += w10 * u0
                            a2[q] += w20 * u0
                            a3[q] += w30 * u0
        for k in range(min(4, o_count - o)):
            for y in range(h_out):
                row = acc[k, y * w_pad:y * w_pad + w_out]
                dst = out[n, o + k, y]
                for x in range(w_out):
                    dst[x] = row[x] * (row[x] > 0) if relu else row[x]


@helper
def _add_products(t0, t1, t2, d, u0, u1, u2):
    """(t0 + d u0, t1 + d u1, t2 + d u2): one output channel's three tap sums, one step."""
    return t0 + d * u0, t1 + d * u1, t2 + d * u2


@kernel(reassociate=True)
def conv2d_direct_backward_weight(x_pad, dout, y, dh, dw, bounds, wide, dw_parts,
                                  db_parts):
    """Partial sums of dW and db over S consecutive slices of the batch, slice s being
    samples bounds[s] to bounds[s + 1] - 1: fills dw_parts (S, O, C, kh, kw) and db_parts
    (S, O) (float64, zeroed by the caller, who adds up the S parts). dOut (N, O, H_out,
    W_out) is masked by the fused ReLU when y (the forward output) is given (a y of size 0
    means no ReLU). wide (4, H_out W_pad), of dOut's dtype and zeroed by the caller, is
    scratch: four channels of dZ with row length W_pad (its gap columns stay 0).

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
    zero = wide[0, 0]                         # a 0 of dOut's dtype (0.0 would make the
    z0, z1, z2, z3 = wide[0], wide[1], wide[2], wide[3]    # sums float64)
    for s in range(slices):
        for n in range(bounds[s], bounds[s + 1]):
            for o in range(0, o_count, 4):
                block = min(4, o_count - o)    # (rows of wide past it: stale, sums not kept)
                for k in range(block):
                    widen_masked(dout, y, masked, n, o + k, w_pad, wide[k])
                    total_db = zero
                    for q in range(length):
                        total_db += wide[k, q]
                    db_parts[s, o + k] += total_db
                for c in range(c_count):
                    x_flat = x_pad[n, c].reshape(h_pad * w_pad)
                    for i in range(kh):
                        for j in range(0, kw, 3):            # taps j, j+1, j+2 (past the
                            start = i * dh * w_pad + j * dw  # row's end: sums not kept)
                            s0 = x_flat[start:start + length]
                            s1 = x_flat[start + dw:start + dw + length] if j + 1 < kw else s0
                            s2 = x_flat[start + 2 * dw:start + 2 * dw + length] \
                                if j + 2 < kw else s0
                            t00 = t01 = t02 = t10 = t11 = t12 = zero
                            t20 = t21 = t22 = t30 = t31 = t32 = zero
                            for q in range(length):
                                u0, u1, u2 = s0[q], s1[q], s2[q]
                                d0, d1, d2, d3 = z0[q], z1[q], z2[q], z3[q]
                                t00, t01, t02 = _add_products(t00, t01, t02, d0, u0, u1, u2)
                                t10, t11, t12 = _add_products(t10, t11, t12, d1, u0, u1, u2)
                                t20, t21, t22 = _add_products(t20, t21, t22, d2, u0, u1, u2)
                                t30, t31, t32 = _add_products(t30, t31, t32, d3, u0, u1, u2)
                            sums = ((t00, t01, t02), (t10, t11, t12), (t20, t21, t22),
                                    (t30, t31, t32))
                            for k in range(block):
                                for t in range(min(3, kw - j)):
                                    dw_parts[s, o + k, c, i, j + t] += sums[k][t]


@kernel
def pad_masked(dout, y, top, left, dz):
    """Fills dz (N, O, H_z, W_z) with dZ = dOut * [y > 0] (plain dOut when y has size 0),
    placed at rows top .. top + H_out - 1 and columns left .. left + W_out - 1, zeros
    around it: the padded dZ that backward's full correlation reads.

    As plain loops:
        dz = 0
        for n, o, y, x:  dz[n, o, top + y, left + x] = dOut[n, o, y, x] [y[n, o, y, x] > 0]
    """
    n_count, o_count, h_z, w_z = dz.shape
    masked = y.size > 0
    for n in range(n_count):
        for o in range(o_count):
            plane = dz[n, o].reshape(h_z * w_z)
            plane[:] = 0
            widen_masked(dout, y, masked, n, o, w_z, plane[top * w_z + left:])
