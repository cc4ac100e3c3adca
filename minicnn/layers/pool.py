"""MaxPooling2D and AveragePooling2D (Keras' arguments, NCHW data)."""
from .. import functional as F
from ..functional.utils import normalize_padding, window_output_shape
from .base import Layer


class _Pooling2D(Layer):
    """Shared arguments and shape arithmetic of the two pooling layers.

    x (N, C, H, W) -> (N, C, H_out, W_out), per axis H_out = (H + p_top + p_bottom - k) // s + 1:
    'valid' is p = 0; 'same' pads so that H_out = ceil(H / s), as Keras; an int or a pair
    pads both sides (at most half the pool size, as PyTorch asks).
    """
    input_ndim = 3
    input_layout = "(C, H, W)"
    channels_first = True

    def __init__(self, pool_size=2, strides=None, padding="valid", input_shape=None, name=None):
        super().__init__(name=name, input_shape=input_shape)
        self.pool_size = self._positive_pair(pool_size, "pool_size")
        self.strides = (self.pool_size if strides is None
                        else self._positive_pair(strides, "strides"))
        self.padding = self._padding(padding)
        if not isinstance(self.padding, str) and any(
                p > k // 2 for p, k in zip(self.padding, self.pool_size)):
            raise ValueError(f"{self.describe()}: padding {padding!r} is more than half the pool "
                             f"size {self.pool_size}; windows would see only padding")

    def compute_output_shape(self, input_shape):
        """(C, H_out, W_out) for input (C, H, W)."""
        hw = tuple(input_shape[1:])
        pads = normalize_padding(self.padding, self.pool_size, self.strides, (1, 1), hw)
        h_out, w_out = window_output_shape(hw, self.pool_size, self.strides, pads,
                                           op=self.describe())
        return (input_shape[0], h_out, w_out)

    def extra_repr(self):
        return (f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}, "
                f"name={self.name!r}")


class MaxPooling2D(_Pooling2D):
    """y[n, c, i, j] = max of x over the window at (i s_h, j s_w); padding never wins."""

    def forward(self, x):
        return F.max_pool2d(x, self.pool_size, self.strides, self.padding)


class AveragePooling2D(_Pooling2D):
    """y[n, c, i, j] = mean of x over the window at (i s_h, j s_w).

    With padding='same' the mean is over the input pixels only, the padding left out
    (Keras'); with an int padding the zeros count (PyTorch's default).
    """

    def forward(self, x):
        return F.avg_pool2d(x, self.pool_size, self.strides, self.padding,
                            count_include_pad=self.padding != "same")


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
