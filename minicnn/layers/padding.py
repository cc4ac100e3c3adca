"""ZeroPadding2D: zeros around the image (Keras' arguments, NCHW data)."""
from .. import functional as F
from ..functional.shape import normalize_pad2d
from .base import Layer


class ZeroPadding2D(Layer):
    """y = x with rows of zeros on top and bottom and columns left and right.

    ZeroPadding2D(padding=1, data_format=None, *, input_shape=None, name=None); padding
    is an int, (ph, pw) or ((top, bottom), (left, right)) as in Keras; data_format
    'channels_first' (or None) only (minicnn.keras.layers has the channels-last layer).
    (C, H, W) -> (C, H + top + bottom, W + left + right).
    """
    input_ndim = 3
    input_layout = "(C, H, W)"
    channels_first = True

    def __init__(self, padding=1, data_format=None, *, input_shape=None, name=None):
        super().__init__(name=name, input_shape=input_shape)
        self.data_format = self._data_format(data_format)
        try:
            self.padding = normalize_pad2d(padding)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{self.describe()}: padding must be an int, (ph, pw) or "
                              f"((top, bottom), (left, right)) of ints >= 0, got {padding!r}")

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        c, h, w = input_shape
        return (c, h + top + bottom, w + left + right)

    def forward(self, x):
        return F.zero_pad2d(x, self.padding)

    def extra_repr(self):
        return f"padding={self.padding}, name={self.name!r}"
