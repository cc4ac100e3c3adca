"""Channels-last as a view at the edges: the math stays NCHW.

A minicnn.keras layer or model in 'channels_last' takes and gives Keras' layout,
(N, H, W, C), but every op inside runs on (N, C, H, W), minicnn's layout:

    at the edge (a model or a layer called by you)   x (N, H, W, C) -> (N, C, H, W), once
    inside (layer to layer)                          (N, C, H, W) as the ops want it
    out at the edge                                  (N, C, H, W) -> (N, H, W, C)
    Flatten                                          flattens in Keras' (H, W, C) order
    Dense on images, softmax, Concatenate, axis=-1   act on Keras' axes (C is last)

Only 4-D batches are images; others pass unchanged. Shapes shown to the user
(``summary``, ``output_shape``, ``Input``) are Keras': one sample (H, W, C).
"""
import numpy as np

from ..backend import array_module
from ..device import to_host
from ..layers.symbolic import SymbolicTensor, call_symbolic, is_symbolic
from ..tensor import Function, Tensor, current_layer
from .backend import standardize_data_format

TO_KERAS = (0, 2, 3, 1)          # (N, C, H, W) -> (N, H, W, C)
TO_MINICNN = (0, 3, 1, 2)        # (N, H, W, C) -> (N, C, H, W)


class Permute(Function):
    """y = x.transpose(axes), laid out contiguously (the kernels read rows);
    dx = dy.transpose(axes^-1)."""
    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        return array_module(x).ascontiguousarray(x.transpose(self.axes))

    def backward(self, g):
        return array_module(g).ascontiguousarray(g.transpose(np.argsort(self.axes)))


def permute(x, axes):
    return Permute(axes)(x if isinstance(x, Tensor) else Tensor(x))


def to_minicnn(x):
    """A batch as the ops take it: (N, H, W, C) -> (N, C, H, W); others unchanged."""
    if isinstance(x, (list, tuple)):
        return type(x)(to_minicnn(v) for v in x)
    if getattr(x, "ndim", None) != 4:
        return x
    if isinstance(x, Tensor) and (x.requires_grad or x.creator is not None):
        return permute(x, TO_MINICNN)                # keeps the graph to the input
    data = x.data if isinstance(x, Tensor) else x
    return array_module(data).ascontiguousarray(data.transpose(TO_MINICNN))


def to_keras(y):
    """An output as the user sees it: (N, C, H, W) -> (N, H, W, C); others unchanged."""
    if isinstance(y, (list, tuple)):
        return type(y)(to_keras(v) for v in y)
    return permute(y, TO_KERAS) if isinstance(y, Tensor) and y.ndim == 4 else y


def keras_shape(shape, data_format):
    """One sample's shape as Keras shows it: (C, H, W) -> (H, W, C) in channels_last."""
    if isinstance(shape, list):
        return [keras_shape(s, data_format) for s in shape]
    if shape is None or isinstance(shape, str):
        return shape
    shape = tuple(shape)
    if data_format == "channels_last" and len(shape) == 3:
        return (shape[1], shape[2], shape[0])
    return shape


def minicnn_shape(shape, data_format):
    """One sample's shape as the ops see it: (H, W, C) -> (C, H, W) in channels_last."""
    shape = tuple(shape)
    if data_format == "channels_last" and len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    return shape


def minicnn_axis(axis, ndim, data_format):
    """The axis of the NCHW array that Keras' ``axis`` of an ndim-D batch names."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} is out of range for {ndim}-D inputs")
    axis %= ndim
    if data_format == "channels_last" and ndim == 4:
        return TO_KERAS[axis]                       # Keras (N, H, W, C) axis -> NCHW axis
    return axis


class KerasTensor(SymbolicTensor):
    """A SymbolicTensor that shows Keras' shape: (None, 32, 32, 3) in channels_last."""

    def __init__(self, symbolic, data_format):
        super().__init__(symbolic.sample_shape, symbolic.layer, symbolic.parents,
                         symbolic.multi_input, symbolic.index)
        self.data_format = data_format

    shape = property(lambda self: (None,) + keras_shape(self.sample_shape, self.data_format))


def relayout_input(t, data_format):
    """An Input's shape is Keras' plain sample shape; the layout it is read in is that
    of the first layer it feeds (keras.Input((3, 32, 32)) before a channels_first conv).
    Turns an unused Input's placeholder to ``data_format``; else leaves it."""
    layer = getattr(t, "layer", None)
    if not isinstance(t, KerasTensor) or t.data_format == data_format or t.parents \
            or getattr(layer, "_fed", False):
        if layer is not None:
            layer._fed = True
        return
    shape = minicnn_shape(keras_shape(t.sample_shape, t.data_format), data_format)
    t.sample_shape = layer.shape = layer.input_shape = layer._output_shape = shape
    t.data_format = layer.data_format = data_format
    layer._fed = True


class KerasLayer:
    """What every minicnn.keras layer adds to the minicnn layer it extends: a
    ``data_format``, Keras' shapes (``output_shape``), Keras' weight layouts
    (``get_weights``/``set_weights``) and the edge transposes of a layer you call.

    ``keras_layouts``: {weight name: axes} turning minicnn's array into Keras' layout.
    """
    channels_first = False          # no guessing from shapes: the layout is declared
    keras_layouts = {}
    follows_input = False           # True: no data_format of its own in Keras; the layer
                                    # runs in the layout of what it is fed (set by the model)

    def _set_format(self, data_format):
        """Resolve ``data_format`` before the minicnn layer's constructor runs (which sets
        its own, 'channels_first'); the subclass puts ``self._format`` back after it."""
        self.data_format = self._format = standardize_data_format(data_format)

    @property
    def channels_last(self):
        return self.data_format == "channels_last"

    def _keras_options(self, kwargs, allowed=("input_shape", "name", "dtype")):
        """The Keras keyword arguments every layer takes, checked: input_shape (Keras'
        order, turned into minicnn's), name, dtype; trainable=True (others refused)."""
        kwargs = dict(kwargs)
        if kwargs.pop("trainable", True) is not True:
            raise TypeError(f"{type(self).__name__}: trainable=False is not supported; freeze "
                            f"weights by leaving them out of the optimiser's parameters")
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) "
                            f"{unknown}; it takes {sorted(allowed)}")
        if kwargs.get("input_shape") is not None:
            shape = kwargs["input_shape"]
            if isinstance(shape, (tuple, list)) and shape and shape[0] is None:
                shape = tuple(shape[1:])            # Keras' batch_input_shape form
            if isinstance(shape, (tuple, list)):
                shape = minicnn_shape(shape, self.data_format)
            kwargs["input_shape"] = shape
        return kwargs

    @staticmethod
    def _no_extras(owner, **values):
        """Keras arguments minicnn has no counterpart for must stay at their defaults."""
        for name, value in values.items():
            if value is not None:
                raise TypeError(f"{owner}: {name}={value!r} is not supported by minicnn "
                                f"(regularisers and constraints are not built); leave it out")

    # -- Keras' view of the shapes and weights
    @property
    def output_shape(self):
        """Keras' output shape with the batch axis, e.g. (None, 28, 28, 6)."""
        shape = vars(self).get("_output_shape")
        if shape is None:
            raise AttributeError(f"{self.describe()} has no output shape yet: it has not been "
                                 f"built (give input_shape=, or put it in a built model)")
        shape = keras_shape(shape, self.data_format)
        return [(None,) + s for s in shape] if isinstance(shape, list) else (None,) + shape

    def _own_weights(self):
        return [(path.rsplit(".", 1)[-1], p)
                for path, p in self.named_parameters(trainable_only=False)]

    def get_weights(self):
        """The weights as NumPy arrays in Keras' layouts (conv kernels (kh, kw, in, out),
        dense (in, out)), in Keras' order."""
        return [to_host(p.data).transpose(self.keras_layouts[name]).copy()
                if name in self.keras_layouts else to_host(p.data).copy()
                for name, p in self._own_weights()]

    def set_weights(self, weights):
        """Load arrays in Keras' layouts and order (what Keras' get_weights gives)."""
        own = self._own_weights()
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(f"set_weights: {self.describe()} has {len(own)} weight arrays "
                             f"({', '.join(n for n, _ in own)}), got {len(weights)}")
        arrays = []
        for (name, p), value in zip(own, weights):
            value = np.asarray(value)
            if name in self.keras_layouts:
                value = value.transpose(np.argsort(self.keras_layouts[name]))
            if value.shape != p.shape:
                expected = p.shape if name not in self.keras_layouts else tuple(
                    int(n) for n in np.array(p.shape)[list(self.keras_layouts[name])])
                raise ValueError(f"set_weights: {self.describe()}'s {name} has shape "
                                 f"{tuple(expected)} (Keras' layout), got "
                                 f"{tuple(np.shape(weights[len(arrays)]))}")
            arrays.append((p, value))
        for p, value in arrays:
            p.data = array_module(p.data).array(value, dtype=p.dtype)

    def get_config(self):
        """The constructor's arguments and the layout the layer was made in."""
        config = super().get_config()
        config["data_format"] = self.data_format
        return config

    @classmethod
    def from_config(cls, config):
        import inspect
        from .backend import data_format_scope
        config = dict(config)
        data_format = config.get("data_format")
        if "data_format" not in inspect.signature(cls.__init__).parameters:
            config.pop("data_format", None)
        with data_format_scope(data_format or "channels_last"):
            return super().from_config(config)

    # -- running
    def __call__(self, x, **kwargs):
        if is_symbolic(x):
            fed = x if isinstance(x, (list, tuple)) else [x]
            if self.follows_input and isinstance(fed[0], KerasTensor):
                self.data_format = fed[0].data_format
            for t in fed:
                relayout_input(t, self.data_format)
            return KerasTensor(call_symbolic(self, x), self.data_format)
        edge = self.channels_last and current_layer() is None
        if not edge:
            return super().__call__(x, **kwargs)
        return to_keras(super().__call__(to_minicnn(x), **kwargs))

    def _in_keras_order(self, x, fn):
        """fn applied to a batch in Keras' axis order (for ops that act on 'the last
        axis'): an NCHW image batch of a channels_last layer goes to NHWC and back."""
        if self.channels_last and x.ndim == 4:
            return permute(fn(permute(x, TO_KERAS)), TO_MINICNN)
        return fn(x)
