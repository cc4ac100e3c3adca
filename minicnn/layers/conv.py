"""Conv2D: the 2-D convolution layer (Keras' arguments, NCHW data, PyTorch's weight layout)."""
import math

from .. import functional as F
from ..functional.utils import normalize_padding, window_output_shape
from . import activations, initializers
from .base import Layer, activation_backward_bytes


class Conv2D(Layer):
    """y = activation(conv2d(x, kernel) + bias).

    Conv2D(filters, kernel_size, strides=1, padding='valid', dilation_rate=1, groups=1,
           activation=None, use_bias=True, kernel_initializer='glorot_uniform',
           bias_initializer='zeros', input_shape=None, name=None, dtype=None,
           data_format=None)

    x (N, C, H, W) -> y (N, filters, H_out, W_out) with, per axis,

        H_out = (H + p_top + p_bottom - d (k - 1) - 1) // s + 1

    padding 'valid' is p = 0; 'same' pads so that H_out = ceil(H / s) (the odd pixel at
    the bottom/right, as Keras); an int or a pair pads both sides by that much.
    Weights: kernel (filters, C / groups, kh, kw), bias (filters,). data_format:
    'channels_first' (or None) only; minicnn.keras.layers.Conv2D takes Keras' argument
    order and channels-last data.
    """
    has_weights = True
    input_ndim = 3
    input_layout = "(C, H, W)"
    channels_first = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_shape=None, name=None, dtype=None,
                 data_format=None):
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.data_format = self._data_format(data_format)
        self.filters = self._positive_int(filters, "filters")
        self.kernel_size = self._positive_pair(kernel_size, "kernel_size")
        self.strides = self._positive_pair(strides, "strides")
        self.padding = self._padding(padding)
        self.dilation_rate = self._positive_pair(dilation_rate, "dilation_rate")
        self.groups = self._positive_int(groups, "groups")
        if self.filters % self.groups:
            raise ValueError(f"{self.describe()}: groups={groups} must divide filters={filters}")
        self.activation = activations.get(activation, axis=1, who=self.describe())
        self.use_bias = self._bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer, who=self.describe())
        self.bias_initializer = initializers.get(bias_initializer, who=self.describe())
        self.in_channels = None            # known once built

    def build(self, input_shape):
        self.in_channels = input_shape[0]
        kh, kw = self.kernel_size
        self.add_weight("kernel", (self.filters, self.in_channels // self.groups, kh, kw),
                        self.kernel_initializer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer)
                     if self.use_bias else None)

    def _feature_problem(self, sample):
        c = sample[0]
        if self.in_channels is not None and c != self.in_channels:
            plural = "s" if self.in_channels > 1 else ""
            return (f"expected {self.in_channels} input channel{plural} "
                    f"(N, {self.in_channels}, H, W)")
        if c % self.groups:
            return f"groups={self.groups} must divide the number of input channels ({c})"
        return None

    def compute_output_shape(self, input_shape):
        """(filters, H_out, W_out) for input (C, H, W)."""
        hw = tuple(input_shape[1:])
        pads = normalize_padding(self.padding, self.kernel_size, self.strides,
                                 self.dilation_rate, hw)
        h_out, w_out = window_output_shape(hw, self.kernel_size, self.strides, pads,
                                           self.dilation_rate, op=self.describe())
        return (self.filters, h_out, w_out)

    def count_macs(self, input_shape):
        """H_out W_out filters (C_in / groups) kh kw: one multiply-add per kernel tap of
        each output pixel (the bias add is not counted)."""
        _, h_out, w_out = self.compute_output_shape(input_shape)
        kh, kw = self.kernel_size
        return h_out * w_out * self.filters * (input_shape[0] // self.groups) * kh * kw

    def im2col_bytes(self, input_shape, itemsize):
        """Bytes per sample of the im2col columns the reference op keeps for backward:
        (C kh kw) x (H_out W_out) numbers (functional/conv.py; the numba backend builds
        them in chunks instead)."""
        _, h_out, w_out = self.compute_output_shape(input_shape)
        kh, kw = self.kernel_size
        return input_shape[0] * kh * kw * h_out * w_out * itemsize

    def backward_bytes(self, input_shape, itemsize):
        """The im2col columns, and the ReLU's mask (1 byte per output) when fused."""
        out = math.prod(self.compute_output_shape(input_shape))
        return (self.im2col_bytes(input_shape, itemsize)
                + activation_backward_bytes(self.activation, out, itemsize))

    def forward(self, x):
        if self.activation is F.relu:           # conv + bias + ReLU as one op (fewer passes)
            return F.conv2d_relu(x, self.kernel, self.bias, stride=self.strides,
                                 padding=self.padding, dilation=self.dilation_rate,
                                 groups=self.groups)
        y = F.conv2d(x, self.kernel, self.bias, stride=self.strides, padding=self.padding,
                     dilation=self.dilation_rate, groups=self.groups)
        return self.activation(y)

    @property
    def weight(self):
        """PyTorch's name for the kernel."""
        return self.kernel

    def extra_repr(self):
        return (f"{self.filters}, kernel_size={self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding!r}, activation={activations.name_of(self.activation)!r}, "
                f"name={self.name!r}")
