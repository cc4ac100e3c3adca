"""Ops that only move or combine numbers: flatten, concatenate, add, zero_pad2d.

    flatten      (N, C, H, W) -> (N, C*H*W)
    concatenate  [(N, C_1, H, W), (N, C_2, H, W), ...] -> (N, C_1 + C_2 + ..., H, W)
    add          [x_1, x_2, ...] (equal shapes) -> x_1 + x_2 + ...
    zero_pad2d   (N, C, H, W) -> (N, C, H + top + bottom, W + left + right)

(reshape and transpose live on Tensor.)
"""
from ..backend import array_module
from ..tensor import Function, as_tensor
from .utils import normalize_padding


def flatten(x, start_dim=1):
    """Join the axes from ``start_dim`` on into one.

    Shape: (N, C, H, W) -> (N, C*H*W) for the default start_dim=1.
    """
    x = as_tensor(x)
    if not -x.ndim <= start_dim < max(x.ndim, 1):
        raise ValueError(f"flatten: start_dim={start_dim} is out of range for a {x.ndim}-D input")
    start_dim %= max(x.ndim, 1)
    return x.reshape(x.shape[:start_dim] + (-1,))


class Concatenate(Function):
    """y = [x_1 | x_2 | ...] along ``axis``; backward cuts dy back into the pieces."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, dy):
        # dL/dx_i = the slice of dL/dy that x_i filled
        grads, start = [], 0
        index = [slice(None)] * dy.ndim
        for size in self.sizes:
            index[self.axis] = slice(start, start + size)
            grads.append(dy[tuple(index)])
            start += size
        return tuple(grads)


def concatenate(xs, axis=1):
    """Join tensors along ``axis`` (default 1, the channel axis of NCHW).

    xs: a list of (N, C_i, H, W) (all axes but ``axis`` equal) -> (N, sum C_i, H, W).
    """
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("concatenate: needs at least one input")
    ndim = xs[0].ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis={axis} is out of range for {ndim}-D inputs")
    axis %= ndim
    reference = list(xs[0].shape)
    for i, x in enumerate(xs):
        other = list(x.shape)
        if x.ndim != ndim or other[:axis] + other[axis + 1:] != reference[:axis] + reference[axis + 1:]:
            raise ValueError(f"concatenate: every input must have the shape of input 0 "
                             f"{xs[0].shape} except on axis {axis}; input {i} has {x.shape}")
    return Concatenate(axis)(*xs)


class AddN(Function):
    """y = x_1 + x_2 + ... (equal shapes); every input receives dy."""

    def forward(self, *xs):
        y = xs[0].copy()
        for x in xs[1:]:
            y += x
        return y

    def backward(self, dy):
        return tuple(dy for _ in self.inputs)                # dy/dx_i = 1


def add(xs):
    """Elementwise sum of a list of tensors of one shape (a residual connection's join)."""
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("add: needs at least one input")
    for i, x in enumerate(xs):
        if x.shape != xs[0].shape:
            raise ValueError(f"add: every input must have the shape of input 0 {xs[0].shape}; "
                             f"input {i} has {x.shape}")
    return AddN()(*xs)


def normalize_pad2d(padding):
    """((top, bottom), (left, right)) from an int, (ph, pw) or ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        raise TypeError(f"zero_pad2d: padding must be an int or pairs of ints, got {padding!r}")
    try:
        return normalize_padding(padding, None, None, None, None)   # numbers only: no geometry
    except (TypeError, ValueError) as error:
        raise type(error)(f"zero_pad2d: {error}") from None


class ZeroPad2d(Function):
    """y = x surrounded by zeros; backward keeps the centre of dy."""

    def __init__(self, padding):
        self.padding = padding

    def forward(self, x):
        (top, bottom), (left, right) = self.padding
        self.hw = x.shape[2:]
        return array_module(x).pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))

    def backward(self, dy):
        (top, _), (left, _) = self.padding
        h, w = self.hw
        return dy[:, :, top:top + h, left:left + w]           # the zeros have no inputs


def zero_pad2d(x, padding):
    """Pad the two spatial axes of (N, C, H, W) with zeros.

    padding: an int, (ph, pw) (both sides) or ((top, bottom), (left, right)).
    Returns (N, C, H + top + bottom, W + left + right).
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"zero_pad2d: input must have shape (N, C, H, W), got {x.shape}")
    return ZeroPad2d(normalize_pad2d(padding))(x)
