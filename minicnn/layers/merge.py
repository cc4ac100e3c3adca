"""Layers that join several inputs: Concatenate (channel axis) and Add (residual joins).

Called on a list: ``Concatenate()([a, b, c])``, ``Add()([shortcut, y])``, on arrays or
Tensors (runs the op) or on symbolic tensors (records a node of a graph Model).
"""
from .. import functional as F
from ..tensor import layer_scope
from .base import Layer
from .symbolic import call_symbolic, is_symbolic


class _Merge(Layer):
    """Shared checks: a list of at least two inputs, each checked like a one-input layer."""

    def __call__(self, xs, **kwargs):
        if is_symbolic(xs):
            return call_symbolic(self, list(xs))
        if not isinstance(xs, (list, tuple)) or len(xs) < 2:
            raise TypeError(f"{self.describe()}: expected a list of at least two inputs, "
                            f"got {type(xs).__name__}")
        xs = [self._as_input(x) for x in xs]
        for i, x in enumerate(xs):
            if x.ndim < 2:
                raise ValueError(f"{self.describe()}: input {i} must have a batch axis "
                                 f"(N, ...), got shape {x.shape}")
        if len({x.shape[0] for x in xs}) != 1:
            raise ValueError(f"{self.describe()}: the inputs have different batch sizes "
                             f"{[x.shape[0] for x in xs]}")
        self._output_shape = self.prepare([x.shape[1:] for x in xs])
        dtype = xs[0].dtype
        xs = [x if x.dtype == dtype else x.astype(dtype) for x in xs]
        with layer_scope(self.name):
            return self.forward(xs)

    def prepare(self, input_shapes):
        """Check the per-sample shapes of the inputs; return the output's."""
        if not isinstance(input_shapes, (list, tuple)) or not input_shapes or not all(
                isinstance(s, (list, tuple)) for s in input_shapes):
            raise TypeError(f"{self.describe()}: expected a list of input shapes, got "
                            f"{input_shapes!r}")
        if len(input_shapes) < 2:
            raise ValueError(f"{self.describe()}: needs at least two inputs, got "
                             f"{len(input_shapes)}")
        shapes = [tuple(int(n) for n in s) for s in input_shapes]
        out = self.compute_output_shape(shapes)
        self.built = True
        self.input_shape = self.input_shape or shapes
        return out

    def count_macs(self, input_shape):
        return 0


class Concatenate(_Merge):
    """y = [x_1 | x_2 | ...] along ``axis`` (default 1: the channels of (N, C, H, W)).

    Concatenate(axis=1, name=None). [(C_1, H, W), (C_2, H, W), ...] -> (C_1 + C_2 + ..., H, W).
    """

    def __init__(self, axis=1, name=None):
        super().__init__(name=name)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ValueError(f"{self.describe()}: axis must be an int other than 0 (the batch "
                             f"axis), got {axis!r}")
        self.axis = axis

    def compute_output_shape(self, input_shapes):
        ndim = len(input_shapes[0]) + 1
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"{self.describe()}: axis={self.axis} is out of range for "
                             f"{ndim}-D inputs (batch axis included)")
        axis = self.axis % ndim - 1                       # in the sample shape
        first = input_shapes[0]
        for i, shape in enumerate(input_shapes):
            if len(shape) != len(first) or any(
                    a != b for k, (a, b) in enumerate(zip(shape, first)) if k != axis):
                raise ValueError(f"{self.describe()}: every input must match input 0 "
                                 f"{(None,) + first} except on axis {self.axis}; input {i} "
                                 f"is {(None,) + shape}")
        out = list(first)
        out[axis] = sum(s[axis] for s in input_shapes)
        return tuple(out)

    def forward(self, xs):
        return F.concatenate(xs, axis=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}, name={self.name!r}"


class Add(_Merge):
    """y = x_1 + x_2 + ... (inputs of one shape): the join of a residual block.

    Add(name=None). [(C, H, W), (C, H, W), ...] -> (C, H, W).
    """

    def compute_output_shape(self, input_shapes):
        for i, shape in enumerate(input_shapes):
            if shape != input_shapes[0]:
                raise ValueError(f"{self.describe()}: every input must have the shape of "
                                 f"input 0 {(None,) + input_shapes[0]}; input {i} is "
                                 f"{(None,) + shape}")
        return input_shapes[0]

    def forward(self, xs):
        return F.add(xs)


