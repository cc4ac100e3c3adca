"""Global and adaptive average pooling (NCHW), as PyTorch's AdaptiveAvgPool2d.

Adaptive pooling to (H_out, W_out) averages, for output row i, the input rows

    start_i = floor(i H / H_out),   end_i = ceil((i + 1) H / H_out)

(windows may overlap and differ in size when H_out does not divide H; the same for
columns). That is a matrix product on each side:

    y[n, c] = A_h @ x[n, c] @ A_w^T,     A_h[i, r] = 1 / (end_i - start_i) for r in window i

and the backward is the transposed product, dx[n, c] = A_h^T @ dy[n, c] @ A_w.
Global average pooling is the case (1, 1) without the spatial axes:
y[n, c] = mean_{h, w} x[n, c, h, w].
"""
from ..backend import array_module
from ..tensor import Function, as_tensor
from .utils import positive_pair


def adaptive_pool_matrix(size, out_size, xp, dtype):
    """A (out_size, size) matrix whose row i averages the window [start_i, end_i)."""
    a = xp.zeros((out_size, size), dtype=dtype)
    for i in range(out_size):
        start, end = (i * size) // out_size, -(-((i + 1) * size) // out_size)
        a[i, start:end] = 1.0 / (end - start)
    return a


class AdaptiveAvgPool2d(Function):
    """y = A_h x A_w^T per channel."""

    def __init__(self, output_size):
        self.output_size = output_size

    def forward(self, x):
        xp = array_module(x)
        self.a_h = adaptive_pool_matrix(x.shape[2], self.output_size[0], xp, x.dtype)
        self.a_w = adaptive_pool_matrix(x.shape[3], self.output_size[1], xp, x.dtype)
        return self.a_h @ x @ self.a_w.T

    def backward(self, dy):
        return self.a_h.T @ dy @ self.a_w                    # dX = A_h^T dY A_w


def adaptive_avg_pool2d(x, output_size):
    """(N, C, H, W) -> (N, C, H_out, W_out), windows as in the module docstring."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d: input must have shape (N, C, H, W), got {x.shape}")
    return AdaptiveAvgPool2d(positive_pair(output_size, "adaptive_avg_pool2d: output_size"))(x)


def global_avg_pool2d(x, keepdims=False):
    """(N, C, H, W) -> (N, C): the mean of each channel (N, C, 1, 1 with keepdims)."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d: input must have shape (N, C, H, W), got {x.shape}")
    return x.mean(axis=(2, 3), keepdims=keepdims)
