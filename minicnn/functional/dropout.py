"""Inverted dropout."""
from ..backend import array_module
from ..rng import new_rng
from ..tensor import Function, as_tensor


class Dropout(Function):
    """y = x * m / (1 - p) with m_i ~ Bernoulli(1 - p): kept units are scaled up during
    training so that nothing changes at evaluation time (inverted dropout)."""
    def __init__(self, p, rng):
        self.p, self.rng = p, rng

    def forward(self, x):
        xp = array_module(x)
        keep = self.rng.random(x.shape) >= self.p    # drawn on the host so seeds agree everywhere
        keep = xp.asarray(keep)                      # (to a GPU as bools: a quarter of float32)
        self.scale = keep.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.scale

    def backward(self, g):
        return g * self.scale                        # dy/dx = m / (1 - p)


def dropout(x, p=0.5, training=True, rng=None, seed=None):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    Shape: any -> same. With ``training=False`` (or p = 0) it returns x unchanged.
    Randomness: ``rng`` (a numpy Generator), else ``seed``, else minicnn's global
    generator (see ``minicnn.manual_seed``).
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return as_tensor(x)
    return Dropout(p, rng if rng is not None else new_rng(seed))(x)
