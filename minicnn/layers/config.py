"""Architectures as JSON-able data: ``serialize(module)`` and ``deserialize(data)``.

    data = serialize(model)      # {"class": "Sequential", "config": {"layers": [...], ...}}
    json.dumps(data)             # plain JSON: no code, no pickle
    same = deserialize(data)     # a new, unbuilt model with the same architecture

A module is described by its class and its constructor arguments (``Module.get_config``,
captured automatically, see minicnn.layers.module). Argument values are encoded as

    None, bool, int, float, str, list   themselves
    tuple                               {"__tuple__": [...]}
    dict                                {"__dict__": {...}}
    Module                              {"__module__": {"class": ..., "config": ...}}
    NumPy dtype / array                 {"__dtype__": "float32"} / {"__array__": [...], "dtype": ...}
    minicnn function or object          {"__callable__": "minicnn.functional.activation:relu"},
                                        {"__object__": "minicnn.layers.initializers:HeNormal",
                                         "vars": {...}}

Classes are found by name in the registry of Module subclasses, else by import path
('package.module:Class'). Only Module subclasses are ever constructed, and functions and
objects only from minicnn itself or from ``custom_objects``: loading an architecture never
runs code that the file names, apart from importing the module of a Module subclass.
"""
import importlib

import numpy as np

from .module import Module, module_class


def class_path(cls):
    """'Conv2D' for minicnn's own classes, 'package.module:Class' for others."""
    if cls.__module__.startswith("minicnn.") and module_class(cls.__name__) is cls:
        return cls.__name__
    return f"{cls.__module__}:{cls.__qualname__}"


def serialize(module):
    """{"class": ..., "config": {...}}: the architecture of ``module``, JSON-able."""
    if not isinstance(module, Module):
        raise TypeError(f"serialize: expected a Module, got {type(module).__name__}")
    cls = type(module)
    path = class_path(cls)
    if "<locals>" in cls.__qualname__ or _find(path, {}) is not cls:
        raise TypeError(
            f"cannot store the architecture of {module.describe()}: its class {path} cannot be "
            f"imported by that path (defined inside a function, or not importable). Define it at "
            f"the top level of an importable module, or save the weights only "
            f"(mc.save_weights(model, path); rebuild the model in code and model.load_weights)")
    config = module.get_config()
    return {"class": path, "config": {k: encode(v, module) for k, v in config.items()}}


def deserialize(data, custom_objects=None):
    """A new, unbuilt Module from ``serialize``'s output.

    custom_objects: {name or 'module:qualname': class or function} for user code that
    is not (or should not be) imported by path."""
    custom = dict(custom_objects or {})
    if not isinstance(data, dict) or "class" not in data or "config" not in data:
        raise ValueError(f"not an architecture description (expected a dict with 'class' and "
                         f"'config'): {str(data)[:80]}")
    cls = _find(data["class"], custom)
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise ValueError(f"the architecture names {data['class']!r}, which is not a minicnn "
                         f"Module class; refusing to construct it")
    config = {k: decode(v, custom) for k, v in data["config"].items()}
    return cls.from_config(config)


def _find(path, custom):
    """The class or function for a stored path, or an error that says what to do."""
    if path in custom:
        return custom[path]
    short = path.rsplit(":", 1)[-1]
    if short in custom:
        return custom[short]
    if ":" not in path:
        found = module_class(path)
        if found is None:
            raise ValueError(f"unknown layer class {path!r}: it is not one of minicnn's; import "
                             f"the module that defines it before loading, or pass "
                             f"custom_objects={{{path!r}: TheClass}}")
        return found
    module_name, qualname = path.split(":", 1)
    try:
        found = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import {path!r} ({error}); make that module importable, "
                         f"pass custom_objects={{{path!r}: TheClass}}, or rebuild the model in "
                         f"code and load the weights only (model.load_weights)") from None
    return found


def encode(value, owner=None):
    """One constructor argument as JSON-able data (see the module docstring)."""
    who = owner.describe() if owner is not None else "serialize"
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, list):
        return [encode(v, owner) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, owner) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": {str(k): encode(v, owner) for k, v in value.items()}}
    if isinstance(value, Module):
        return {"__module__": serialize(value)}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"__dtype__": np.dtype(value).name}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": value.dtype.name}
    module = getattr(value, "__module__", None) or type(value).__module__
    if callable(value) and hasattr(value, "__qualname__") and "<" not in value.__qualname__:
        return {"__callable__": f"{value.__module__}:{value.__qualname__}"}
    if type(value).__module__.startswith("minicnn.") and hasattr(value, "__dict__"):
        cls = type(value)
        return {"__object__": f"{cls.__module__}:{cls.__qualname__}",
                "vars": {k: encode(v, owner) for k, v in vars(value).items()}}
    raise TypeError(f"{who}: cannot store the argument {value!r} ({module}) in a config; use a "
                    f"name such as 'relu' or 'he_normal', or save the weights only")


def decode(value, custom=None):
    """The inverse of ``encode``."""
    custom = custom or {}
    if isinstance(value, list):
        return [decode(v, custom) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(v, custom) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: decode(v, custom) for k, v in value["__dict__"].items()}
    if "__module__" in value:
        return deserialize(value["__module__"], custom)
    if "__dtype__" in value:
        return np.dtype(value["__dtype__"])
    if "__array__" in value:
        return np.array(value["__array__"], dtype=np.dtype(value["dtype"]))
    tag = "__callable__" if "__callable__" in value else "__object__"
    if tag in value:
        path = value[tag]
        if not (path.startswith("minicnn.") or path in custom or path.split(":")[-1] in custom):
            raise ValueError(f"the architecture names {path!r}, which is not part of minicnn; "
                             f"pass it as custom_objects={{{path!r}: ...}} to load")
        found = _find(path, custom)
        if tag == "__callable__":
            return found
        obj = found.__new__(found)
        obj.__dict__.update({k: decode(v, custom) for k, v in value["vars"].items()})
        return obj
    raise ValueError(f"unknown encoded value {value!r}")
