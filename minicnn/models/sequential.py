"""Sequential: a stack of layers, each fed the output of the one before."""
import numpy as np

from ..layers.base import Layer
from ..layers.module import Module
from ..layers.input import InputLayer
from ..layers.symbolic import SymbolicTensor, call_symbolic, is_symbolic
from ..tensor import current_layer
from .model import Model, sample_shape


class Sequential(Model):
    """y = layer_n(... layer_2(layer_1(x)))  — Keras' Sequential.

        model = Sequential([Conv2D(6, 5, activation="relu", input_shape=(1, 32, 32)),
                            MaxPooling2D(2), Flatten(), Dense(10, activation="softmax")])
        model.add(Dropout(0.5))

    Once the input shape is known (the first layer's ``input_shape=``, ``build(shape)``
    or the first batch) every layer makes its weights from the shape the previous layer
    hands it (``Layer.prepare``, shape arithmetic only), so ``summary`` and
    ``count_params`` need no forward pass. Parameter paths are the layer indices:
    '0.kernel', '0.bias', '3.kernel', ... (as PyTorch's Sequential).
    """

    def __init__(self, layers=None, name=None):
        super().__init__(name=name)
        self._layers = []
        self._input_sample = None       # one sample's shape (C, H, W), once known
        self._output_sample = None      # one sample's output shape, once known
        if isinstance(layers, Module):
            layers = [layers]
        for layer in layers or []:
            self.add(layer)

    # one sample's input and output shapes (C, H, W), None until known
    input_shape = property(lambda self: self._input_sample)
    output_shape = property(lambda self: self._output_sample)

    def get_config(self):
        """The layers as they are now (after any add/pop) and the name (see Module)."""
        return {"layers": list(self._layers), "name": self.name}

    def named_children(self):
        for i, layer in enumerate(self._layers):
            yield str(i), layer

    @property
    def layers(self):
        return list(self._layers)

    def __getitem__(self, index):
        return self._layers[index]

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def add(self, layer):
        """Append a layer; build it now if the shape it receives is already known.
        ``Input(shape)`` as the first entry (Keras 3's way) gives the input shape."""
        if isinstance(layer, SymbolicTensor):
            if self._layers or self._input_sample is not None or layer.parents \
                    or not isinstance(layer.layer, InputLayer):
                raise TypeError(f"{self.describe()}.add: a symbolic tensor can only be the "
                                f"first entry, Input(shape), which gives the input shape; "
                                f"got {layer!r}")
            self._input_sample = self._output_sample = tuple(layer.sample_shape)
            return
        if isinstance(layer, type) and issubclass(layer, Module):
            raise TypeError(f"{self.describe()}.add: got the class {layer.__name__}, not a "
                            f"layer; did you mean {layer.__name__}(...)?")
        if not isinstance(layer, Module) or layer is self:
            raise TypeError(f"{self.describe()}.add: expected a layer (a Module), got "
                            f"{layer!r}")
        if not self._layers and getattr(layer, "input_shape", None) is not None:
            self._input_sample = tuple(layer.input_shape)
            self._output_sample = self._input_sample
        if self._input_sample is not None:
            self._output_sample = layer.prepare(self._output_sample)    # raises before appending
            layer._output_shape = self._output_sample
        self._layers.append(layer)

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise IndexError(f"{self.describe()}.pop: there are no layers")
        layer = self._layers.pop()
        if self._input_sample is not None:
            self._output_sample = self.prepare(self._input_sample)
        return layer

    def build(self, input_shape):
        """Make every layer's weights for one sample's shape (C, H, W) (a leading None
        batch axis, as Keras writes it, is dropped). No forward pass."""
        input_shape = sample_shape(input_shape)
        first = self._layers[0] if self._layers else None
        if isinstance(first, Layer):
            first._check_input(input_shape, "input_shape", layout=True)
        self.prepare(input_shape)
        return self

    def prepare(self, input_shape):
        """Pass a per-sample shape through the layers, building each; the output shape."""
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer._output_shape = layer.prepare(shape)
        if self._input_sample is None:
            self._input_sample, self._output_sample = tuple(input_shape), shape
        return shape

    def layer_output_shapes(self):
        """The per-sample output shape of each layer, by shape arithmetic (for summary)."""
        if self._input_sample is None:
            return None
        shapes, shape = [], self._input_sample
        for layer in self._layers:
            shape = layer.prepare(shape)
            shapes.append(shape)
        return shapes

    def count_macs(self, input_shape=None):
        """Multiply-adds of one forward pass per sample (conv and dense layers; see
        Layer.count_macs), by shape arithmetic."""
        from .graph import macs_of
        shape = tuple(input_shape) if input_shape is not None else self._input_sample
        if shape is None:
            raise ValueError(f"count_macs: {self.describe()} has no input shape yet; give the "
                             f"first layer input_shape=(C, H, W) or call model.build(shape)")
        total = 0
        for layer in self._layers:
            total += macs_of(layer, shape)
            shape = layer.prepare(shape)
        return total

    def __call__(self, x, **kwargs):
        if is_symbolic(x):                     # a Sequential used as a layer of a graph Model
            return call_symbolic(self, x)
        if self._input_sample is None and self._layers and current_layer() is None:
            first = self._layers[0]
            if isinstance(first, Layer) and not first.built:     # catch NHWC data early
                first._check_input(_shape_of(x), "data", layout=True)
        out = super().__call__(x, **kwargs)
        if self._input_sample is None:
            self._input_sample = _shape_of(x)[1:]
            self._output_sample = out.shape[1:]
        return out

    def forward(self, x):
        if not self._layers:
            raise ValueError(f"{self.describe()} has no layers; add some with model.add(layer)")
        for layer in self._layers:
            x = layer(x)
        return x


def _shape_of(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
