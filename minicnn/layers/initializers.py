"""Weight initialisers with Keras' names and rules.

    Dense(64, kernel_initializer="he_normal")
    Conv2D(32, 3, kernel_initializer=initializers.GlorotUniform(seed=1))
    Dense(10, kernel_initializer=lambda shape, dtype, rng: rng.normal(0, 0.01, shape))

The variance-scaling family draws with variance scale / n, where n is fan_in, fan_out or
their mean (``compute_fans``):

    name            scale  n        distribution
    glorot_uniform  1      avg      U(-L, L),  L = sqrt(3 scale / n) = sqrt(6 / (in + out))
    glorot_normal   1      avg      truncated normal
    he_normal       2      fan_in   truncated normal
    he_uniform      2      fan_in   uniform
    lecun_normal    1      fan_in   truncated normal
    lecun_uniform   1      fan_in   uniform

Keras' "normal" variants use a normal truncated at two standard deviations (values beyond
are drawn again); truncation shrinks the spread by 0.87962566103423978, so the stddev
asked of it is sqrt(scale / n) / 0.87962566103423978, which keeps the variance scale / n.

Randomness: an initialiser gets a NumPy Generator from the layer, drawn from minicnn's
global generator, so ``mc.manual_seed(s)`` makes model creation reproducible; an
initialiser made with ``seed=`` uses its own seed instead (the same values every call).
Numbers are drawn in float64 and then cast, so float32 and float64 models made from one
seed agree.
"""
import abc
import inspect
import math
import numbers

import numpy as np

from ..arguments import finite_number
from ..rng import new_rng
from ..tensor import get_default_dtype

TRUNCATION_STDDEV = 0.87962566103423978   # stddev of N(0, 1) truncated to [-2, 2]


def compute_fans(shape):
    """(fan_in, fan_out) of a weight, in minicnn's layouts:

        Dense kernel (in, out)                  fan_in = in,              fan_out = out
        Conv kernel (out, in/groups, kh, kw)    fan_in = in/groups kh kw, fan_out = out kh kw
        a vector (n,)                           fan_in = fan_out = n

    Keras' rule; Keras stores conv kernels as (kh, kw, in, out), the fans are the same.
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def truncated_normal(rng, shape, mean=0.0, stddev=1.0):
    """N(mean, stddev^2) restricted to mean +- 2 stddev (out-of-range values drawn again)."""
    z = rng.standard_normal(shape)
    outside = np.abs(z) > 2
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2
    return mean + stddev * z


def check_number(owner, name, value, positive=False):
    """``value`` as a finite float (> 0 if ``positive``), or a ValueError naming the
    initialiser's argument."""
    return finite_number(value, f"{owner}: {name}", above=0 if positive else None)


class Initializer(abc.ABC):
    """Base class: ``init(shape, dtype=None, rng=None)`` -> array. Subclasses implement
    ``sample(shape, rng)`` returning float64 values.

    ``get_config()`` is the constructor's arguments, read from the attributes of the same
    names (Keras' convention; override it if yours stores them otherwise), and
    ``from_config(config)`` calls the constructor with them: that is how a checkpoint
    stores ``kernel_initializer=HeNormal(seed=3)``."""
    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be None or an integer >= 0, "
                             f"got {seed!r}")
        self.seed = seed

    def get_config(self):
        parameters = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in parameters if name != "self"}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __call__(self, shape, dtype=None, rng=None):
        dtype = np.dtype(dtype or get_default_dtype())
        rng = np.random.default_rng(self.seed) if self.seed is not None else new_rng(rng)
        return np.asarray(self.sample(tuple(int(n) for n in shape), rng)).astype(dtype)

    @abc.abstractmethod
    def sample(self, shape, rng):
        """float64 values of the given shape, drawn from ``rng``."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v is not None)
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = check_number("Constant", "value", value)

    def sample(self, shape, rng):
        return np.full(shape, self.value, dtype=np.float64)


class RandomNormal(Initializer):
    """N(mean, stddev^2); Keras' default stddev 0.05."""
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = check_number("RandomNormal", "mean", mean)
        self.stddev = check_number("RandomNormal", "stddev", stddev, positive=True)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)


class RandomUniform(Initializer):
    """U(minval, maxval); Keras' default [-0.05, 0.05]."""
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval = check_number("RandomUniform", "minval", minval)
        self.maxval = check_number("RandomUniform", "maxval", maxval)
        if self.minval > self.maxval:
            raise ValueError(f"RandomUniform: minval ({minval}) must not exceed maxval ({maxval})")

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)


class TruncatedNormal(Initializer):
    """N(mean, stddev^2) restricted to mean +- 2 stddev."""
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = check_number("TruncatedNormal", "mean", mean)
        self.stddev = check_number("TruncatedNormal", "stddev", stddev, positive=True)

    def sample(self, shape, rng):
        return truncated_normal(rng, shape, self.mean, self.stddev)


class VarianceScaling(Initializer):
    """Values with variance scale / n, n = fan_in, fan_out or (fan_in + fan_out) / 2.

    distribution 'truncated_normal' (Keras' 'normal' too), 'untruncated_normal' or 'uniform'.
    """
    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        distribution = "truncated_normal" if distribution == "normal" else distribution
        scale = check_number(type(self).__name__, "scale", scale, positive=True)
        if mode not in self.MODES or distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: need scale > 0, mode in {self.MODES} and "
                             f"distribution in {self.DISTRIBUTIONS}; got scale={scale!r}, "
                             f"mode={mode!r}, distribution={distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3 * variance)                  # Var U(-L, L) = L^2 / 3
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        return truncated_normal(rng, shape, 0.0, math.sqrt(variance) / TRUNCATION_STDDEV)


class GlorotUniform(VarianceScaling):
    """U(-L, L) with L = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010). Keras' default."""
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    """Truncated normal with variance 2 / (fan_in + fan_out)."""
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeNormal(VarianceScaling):
    """Truncated normal with variance 2 / fan_in (He et al. 2015), for ReLU networks."""
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    """U(-L, L) with L = sqrt(6 / fan_in)."""
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    """Truncated normal with variance 1 / fan_in (LeCun et al. 1998)."""
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    """U(-L, L) with L = sqrt(3 / fan_in)."""
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
}
NAMES = sorted(_BY_NAME)
CLASSES = tuple(_BY_NAME.values())     # stored by class name in checkpoints (layers.config)


def get(identifier, who=None):
    """An initialiser from a name ('he_normal' or 'HeNormal'), an Initializer (object or
    class) or a function fn(shape, dtype, rng) -> array."""
    prefix = f"{who}: " if who else ""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.replace("_", "").lower()
        for name, cls in _BY_NAME.items():
            if name.replace("_", "") == key:
                return cls()
        raise ValueError(f"{prefix}unknown initializer {identifier!r}; valid names are "
                         f"{', '.join(NAMES)} (or an Initializer, or a function "
                         f"fn(shape, dtype, rng))")
    if callable(identifier):
        return identifier
    raise TypeError(f"{prefix}an initializer must be a name ({', '.join(NAMES)}), an "
                    f"Initializer or a function fn(shape, dtype, rng); got {identifier!r}")
