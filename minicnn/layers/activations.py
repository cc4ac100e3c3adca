"""Keras' ``activation=`` names, each mapped to an op of minicnn.functional.

    name          op                      y =
    'linear'      (identity; also None)   x
    'relu'        F.relu                  max(x, 0)
    'leaky_relu'  F.leaky_relu, 0.2       x if x > 0 else 0.2 x   (Keras' slope for the name)
    'elu'         F.elu                   x if x > 0 else e^x - 1
    'gelu'        F.gelu                  x Phi(x)                (the exact form, Keras')
    'sigmoid'     F.sigmoid               1 / (1 + e^-x)
    'tanh'        F.tanh                  tanh x
    'softmax'     F.softmax               e^x_i / sum_j e^x_j     over the feature axis
    'log_softmax' F.log_softmax           log softmax(x)          over the feature axis

The feature axis is the last one for Dense and the channel axis (1) for Conv2D, the axis
Keras uses in both cases. A function of a Tensor is accepted as it is.
"""
import functools

from .. import functional as F

NAMES = ("linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax",
         "log_softmax")


def linear(x):
    """The identity: y = x."""
    return x


def leaky_relu(x):
    return F.leaky_relu(x, negative_slope=0.2)


def get(identifier, axis=-1, who=None):
    """The function for an activation name, None ('linear') or a callable.

    ``axis`` is where softmax and log_softmax normalise. ``who`` names the layer in errors.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        name = identifier.lower()
        if name in ("softmax", "log_softmax"):
            return functools.partial(F.softmax if name == "softmax" else F.log_softmax,
                                     axis=axis)
        simple = {"linear": linear, "relu": F.relu, "leaky_relu": leaky_relu, "elu": F.elu,
                  "gelu": F.gelu, "sigmoid": F.sigmoid, "tanh": F.tanh}
        if name in simple:
            return simple[name]
    elif callable(identifier):
        return identifier
    prefix = f"{who}: " if who else ""
    raise ValueError(f"{prefix}unknown activation {identifier!r}; valid names are "
                     f"{', '.join(repr(n) for n in NAMES)} (or None, or a function of a Tensor)")


def name_of(activation):
    """A readable name for a resolved activation function ('relu', 'softmax', ...)."""
    function = getattr(activation, "func", activation)       # inside functools.partial
    return getattr(function, "__name__", repr(activation))
