"""Module: an object that owns Parameters and sub-modules and calls minicnn.functional ops.

Module (PyTorch style). Subclass it, assign sub-modules and Parameters as attributes in
``__init__``, and write ``forward``::

    class Net(mc.Module):
        def __init__(self):
            super().__init__()
            self.conv = Conv2D(6, 5, activation="relu")
            self.blocks = [Dense(32), Dense(10)]     # lists/tuples/dicts of Modules count too
        def forward(self, x):
            return self.blocks[1](self.blocks[0](F.flatten(self.conv(x))))

Nothing is registered by hand: ``named_parameters`` walks the attributes (in the order
they were first assigned) and finds every Parameter, Module, and list/tuple/dict of
Modules. That walk gives ``parameters()``, ``state_dict()``, ``train()``/``eval()``...

Configs (how checkpoints store an architecture, with no per-layer code):

    Every subclass's __init__ is wrapped (``__init_subclass__``) to keep the arguments
    the outermost constructor call got, so
    ``module.get_config()`` is those arguments by parameter name (plus the module's
    actual ``name``), and ``type(module).from_config(config)`` calls the constructor
    again. ``minicnn.layers.config.serialize(module)`` turns that into plain data,
    {"class": "Conv2D", "config": {"filters": 6, ...}}: argument values that are
    Modules (Sequential's layers), tuples, dtypes, NumPy arrays and registered
    functions and objects are encoded by name and restored. minicnn's own Module
    classes are registered by class name when they are defined (``module_class(name)``);
    a class of yours is registered with ``mc.register_layer`` (or given to ``mc.load``
    as ``custom_objects``), as in Keras.

    Override ``get_config`` when the constructor arguments do not describe the module
    (Sequential after ``add``: its layers; a graph Model: its nodes) and
    ``from_config`` to match. A config must not hold weights: they travel beside it.
"""
import functools
import inspect
import re
from collections import OrderedDict

import numpy as np

from ..backend import array_module
from ..device import default_device, normalize_device, to_device, to_host
from ..tensor import Parameter, Tensor, get_default_dtype, layer_scope, no_grad

# ----------------------------------------------------------------------------- names
_NAME_COUNTS = {}


def to_snake_case(name):
    """Keras' rule: 'Conv2D' -> 'conv2d', 'MaxPooling2D' -> 'max_pooling2d', 'ReLU' -> 're_lu'."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """'conv2d' the first time, then 'conv2d_1', 'conv2d_2', ... (as Keras names layers)."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names():
    """Start the automatic layer names again from 'conv2d', 'dense', ... (Keras' clear_session)."""
    _NAME_COUNTS.clear()


# ----------------------------------------------------------------------------- registry
_CLASSES = {}        # class name -> minicnn's own Module subclass (register_layer adds yours)


def registry_name(cls):
    """The name minicnn's own class is stored under: 'Conv2D', or 'keras.Conv2D' for the
    classes of minicnn.keras (the same names laid out the Keras way)."""
    keras = cls.__module__ == "minicnn.keras" or cls.__module__.startswith("minicnn.keras.")
    return f"keras.{cls.__name__}" if keras else cls.__name__


def module_class(name):
    """minicnn's own Module subclass named ``name`` ('Conv2D'), or None."""
    return _CLASSES.get(name)


class _InitArgs:
    """The positional and keyword arguments a module's constructor was called with."""
    __slots__ = ("args", "kwargs")

    def __init__(self, args, kwargs):
        self.args, self.kwargs = args, kwargs


# ----------------------------------------------------------------------------- Module
class Module:
    """Base class of layers and models: owns Parameters and sub-Modules, has a ``forward``.

    Calling a module runs ``forward`` inside ``layer_scope(name)``, so an anomaly or an
    op error can name the layer it happened in.
    """
    name = None          # class-level defaults, so a subclass that forgets
    training = True      # super().__init__() still works

    def __init_subclass__(cls, **kwargs):
        """Register minicnn's own classes by name, and wrap ``__init__`` so that the
        outermost constructor call records its arguments (what ``get_config`` describes)."""
        super().__init_subclass__(**kwargs)
        if cls.__module__ == "minicnn" or cls.__module__.startswith("minicnn."):
            _CLASSES.setdefault(registry_name(cls), cls)   # the first class of a name keeps it
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "records_arguments", False):
            return

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            if "_init_args" not in self.__dict__:
                self.__dict__["_init_args"] = _InitArgs(args, dict(kwargs))
            init(self, *args, **kwargs)
        __init__.records_arguments = True
        cls.__init__ = __init__

    # -- configs (see the module docstring)
    def get_config(self):
        """The constructor arguments by parameter name, and the actual ``name``.

        Values are whatever the constructor got (encode them with
        ``minicnn.layers.config.serialize``). Raises TypeError when they cannot be
        matched to the constructor's parameters."""
        captured = vars(self).get("_init_args") or _InitArgs((), {})
        signature = inspect.signature(type(self).__init__)
        try:
            bound = signature.bind(self, *captured.args, **captured.kwargs)
        except TypeError as error:
            raise TypeError(f"{self.describe()}: cannot describe its constructor call "
                            f"({error}); override get_config()") from None
        config = {}
        for i, (key, value) in enumerate(bound.arguments.items()):
            kind = signature.parameters[key].kind
            if i == 0:
                continue                                   # self
            if kind is inspect.Parameter.VAR_KEYWORD:
                config.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                config["*args"] = list(value)
            else:
                config[key] = value
        if "name" in signature.parameters and self.name is not None:
            config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt module from ``get_config()``'s dict."""
        config = dict(config)
        args = config.pop("*args", [])
        return cls(*args, **config)

    def __init__(self, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.training = True

    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} must define forward(self, x)")

    def __call__(self, *args, **kwargs):
        if args and hasattr(args[0], "shape") and "_sample_shape" not in vars(self):
            self._sample_shape = tuple(args[0].shape[1:])   # checkpoints rebuild from it
        with layer_scope(self.name or type(self).__name__):
            out = self.forward(*args, **kwargs)
        self._note_output(out)
        return out

    def _note_output(self, out):
        """Remember the per-sample output shape (shown by summary for subclassed models)."""
        if isinstance(out, Tensor) and out.ndim:
            shape = out.shape[1:]
            seen = getattr(self, "_output_shape", None)
            self._output_shape = shape if seen in (None, shape) else "multiple"

    def describe(self):
        """'Conv2D 'conv2d'': how error messages name this module."""
        return f"{type(self).__name__} '{self.name or to_snake_case(type(self).__name__)}'"

    # -- the tree of modules
    def named_children(self):
        """(attribute, Module) for each direct sub-module, in the order assigned.
        A list/tuple/dict attribute ``blocks`` gives 'blocks.0', 'blocks.1', ..."""
        for attr, value in vars(self).items():
            if isinstance(value, Module):
                yield attr, value
            elif isinstance(value, (list, tuple, dict)):
                items = value.items() if isinstance(value, dict) else enumerate(value)
                for key, item in items:
                    if isinstance(item, Module):
                        yield f"{attr}.{key}", item

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        """(path, Module) for this module and every module below it, each once, parents first."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            below = [(f"{path}.{name}" if path else name, child)
                     for name, child in module.named_children()]
            stack.extend(reversed(below))

    def modules(self):
        return [m for _, m in self.named_modules()]

    # -- parameters
    def named_parameters(self, prefix="", trainable_only=True):
        """(path, Parameter) pairs such as ('conv.kernel', p), each Parameter once, in
        definition order (a module's own Parameters, then its children's).
        ``trainable_only=False`` includes the non-trainable ones (as state_dict does).
        Only the weights made so far: a layer without input_shape= has none before its
        first input."""
        self._require_built(None)
        seen = set()
        for path, module in self.named_modules(prefix):
            for attr, value in vars(module).items():
                if (isinstance(value, Parameter) and id(value) not in seen
                        and (value.trainable or not trainable_only)):
                    seen.add(id(value))
                    yield (f"{path}.{attr}" if path else attr), value

    def parameters(self):
        """The trainable Parameters, in definition order, without duplicates (a list).
        Only the weights made so far (see named_parameters): build a model before giving
        its parameters to an optimiser by hand (compile/fit take care of it)."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        """Forget the gradients of every Parameter (set ``.grad`` to None)."""
        for _, p in self.named_parameters(trainable_only=False):
            p.grad = None

    def count_params(self):
        """How many numbers the weights hold, trainable or not (Keras' count_params)."""
        self._require_built("count_params")
        return sum(p.size for _, p in self.named_parameters(trainable_only=False))

    def _require_built(self, what):
        """Build the layers whose input_shape was given; if others still have no weights,
        raise an error that starts with ``what`` (unless it is None)."""
        for module in self.modules():
            if getattr(module, "has_weights", False) and not module.built:
                if module.input_shape is not None:
                    module.prepare(module.input_shape)
                    continue
                if what is None:
                    continue
                raise ValueError(
                    f"{what}: {module.describe()} has no weights yet: a layer makes them when it "
                    f"first sees its input shape. Give the first layer input_shape=(C, H, W), "
                    f"call model.build(input_shape), or call the model on a batch first")

    # -- modes and dtypes
    def train(self, mode=True):
        """Training mode (Dropout drops units) for this module and all below it."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode (Dropout passes its input through)."""
        return self.train(False)

    def to(self, device=None, dtype=None):
        """Move every Parameter (in place) to a device and/or convert it to a float dtype;
        weights built later get them too. Returns the module, as PyTorch's does.

            model.to("cuda")        # 'cuda', 'cuda:N', 'gpu' (an NVIDIA GPU through CuPy)
            model.to("cpu")
            model.to(np.float64)    # a dtype alone, as before
            model.to("cuda", dtype="float64")

        Gradients move with their parameters; an optimiser's buffers follow at its next step.
        """
        if device is not None and not _is_device_name(device):
            device, dtype = None, device if dtype is None else dtype
        if device is not None:
            device = normalize_device(device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"{self.describe()}.to: parameters must be floats, got {dtype}")
        for module in self.modules():
            if dtype is not None and hasattr(module, "_dtype"):   # a Layer: later weights too
                module._dtype = dtype
            if device is not None:
                module._device = device
        for _, p in self.named_parameters(trainable_only=False):
            for attr in ("data", "grad"):
                value = getattr(p, attr)
                if value is None:
                    continue
                if dtype is not None:
                    value = value.astype(dtype, copy=False)
                if device is not None:
                    value = to_device(value, device)
                setattr(p, attr, value)
        return self

    @property
    def device(self):
        """Where the weights are: 'cpu' or 'cuda:N' (``default_device()`` before any exist)."""
        for _, p in self.named_parameters(trainable_only=False):
            return p.device
        return vars(self).get("_device") or default_device()

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # -- saving and loading
    def state_dict(self):
        """OrderedDict path -> copy of the Parameter's array, every Parameter included."""
        self._require_built("state_dict")
        return OrderedDict((name, p.data.copy())
                           for name, p in self.named_parameters(trainable_only=False))

    def host_state_dict(self):
        """state_dict() as NumPy arrays in host memory (copies from a GPU; what mc.save
        writes, without moving the model)."""
        self._require_built("state_dict")
        return OrderedDict((name, to_host(p.data).copy())
                           for name, p in self.named_parameters(trainable_only=False))

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the Parameters with the same paths (cast to their dtype).

        Every shape is checked before anything is written. With ``strict`` the keys must
        match exactly. Returns (missing keys, unexpected keys).
        """
        self._require_built("load_state_dict")
        params = OrderedDict(self.named_parameters(trainable_only=False))
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if strict and (missing or unexpected):
            raise ValueError(f"load_state_dict: the state dict does not fit {self.describe()}: "
                             f"missing keys {missing}, unexpected keys {unexpected}")
        updates = []
        for key, p in params.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else value
            if tuple(np.shape(value)) != p.shape:
                raise ValueError(f"load_state_dict: '{key}' has shape {p.shape} in the model but "
                                 f"{tuple(np.shape(value))} in the state dict")
            updates.append((p, value))
        for p, value in updates:
            p.data = array_module(p.data).array(value, dtype=p.dtype)
        return missing, unexpected

    def get_weights(self):
        """Keras' name: the arrays of state_dict() as a list of NumPy arrays (host copies)."""
        return list(self.host_state_dict().values())

    def set_weights(self, weights):
        """Keras' name: load a list of arrays in the order get_weights gives them."""
        keys = list(self.state_dict())
        if len(weights) != len(keys):
            raise ValueError(f"set_weights: {self.describe()} has {len(keys)} weight arrays, "
                             f"got {len(weights)}")
        self.load_state_dict(OrderedDict(zip(keys, weights)))

    # -- shapes and printing
    def prepare(self, input_shape):
        """The per-sample output shape for a per-sample input shape. A Module knows its
        shapes only by running: this runs one batch of zeros (Layers override it)."""
        dtype = next((p.dtype for _, p in self.named_parameters()), get_default_dtype())
        with no_grad():
            out = self(Tensor(np.zeros((1,) + tuple(input_shape), dtype=dtype),
                              device=self.device))
        return out.shape[1:]

    def summary(self, line_length=None, print_fn=print, batch_size=None):
        """Print a Keras-style table of the layers, output shapes and parameter counts;
        return it as a string. ``batch_size``: add each layer's memory for a batch of that
        size and the estimated memory of a training step."""
        from ..models.summary import summary
        return summary(self, line_length=line_length, print_fn=print_fn, batch_size=batch_size)

    def extra_repr(self):
        return f"name={self.name!r}"

    def __repr__(self):
        lines = [f"  ({name}): {child!r}".replace("\n", "\n  ")
                 for name, child in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + (",\n" + "\n".join(lines) + "\n)" if lines else ")")


def _is_device_name(value):
    """True for 'cpu', 'cuda', 'cuda:N', 'gpu', 'gpu:N' (not for a dtype)."""
    if not isinstance(value, str):
        return False
    try:
        normalize_device(value)
    except ValueError:
        return False
    return True
