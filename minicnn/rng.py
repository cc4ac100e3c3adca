"""Random numbers: one global NumPy Generator that ``manual_seed`` resets.

Layers and ops that need randomness (initialisers, dropout, shuffling) take a seed or
a Generator; without one they draw a fresh Generator from the global one, so a single
``mc.manual_seed(0)`` at the top of a script makes the whole run reproducible.
"""
import contextlib

import numpy as np

_GLOBAL = [np.random.default_rng()]


def manual_seed(seed):
    """Reset minicnn's global random generator."""
    _GLOBAL[0] = np.random.default_rng(seed)


def global_rng():
    return _GLOBAL[0]


def new_rng(seed=None):
    """A Generator from ``seed``, or a fresh one drawn from the global generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        seed = int(_GLOBAL[0].integers(2**63))
    return np.random.default_rng(seed)


@contextlib.contextmanager
def seeded(seed):
    """Inside the block, the global generator starts from ``seed``; afterwards it is the
    one it was before (so a test can build reproducible weights without resetting a
    user's ``manual_seed``)."""
    saved = _GLOBAL[0]
    _GLOBAL[0] = np.random.default_rng(seed)
    try:
        yield
    finally:
        _GLOBAL[0] = saved
