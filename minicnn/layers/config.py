"""Architectures as plain data: ``serialize(module)`` and ``deserialize(data)``.

    data = serialize(model)      # {"class": "Sequential", "config": {"layers": [...], ...}}
    json.dumps(data)             # plain JSON: names and numbers, no code
    same = deserialize(data)     # a new, unbuilt model with the same architecture

This is Keras' ``get_config``/``from_config`` idea. A module is its class's *registered
name* and its constructor arguments (``Module.get_config``, captured automatically, see
minicnn.layers.module). Argument values are stored as

    None, bool, int, float, str, list   themselves
    tuple                               {"__tuple__": [...]}
    dict                                {"__dict__": {...}}   (string keys)
    Module                              {"__module__": {"class": "Dense", "config": {...}}}
    NumPy dtype                         {"__dtype__": "float32"}
    NumPy array                         {"__array__": [...], "dtype": "float32"}
    registered function                 {"__function__": "F.relu"}
    registered class / object           {"__class__": "HeNormal"} /
                                        {"__object__": {"class": "HeNormal", "config": {"seed": 3}}}

Reading it back only *looks names up*: in the registry of minicnn's own classes and
functions (its layers and models, its initialisers, its activation functions) and in what
the user registered (``register_layer``, ``register_serializable``) or passes as
``custom_objects``. A stored name is never imported, never resolved as a module or an
attribute path, and no attribute is set from the data: a class is rebuilt only by calling
its constructor (``from_config``) with the stored arguments, which the constructor
checks. Keys that the constructor does not take are refused before it is called.

Your own classes and functions round-trip once registered, as in Keras::

    @mc.register_layer                 # or mc.register_layer(Swish)
    class Swish(Layer): ...

    mc.load(path, custom_objects={"Swish": Swish})     # or name them at load time
"""
import contextlib
import contextvars
import inspect
import math

import numpy as np

from ..device import is_device_array, to_host
from .module import Module, module_class, registry_name

MAX_DEPTH = 64                 # nesting of encoded values (a Sequential in a Sequential ...)
DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "bool")

# ----------------------------------------------------------------------------- registry
_USER = {}     # name -> a class or function the user registered


def register_serializable(obj=None, *, name=None):
    """Let architectures store ``obj`` (a class or a function of yours) by ``name``
    (default: its ``__name__``) and rebuild it. Usable as a decorator, with or without
    ``name=``. Registering a name again replaces the earlier registration (a notebook
    cell run twice); minicnn's own names cannot be taken."""
    def register(obj):
        key = name if name is not None else getattr(obj, "__name__", None)
        if not isinstance(key, str) or not key or key.startswith("<"):
            raise ValueError(f"register_serializable: {obj!r} has no usable name; pass name='...'")
        if not callable(obj):
            raise TypeError(f"register_serializable: expected a class or a function, got {obj!r}")
        own = _own(key, layer=isinstance(obj, type) and issubclass(obj, Module))
        if own is not None and own is not obj:
            raise ValueError(f"register_serializable: {key!r} is the name of minicnn's own "
                             f"{own!r}; register yours under another name, e.g. "
                             f"name='mine>{key}'")
        _USER[key] = obj
        return obj
    return register if obj is None else register(obj)


def register_layer(cls=None, *, name=None):
    """``register_serializable`` for Layer and Module classes (a decorator too):
    ``mc.save`` then stores the class by name and ``mc.load`` rebuilds it."""
    def register(cls):
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise TypeError(f"register_layer: expected a Layer or Module class, got {cls!r}")
        return register_serializable(cls, name=name)
    return register if cls is None else register(cls)


def _own_objects():
    """minicnn's own registered functions and classes that are not Modules, by name."""
    from .. import functional as F
    from . import activations, initializers
    table = {f"F.{name}": getattr(F, name) for name in
             ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax")}
    table["activations.linear"] = activations.linear
    table["activations.leaky_relu"] = activations.leaky_relu
    table.update({cls.__name__: cls for cls in initializers.CLASSES})
    return table


def _own(name, layer):
    return module_class(name) if layer else _own_objects().get(name)


def registered_name(obj):
    """The name ``obj`` is stored under: its registered name, or for a class of yours
    that is not registered its ``__name__`` (loading it then needs ``custom_objects``).
    Raises TypeError when a stored name would rebuild something else."""
    for key, value in _USER.items():
        if value is obj:
            return key
    layer = isinstance(obj, type) and issubclass(obj, Module)
    if not layer:
        for key, value in _own_objects().items():
            if value is obj:
                return key
    if layer and module_class(registry_name(obj)) is obj:
        return registry_name(obj)
    key = getattr(obj, "__name__", None)
    if not isinstance(obj, type) or not key or key.startswith("<"):
        raise TypeError(f"cannot store {obj!r} by name: register it first "
                        f"(mc.register_serializable(fn, name='...')) or pass a name such as "
                        f"'relu' or 'he_normal'")
    taken = _own(key, layer) or _USER.get(key)
    if taken is not None and taken is not obj:
        raise TypeError(f"cannot store {obj!r} as {key!r}: that name is {taken!r}; register "
                        f"yours under another name (mc.register_layer(cls, name='mine>{key}'))")
    return key


def _lookup(name, kind, custom):
    """The registered class or function for a stored name. kind: 'layer' (a Module
    class), 'class' (any other class) or 'function'."""
    if not isinstance(name, str):
        raise ValueError(f"a stored {kind} name must be a string, got {short_repr(name)}")
    found = custom.get(name) if name in custom else _USER.get(name)
    if found is None:
        found = _own(name, kind == "layer")
    if found is None:
        what = "layer class" if kind == "layer" else kind
        raise ValueError(f"unknown {what} {name!r}: it is not one of minicnn's. If it is yours, "
                         f"register it before loading (mc.register_layer / "
                         f"mc.register_serializable) or pass custom_objects={{{name!r}: ...}}")
    is_class = isinstance(found, type)
    is_module = is_class and issubclass(found, Module)
    if (kind == "layer") != is_module or (kind == "function") == is_class or not callable(found):
        raise ValueError(f"{name!r} is {found!r}, not a {kind}; refusing to use it here")
    return found


# ----------------------------------------------------------------------------- serialize
def serialize(module):
    """{"class": ..., "config": {...}}: the architecture of ``module``, JSON-able."""
    if not isinstance(module, Module):
        raise TypeError(f"serialize: expected a Module, got {type(module).__name__}")
    try:
        name = registered_name(type(module))
    except TypeError as error:
        raise TypeError(f"cannot store the architecture of {module.describe()}: {error}; or "
                        f"save the weights only (mc.save_weights(model, path); rebuild the model "
                        f"in code and mc.load_weights)") from None
    config = module.get_config()
    return {"class": name, "config": {k: encode(v, module) for k, v in config.items()}}


def encode(value, owner=None):
    """One constructor argument as JSON-able data (see the module docstring)."""
    who = owner.describe() if owner is not None else "serialize"
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, np.bool_):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, list):
        return [encode(v, owner) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, owner) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{who}: a dict argument must have string keys to be stored, "
                            f"got {list(value)!r}")
        return {"__dict__": {k: encode(v, owner) for k, v in value.items()}}
    if isinstance(value, Module):
        return {"__module__": serialize(value)}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"__dtype__": _dtype_name(np.dtype(value), who)}
    if is_device_array(value):
        value = to_host(value)                  # stored as numbers, from wherever it lives
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": _dtype_name(value.dtype, who)}
    try:
        if isinstance(value, type):
            return {"__class__": registered_name(value)}
        if callable(value) and hasattr(value, "__name__"):
            return {"__function__": registered_name(value)}
        if hasattr(value, "get_config"):
            return {"__object__": {"class": registered_name(type(value)),
                                   "config": {k: encode(v, owner)
                                              for k, v in value.get_config().items()}}}
    except TypeError as error:
        raise TypeError(f"{who}: {error}") from None
    raise TypeError(f"{who}: cannot store the argument {value!r} in a config; use a name such as "
                    f"'relu' or 'he_normal', register it (mc.register_serializable), or save the "
                    f"weights only")


def _dtype_name(dtype, who):
    if dtype.name not in DTYPES:
        raise TypeError(f"{who}: cannot store the dtype {dtype}; configs hold {', '.join(DTYPES)}")
    return dtype.name


# ----------------------------------------------------------------------------- deserialize
def deserialize(data, custom_objects=None):
    """A new, unbuilt Module from ``serialize``'s output. Raises ValueError (or the
    constructor's TypeError/ValueError) for data that does not describe one.

    custom_objects: {stored name: class or function} for your own code that is not
    registered."""
    custom = dict(custom_objects or {})
    return _deserialize(data, custom, 0)


def _deserialize(data, custom, depth):
    if not (isinstance(data, dict) and set(data) == {"class", "config"}
            and isinstance(data["config"], dict)):
        raise ValueError(f"not an architecture description (expected {{'class': name, "
                         f"'config': {{...}}}}): {short_repr(data)}")
    cls = _lookup(data["class"], "layer", custom)
    if getattr(cls.from_config, "__func__", None) is Module.from_config.__func__:
        _check_arguments(cls, data["config"])   # a class with its own from_config checks it
    config = {k: decode(v, custom, depth + 1) for k, v in data["config"].items()}
    return cls.from_config(config)


def decode(value, custom=None, depth=0):
    """The inverse of ``encode``: plain values as they are, tags looked up by name."""
    custom = custom or {}
    if depth > MAX_DEPTH:
        raise ValueError(f"the architecture is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, list):
        return [decode(v, custom, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if not (isinstance(value, dict) and len(value) in (1, 2)):
        raise ValueError(f"unknown encoded value {short_repr(value)}")
    tag = next(iter(value))
    body = value[tag]
    if set(value) == {"__array__", "dtype"}:
        dtype = _stored_dtype(value["dtype"])
        try:
            array = np.array(value["__array__"], dtype=dtype)
        except (TypeError, ValueError, OverflowError) as error:
            raise ValueError(f"a stored array is not a regular {dtype} array ({error})") from None
        if array.dtype == object:
            raise ValueError("a stored array is not a regular numeric array")
        return array
    if len(value) != 1:
        raise ValueError(f"unknown encoded value {short_repr(value)}")
    if tag == "__tuple__" and isinstance(body, list):
        return tuple(decode(v, custom, depth + 1) for v in body)
    if tag == "__dict__" and isinstance(body, dict):
        return {k: decode(v, custom, depth + 1) for k, v in body.items()}
    if tag == "__module__":
        return _deserialize(body, custom, depth + 1)
    if tag == "__dtype__":
        return np.dtype(_stored_dtype(body))
    if tag == "__function__":
        return _lookup(body, "function", custom)
    if tag == "__class__":
        return _lookup(body, "class", custom)
    if tag == "__object__" and isinstance(body, dict) and set(body) == {"class", "config"} \
            and isinstance(body["config"], dict):
        cls = _lookup(body["class"], "class", custom)
        _check_arguments(cls, body["config"])
        return cls(**{k: decode(v, custom, depth + 1) for k, v in body["config"].items()})
    raise ValueError(f"unknown encoded value {short_repr(value)}")


def _stored_dtype(name):
    if name not in DTYPES:
        raise ValueError(f"a stored dtype must be one of {', '.join(DTYPES)}, got "
                         f"{short_repr(name)}")
    return name


def _check_arguments(cls, config):
    """Refuse keys that ``cls``'s constructor does not take, before calling it."""
    parameters = inspect.signature(cls.__init__).parameters
    kinds = {p.kind for p in parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return
    allowed = {n for n, p in parameters.items()
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        allowed.add("*args")
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"{cls.__name__} takes no argument {', '.join(map(repr, unknown))} "
                         f"(it takes {', '.join(sorted(allowed))})")


def short_repr(value, limit=80):
    """repr(value), cut to ``limit`` characters (a value read from a file may be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ----------------------------------------------------------------------------- weight budget
_BUDGET = contextvars.ContextVar("minicnn_weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(elements, source):
    """Inside, layers may make at most ``elements`` weight numbers in all (Layer.add_weight
    charges it before allocating): a checkpoint's architecture cannot ask for more memory
    than the weights the file declares. ``source`` names the file in the error."""
    token = _BUDGET.set([int(elements), source])
    try:
        yield
    finally:
        _BUDGET.reset(token)


def charge_weight(layer, name, shape):
    """Count a weight a layer is about to make against the active budget (if any)."""
    budget = _BUDGET.get()
    if budget is None:
        return
    if any(n < 0 for n in shape):
        raise ValueError(f"{layer.describe()}: '{name}' would have the negative shape {shape}")
    budget[0] -= math.prod(shape)
    if budget[0] < 0:
        raise ValueError(f"{layer.describe()} would make '{name}' of shape {tuple(shape)}, more "
                         f"weights than {budget[1]} holds: the architecture does not match its "
                         f"weights")
