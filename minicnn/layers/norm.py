"""BatchNormalization and LocalResponseNormalization (channels first)."""
import math

from .. import functional as F
from . import initializers
from .base import Layer


class BatchNormalization(Layer):
    """y = gamma (x - mean) / sqrt(var + epsilon) + beta, per channel (axis 1).

    BatchNormalization(axis=1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                       beta_initializer='zeros', gamma_initializer='ones',
                       moving_mean_initializer='zeros', moving_variance_initializer='ones',
                       input_shape=None, name=None, dtype=None)

    x (N, C, H, W): statistics per channel over N, H, W;  x (N, C): per feature over N.
    Training mode uses the batch's mean and (biased) variance and moves the running
    averages; eval mode (model.eval(), predict, evaluate) uses the running averages:

        moving_mean     = momentum moving_mean     + (1 - momentum) batch_mean
        moving_variance = momentum moving_variance + (1 - momentum) batch_var m/(m-1)

    ``momentum`` is Keras' convention, the weight that the *old* average keeps (default
    0.99, epsilon 1e-3, Keras' defaults). PyTorch's BatchNorm2d(momentum=0.1, eps=1e-5)
    states the weight of the *new* batch: it equals BatchNormalization(momentum=0.9,
    epsilon=1e-5). The running variance is the unbiased batch variance, as PyTorch keeps it
    (minicnn.keras.layers.BatchNormalization keeps Keras' biased one). ``axis`` is 1, the
    channels; -1 is accepted for (N, C) inputs, where it is the same axis.

    Weights: gamma, beta (trainable, (C,)); moving_mean, moving_variance (not trainable,
    updated by the forward pass in training mode).
    """
    has_weights = True
    input_layout = "(C,) or (C, H, W)"

    def __init__(self, axis=1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 input_shape=None, name=None, dtype=None):
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        if isinstance(axis, bool) or axis not in (1, -1):
            raise ValueError(f"{self.describe()}: minicnn is channels-first, so batch "
                             f"normalisation runs over axis 1 (the channels); got axis={axis!r}"
                             f" (for channels-last data use minicnn.keras.layers)")
        self.axis = int(axis)
        self.momentum = self._number(momentum, "momentum", at_least=0, at_most=1,
                                     hint=" (Keras' convention: the weight the old average "
                                          "keeps; PyTorch's momentum=0.1 is 0.9 here)")
        self.epsilon = self._number(epsilon, "epsilon", above=0)
        self.center = self._bool(center, "center")
        self.scale = self._bool(scale, "scale")
        who = self.describe()
        self.beta_initializer = initializers.get(beta_initializer, who=who)
        self.gamma_initializer = initializers.get(gamma_initializer, who=who)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer, who=who)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer, who=who)
        self.num_features = None

    def build(self, input_shape):
        c = self.num_features = input_shape[0]
        self.gamma = self.add_weight("gamma", (c,), self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", (c,), self.beta_initializer) if self.center else None
        self.add_weight("moving_mean", (c,), self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", (c,), self.moving_variance_initializer,
                        trainable=False)

    biased_running_var = False      # PyTorch's rule (the Keras layer sets True)

    def _feature_problem(self, sample):
        if len(sample) not in (1, 3):
            return "expected samples of shape (C,) or (C, H, W)"
        if self.axis == -1 and len(sample) == 3:
            return ("axis=-1 is the width of (N, C, H, W) data; minicnn is channels-first, "
                    "so normalise the channels with axis=1 (or use minicnn.keras.layers for "
                    "channels-last data)")
        if self.num_features is not None and sample[0] != self.num_features:
            return f"expected {self.num_features} channels on axis 1"
        return None

    def backward_bytes(self, input_shape, itemsize):
        """x_hat, the normalised input, one number per element."""
        return math.prod(input_shape) * itemsize

    def forward(self, x):
        return F.batch_norm(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                            training=self.training, momentum=1.0 - self.momentum,
                            eps=self.epsilon, biased_running_var=self.biased_running_var)

    def extra_repr(self):
        return f"momentum={self.momentum}, epsilon={self.epsilon}, name={self.name!r}"


class LocalResponseNormalization(Layer):
    """y_c = x_c / (k + alpha sum_{c'=c-size//2}^{c+(size-1)//2} x_{c'}^2) ^ beta (channels).

    LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=2.0, input_shape=None, name=None)

    The defaults are AlexNet's, as published (alpha multiplies the sum of squares).
    PyTorch's nn.LocalResponseNorm and Caffe multiply the *mean* of the squares:
    nn.LocalResponseNorm(size, alpha=a, beta, k) == LocalResponseNormalization(size,
    alpha=a / size, beta, k). GoogLeNet (Caffe's model) is LocalResponseNormalization(5,
    alpha=1e-4 / 5, beta=0.75, k=1). Shape: (N, C, H, W) -> same.
    """
    input_ndim = 3
    input_layout = "(C, H, W)"
    channels_first = True

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, input_shape=None, name=None):
        super().__init__(name=name, input_shape=input_shape)
        self.size = self._positive_int(size, "size")
        # alpha >= 0 and k > 0 keep the base k + alpha sum x^2 positive (a negative base
        # to the power -beta is NaN)
        self.alpha = self._number(alpha, "alpha", at_least=0)
        self.beta = self._number(beta, "beta", at_least=0)
        self.k = self._number(k, "k", above=0)

    def backward_bytes(self, input_shape, itemsize):
        """s = k + alpha sum x^2 and s^-beta, two numbers per element."""
        return 2 * math.prod(input_shape) * itemsize

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return (f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, "
                f"name={self.name!r}")
