"""Normalisation ops: batch normalisation and local response normalisation (NCHW).

Batch normalisation (Ioffe & Szegedy 2015), per channel c of a 4-D input (N, C, H, W),
or per feature of a 2-D input (N, C); the statistics run over every other axis
(m = N H W numbers per channel):

    mu_c    = 1/m sum x                      var_c = 1/m sum (x - mu_c)^2   (biased)
    x_hat   = (x - mu_c) / sqrt(var_c + eps)
    y       = gamma_c x_hat + beta_c

In training the batch statistics are used and the running averages move towards them
(PyTorch's convention, ``momentum`` is the weight of the new batch):

    running_mean = (1 - momentum) running_mean + momentum mu_c
    running_var  = (1 - momentum) running_var  + momentum var_c m / (m - 1)   (unbiased)

The unbiased variance in the running average is PyTorch's rule; Keras moves it with
the biased var_c itself (``biased_running_var=True``, what minicnn.keras' layer uses).

In evaluation the running averages replace mu_c and var_c. Keras writes the same rule
with its momentum as the weight of the *old* average, keras_momentum = 1 - torch_momentum:
Keras' default 0.99 is PyTorch's 0.01, PyTorch's default 0.1 is Keras' 0.9. The layer
BatchNormalization takes Keras' form; this op takes PyTorch's.

Local response normalisation (Krizhevsky et al. 2012), across channels:

    y_c = x_c / (k + alpha * sum_{c' = c - size//2}^{c + (size-1)//2} x_{c'}^2) ^ beta

(channels outside 0..C-1 count as zero). This is the paper's and TensorFlow's form:
alpha multiplies the *sum*. Caffe and PyTorch (``torch.nn.functional.local_response_norm``)
multiply the *mean*, i.e. their alpha is ``size`` times ours:
local_response_norm(x, size, alpha=a / size) here == torch's local_response_norm(x, size, a).
"""
from ..backend import array_module, implementation
from ..tensor import Function, as_tensor


# ----------------------------------------------------------------------------- batch norm
def _reduce_axes(ndim):
    """Every axis but the channel axis 1: (0,) for (N, C), (0, 2, 3) for (N, C, H, W)."""
    return (0,) + tuple(range(2, ndim))


def _per_channel(v, ndim):
    """A (C,) vector shaped to broadcast against (N, C, ...)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class BatchNorm(Function):
    """y = gamma x_hat + beta with batch (training) or running (eval) statistics."""

    def __init__(self, training, momentum, eps, running_mean, running_var,
                 biased_running_var=False):
        self.training, self.momentum, self.eps = training, momentum, eps
        self.running_mean, self.running_var = running_mean, running_var
        self.biased_running_var = biased_running_var

    def forward(self, x, gamma, beta):
        xp = array_module(x)
        axes = _reduce_axes(x.ndim)
        if self.training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)                                   # biased, as the formula
            self.update_running(mean, var, x.size // x.shape[1])
        else:
            mean = self.running_mean.astype(x.dtype, copy=False)
            var = self.running_var.astype(x.dtype, copy=False)
        self.inv_std = 1.0 / xp.sqrt(var + self.eps)                # (C,)
        self.x_hat = (x - _per_channel(mean, x.ndim)) * _per_channel(self.inv_std, x.ndim)
        self.gamma = gamma
        y = self.x_hat if gamma is None else self.x_hat * _per_channel(gamma, x.ndim)
        return y if beta is None else y + _per_channel(beta, x.ndim)

    def update_running(self, mean, var, m):
        """Move the running statistics (in place) towards the batch's mean and biased var
        of m values per channel: r <- (1 - momentum) r + momentum batch, the variance
        unbiased by m / (m - 1) first (PyTorch's rule) unless ``biased_running_var``
        (Keras' rule)."""
        if self.running_mean is not None:
            self.running_mean *= 1 - self.momentum
            self.running_mean += self.momentum * mean.astype(self.running_mean.dtype)
        if self.running_var is not None:
            if not self.biased_running_var and m > 1:
                var = var * (m / (m - 1))                            # unbiased (PyTorch)
            self.running_var *= 1 - self.momentum
            self.running_var += self.momentum * var.astype(self.running_var.dtype)

    def backward(self, dy):
        axes = _reduce_axes(dy.ndim)
        x_hat = self.x_hat
        dgamma = (dy * x_hat).sum(axis=axes) if self.needs_input_grad[1] else None  # sum dy x_hat
        dbeta = dy.sum(axis=axes) if self.needs_input_grad[2] else None            # sum dy
        dx = None
        if self.needs_input_grad[0]:
            dx_hat = dy if self.gamma is None else dy * _per_channel(self.gamma, dy.ndim)
            inv_std = _per_channel(self.inv_std, dy.ndim)
            if self.training:
                # mu and var depend on x too:
                # dx = inv_std (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat))
                mean_dx_hat = dx_hat.mean(axis=axes, keepdims=True)
                mean_dx_hat_x_hat = (dx_hat * x_hat).mean(axis=axes, keepdims=True)
                dx = inv_std * (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat)
            else:
                dx = dx_hat * inv_std                                # running stats: constants
        return dx, dgamma, dbeta


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5,
               biased_running_var=False):
    """Batch normalisation over the channel axis 1 (see the module docstring).

    x: (N, C) or (N, C, H, W).  gamma, beta: (C,) or None (scale 1, shift 0).
    running_mean, running_var: (C,) arrays or Tensors (updated in place in training; may
    be None in training, then nothing is tracked; required in eval).
    momentum: PyTorch's convention, the weight of the new batch statistics.
    biased_running_var: move running_var with the biased batch variance (Keras' rule)
    instead of the unbiased one (PyTorch's, the default).
    Returns y of the shape of x.
    """
    x = as_tensor(x)
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: input must be (N, C) or (N, C, H, W), got {x.shape}")
    c = x.shape[1]
    stats = []
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        v = v.data if hasattr(v, "creator") else v           # a Tensor/Parameter: its array
        if v is not None and tuple(v.shape) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},), got {tuple(v.shape)}")
        stats.append(v)
    if not training and (stats[0] is None or stats[1] is None):
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and "
                         "running_var")
    if training and x.size // c < 2:
        raise ValueError(f"batch_norm: training needs more than one value per channel to "
                         f"compute a variance, got an input of shape {x.shape}")
    gamma = None if gamma is None else as_tensor(gamma)
    beta = None if beta is None else as_tensor(beta)
    for name, v in (("gamma", gamma), ("beta", beta)):
        if v is not None and v.shape != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},), got {v.shape}")
    op = implementation(BatchNorm, x.data)        # the reference above, or a kernel twin
    return op(bool(training), float(momentum), float(eps), *stats,
              biased_running_var=bool(biased_running_var))(x, gamma, beta)


# ----------------------------------------------------------------------------- LRN
def channel_window_sum(v, before, after):
    """s[:, c] = sum_{c' = c - before}^{c + after} v[:, c'] (out-of-range channels are 0),
    by a cumulative sum along axis 1."""
    xp = array_module(v)
    pad = [(0, 0)] * v.ndim
    pad[1] = (before + 1, after)
    csum = xp.pad(v, pad).cumsum(axis=1)
    c = v.shape[1]
    return csum[:, before + after + 1:before + after + 1 + c] - csum[:, :c]


class LocalResponseNorm(Function):
    """y_c = x_c s_c^(-beta),  s_c = k + alpha sum_{c' in W(c)} x_{c'}^2."""

    def __init__(self, size, alpha, beta, k):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.before, self.after = size // 2, (size - 1) // 2         # W(c) = [c - before, c + after]

    def forward(self, x):
        xp = array_module(x)
        self.x = x
        self.s = self.k + self.alpha * channel_window_sum(x * x, self.before, self.after)
        self.s_pow = xp.power(self.s, -self.beta)
        return x * self.s_pow

    def backward(self, dy):
        # dy_c/dx_j = [c = j] s_c^-beta - 2 alpha beta x_c x_j s_c^(-beta-1) [j in W(c)];
        # j in W(c)  <=>  c in [j - after, j + before], the mirrored window:
        # dx_j = dy_j s_j^-beta - 2 alpha beta x_j sum_{c in mirrored W(j)} dy_c x_c s_c^-beta / s_c
        t = dy * self.x * self.s_pow / self.s
        return dy * self.s_pow - 2 * self.alpha * self.beta * self.x * \
            channel_window_sum(t, self.after, self.before)


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """Local response normalisation across the channels of (N, C, ...) input.

        y_c = x_c / (k + alpha * sum_{c' = c - size//2}^{c + (size-1)//2} x_{c'}^2) ^ beta

    The defaults are AlexNet's (size 5, alpha 1e-4, beta 0.75, k 2). alpha multiplies
    the sum (the paper's form); PyTorch's alpha is ``size`` times this one.
    """
    x = as_tensor(x)
    if x.ndim < 3:
        raise ValueError(f"local_response_norm: input must be (N, C, ...) with at least 3 "
                         f"dimensions, got {x.shape}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    if k <= 0 and beta != 0:
        raise ValueError(f"local_response_norm: k must be positive, got {k}")
    return LocalResponseNorm(size, float(alpha), float(beta), float(k))(x)
