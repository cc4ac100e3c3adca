"""Numba kernels for batch normalisation over the channels of NCHW arrays.

Reference twin: functional.norm.BatchNorm (forward and backward). The reference makes
six passes over the activations forward (mean, var, subtract, scale, gamma, beta) and
about eight backward, each with a temporary; here each channel is one pass for its
statistics and one that writes x_hat and y (forward), one pass for the two sums and one
that writes dx (backward). Sums and the per-channel scalars are float64. Each kernel runs channels
c0 .. c1 - 1, so that kernels/ops.py can give each thread its own channels.

The sums may be reordered (``@kernel(reassociate=True)``): LLVM then keeps several
partial sums in vector registers instead of adding one number at a time (ResNet-20's
first-stage batch norm, (64, 16, 32, 32), one thread: forward 2.9 -> 0.9 ms, backward
1.7 -> 0.9 ms). The order is still fixed by the loop, not by the thread count.
"""
import numpy as np

from ._jit import kernel


@kernel(reassociate=True)
def batch_norm_forward(x, gamma, beta, training, eps, mean, var, inv_std, x_hat, y, c0, c1):
    """Fills x_hat and y (N, C, H, W) and inv_std (C,) for channels c0..c1-1; in training
    also the batch statistics mean and var (C,) (biased variance, two passes), which are
    the running statistics to use otherwise.

    As plain loops (m = N H W):
        for c:
            if training: mean[c] = sum_{n,p} x[n, c, p] / m
                         var[c]  = sum_{n,p} (x[n, c, p] - mean[c])^2 / m
            inv_std[c] = 1 / sqrt(var[c] + eps)
            for n, p: x_hat[n, c, p] = (x[n, c, p] - mean[c]) inv_std[c]
                      y[n, c, p]     = gamma[c] x_hat[n, c, p] + beta[c]
    """
    n, c, h, w = x.shape
    plane = h * w
    src = x.reshape(n, c, plane)
    hat = x_hat.reshape(n, c, plane)
    out = y.reshape(n, c, plane)
    m = n * plane
    for ci in range(c0, c1):
        if training:
            total = 0.0
            for b in range(n):
                row = src[b, ci]
                for k in range(plane):
                    total += row[k]
            mu = total / m
            squares = 0.0
            for b in range(n):
                row = src[b, ci]
                for k in range(plane):
                    d = row[k] - mu
                    squares += d * d
            mean[ci] = mu
            var[ci] = squares / m
        inv = 1.0 / np.sqrt(var[ci] + eps)
        inv_std[ci] = inv
        mu_c = mean[ci]
        g, bt = gamma[ci], beta[ci]
        for b in range(n):
            row, row_hat, row_out = src[b, ci], hat[b, ci], out[b, ci]
            for k in range(plane):
                v = (row[k] - mu_c) * inv
                row_hat[k] = v
                row_out[k] = g * v + bt


@kernel(reassociate=True)
def batch_norm_backward(dy, x_hat, gamma, inv_std, training, dx, dgamma, dbeta, c0, c1):
    """Fills dgamma, dbeta (C,) and dx (N, C, H, W) for channels c0..c1-1 (dx of size 0:
    not wanted).

    As plain loops (m = N H W):
        for c:
            dbeta[c]  = sum_{n,p} dy[n, c, p]
            dgamma[c] = sum_{n,p} dy[n, c, p] x_hat[n, c, p]
            training:  dx = inv_std[c] (gamma[c] dy - gamma[c] dbeta[c] / m
                                        - x_hat gamma[c] dgamma[c] / m)
            otherwise: dx = gamma[c] inv_std[c] dy      (the running statistics are constants)
    (the reference's dx_hat = gamma dy, mean(dx_hat) and mean(dx_hat x_hat)).
    """
    n, c, h, w = dy.shape
    plane = h * w
    d_flat = dy.reshape(n, c, plane)
    hat = x_hat.reshape(n, c, plane)
    want_dx = dx.size > 0
    dx_flat = dx.reshape(n if want_dx else 0, c, plane)
    m = n * plane
    for ci in range(c0, c1):
        sum_dy = 0.0
        sum_dy_hat = 0.0
        for b in range(n):
            row, row_hat = d_flat[b, ci], hat[b, ci]
            for k in range(plane):
                sum_dy += row[k]
                sum_dy_hat += row[k] * row_hat[k]
        dbeta[ci] = sum_dy
        dgamma[ci] = sum_dy_hat
        if not want_dx:
            continue
        scale = gamma[ci] * inv_std[ci]
        shift = sum_dy / m if training else 0.0
        slope = sum_dy_hat / m if training else 0.0
        for b in range(n):
            row, row_hat, row_dx = d_flat[b, ci], hat[b, ci], dx_flat[b, ci]
            for k in range(plane):
                row_dx[k] = scale * (row[k] - shift - row_hat[k] * slope)
