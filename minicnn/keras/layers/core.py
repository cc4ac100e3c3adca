"""Keras' core layers: Dense, Flatten, Dropout, the activations, BatchNormalization,
Concatenate, Add and Input / InputLayer.

Each is minicnn's layer of the same name with Keras' signature and KerasLayer's view.
Those without a data_format argument in Keras take ``keras.backend.image_data_format()``
when made, so that in a channels_last model they act on Keras' axes: Dense and softmax
on the channels of an image batch, Flatten in (H, W, C) order (Keras' weights load
unpermuted), BatchNormalization(axis=-1) and Concatenate(axis=-1) on the channels.
"""
import numpy as np

from ... import functional as F
from ... import layers
from ...layers.input import input_node
from ..backend import standardize_data_format
from ..layout import (TO_KERAS, KerasLayer, KerasTensor, keras_shape, minicnn_axis,
                      minicnn_shape, permute)


class Dense(KerasLayer, layers.Dense):
    """Keras' Dense(units, activation=None, use_bias=True, kernel_initializer=
    'glorot_uniform', bias_initializer='zeros', **kwargs): y = activation(x @ kernel + bias)
    on the last axis (for an image batch, the channels: (N, H, W, C) -> (N, H, W, units)).
    kernel (in, units), bias (units,), as in Keras."""
    follows_input = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        self._set_format(None)
        self._no_extras("Dense", kernel_regularizer=kernel_regularizer,
                        bias_regularizer=bias_regularizer,
                        activity_regularizer=activity_regularizer,
                        kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         **self._keras_options(kwargs, ("input_shape", "name", "dtype",
                                                        "input_dim")))

    # the shape arithmetic of minicnn's Dense, on Keras' order of the axes
    def build(self, input_shape):
        super().build(keras_shape(input_shape, self.data_format))

    def compute_output_shape(self, input_shape):
        out = super().compute_output_shape(keras_shape(input_shape, self.data_format))
        return minicnn_shape(out, self.data_format)

    def _feature_problem(self, sample):
        return super()._feature_problem(keras_shape(sample, self.data_format))

    def count_macs(self, input_shape):
        return super().count_macs(keras_shape(input_shape, self.data_format))

    def forward(self, x):
        return self._in_keras_order(x, super().forward)


class Flatten(KerasLayer, layers.Flatten):
    """Keras' Flatten(data_format=None): one row per sample, in Keras' order of the axes:
    (H, W, C) in channels_last, so the Dense after it has Keras' weights as they are."""

    follows_input = True

    def __init__(self, data_format=None, **kwargs):
        self._set_format(None)
        self.flatten_format = self._format if data_format is None else \
            standardize_data_format(data_format)
        super().__init__(**self._keras_options(kwargs))

    def _feature_problem(self, sample):
        if len(sample) == 3 and self.channels_last and self.flatten_format != "channels_last":
            return "data_format='channels_first' does not fit channels_last data"
        return super()._feature_problem(sample)

    def forward(self, x):
        # Keras flattens (N, H, W, C) as it is, and channels_first data after moving the
        # channels last, unless told the data are channels_last: so (H, W, C) order
        # whenever the two layouts agree, and (C, H, W) for channels_first data read as
        # channels_last. The data here are (N, C, H, W).
        if x.ndim == 4 and self.flatten_format == self.data_format:
            x = permute(x, TO_KERAS)                 # (N, C, H, W) -> (N, H, W, C), then rows
        return F.flatten(x)


class Dropout(KerasLayer, layers.Dropout):
    """Keras' Dropout(rate, noise_shape=None, seed=None): zero each element with
    probability ``rate`` in training, scale the rest by 1 / (1 - rate). ``noise_shape``
    in Keras' order, e.g. (None, 1, 1, C) drops whole channels of (N, H, W, C)."""
    follows_input = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        self._set_format(None)
        super().__init__(rate, noise_shape, seed,
                         **self._keras_options(kwargs, ("input_shape", "name")))
        self.keras_noise_shape = self.noise_shape

    def forward(self, x, training=None):
        shape = self.keras_noise_shape
        if shape is not None and self.channels_last and len(shape) == 4:
            shape = (shape[0], shape[3], shape[1], shape[2])   # Keras' (N, H, W, C) -> NCHW
        self.noise_shape = shape
        return super().forward(x, training)


class Activation(KerasLayer, layers.Activation):
    """Keras' Activation(activation): 'relu', 'softmax' (over the last axis, Keras'), ..."""
    follows_input = True

    def __init__(self, activation, **kwargs):
        self._set_format(None)
        super().__init__(activation, **self._keras_options(kwargs, ("input_shape", "name")))

    def forward(self, x):
        return self._in_keras_order(x, super().forward)


class Softmax(KerasLayer, layers.Softmax):
    """Keras' Softmax(axis=-1): e^x_i / sum_j e^x_j along Keras' ``axis``."""
    follows_input = True

    def __init__(self, axis=-1, **kwargs):
        self._set_format(None)
        super().__init__(axis, **self._keras_options(kwargs, ("input_shape", "name")))

    def forward(self, x):
        return self._in_keras_order(x, super().forward)


class ReLU(KerasLayer, layers.ReLU):
    """Keras' ReLU(max_value=None, negative_slope=0.0, threshold=0.0): max(x, 0), or
    x if x > 0 else negative_slope x (a leaky ReLU). max_value and threshold other than
    their defaults are not built."""
    follows_input = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        self._set_format(None)
        super().__init__(**self._keras_options(kwargs, ("input_shape", "name")))
        if max_value is not None or threshold != 0:
            raise TypeError(f"{self.describe()}: max_value and threshold are not supported by "
                            f"minicnn; leave them at None and 0")
        self.negative_slope = self._number(negative_slope, "negative_slope", at_least=0)

    def forward(self, x):
        if self.negative_slope:
            return F.leaky_relu(x, negative_slope=self.negative_slope)
        return super().forward(x)


class BatchNormalization(KerasLayer, layers.BatchNormalization):
    """Keras' BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True,
    scale=True, ...): per channel, with Keras' rule for the moving statistics:

        moving_mean     = momentum moving_mean     + (1 - momentum) batch_mean
        moving_variance = momentum moving_variance + (1 - momentum) batch_var   (biased)

    ``axis`` names the channels in Keras' order: -1 (or 3) in channels_last, 1 in
    channels_first; for (N, features) input, the features (1 or -1). Weights in Keras'
    order: gamma, beta, moving_mean, moving_variance."""
    follows_input = True
    biased_running_var = True                        # Keras' rule

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        self._set_format(None)
        self._no_extras("BatchNormalization", beta_regularizer=beta_regularizer,
                        gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                        gamma_constraint=gamma_constraint)
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"BatchNormalization: axis must be an int, got {axis!r}")
        self.keras_axis = int(axis)
        super().__init__(1, momentum, epsilon, center, scale, beta_initializer,
                         gamma_initializer, moving_mean_initializer, moving_variance_initializer,
                         **self._keras_options(kwargs))

    def _feature_problem(self, sample):
        ndim = len(sample) + 1
        if ndim in (2, 4):
            try:
                axis = minicnn_axis(self.keras_axis, ndim, self.data_format)
            except ValueError:
                axis = None
            if axis != 1:
                channels = "-1" if self.channels_last and ndim == 4 else "1"
                return (f"axis={self.keras_axis} is not the channels of {ndim}-D "
                        f"{self.data_format} data; minicnn normalises the channels only: "
                        f"use axis={channels}")
        return super()._feature_problem(sample)


class Concatenate(KerasLayer, layers.Concatenate):
    """Keras' Concatenate(axis=-1): join along Keras' ``axis`` (-1: the channels)."""
    follows_input = True

    def __init__(self, axis=-1, **kwargs):
        self._set_format(None)
        self.keras_axis = axis
        super().__init__(axis=1, **self._keras_options(kwargs, ("name",)))

    def compute_output_shape(self, input_shapes):
        if isinstance(self.keras_axis, bool) or not isinstance(self.keras_axis, int):
            raise ValueError(f"{self.describe()}: axis must be an int, got {self.keras_axis!r}")
        self.axis = minicnn_axis(self.keras_axis, len(input_shapes[0]) + 1, self.data_format)
        if self.axis == 0:
            raise ValueError(f"{self.describe()}: axis={self.keras_axis} is the batch axis")
        return super().compute_output_shape(input_shapes)


class Add(KerasLayer, layers.Add):
    """Keras' Add(): y = x_1 + x_2 + ... (inputs of one shape)."""
    follows_input = True

    def __init__(self, **kwargs):
        self._set_format(None)
        super().__init__(**self._keras_options(kwargs, ("name",)))


def concatenate(inputs, axis=-1, **kwargs):
    """Keras' functional form: ``Concatenate(axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    """Keras' functional form: ``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


class InputLayer(KerasLayer, layers.InputLayer):
    """Keras' InputLayer(shape=None, batch_size=None, dtype=None, name=None): one
    sample's shape in Keras' order, (32, 32, 3) in channels_last."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 name=None, **kwargs):
        self._set_format(None)
        if batch_shape is not None and shape is None:
            shape = tuple(batch_shape)[1:]
        if shape is None or any(n is None for n in np.atleast_1d(np.array(shape, object))):
            raise ValueError(f"Input: minicnn needs a fixed sample shape such as (32, 32, 3), "
                             f"got shape={shape!r}")
        if sparse:
            raise TypeError("Input: sparse tensors are not supported by minicnn")
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        options = self._keras_options(kwargs, ())
        super().__init__(minicnn_shape(shape, self.data_format), name=name, **options)
        self._output_shape = self.shape
        if dtype is not None:
            self._dtype = self._float_dtype(dtype)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """Keras' Input: a placeholder for a batch of samples of ``shape`` (Keras' order, no
    batch axis), to draw a Model(inputs, outputs) with or to start a Sequential. Its
    ``.shape`` is (None, *shape)."""
    if tensor is not None or optional:
        raise TypeError("Input: tensor= and optional=True are not supported by minicnn")
    layer = InputLayer(shape, batch_size, dtype, sparse, batch_shape, name)
    return KerasTensor(input_node(layer), layer.data_format)
