"""Activation functions: elementwise nonlinearities, softmax and log-softmax.

All keep the input's shape. Each Function saves the least backward needs (often the
output itself: sigmoid' = y (1 - y), tanh' = 1 - y^2).
"""
import math

from ..backend import array_module, implementation
from ..tensor import Function, as_tensor


class ReLU(Function):
    """y = max(x, 0). At x = 0 the gradient is taken as 0 (PyTorch's choice)."""
    def forward(self, x):
        self.positive = x > 0
        return x * self.positive

    def backward(self, g):
        return g * self.positive                     # dy/dx = [x > 0]


class LeakyReLU(Function):
    """y = x for x > 0, slope * x otherwise."""
    def __init__(self, negative_slope=0.01):
        self.slope = negative_slope

    def forward(self, x):
        self.positive = x > 0
        return array_module(x).where(self.positive, x, x * self.slope)

    def backward(self, g):
        return array_module(g).where(self.positive, g, g * self.slope)   # dy/dx = 1 or slope


class ELU(Function):
    """y = x for x > 0, alpha (e^x - 1) otherwise (Clevert et al. 2015)."""
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x):
        xp = array_module(x)
        self.positive = x > 0
        self.y = xp.where(self.positive, x, self.alpha * xp.expm1(xp.minimum(x, 0)))
        return self.y

    def backward(self, g):
        # dy/dx = 1 for x > 0, alpha e^x = y + alpha otherwise
        return array_module(g).where(self.positive, g, g * (self.y + self.alpha))


def _erf(x):
    """erf elementwise (NumPy has none: math.erf per element; CuPy's own on a GPU)."""
    xp = array_module(x)
    if xp.__name__ == "numpy":
        return xp.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    from cupyx.scipy.special import erf
    return erf(x)


class GELU(Function):
    """y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, the Gaussian CDF (Hendrycks &
    Gimpel 2016; the exact form, Keras' and PyTorch's default)."""
    def forward(self, x):
        self.x = x
        self.cdf = 0.5 * (1 + _erf(x / x.dtype.type(math.sqrt(2))))
        return x * self.cdf

    def backward(self, g):
        xp = array_module(g)
        pdf = xp.exp(-0.5 * self.x * self.x) / math.sqrt(2 * math.pi)
        return g * (self.cdf + self.x * pdf)         # dy/dx = Phi(x) + x phi(x)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x), computed without overflow for large |x|."""
    def forward(self, x):
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))                       # in (0, 1], never overflows
        self.y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.y

    def backward(self, g):
        return g * self.y * (1 - self.y)             # dy/dx = y (1 - y)


class Tanh(Function):
    """y = tanh(x)."""
    def forward(self, x):
        self.y = array_module(x).tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y * self.y)             # dy/dx = 1 - y^2


class Softmax(Function):
    """y_i = e^(x_i - m) / sum_j e^(x_j - m) along ``axis``, with m = max_j x_j (stable)."""
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, g):
        # dx_i = y_i (g_i - sum_j g_j y_j)   (the Jacobian diag(y) - y y^T applied to g)
        return self.y * (g - (g * self.y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - m - log sum_j e^(x_j - m) along ``axis`` (stable for any logits)."""
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.softmax = xp.exp(y)
        return y

    def backward(self, g):
        # dx_i = g_i - softmax_i * sum_j g_j
        return g - self.softmax * g.sum(axis=self.axis, keepdims=True)


def relu(x):
    """ReLU, y = max(x, 0). Shape: any -> same."""
    x = as_tensor(x)
    return implementation(ReLU, x.data)()(x)        # the reference above, or a kernel twin


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU, y = x if x > 0 else negative_slope * x. Shape: any -> same."""
    return LeakyReLU(negative_slope)(x)


def elu(x, alpha=1.0):
    """ELU, y = x if x > 0 else alpha (e^x - 1). Shape: any -> same."""
    return ELU(alpha)(x)


def gelu(x):
    """GELU, y = x Phi(x) with Phi the standard normal CDF (exact, via erf). Shape: any -> same."""
    return GELU()(x)


def sigmoid(x):
    """Logistic sigmoid, y = 1 / (1 + e^-x). Shape: any -> same."""
    return Sigmoid()(x)


def tanh(x):
    """Hyperbolic tangent. Shape: any -> same."""
    return Tanh()(x)


def softmax(x, axis=-1):
    """Softmax along ``axis`` (rows sum to 1). Shape: any -> same.

    The result remembers its logits (``y.softmax_logits``, also under no_grad) so that a
    loss on these probabilities can be computed from the logits instead (see
    ``nll_of_probabilities``).
    """
    x = as_tensor(x)
    y = Softmax(axis)(x)
    y.softmax_logits = (x, axis)
    return y


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis``, computed stably. Shape: any -> same."""
    return LogSoftmax(axis)(x)
