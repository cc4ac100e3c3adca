"""Input: the entry of a graph Model (Keras' ``Input(shape)`` and ``InputLayer``)."""
import numpy as np

from .base import Layer
from .symbolic import SymbolicTensor


class InputLayer(Layer):
    """Passes a batch through after checking it has the declared per-sample shape.

    InputLayer(shape, name=None). Shape: (N, *shape) -> same.
    """
    channels_first = True

    def __init__(self, shape, name=None):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
        super().__init__(name=name, input_shape=shape)
        self.shape = self.input_shape

    def compute_output_shape(self, input_shape):
        if tuple(input_shape) != self.shape:
            raise ValueError(f"{self.describe()}: expected samples of shape {self.shape}, got "
                             f"{tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x):
        return x

    def extra_repr(self):
        return f"shape={self.shape}, name={self.name!r}"


def Input(shape, name=None):
    """A placeholder for a batch of samples of ``shape`` (C, H, W) (channels first, no
    batch axis), to build a graph Model with::

        x = Input((3, 32, 32))
        y = Dense(10)(Flatten()(Conv2D(8, 3)(x)))
        model = Model(x, y)

    Returns a SymbolicTensor of shape (None, *shape).
    """
    if shape is None or (isinstance(shape, (tuple, list)) and any(n is None for n in shape)):
        raise ValueError(f"Input: minicnn needs a fixed sample shape such as (3, 32, 32), "
                         f"got {shape!r}")
    return input_node(InputLayer(shape, name=name))


def input_node(layer):
    """The SymbolicTensor an InputLayer stands for (its one node in a graph)."""
    layer.prepare(layer.shape)
    layer._symbolic_calls = 1
    return SymbolicTensor(layer.shape, layer)
