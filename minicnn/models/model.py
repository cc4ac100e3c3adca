"""Model: the base class of Keras-style models (a Module with compile/fit/evaluate/predict).

Subclass it as in Keras or PyTorch; define ``call`` (Keras) or ``forward`` (PyTorch)::

    class SmallNet(mc.Model):
        def __init__(self):
            super().__init__()
            self.conv = Conv2D(8, 3, activation="relu")
            self.pool = MaxPooling2D(2)
            self.flatten = Flatten()
            self.out = Dense(10, activation="softmax")

        def call(self, x):
            return self.out(self.flatten(self.pool(self.conv(x))))

    model = SmallNet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""
from ..layers.module import Module
from ..train import TrainingAPI


class Model(Module, TrainingAPI):
    """A Module that trains itself: ``compile``, ``fit``, ``evaluate``, ``predict``.

    Model(name=None) for a subclass; ``Model(inputs, outputs, name=None)`` draws a graph
    model from Input placeholders (Keras' functional API; see graph.py).
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .graph import GraphModel
            return super().__new__(GraphModel)
        return super().__new__(cls)

    def __init__(self, name=None):
        super().__init__(name=name)

    def forward(self, *args, **kwargs):
        return self.call(*args, **kwargs)

    def call(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} must define call(self, x) "
                                  f"(Keras style) or forward(self, x) (PyTorch style)")

    def build(self, input_shape):
        """Create every layer's weights for a per-sample input shape (C, H, W), by running
        one batch of zeros through the model (a subclassed model's shapes come from running).
        A leading None batch axis, as Keras writes it, is dropped."""
        self.prepare(sample_shape(input_shape))
        return self

    def count_macs(self, input_shape=None):
        """Multiply-adds of one forward pass per sample, from the input shape each layer
        saw last (a subclassed model knows its shapes only by running)."""
        from .graph import macs_of
        if input_shape is not None:
            self.build(input_shape)
        return sum(macs_of(m, m._last_input_shape) for m in self.modules()[1:]
                   if getattr(m, "_last_input_shape", None) is not None)

    def explain(self, x, y=None, train_step=True, lr=0.01, warmup=1, repeats=5, seed=0,
                print_fn=print):
        """Per layer: shapes, parameters, multiply-adds, output memory, im2col shapes,
        forward and backward time on the current backend and, after one training step on
        (x, y) (random labels if y is None), activation and gradient statistics with
        dead/vanishing flags. Prints the tables with ``print_fn`` (None: don't) and returns
        a ``minicnn.explain.Explanation`` (``.layers``, ``.to_dict()``). The model is left
        as it was: weights, running statistics, gradients and train/eval mode are restored.
        See docs/explain.md."""
        from ..explain import explain
        result = explain(self, x, y, train_step=train_step, lr=lr, warmup=warmup,
                         repeats=repeats, seed=seed)
        if print_fn is print:                  # in Jupyter: one block that keeps its columns
            from ..display import show
            show(result.to_text())
        elif print_fn is not None:
            print_fn(result.to_text())
        result.printed = print_fn is not None
        return result

    def get_layer(self, name):
        """The sub-module called ``name`` (Keras' get_layer)."""
        for module in self.modules():
            if module.name == name:
                return module
        names = [m.name for m in self.modules()[1:]]
        raise ValueError(f"{self.describe()} has no layer named {name!r}; it has {names}")


def sample_shape(input_shape):
    """One sample's shape: (C, H, W) from (C, H, W) or Keras' (None, C, H, W)."""
    input_shape = tuple(input_shape)
    return input_shape[1:] if input_shape and input_shape[0] is None else input_shape
