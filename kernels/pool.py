"""Numba kernels for max and average pooling (direct loops over each window).

Padding is never materialised: cells outside the input count as -inf for max pooling
and are skipped by average pooling (whose divisor, computed by the reference entry
point, already says how many cells each window counts). The padding given is the one
actually applied: the declared padding plus ceil_mode's overhang.
"""
import numpy as np

from ._jit import helper, kernel


@helper
def flat_planes(x, out, argmax):
    """x, out and argmax with one flat row per (n, c) plane (argmax: no rows when it is
    empty, for inference)."""
    n, c, h, w = x.shape
    plane_out = out.shape[2] * out.shape[3]
    return (x.reshape(n * c, h * w), out.reshape(n * c, plane_out),
            argmax.reshape(n * c if argmax.size > 0 else 0, plane_out))


@kernel
def max_pool2d_forward(x, kh, kw, sh, sw, pt, pl, out, argmax):
    """Fills out (N, C, H_out, W_out) and argmax (same shape, int32: the flat index
    yy*W + xx of the winner in its input plane, -1 if it was padding; an argmax of size 0
    is not written, for inference).
    Reference twin: functional.pool.MaxPool2d.forward (im2col with -inf, argmax).

    As plain loops (the first maximum in row-major window order wins ties, like
    numpy's argmax and PyTorch):
        for n, c, y, x:
            best, where = None, -1
            for i, j:
                yy, xx = y*s_h + i - p_top, x*s_w + j - p_left
                v = x[n, c, yy, xx] if inside else -inf
                if best is None or v > best: best, where = v, yy*W + xx (or -1)
            out[n, c, y, x], argmax[n, c, y, x] = best, where
    """
    n, c, h, w = x.shape
    h_out, w_out = out.shape[2], out.shape[3]
    with_argmax = argmax.size > 0
    flat_x, flat_out, flat_arg = flat_planes(x, out, argmax)
    if pt == 0 and pl == 0 and (h_out - 1) * sh + kh <= h and (w_out - 1) * sw + kw <= w:
        # every window inside the input: no bounds tests, and flat planes indexed from
        # their start (no view made per window)
        for nc in range(n * c):
            plane, dst = flat_x[nc], flat_out[nc]
            for y in range(h_out):
                for xo in range(w_out):
                    where = y * sh * w + xo * sw
                    best = plane[where]
                    for i in range(kh):
                        for j in range(kw):
                            k = (y * sh + i) * w + xo * sw + j
                            if plane[k] > best:
                                best = plane[k]
                                where = k
                    dst[y * w_out + xo] = best
                    if with_argmax:
                        flat_arg[nc, y * w_out + xo] = where
        return
    for nc in range(n * c):
        b = nc // c
        ci = nc % c
        for y in range(h_out):
            for xo in range(w_out):
                best = x[b, ci, 0, 0]
                where = -1
                first = True
                for i in range(kh):
                    yy = y * sh + i - pt
                    for j in range(kw):
                        xx = xo * sw + j - pl
                        if 0 <= yy < h and 0 <= xx < w:
                            v = x[b, ci, yy, xx]
                            idx = yy * w + xx
                        else:
                            v = -np.inf
                            idx = -1
                        if first or v > best:
                            best = v
                            where = idx
                            first = False
                out[b, ci, y, xo] = best
                if with_argmax:
                    argmax[b, ci, y, xo] = where


@kernel
def max_pool2d_forward_2x2(x, out, argmax):
    """max_pool2d_forward for 2x2 windows, stride 2, no padding (LeNet's, VGG's): the four
    cells by name, rows as views (0.35 ms instead of 1.6 for LeNet's first pool at batch
    128, one thread). Its own kernel, so that a network that only has these compiles
    only this. Same outputs, same tie rule (the first of top-left, top-right,
    bottom-left, bottom-right)."""
    n, c, h, w = x.shape
    h_out, w_out = out.shape[2], out.shape[3]
    with_argmax = argmax.size > 0
    flat_x, flat_out, flat_arg = flat_planes(x, out, argmax)
    for nc in range(n * c):
        plane = flat_x[nc]
        for y in range(h_out):
            top = plane[2 * y * w:(2 * y + 1) * w]
            bottom = plane[(2 * y + 1) * w:(2 * y + 2) * w]
            dst = flat_out[nc, y * w_out:(y + 1) * w_out]
            for xo in range(w_out):
                best, where = top[2 * xo], 0
                if top[2 * xo + 1] > best:
                    best, where = top[2 * xo + 1], 1
                if bottom[2 * xo] > best:
                    best, where = bottom[2 * xo], w
                if bottom[2 * xo + 1] > best:
                    best, where = bottom[2 * xo + 1], w + 1
                dst[xo] = best
                if with_argmax:
                    flat_arg[nc, y * w_out + xo] = 2 * y * w + 2 * xo + where


@kernel
def max_pool2d_backward(dout, argmax, dx):
    """Fills dx (N, C, H, W): each output's gradient added onto its arg-max.
    Reference twin: functional.pool.MaxPool2d.backward (put_along_axis + col2im).

    As plain loops:
        dx = 0
        for n, c, y, x:
            if argmax[n, c, y, x] >= 0: dx[n, c].flat[argmax[n, c, y, x]] += dout[n, c, y, x]
    """
    n, c, h_out, w_out = dout.shape
    flat = dx.reshape(n, c, dx.shape[2] * dx.shape[3])
    for nc in range(n * c):
        b = nc // c
        ci = nc % c
        plane = flat[b, ci]
        plane[:] = 0
        for y in range(h_out):
            for xo in range(w_out):
                idx = argmax[b, ci, y, xo]
                if idx >= 0:
                    plane[idx] += dout[b, ci, y, xo]


@kernel
def avg_pool2d_forward(x, divisor, kh, kw, sh, sw, pt, pl, out):
    """Fills out (N, C, H_out, W_out) = sum of the window's input cells / divisor[y, x].
    Reference twin: functional.pool.AvgPool2d.forward.

    As plain loops:
        for n, c, y, x:
            out[n, c, y, x] = sum_{i, j inside} x[n, c, y*s_h + i - p_top, x*s_w + j - p_left]
                              / divisor[y, x]
    """
    n, c, h, w = x.shape
    h_out, w_out = divisor.shape
    for nc in range(n * c):
        b = nc // c
        ci = nc % c
        for y in range(h_out):
            for xo in range(w_out):
                total = 0.0                    # accumulated in float64
                for i in range(kh):
                    yy = y * sh + i - pt
                    if yy < 0 or yy >= h:
                        continue
                    for j in range(kw):
                        xx = xo * sw + j - pl
                        if 0 <= xx < w:
                            total += x[b, ci, yy, xx]
                out[b, ci, y, xo] = total / divisor[y, xo]


@kernel
def avg_pool2d_backward(dout, divisor, kh, kw, sh, sw, pt, pl, dx):
    """Fills dx (N, C, H, W): every input cell of a window gets dout / divisor.
    Reference twin: functional.pool.AvgPool2d.backward.

    As plain loops:
        dx = 0
        for n, c, y, x, i, j inside:
            dx[n, c, y*s_h + i - p_top, x*s_w + j - p_left] += dout[n, c, y, x] / divisor[y, x]
    """
    n, c, h_out, w_out = dout.shape
    h, w = dx.shape[2], dx.shape[3]
    for nc in range(n * c):
        b = nc // c
        ci = nc % c
        dx[b, ci] = 0
        for y in range(h_out):
            for xo in range(w_out):
                share = dout[b, ci, y, xo] / divisor[y, xo]
                for i in range(kh):
                    yy = y * sh + i - pt
                    if yy < 0 or yy >= h:
                        continue
                    for j in range(kw):
                        xx = xo * sw + j - pl
                        if 0 <= xx < w:
                            dx[b, ci, yy, xx] += share
