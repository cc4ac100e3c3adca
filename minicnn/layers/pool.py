"""Pooling layers (Keras' arguments, NCHW data): MaxPooling2D, AveragePooling2D,
GlobalAveragePooling2D and AdaptiveAveragePooling2D (PyTorch's AdaptiveAvgPool2d)."""
import math

from .. import functional as F
from ..functional.utils import normalize_padding, window_output_shape
from .base import Layer


def ceil_mode_size(size, kernel, stride, before, after):
    """H_out with ceil_mode (PyTorch): ceil((H + p_before + p_after - k) / s) + 1, less one
    when the last window would start in the bottom padding."""
    out = -(-(size + before + after - kernel) // stride) + 1
    if (out - 1) * stride >= size + before:
        out -= 1
    return out


class _Pooling2D(Layer):
    """Shared arguments and shape arithmetic of the two pooling layers.

    x (N, C, H, W) -> (N, C, H_out, W_out), per axis H_out = (H + p_top + p_bottom - k) // s + 1:
    'valid' is p = 0; 'same' pads so that H_out = ceil(H / s), as Keras; an int or a pair
    pads both sides (at most half the pool size, as PyTorch asks). ceil_mode=True
    (PyTorch's option, used by GoogLeNet) rounds the division up instead.

    The positional arguments are Keras' (pool_size, strides, padding, data_format);
    minicnn's own ``ceil_mode`` is keyword-only, so Keras' 4th positional argument never
    lands in it. data_format: 'channels_first' (or None) only here; minicnn.keras.layers
    has the channels-last layers.
    """
    input_ndim = 3
    input_layout = "(C, H, W)"
    channels_first = True

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, *,
                 ceil_mode=False, input_shape=None, name=None):
        super().__init__(name=name, input_shape=input_shape)
        self.data_format = self._data_format(data_format)
        self.pool_size = self._positive_pair(pool_size, "pool_size")
        self.strides = (self.pool_size if strides is None
                        else self._positive_pair(strides, "strides"))
        self.padding = self._padding(padding)
        if not isinstance(self.padding, str) and any(
                p > k // 2 for p, k in zip(self.padding, self.pool_size)):
            raise ValueError(f"{self.describe()}: padding {padding!r} is more than half the pool "
                             f"size {self.pool_size}; windows would see only padding")
        self.ceil_mode = self._bool(ceil_mode, "ceil_mode")
        if self.ceil_mode and self.padding == "same":
            raise ValueError(f"{self.describe()}: ceil_mode=True goes with int padding "
                             f"(PyTorch's), not padding='same'")

    def compute_output_shape(self, input_shape):
        """(C, H_out, W_out) for input (C, H, W)."""
        hw = tuple(input_shape[1:])
        pads = normalize_padding(self.padding, self.pool_size, self.strides, (1, 1), hw)
        h_out, w_out = window_output_shape(hw, self.pool_size, self.strides, pads,
                                           op=self.describe())
        if self.ceil_mode:
            h_out, w_out = (ceil_mode_size(hw[a], self.pool_size[a], self.strides[a], *pads[a])
                            for a in range(2))
        return (input_shape[0], h_out, w_out)

    def extra_repr(self):
        ceil = ", ceil_mode=True" if self.ceil_mode else ""
        return (f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}"
                f"{ceil}, name={self.name!r}")


class MaxPooling2D(_Pooling2D):
    """y[n, c, i, j] = max of x over the window at (i s_h, j s_w); padding never wins."""

    def backward_bytes(self, input_shape, itemsize):
        """The index of each window's maximum (an int64 per output)."""
        return math.prod(self.compute_output_shape(input_shape)) * 8

    def forward(self, x):
        return F.max_pool2d(x, self.pool_size, self.strides, self.padding,
                            ceil_mode=self.ceil_mode)


class AveragePooling2D(_Pooling2D):
    """y[n, c, i, j] = mean of x over the window at (i s_h, j s_w).

    With padding='same' the mean is over the input pixels only, the padding left out
    (Keras'); with an int padding the zeros count (PyTorch's default).
    """

    def forward(self, x):
        return F.avg_pool2d(x, self.pool_size, self.strides, self.padding,
                            ceil_mode=self.ceil_mode,
                            count_include_pad=self.padding != "same")


class GlobalAveragePooling2D(Layer):
    """y[n, c] = mean_{h, w} x[n, c, h, w].

    GlobalAveragePooling2D(keepdims=False, name=None, data_format=None).
    (C, H, W) -> (C,), or (C, 1, 1) with keepdims=True.
    """
    input_ndim = 3
    input_layout = "(C, H, W)"
    channels_first = True

    def __init__(self, keepdims=False, input_shape=None, name=None, *, data_format=None):
        super().__init__(name=name, input_shape=input_shape)
        self.data_format = self._data_format(data_format)
        self.keepdims = self._bool(keepdims, "keepdims")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, 1) if self.keepdims else (input_shape[0],)

    def forward(self, x):
        return F.global_avg_pool2d(x, keepdims=self.keepdims)


class AdaptiveAveragePooling2D(Layer):
    """PyTorch's AdaptiveAvgPool2d: average windows chosen so the output is output_size.

    AdaptiveAveragePooling2D(output_size, name=None). (C, H, W) -> (C, H_out, W_out);
    output row i averages input rows floor(i H / H_out) .. ceil((i + 1) H / H_out) - 1.
    torchvision's AlexNet and VGG use it to accept any input size ((6, 6), (7, 7)).
    """
    input_ndim = 3
    input_layout = "(C, H, W)"
    channels_first = True

    def __init__(self, output_size, input_shape=None, name=None):
        super().__init__(name=name, input_shape=input_shape)
        self.output_size = self._positive_pair(output_size, "output_size")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}, name={self.name!r}"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
