"""Numba kernels for conv2d: im2col and col2im over the whole batch at once, and the
moves between that layout and NCHW (with the bias folded in).

The reference (minicnn/functional/conv.py) builds cols per sample, shape
(N, C, kh, kw, H_out, W_out), and multiplies one small matrix per sample. Here the
columns of the whole batch sit side by side in one matrix

    cols[(c, i, j), (n, y, x)] = x_pad[n, c, y*s_h + i*d_h, x*s_w + j*d_w]
    shape (C kh kw, N H_out W_out)

so each group's convolution is one large matrix product, which BLAS runs at full speed
(P = H_out W_out, K = C/g kh kw):

    out_g (O/g, N P) = W_g (O/g, K) @ cols_g (K, N P)
    dW_g  (O/g, K)   = dOut_g (O/g, N P) @ cols_g^T             (sums over n and pixels)
    dcols_g (K, N P) = W_g^T @ dOut_g,  then col2im adds dcols back onto the pixels

and moving between (O, N P) and NCHW copies runs of P consecutive numbers. (The caller,
kernels/ops.py, feeds the batch in chunks of samples whose columns fit in the cache;
"whole batch" means one chunk here.)

The caller pads the input (any padding, asymmetric included) before im2col and crops
the padding off col2im's result: a padded copy of x is kh kw times smaller than cols,
and the kernels' loops stay free of bounds tests.

A note on speed: the innermost loops run over array *views* from index 0
(``dst[k] = src[k]``); written with computed offsets (``a[base + k]``) Numba keeps a
negative-index check in the loop and LLVM no longer vectorises it (5x slower here).
"""
import numpy as np
from numba import prange

from ._jit import kernel


@kernel
def im2col_rows(x_pad, kh, kw, sh, sw, dh, dw, h_out, w_out):
    """cols (C kh kw, N H_out W_out) of the padded input x_pad (N, C, H_pad, W_pad).
    Reference twin: functional.conv.im2col (the same numbers; the batch moved from the
    first axis into the column index).

    As plain loops:
        for c, i, j, n, y, x:
            cols[(c*kh + i)*kw + j, (n*H_out + y)*W_out + x] =
                x_pad[n, c, y*s_h + i*d_h, x*s_w + j*d_w]
    """
    n, c, h, w = x_pad.shape
    plane = h_out * w_out
    cols = np.empty((c * kh * kw, n * plane), dtype=x_pad.dtype)
    for r in prange(c * kh * kw):
        ci = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        row = cols[r]
        if sw == 1:                              # contiguous runs: vectorised copies
            for b in range(n):
                for y in range(h_out):
                    dst = row[(b * h_out + y) * w_out:(b * h_out + y + 1) * w_out]
                    src = x_pad[b, ci, y * sh + i * dh, j * dw:j * dw + w_out]
                    for k in range(w_out):       # (loops over views from 0 vectorise)
                        dst[k] = src[k]
        else:
            for b in range(n):
                for y in range(h_out):
                    dst = row[(b * h_out + y) * w_out:(b * h_out + y + 1) * w_out]
                    src_s = x_pad[b, ci, y * sh + i * dh, j * dw:j * dw + (w_out - 1) * sw + 1:sw]
                    for k in range(w_out):
                        dst[k] = src_s[k]
    return cols


@kernel
def col2im_rows(cols, dx_pad, kh, kw, sh, sw, dh, dw, h_out, w_out):
    """The adjoint of im2col_rows: fills dx_pad (N, C, H_pad, W_pad), the gradient of the
    padded input (the caller crops the padding off). Reference twin: functional.conv.col2im.

    As plain loops:
        dx_pad = 0
        for n, c, i, j, y, x:
            dx_pad[n, c, y*s_h + i*d_h, x*s_w + j*d_w] +=
                cols[(c*kh + i)*kw + j, (n*H_out + y)*W_out + x]
    Each (n, c) plane is written by one thread, so there are no races.
    """
    n, c = dx_pad.shape[0], dx_pad.shape[1]
    for nc in prange(n * c):
        b = nc // c
        ci = nc % c
        dx_pad[b, ci] = 0
        for i in range(kh):
            for j in range(kw):
                row = cols[(ci * kh + i) * kw + j]
                for y in range(h_out):
                    src = row[(b * h_out + y) * w_out:(b * h_out + y + 1) * w_out]
                    if sw == 1:
                        dst = dx_pad[b, ci, y * sh + i * dh, j * dw:j * dw + w_out]
                        for k in range(w_out):
                            dst[k] += src[k]
                    else:
                        dst_s = dx_pad[b, ci, y * sh + i * dh,
                                       j * dw:j * dw + (w_out - 1) * sw + 1:sw]
                        for k in range(w_out):
                            dst_s[k] += src[k]


@kernel
def rows_to_nchw(y_rows, bias, relu, out):
    """Fills out (N, O, H_out, W_out) from the product y_rows (O, N H_out W_out), plus
    the bias (fused; a bias of length 0 means none), clipped at 0 when relu = 1 (the
    fused Conv2dReLU).

    As plain loops:
        for n, o, p:  z = y_rows[o, n*P + p] + bias[o];  out[n, o, p] = max(z, 0) if relu else z
    Reference twin: the reshape and ``out += b`` in functional.conv.Conv2d.forward (and
    Conv2dReLU's ``z * (z > 0)``).
    """
    n, o_count, h_out, w_out = out.shape
    plane = h_out * w_out
    flat = out.reshape(n, o_count, plane)
    has_bias = bias.shape[0] > 0
    for no in prange(n * o_count):
        b = no // o_count
        o = no % o_count
        src = y_rows[o, b * plane:(b + 1) * plane]
        dst = flat[b, o]
        for p in range(plane):
            dst[p] = src[p]
        if has_bias:
            for p in range(plane):
                dst[p] += bias[o]
        if relu == 1:
            for p in range(plane):
                dst[p] *= dst[p] > 0          # z [z > 0], in the array's dtype


@kernel
def nchw_to_rows(dout, y):
    """dout_rows (O, N P) from dout (N, O, H_out, W_out), masked by the fused ReLU where
    y (the forward output, same shape) is given (a y of size 0 means no ReLU), and
    db[o] = sum_{n,p} of the same.

    As plain loops:
        for o, n, p:
            d = dout[n, o, p] * [y[n, o, p] > 0]   (or dout[n, o, p])
            dout_rows[o, n*P + p] = d;  db[o] += d
    Reference twin: ``dout.reshape`` and ``dout.sum(axis=(0, 2, 3))`` in Conv2d.backward
    (after Conv2dReLU's ``dout * positive``). The bias sum is accumulated in float64 (one
    output channel per thread).
    """
    n, o_count, h_out, w_out = dout.shape
    plane = h_out * w_out
    flat = dout.reshape(n, o_count, plane)
    masked = y.size > 0
    rows = np.empty((o_count, n * plane), dtype=dout.dtype)
    db = np.empty(o_count, dtype=dout.dtype)
    for o in prange(o_count):
        total = 0.0
        for b in range(n):
            src = flat[b, o]
            dst = rows[o, b * plane:(b + 1) * plane]
            if masked:
                mask = y[b, o].reshape(plane)
                for p in range(plane):
                    dst[p] = src[p] * (mask[p] > 0)
            else:
                for p in range(plane):
                    dst[p] = src[p]
            for p in range(plane):
                total += dst[p]
        db[o] = total
    return rows, db
