"""Symbolic tensors: the placeholders a graph Model is drawn with (Keras' functional API).

    x = Input((3, 32, 32))                  # a SymbolicTensor, shape (None, 3, 32, 32)
    y = Conv2D(16, 3)(x)                    # runs nothing: checks, builds, records a node
    z = Add()([x_proj, y])                  # a node with two parents

Each SymbolicTensor remembers the layer that makes it and the symbolic tensors it was
made from, so ``Model(inputs, outputs)`` can walk the graph back from its outputs.
Shapes come from ``prepare`` (shape arithmetic); no array is ever created.
"""


class SymbolicTensor:
    """A placeholder for a batch: its per-sample shape, the layer that makes it, and the
    SymbolicTensors that layer was called on.

    .shape         (None,) + sample shape (None: the batch axis, as Keras prints it)
    .sample_shape  one sample's shape
    .layer         the producing layer (an InputLayer for an Input)
    .parents       the SymbolicTensors the layer was called on (empty for an Input)
    .multi_input   True when the layer was called on a list (Concatenate, Add)
    """

    def __init__(self, sample_shape, layer, parents=(), multi_input=False, index=0):
        self.sample_shape = tuple(sample_shape)
        self.layer = layer
        self.parents = tuple(parents)
        self.multi_input = multi_input
        self.index = index                      # how many times the layer was called before

    shape = property(lambda self: (None,) + self.sample_shape)
    ndim = property(lambda self: len(self.sample_shape) + 1)

    @property
    def name(self):
        """'conv2d' for a layer's first call, 'conv2d[1]' for its second (a shared layer)."""
        return self.layer.name if self.index == 0 else f"{self.layer.name}[{self.index}]"

    def __repr__(self):
        return (f"<SymbolicTensor shape={self.shape} made by {type(self.layer).__name__} "
                f"'{self.layer.name}'>")

    # arrays and symbolic tensors do not mix: say so instead of a NumPy error
    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is a placeholder of a graph Model, not data; build the "
                        f"model with mc.Model(inputs, outputs) and call it on arrays")


def is_symbolic(x):
    """True for a SymbolicTensor or a non-empty list/tuple of them."""
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(
        isinstance(t, SymbolicTensor) for t in x)


def call_symbolic(module, x):
    """Record ``module`` applied to the symbolic ``x`` (one or a list): check the shapes,
    build the weights (``prepare``), return the output SymbolicTensor."""
    multi = isinstance(x, (list, tuple))
    parents = list(x) if multi else [x]
    shape = [t.sample_shape for t in parents] if multi else x.sample_shape
    out_shape = module.prepare(shape)
    count = getattr(module, "_symbolic_calls", 0)
    module._symbolic_calls = count + 1
    module._output_shape = out_shape
    return SymbolicTensor(out_shape, module, parents, multi_input=multi, index=count)
