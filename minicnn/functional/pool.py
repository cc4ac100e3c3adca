"""2-D max and average pooling through im2col (NCHW, PyTorch semantics).

Each output pixel looks at one kh x kw window of its own channel:

    max: out[n, c, y, x] = max_{i,j}  x_pad[n, c, y*s_h + i, x*s_w + j]
    avg: out[n, c, y, x] = 1/|window| sum_{i,j} x_pad[n, c, y*s_h + i, x*s_w + j]

    H_out = (H + 2 p_h - kh) // s_h + 1      (ceil instead of floor with ceil_mode=True)

Max pooling pads with -inf, so padding never wins. When several elements of a window
tie for the maximum the gradient goes to the first of them in row-major order, as
PyTorch does; an element that is the maximum of several overlapping windows gets the
sum of their gradients.
"""
from ..backend import array_module, implementation
from ..tensor import Function, as_tensor
from .conv import col2im, im2col
from .utils import normalize_padding, positive_pair, window_output_shape


def _pool_geometry(op, x, kernel_size, stride, padding, ceil_mode):
    """Check the arguments; return kernel, stride, declared padding and the padding
    actually applied (declared + the extra rows/columns that ceil_mode's last window
    reaches past the input)."""
    if x.ndim != 4:
        raise ValueError(f"{op}: input must have shape (N, C, H, W), got {x.shape}")
    kernel = positive_pair(kernel_size, f"{op}: kernel_size")
    stride = kernel if stride is None else positive_pair(stride, f"{op}: stride")
    pads = normalize_padding(padding, kernel, stride, (1, 1), x.shape[2:])
    for (before, after), k in zip(pads, kernel):
        if max(before, after) > k // 2 and not isinstance(padding, str):
            raise ValueError(f"{op}: padding {padding!r} is more than half the kernel "
                             f"{kernel}; windows would see only padding")
    window_output_shape(x.shape[2:], kernel, stride, pads, op=op)     # raises if empty
    applied = list(pads)
    if ceil_mode:
        for axis in range(2):
            size, k, s = x.shape[2 + axis], kernel[axis], stride[axis]
            before, after = pads[axis]
            o = -(-(size + before + after - k) // s) + 1
            if (o - 1) * s >= size + before:      # PyTorch: the last window must start inside
                o -= 1
            applied[axis] = (before, max(after, (o - 1) * s + k - size - before))
    return kernel, stride, pads, tuple(applied)


class MaxPool2d(Function):
    """out = max over each window; the gradient flows to the (first) arg-max."""
    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        xp = array_module(x)
        cols = im2col(x, self.kernel, self.stride, self.padding, pad_value=-xp.inf)
        n, c, kh, kw, h_out, w_out = cols.shape
        cols = cols.reshape(n, c, kh * kw, h_out, w_out)
        self.argmax = cols.argmax(axis=2)[:, :, None]             # first maximum wins ties
        self.x_shape = x.shape
        return xp.take_along_axis(cols, self.argmax, axis=2)[:, :, 0]

    def backward(self, dout):
        xp = array_module(dout)
        n, c, h_out, w_out = dout.shape
        kh, kw = self.kernel
        dcols = xp.zeros((n, c, kh * kw, h_out, w_out), dtype=dout.dtype)
        xp.put_along_axis(dcols, self.argmax, dout[:, :, None], axis=2)   # d out / d x_argmax = 1
        dcols = dcols.reshape(n, c, kh, kw, h_out, w_out)
        return col2im(dcols, self.x_shape, self.stride, self.padding)


class AvgPool2d(Function):
    """out = sum over each window / divisor, the divisor counting either every cell of
    the padded window (count_include_pad) or only the cells inside the input."""
    def __init__(self, kernel, stride, padding, divisor):
        self.kernel, self.stride, self.padding, self.divisor = kernel, stride, padding, divisor

    def forward(self, x):
        cols = im2col(x, self.kernel, self.stride, self.padding)
        self.x_shape = x.shape
        return cols.sum(axis=(2, 3)) / self.divisor

    def backward(self, dout):
        xp = array_module(dout)
        kh, kw = self.kernel
        # every cell of a window receives dout / divisor
        share = (dout / self.divisor)[:, :, None, None]
        dcols = xp.broadcast_to(share, dout.shape[:2] + (kh, kw) + dout.shape[2:])
        return col2im(dcols, self.x_shape, self.stride, self.padding)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling.

    x: (N, C, H, W) -> (N, C, H_out, W_out) with
        H_out = (H + 2 p_h - kh) // s_h + 1      (ceil division with ceil_mode=True)
    kernel_size, stride (default: kernel_size), padding: int or pair; padding may also be
    'valid' or 'same' (Keras). Padding counts as -inf and may be at most half the kernel.
    """
    x = as_tensor(x)
    kernel, stride, _, applied = _pool_geometry("max_pool2d", x, kernel_size, stride,
                                                padding, ceil_mode)
    op = implementation(MaxPool2d, x.data)          # the reference above, or a kernel twin
    return op(kernel, stride, applied)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling.

    x: (N, C, H, W) -> (N, C, H_out, W_out), H_out as in max_pool2d.
    count_include_pad=True (PyTorch's default) divides by kh*kw, zero padding included;
    False divides by the number of input pixels under the window (Keras' 'same').
    """
    x = as_tensor(x)
    kernel, stride, declared, applied = _pool_geometry("avg_pool2d", x, kernel_size, stride,
                                                       padding, ceil_mode)
    xp = array_module(x.data)
    # the divisor of each output pixel: how many counted cells its window covers
    h, w = x.shape[2:]
    if count_include_pad:     # cells of the declared padded input (not ceil_mode's overhang)
        (pt, pb), (pl, pr) = declared
        counted = xp.ones((1, 1, h + pt + pb, w + pl + pr), dtype=x.dtype)
        extra = ((0, applied[0][1] - pb), (0, applied[1][1] - pr))
    else:                     # cells of the input itself
        counted = xp.ones((1, 1, h, w), dtype=x.dtype)
        extra = applied
    divisor = im2col(counted, kernel, stride, extra).sum(axis=(2, 3))[0, 0]
    op = implementation(AvgPool2d, x.data)          # the reference above, or a kernel twin
    return op(kernel, stride, applied, divisor)(x)
