"""Inverted dropout."""
from ..backend import array_module
from ..rng import new_rng
from ..tensor import Function, as_tensor


class Dropout(Function):
    """y = x * m / (1 - p) with m_i ~ Bernoulli(1 - p): kept units are scaled up during
    training so that nothing changes at evaluation time (inverted dropout). With a
    ``noise_shape`` (1 on some axes) one draw of m is shared along those axes, e.g.
    (N, C, 1, 1) drops whole channels."""
    def __init__(self, p, rng, noise_shape=None):
        self.p, self.rng, self.noise_shape = p, rng, noise_shape

    def forward(self, x):
        xp = array_module(x)
        shape = x.shape if self.noise_shape is None else self.noise_shape
        keep = self.rng.random(shape) >= self.p      # drawn on the host so seeds agree everywhere
        keep = xp.asarray(keep)                      # (to a GPU as bools: a quarter of float32)
        self.scale = keep.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.scale

    def backward(self, g):
        return g * self.scale                        # dy/dx = m / (1 - p) (m broadcast)


def dropout(x, p=0.5, training=True, rng=None, seed=None, noise_shape=None):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    Shape: any -> same. With ``training=False`` (or p = 0) it returns x unchanged.
    Randomness: ``rng`` (a numpy Generator), else ``seed``, else minicnn's global
    generator (see ``minicnn.manual_seed``). ``noise_shape`` (Keras'): the shape of the
    keep-mask, one entry per axis of x, each x's size, 1 (the mask is shared along that
    axis) or None (x's size).
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    x = as_tensor(x)
    if noise_shape is not None:
        noise_shape = tuple(n if n is None else int(n) for n in noise_shape)
        if len(noise_shape) != x.ndim or any(
                n is not None and n not in (1, size) for n, size in zip(noise_shape, x.shape)):
            raise ValueError(f"dropout: noise_shape {noise_shape} does not fit an input of shape "
                             f"{x.shape}: give one entry per axis, each the axis' size, 1 or None")
        noise_shape = tuple(size if n is None else n for n, size in zip(noise_shape, x.shape))
    if not training or p == 0:
        return x
    return Dropout(p, rng if rng is not None else new_rng(seed), noise_shape)(x)
