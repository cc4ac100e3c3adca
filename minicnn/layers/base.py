"""Layer: a Module with Keras conventions (lazy weights, shape arithmetic, input checks).

Layer (Keras style) is a Module whose weights wait for the first input: ``build
(input_shape)`` makes them when the layer first sees a sample shape, either from
``input_shape=`` or from its first batch. ``compute_output_shape`` does the size
arithmetic without running anything, so a model's summary needs no forward pass.

Shapes are per sample, without the batch axis: ``input_shape=(C, H, W)``.
"""
import math

import numpy as np

from ..arguments import check_bool
from ..device import default_device, to_device
from ..rng import new_rng
from ..tensor import Parameter, Tensor, current_layer, get_default_dtype, layer_scope
from . import activations, initializers
from .config import charge_weight
from .module import Module
from .symbolic import call_symbolic, is_symbolic

FLOAT_DTYPES = ("float16", "float32", "float64")     # what a layer's dtype= may name


def activation_backward_bytes(activation, count, itemsize):
    """Bytes an activation's op keeps for backward for ``count`` outputs, beyond the
    output: ReLU and leaky ReLU a mask [x > 0] (one byte each); sigmoid, tanh and softmax
    keep their output itself, and linear nothing."""
    name = activations.name_of(activation)
    return count if name in ("relu", "leaky_relu") else 0


# ----------------------------------------------------------------------------- Layer
def looks_channels_last(shape):
    """True for a sample shape that reads as (H, W, C): 1, 3 or 4 channels last, after
    two spatial sizes of at least 8, e.g. (28, 28, 1) or (32, 32, 3).

    Checked only on what the user hands in (input_shape=, model.build, the first batch of
    an unbuilt model). A genuine (C, H, W) of that form, say (16, 100, 1), can be built
    with model.prepare(shape) (or layer.prepare), which trusts the shape."""
    return len(shape) == 3 and shape[2] in (1, 3, 4) and min(shape[0], shape[1]) >= 8


class Layer(Module):
    """A Module with Keras conventions: a name like 'conv2d_1', lazy weights, shape checks.

    A subclass sets ``input_ndim`` (dimensions of one sample it needs; None: at least 1)
    and implements
        build(input_shape)                  create weights with add_weight
        compute_output_shape(input_shape)   per-sample output shape (no forward pass)
        forward(x)                          call ops of minicnn.functional
    """
    has_weights = False      # True for layers whose build creates Parameters
    input_ndim = None        # 3 for image layers: one sample is (C, H, W)
    channels_first = False   # image layers: check for channels-last looking inputs

    def __init__(self, name=None, input_shape=None, dtype=None):
        super().__init__(name)
        self.built = False
        self._dtype = None if dtype is None else self._float_dtype(dtype)
        self.input_shape = None
        if input_shape is not None:
            if not (isinstance(input_shape, (tuple, list)) and all(
                    isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                    for n in input_shape)):
                raise TypeError(f"{self.describe()}: input_shape must be a tuple of ints "
                                f"(one sample, no batch axis), got {input_shape!r}")
            input_shape = tuple(int(n) for n in input_shape)
            self._check_input(input_shape, "input_shape", layout=True, features=False)
            self.input_shape = input_shape      # the weights are made from it on first use

    def __getattr__(self, attr):
        # Reached only when normal lookup fails, e.g. ``layer.kernel`` before the weights
        # exist: build them now if the input shape is known, else say why they are missing.
        state = self.__dict__
        if attr.startswith("__") or state.get("built", True) or not self.has_weights:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")
        if state.get("input_shape") is not None:
            self.prepare(state["input_shape"])
            return getattr(self, attr)
        raise AttributeError(f"{self.describe()} has no attribute {attr!r} yet: a layer makes "
                             f"its weights when it first sees its input shape (give "
                             f"input_shape=..., or call it on a batch first)")

    @property
    def dtype(self):
        """The dtype of this layer's weights (the default dtype unless given)."""
        return self._dtype or get_default_dtype()

    # -- the Keras protocol
    def build(self, input_shape):
        """Create the weights for a per-sample input shape (layers with weights override)."""

    def compute_output_shape(self, input_shape):
        """The per-sample output shape; the default keeps the shape."""
        return tuple(input_shape)

    def prepare(self, input_shape):
        """Check a per-sample input shape, build the weights the first time, and return
        the per-sample output shape. Runs no forward pass."""
        input_shape = tuple(int(n) for n in input_shape)
        self._check_input(input_shape, "sample")
        output_shape = self.compute_output_shape(input_shape)    # raises before any weight
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.input_shape = self.input_shape or input_shape
        return output_shape

    def add_weight(self, name, shape, initializer, trainable=True):
        """Create a Parameter with ``initializer`` (seeded through minicnn.rng) and set it
        as attribute ``name``."""
        shape = tuple(int(n) for n in shape)
        charge_weight(self, name, shape)        # a checkpoint's architecture: within its file
        value = np.asarray(initializers.get(initializer)(shape, self.dtype, new_rng()))
        if value.shape != shape:
            raise ValueError(f"{self.describe()}: the initializer of '{name}' returned shape "
                             f"{value.shape}, expected {shape}")
        device = vars(self).get("_device") or default_device()
        value = value.astype(self.dtype)
        p = Parameter(value if device == "cpu" else to_device(value, device),
                      trainable=trainable, name=f"{self.name}/{name}")
        setattr(self, name, p)
        return p

    def count_macs(self, input_shape):
        """Multiply-adds of one forward pass for one sample of ``input_shape`` (shape
        arithmetic only). Only products of inputs with weights count: Conv2D and Dense
        override this; normalisation, pooling, activations and merges count 0."""
        return 0

    def backward_bytes(self, input_shape, itemsize):
        """Bytes per sample that this layer's ops keep for backward beyond its output (the
        graph keeps every output anyway), on the reference NumPy ops, by shape arithmetic:
        what ``summary(batch_size=N)`` adds up. Layers whose ops save nothing extra
        (pooling by average, Flatten, merges, padding) keep the default 0."""
        return 0

    def __call__(self, x, **kwargs):
        """y = forward(x) for a batch x (array or Tensor): check its dtype and shape, make
        the weights on first use, cast x to the weights' dtype, run inside layer_scope.

        Called on a symbolic tensor (from ``Input``), it runs nothing: it checks the
        shape, builds the weights and returns the symbolic output, a node of a graph
        ``Model(inputs, outputs)``."""
        if is_symbolic(x):
            return call_symbolic(self, x)
        x = self._as_input(x)
        self._last_input_shape = x.shape[1:]
        top_level = current_layer() is None
        self._check_input(x.shape, "data", layout=top_level and not self.built)
        if not self.built and vars(self).get("_device") is None and x.device != "cpu":
            self._device = x.device             # weights made on first use: beside the input
        self._output_shape = self.prepare(x.shape[1:])
        weight = next((v for v in vars(self).values() if isinstance(v, Parameter)), None)
        if weight is not None and x.dtype != weight.dtype:
            x = x.astype(weight.dtype)          # as Keras: inputs take the weights' dtype
        with layer_scope(self.name):
            return self.forward(x, **kwargs)

    # -- checks that speak the user's language
    def _as_input(self, x):
        if not isinstance(x, Tensor):
            if not hasattr(x, "dtype"):
                if not isinstance(x, (list, tuple, float, int)):
                    raise TypeError(f"{self.describe()}: expected an array or a Tensor, "
                                    f"got {type(x).__name__}")
                x = np.asarray(x)
            if np.dtype(x.dtype).kind != "f":
                pixels = (" (for pixels 0..255, mc.data.ToFloat()(x) divides by 255, as fit and "
                          "predict do with uint8)" if np.dtype(x.dtype) == np.uint8 else "")
                raise TypeError(f"{self.describe()}: expected floating-point input, got "
                                f"{x.dtype}; convert with x.astype('{self.dtype}'){pixels}")
            x = Tensor(x)
        return x

    def _check_input(self, shape, source, layout=False, features=True):
        """Check an input shape: a batch (N, ...) when source='data', one sample's shape
        when source='input_shape' (declared) or 'sample' (handed on by the layer before).
        ``layout``: also reject channels-last looking shapes; ``features``: also check the
        channels or features against the built weights."""
        sample = shape[1:] if source == "data" else shape
        got = {"data": f"an input of shape {shape}", "input_shape": f"input_shape={shape}",
               "sample": f"samples of shape {shape}"}[source]
        need = self.input_ndim
        if source != "data" and any(n < 1 for n in shape):
            raise ValueError(f"{self.describe()}: sizes in the input shape must be positive, "
                             f"got {got}")
        if (need is not None and len(sample) != need) or len(sample) < 1 or len(shape) < 1:
            raise ValueError(self._ndim_message(shape, source, got))
        if layout and self.channels_first and looks_channels_last(sample):
            h, w, c = sample
            if source == "data":
                raise ValueError(
                    f"{self.describe()}: {got} looks channels-last (N, H, W, C); minicnn is "
                    f"NCHW (N, C, H, W): pass x.transpose(0, 3, 1, 2), of shape "
                    f"{(shape[0], c, h, w)}")
            raise ValueError(f"{self.describe()}: {got} looks channels-last (H, W, C); "
                             f"minicnn is channels-first (C, H, W): use input_shape={(c, h, w)}")
        problem = self._feature_problem(sample) if features else None
        if problem:
            hint = ""
            if self.channels_first and sample[-1] == getattr(self, "in_channels", None):
                hint = ("; it looks channels-last, but minicnn is NCHW (N, C, H, W): pass "
                        "x.transpose(0, 3, 1, 2)" if source == "data" else
                        "; it looks channels-last, but minicnn is channels-first (C, H, W)")
            raise ValueError(f"{self.describe()}: {problem}, got {got}{hint}")

    def _ndim_message(self, shape, source, got):
        need = self.input_ndim
        layout = getattr(self, "input_layout", "(features,)")
        if source == "data":
            wanted = (f"a {need + 1}-D input (N, {layout[1:]}" if need else
                      "an input with a batch axis (N, ...), at least 2-D")
            hint = ("; for a single sample add a batch axis: x[None]"
                    if need and len(shape) == need else "")
        else:
            wanted = (f"one sample's shape {layout}" if need else "a non-empty sample shape")
            hint = "; leave out the batch axis" if need and len(shape) == need + 1 else ""
        return f"{self.describe()}: expected {wanted}, got {got}{hint}"

    def _feature_problem(self, sample):
        """What is wrong with a sample shape for a built layer (None if nothing)."""
        return None

    # -- argument checks for constructors
    # Constructors run on what users type and on configs read from checkpoint files, so
    # every argument is checked for its type and range here, with a message that names
    # the layer and the argument, before it can reach NumPy (a raw message) or the math
    # (a NaN later).
    def _float_dtype(self, value):
        """A NumPy float dtype from a name ('float32'), a np.dtype or a NumPy type."""
        names = ", ".join(repr(n) for n in FLOAT_DTYPES)
        plain = isinstance(value, (str, np.dtype)) or (
            isinstance(value, type) and issubclass(value, (np.generic, float)))
        try:
            dtype = np.dtype(value) if plain else None
        except TypeError:                          # a string NumPy does not know
            dtype = None
        if dtype is None or dtype.name not in FLOAT_DTYPES:
            shown = dtype.name if dtype is not None else repr(value)
            raise TypeError(f"{self.describe()}: dtype must be a float type, got {shown}; "
                            f"use one of {names}")
        return dtype

    def _bool(self, value, what):
        """A real bool (True/False or a NumPy bool): 'false', 0 or None are refused, since
        bool('false') is True."""
        return check_bool(value, f"{self.describe()}: {what}")

    def _number(self, value, what, at_least=None, above=None, below=None, at_most=None,
                hint=""):
        """A finite real number (not a bool) within the bounds given, as a float:
        at_least <= value, above < value, value < below, value <= at_most. ``hint`` is
        added to the message (what the argument means)."""
        if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))
                or isinstance(value, np.complexfloating)):
            raise TypeError(f"{self.describe()}: {what} must be a number, got {value!r}{hint}")
        number = float(value)
        bounds = (at_least, above, below, at_most)
        if bounds == (None, 0, None, None):
            wanted = "positive"
        elif bounds == (0, None, None, None):
            wanted = "zero or positive"
        else:
            low = (f"[{at_least}" if at_least is not None else
                   f"({above}" if above is not None else "(-inf")
            high = (f"{at_most}]" if at_most is not None else
                    f"{below})" if below is not None else "inf)")
            wanted = f"a number in {low}, {high}"
        if not (math.isfinite(number)
                and (at_least is None or number >= at_least)
                and (above is None or number > above)
                and (below is None or number < below)
                and (at_most is None or number <= at_most)):
            raise ValueError(f"{self.describe()}: {what} must be {wanted}, got {value!r}{hint}")
        return number

    def _seed(self, value, what="seed"):
        """None or an int >= 0 (what np.random.default_rng takes)."""
        if value is None:
            return None
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{self.describe()}: {what} must be an int or None, got {value!r}")
        if value < 0:
            raise ValueError(f"{self.describe()}: {what} must not be negative, got {value!r}")
        return int(value)

    def _positive_int(self, value, what):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{self.describe()}: {what} must be a positive integer, got {value!r}")
        return int(value)

    def _positive_pair(self, value, what):
        """(a, b) from an int or a pair, both at least 1."""
        pair = (value, value) if isinstance(value, (int, np.integer)) else value
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)):
            raise TypeError(f"{self.describe()}: {what} must be an int or a pair of ints, "
                            f"got {value!r}")
        if min(pair) < 1:
            raise ValueError(f"{self.describe()}: {what} must be at least 1, got {value!r}")
        return int(pair[0]), int(pair[1])

    def _data_format(self, value):
        """Keras' data_format: minicnn's layers are channels-first, so None or
        'channels_first'; 'channels_last' is the layout of minicnn.keras' layers."""
        if value is None or (isinstance(value, str) and value.lower() == "channels_first"):
            return "channels_first"
        if isinstance(value, str) and value.lower() == "channels_last":
            raise ValueError(f"{self.describe()}: minicnn.layers are channels-first (N, C, H, W), "
                             f"so data_format must be 'channels_first' or None; for Keras' "
                             f"channels-last layout use the same layer from minicnn.keras.layers "
                             f"(import minicnn.keras as keras)")
        raise ValueError(f"{self.describe()}: data_format must be 'channels_first' or "
                         f"'channels_last', got {value!r}")

    def _padding(self, value):
        """'valid', 'same', an int or a pair of ints >= 0."""
        if isinstance(value, str):
            if value.lower() not in ("valid", "same"):
                raise ValueError(f"{self.describe()}: padding must be 'valid', 'same', an int "
                                 f"or a pair, got {value!r}")
            return value.lower()
        pair = (value, value) if isinstance(value, (int, np.integer)) else value
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)):
            raise TypeError(f"{self.describe()}: padding must be 'valid', 'same', an int or a "
                            f"pair of ints, got {value!r}")
        if min(pair) < 0:
            raise ValueError(f"{self.describe()}: padding must not be negative, got {value!r}")
        return int(pair[0]), int(pair[1])

    def extra_repr(self):
        return f"name={self.name!r}"
