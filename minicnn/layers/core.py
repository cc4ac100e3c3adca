"""Dense, Flatten, Dropout and the activation layers (Activation, ReLU, Softmax)."""
import math

import numpy as np

from .. import functional as F
from . import activations, initializers
from .base import Layer, activation_backward_bytes


class Dense(Layer):
    """y = activation(x @ kernel + bias), on the last axis.

    Dense(units, activation=None, use_bias=True, kernel_initializer='glorot_uniform',
          bias_initializer='zeros', input_shape=None, name=None, dtype=None, input_dim=None)

    x (N, in) -> y (N, units); leading axes are kept: (N, ..., in) -> (N, ..., units).
    Weights: kernel (in, units), bias (units,). A softmax activation leaves its output a
    Softmax-made Tensor, so the loss can work from the logits.
    """
    has_weights = True
    input_layout = "(features,)"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_shape=None, name=None, dtype=None,
                 input_dim=None):
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        if input_dim is not None and input_shape is None:
            in_features = self._positive_int(input_dim, "input_dim")
            self._check_input((in_features,), "input_shape", features=False)
            self.input_shape = (in_features,)
        self.units = self._positive_int(units, "units")
        self.activation = activations.get(activation, axis=-1, who=self.describe())
        self.use_bias = self._bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer, who=self.describe())
        self.bias_initializer = initializers.get(bias_initializer, who=self.describe())
        self.in_features = None            # known once built

    def build(self, input_shape):
        self.in_features = input_shape[-1]
        self.add_weight("kernel", (self.in_features, self.units), self.kernel_initializer)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer)
                     if self.use_bias else None)

    def _feature_problem(self, sample):
        if self.in_features is not None and sample[-1] != self.in_features:
            return (f"expected {self.in_features} input features on the last axis "
                    f"(N, {self.in_features})")
        return None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def count_macs(self, input_shape):
        """in * units multiply-adds per row; (N, ..., in) has prod(...) rows per sample."""
        return math.prod(input_shape[:-1]) * input_shape[-1] * self.units

    def backward_bytes(self, input_shape, itemsize):
        """linear saves only references to x and W; a ReLU adds its mask."""
        out = math.prod(self.compute_output_shape(input_shape))
        return activation_backward_bytes(self.activation, out, itemsize)

    def forward(self, x):
        return self.activation(F.linear(x, self.kernel, self.bias))

    @property
    def weight(self):
        """PyTorch's name for the kernel (here (in, out): y = x @ W + b)."""
        return self.kernel

    def extra_repr(self):
        return (f"{self.units}, activation={activations.name_of(self.activation)!r}, "
                f"name={self.name!r}")


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W): one row per sample, in C, H, W order."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x):
        return F.flatten(x)


class Dropout(Layer):
    """In training mode zero each element with probability ``rate`` and scale the rest by
    1 / (1 - rate); in eval mode (model.eval(), predict, evaluate) pass x through.

    Dropout(rate, noise_shape=None, seed=None) (Keras' arguments and order): with a seed
    the layer draws its masks from its own generator; without one from minicnn's global
    generator (see mc.manual_seed). ``noise_shape``: the mask's shape with the batch axis,
    1 where one draw is shared along an axis, None for the input's size there; e.g.
    (None, C, 1, 1) drops whole channels of (N, C, H, W). Shape: any -> same.
    """

    def __init__(self, rate, noise_shape=None, seed=None, *, input_shape=None, name=None):
        super().__init__(name=name, input_shape=input_shape)
        self.rate = self._number(rate, "rate", at_least=0, below=1,
                                 hint=" (the probability of dropping each unit)")
        if noise_shape is not None and not (isinstance(noise_shape, (tuple, list)) and all(
                n is None or (isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                              and n >= 1) for n in noise_shape)):
            raise TypeError(f"{self.describe()}: noise_shape must be a tuple of positive ints "
                            f"or None (one per axis, batch axis included), got {noise_shape!r}")
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = self._seed(seed)
        self.rng = None if seed is None else np.random.default_rng(self.seed)

    def backward_bytes(self, input_shape, itemsize):
        """The scaled keep-mask, one number per element."""
        return math.prod(input_shape) * itemsize

    def forward(self, x, training=None):
        training = self.training if training is None else training
        return F.dropout(x, self.rate, training=training, rng=self.rng,
                         noise_shape=self.noise_shape)

    def extra_repr(self):
        return f"rate={self.rate}, name={self.name!r}"


class Activation(Layer):
    """y = activation(x), by name ('relu', 'softmax', ...) or function; softmax and
    log_softmax over the last axis. Shape: any -> same."""

    def __init__(self, activation, input_shape=None, name=None):
        super().__init__(name=name, input_shape=input_shape)
        self.activation = activations.get(activation, axis=-1, who=self.describe())

    def backward_bytes(self, input_shape, itemsize):
        return activation_backward_bytes(self.activation, math.prod(input_shape), itemsize)

    def forward(self, x):
        return self.activation(x)

    def extra_repr(self):
        return f"{activations.name_of(self.activation)!r}, name={self.name!r}"


class ReLU(Layer):
    """y = max(x, 0). Shape: any -> same."""

    def backward_bytes(self, input_shape, itemsize):
        return math.prod(input_shape)                 # the mask [x > 0], one byte each

    def forward(self, x):
        return F.relu(x)


class Softmax(Layer):
    """y = softmax(x) along ``axis`` (default the last): e^x_i / sum_j e^x_j. Shape: any -> same."""

    def __init__(self, axis=-1, input_shape=None, name=None):
        super().__init__(name=name, input_shape=input_shape)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{self.describe()}: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _feature_problem(self, sample):
        if not -(len(sample) + 1) <= self.axis <= len(sample):
            return f"axis={self.axis} is out of range for a {len(sample) + 1}-D input"
        return None

    def forward(self, x):
        return F.softmax(x, axis=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}, name={self.name!r}"
