"""``cupy.random`` in the fake: NumPy's generators with results as fake arrays. The streams
are NumPy's, not CuPy's (the same seed gives other numbers on a real GPU)."""
import numpy

from . import _call


class _Generator:
    """Wraps a ``numpy.random.Generator`` / ``RandomState``: every method's result is a fake
    array; NumPy arrays in the arguments are refused as CuPy does."""

    def __init__(self, numpy_generator):
        self._generator = numpy_generator

    def __getattr__(self, name):
        method = getattr(self._generator, name)
        if not callable(method):
            return method
        return lambda *args, **kwargs: _call(method, args, kwargs)


def default_rng(seed=None):
    return _Generator(numpy.random.default_rng(seed))


def RandomState(seed=None):   # noqa: N802  (CuPy's name)
    return _Generator(numpy.random.RandomState(seed))


_global = [RandomState()]


def seed(seed=None):
    _global[0] = RandomState(seed)


def get_random_state():
    return _global[0]


def __getattr__(name):
    """rand, randn, random, normal, uniform, randint, permutation, ... of the global state."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_global[0], name)
