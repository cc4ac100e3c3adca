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

Wide rows (stride 1). With ``row_len = W_pad`` instead of W_out, a sample's columns are
laid out with the padded input's row length, L = (H_out - 1) W_pad + W_out of them, and
column q = y W_pad + x of kernel tap (c, i, j) reads x_pad's flat plane at
q + i d_h W_pad + j d_w: each (tap, sample) row of cols is then ONE contiguous copy of L
numbers instead of H_out copies of W_out (LeNet's conv2: 1 copy of 136 instead of 10 of
10). The W_pad - W_out extra columns per image row are windows that run off the right
edge: the matrix product computes them, rows_to_nchw drops them, and nchw_to_rows fills
dOut's with zeros so they add nothing to dW or to col2im.

The caller pads the input (any padding, asymmetric included) before im2col and crops
the padding off col2im's result: a padded copy of x is kh kw times smaller than cols,
and the kernels' loops stay free of bounds tests.

A note on speed: an inner loop runs over array *views* from index 0 (``dst[k] +=
src[k]``, col2im, im2col_wide's runs of L) or with unsigned offsets (``a[start + k]``,
start and k unsigned: rows_to_nchw, im2col_rows, col2im_rows); written with signed
computed offsets Numba keeps a negative-index check in the loop and LLVM no longer
vectorises it (4-8x slower here: im2col_wide for 64 of LeNet's conv2 samples 1.2 ->
0.16-0.23 ms). Unsigned offsets also spare the short runs of the plain layout a view
each (whose reference counting costs more than the copy of 10 numbers): im2col_rows
for those samples in the plain layout 1.08 -> 0.56 ms, col2im_rows 1.75 -> 0.64 ms.
"""
import numpy as np

from ._jit import helper, kernel, unsigned


@helper
def widen_masked(dout, y, masked, n, o, row_len, dst):
    """dst[yy*row_len + x] = dOut[n, o, yy, x] * [y[n, o, yy, x] > 0] (or plain dOut when
    not masked) for every row yy of the plane: dOut's plane laid out with row length
    row_len (the gap columns of dst are left as they are). Indexed from the planes' starts,
    with no view per row. The dOut passes of conv_direct.py (the fused ReLU's mask)."""
    h_out, w_out = dout.shape[2], dout.shape[3]
    src = dout[n, o].reshape(h_out * w_out)
    keep = y[n, o].reshape(h_out * w_out) if masked else src[:0]
    for yy in range(h_out):
        for x in range(w_out):
            d = src[yy * w_out + x]
            if masked:
                d = d * (keep[yy * w_out + x] > 0)
            dst[yy * row_len + x] = d


@kernel
def im2col_wide(x_pad, kh, kw, dh, dw, h_out, w_out):
    """im2col_rows' wide layout (stride 1, row_len = W_pad): each (tap, sample) row of
    cols is one run of L = (H_out - 1) W_pad + W_out numbers of x_pad's flat plane.
    Its own kernel, so that a network whose convolutions all take it (LeNet's conv2)
    compiles only this loop.

    As plain loops:
        for c, i, j, n, q in 0..L-1:
            cols[(c*kh + i)*kw + j, n*L + q] = x_pad[n, c].flat[q + i*d_h*W_pad + j*d_w]
    """
    n, c, h, w = x_pad.shape
    length = (h_out - 1) * w + w_out
    cols = np.empty((c * kh * kw, n * length), dtype=x_pad.dtype)
    planes = x_pad.reshape(n * c, h * w)
    for r in range(c * kh * kw):
        ci = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        start = i * dh * w + j * dw
        for b in range(n):
            dst = cols[r, b * length:(b + 1) * length]        # one run of L: views from 0
            src = planes[b * c + ci, start:start + length]
            for k in range(length):
                dst[k] = src[k]
    return cols


@kernel
def im2col_rows(x_pad, kh, kw, sh, sw, dh, dw, h_out, w_out, row_len):
    """cols (C kh kw, N L) of the padded input x_pad (N, C, H_pad, W_pad), L = (H_out - 1)
    row_len + W_out columns per sample: row_len = W_out is the plain layout (L = H_out
    W_out), row_len = W_pad the wide one (stride 1 only, see the module docstring; it runs
    im2col_wide). Reference twin: functional.conv.im2col (the same numbers; the batch
    moved from the first axis into the column index).

    As plain loops:
        for c, i, j, n, y, x:
            cols[(c*kh + i)*kw + j, n*L + y*row_len + x] =
                x_pad[n, c, y*s_h + i*d_h, x*s_w + j*d_w]
    """
    if row_len != w_out:                         # wide rows: one run of L per sample
        return im2col_wide(x_pad, kh, kw, dh, dw, h_out, w_out)
    n, c, h, w = x_pad.shape
    length = h_out * w_out
    cols = np.empty((c * kh * kw, n * length), dtype=x_pad.dtype)
    planes = x_pad.reshape(n * c, h * w)
    for r in range(c * kh * kw):
        ci = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        row = cols[r]
        for b in range(n):
            src = planes[b * c + ci]
            for y in range(h_out):               # one output row: unsigned offsets, no views
                dst0 = unsigned(b * length + y * w_out)
                src0 = unsigned((y * sh + i * dh) * w + j * dw)
                step = unsigned(sw)
                for k in range(unsigned(w_out)):
                    row[dst0 + k] = src[src0 + k * step]
    return cols


@kernel
def col2im_wide(cols, dx_pad, kh, kw, dh, dw, h_out, w_out):
    """col2im_rows' wide layout (stride 1, row_len = W_pad; the extra columns must hold
    zeros): each tap's run of L numbers is added onto the flat plane of dx_pad. Its own
    kernel, like im2col_wide.

    As plain loops:
        dx_pad = 0
        for n, c, i, j, q in 0..L-1:
            dx_pad[n, c].flat[q + i*d_h*W_pad + j*d_w] += cols[(c*kh + i)*kw + j, n*L + q]
    """
    n, c, h, w = dx_pad.shape
    length = (h_out - 1) * w + w_out
    for nc in range(n * c):
        b = nc // c
        ci = nc % c
        dx_pad[b, ci] = 0
        flat = dx_pad[b, ci].reshape(h * w)
        for i in range(kh):
            for j in range(kw):
                src = cols[(ci * kh + i) * kw + j, b * length:(b + 1) * length]
                dst = flat[i * dh * w + j * dw:i * dh * w + j * dw + length]
                for k in range(length):
                    dst[k] += src[k]


@kernel
def col2im_rows(cols, dx_pad, kh, kw, sh, sw, dh, dw, h_out, w_out, row_len):
    """The adjoint of im2col_rows (same layouts): fills dx_pad (N, C, H_pad, W_pad), the
    gradient of the padded input (the caller crops the padding off). Reference twin:
    functional.conv.col2im. The wide layout runs col2im_wide.

    As plain loops:
        dx_pad = 0
        for n, c, i, j, y, x:
            dx_pad[n, c, y*s_h + i*d_h, x*s_w + j*d_w] +=
                cols[(c*kh + i)*kw + j, n*L + y*row_len + x]
    Each (n, c) plane is written by one pass (pieces of the batch run side by side).
    """
    if row_len != w_out:
        col2im_wide(cols, dx_pad, kh, kw, dh, dw, h_out, w_out)
        return
    n, c, h, w = dx_pad.shape
    length = h_out * w_out
    for nc in range(n * c):
        b = nc // c
        ci = nc % c
        dx_pad[b, ci] = 0
        flat = dx_pad[b, ci].reshape(h * w)
        for i in range(kh):
            for j in range(kw):
                row = cols[(ci * kh + i) * kw + j]
                for y in range(h_out):           # one output row: unsigned offsets, no views
                    src0 = unsigned(b * length + y * w_out)
                    dst0 = unsigned((y * sh + i * dh) * w + j * dw)
                    step = unsigned(sw)
                    for k in range(unsigned(w_out)):
                        flat[dst0 + k * step] += row[src0 + k]


@kernel
def rows_to_nchw(y_rows, bias, relu, row_len, out):
    """Fills out (N, O, H_out, W_out) from the product y_rows (O, N L) (im2col_rows'
    layout, L = (H_out - 1) row_len + W_out), plus the bias (O,) (fused; zeros for a layer
    without one), clipped at 0 when relu = 1 (the fused Conv2dReLU).

    As plain loops:
        for n, o, y, x:
            z = y_rows[o, n*L + y*row_len + x] + bias[o]
            out[n, o, y, x] = z * [z > 0] if relu else z
    Reference twin: the reshape and ``out += b`` in functional.conv.Conv2d.forward (and
    Conv2dReLU's ``z * (z > 0)``).
    """
    n, o_count, h_out, w_out = out.shape
    length = (h_out - 1) * row_len + w_out
    flat = out.reshape(n, o_count, h_out * w_out)
    for no in range(n * o_count):
        b = no // o_count
        o = no % o_count
        dst = flat[b, o]
        src = y_rows[o]
        bias_o = bias[o]
        for y in range(h_out):                   # (unsigned offsets from the rows' starts:
            start = unsigned(b * length + y * row_len)          # no views, and vectorised)
            first = unsigned(y * w_out)
            for x in range(unsigned(w_out)):
                z = src[start + x] + bias_o
                if relu == 1:
                    z *= z > 0                   # z [z > 0], in the array's dtype
                dst[first + x] = z


@kernel
def nchw_to_rows(dout, y, row_len):
    """dout_rows (O, N L) in im2col_rows' layout (L = (H_out - 1) row_len + W_out; the
    extra columns of the wide layout get zeros) from dout (N, O, H_out, W_out), masked by
    the fused ReLU where y (the forward output, same shape) is given (a y of size 0 means
    no ReLU), and db[o] = sum_{n,y,x} of the same.

    As plain loops:
        for o, n, y, x:
            d = dout[n, o, y, x] * [y[n, o, y, x] > 0]   (or dout[n, o, y, x])
            dout_rows[o, n*L + y*row_len + x] = d;  db[o] += d
    Reference twin: ``dout.reshape`` and ``dout.sum(axis=(0, 2, 3))`` in Conv2d.backward
    (after Conv2dReLU's ``dout * positive``). The bias sum is accumulated in float64.
    """
    n, o_count, h_out, w_out = dout.shape
    length = (h_out - 1) * row_len + w_out
    plane = h_out * w_out
    masked = y.size > 0
    flat = dout.reshape(n, o_count, plane)
    mask = y.reshape(n if masked else 0, o_count if masked else 0, plane)
    rows = np.empty((o_count, n * length), dtype=dout.dtype)
    db = np.empty(o_count, dtype=dout.dtype)
    for o in range(o_count):
        total = 0.0
        row = rows[o]
        for b in range(n):
            src = flat[b, o]
            keep = mask[b, o] if masked else src[:0]
            for yy in range(h_out):
                start = b * length + yy * row_len
                for x in range(w_out):          # (indexed from the plane's start: no views)
                    d = src[yy * w_out + x]
                    if masked:
                        d = d * (keep[yy * w_out + x] > 0)
                    row[start + x] = d
                    total += d
                if yy < h_out - 1:                  # the wide layout's extra columns
                    for x in range(w_out, row_len):
                        row[start + x] = 0
        db[o] = total
    return rows, db
