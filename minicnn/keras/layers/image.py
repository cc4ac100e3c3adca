"""Keras' image layers: Conv2D, the poolings, ZeroPadding2D (channels-last by default).

Each is minicnn's layer of the same name (minicnn.layers: the same math, NCHW inside)
with Keras' signature, argument order and defaults, and KerasLayer's view: data in
Keras' layout (``data_format``, default ``keras.backend.image_data_format()``), Keras'
shapes, and the conv kernel in Keras' layout (kh, kw, in, out) for get/set_weights.
"""
from ... import layers
from ..layout import KerasLayer


class Conv2D(KerasLayer, layers.Conv2D):
    """Keras' Conv2D: y = activation(conv2d(x, kernel) + bias).

    Conv2D(filters, kernel_size, strides=(1, 1), padding='valid', data_format=None,
           dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
           kernel_initializer='glorot_uniform', bias_initializer='zeros', **kwargs)

    x (N, H, W, C) -> (N, H_out, W_out, filters) in channels_last (the math: minicnn's
    Conv2D). Weights as Keras gives them: kernel (kh, kw, C / groups, filters), bias.
    """
    keras_layouts = {"kernel": (2, 3, 1, 0)}      # (out, in, kh, kw) -> (kh, kw, in, out)

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        self._set_format(data_format)
        self._no_extras("Conv2D", kernel_regularizer=kernel_regularizer,
                        bias_regularizer=bias_regularizer,
                        activity_regularizer=activity_regularizer,
                        kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         dilation_rate=dilation_rate, groups=groups, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, **self._keras_options(kwargs))
        self.data_format = self._format          # (the minicnn layer set its own)


class _KerasPooling(KerasLayer):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        self._set_format(data_format)
        super().__init__(pool_size, strides, padding, name=name,
                         **self._keras_options(kwargs, allowed=("input_shape",)))
        self.data_format = self._format


class MaxPooling2D(_KerasPooling, layers.MaxPooling2D):
    """Keras' MaxPooling2D(pool_size=(2, 2), strides=None, padding='valid',
    data_format=None, name=None): the maximum of each window (minicnn's MaxPooling2D)."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling2D(_KerasPooling, layers.AveragePooling2D):
    """Keras' AveragePooling2D(pool_size, strides=None, padding='valid', data_format=None,
    name=None): the mean of each window; with 'same' over the input pixels only, as Keras."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class GlobalAveragePooling2D(KerasLayer, layers.GlobalAveragePooling2D):
    """Keras' GlobalAveragePooling2D(data_format=None, keepdims=False): (H, W, C) -> (C,),
    or (1, 1, C) with keepdims."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        self._set_format(data_format)
        super().__init__(keepdims, **self._keras_options(kwargs, allowed=("input_shape", "name")))
        self.data_format = self._format


class ZeroPadding2D(KerasLayer, layers.ZeroPadding2D):
    """Keras' ZeroPadding2D(padding=(1, 1), data_format=None): an int, (ph, pw) or
    ((top, bottom), (left, right)) rows and columns of zeros."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        self._set_format(data_format)
        super().__init__(padding, **self._keras_options(kwargs, allowed=("input_shape", "name")))
        self.data_format = self._format


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
