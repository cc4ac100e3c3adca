"""Checkpoints: architecture + weights + optimiser state + training position in one file.

    mc.save(model, "run/checkpoint.npz")       # after fit, or from ModelCheckpoint
    model = mc.load("run/checkpoint.npz")      # rebuilt, weights loaded, compiled again
    model.fit(x, y, epochs=10, resume=True)    # continues the saved run exactly

    mc.save_weights(model, "w.npz"); mc.load_weights(model, "w.npz")   # weights only

The file is a NumPy .npz (a zip of .npy arrays) holding

    __header__             a JSON text: format, versions, the architecture
                           (minicnn.layers.config.serialize), the sample input shape,
                           the weight names, the optimiser's class and hyper-parameters,
                           the compile arguments, the epoch and the training state
    weights/<name>         one array per entry of model.state_dict()
    optimizer/<i>/<key>    the optimiser's per-parameter buffers

It is read with ``allow_pickle=False``: loading a checkpoint never runs code from the
file. It is written atomically: to a temporary file in the same folder, flushed to disk,
then renamed over the target, so a crash or a kill mid-write leaves the old file intact.
"""
import json
import os
import zipfile

import numpy as np

from .files import atomic_write
from .layers.config import deserialize, serialize
from .layers.module import Module

FORMAT = "minicnn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a valid minicnn checkpoint, with the reason (a ValueError)."""


def save(model, path, optimizer=None, epoch=None, training_state=None, weights_only=False,
         metadata=None):
    """Write ``model`` (and its optimiser, compile settings and training position) to
    ``path`` atomically. ``weights_only`` stores no architecture (for models whose
    class cannot be imported by path). ``metadata``: any JSON-able dict (e.g. the data
    set and its normalisation), given back as ``model.checkpoint_metadata``."""
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a model (a Module), got {type(model).__name__}")
    weights = model.state_dict()
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    if training_state is None and not weights_only and hasattr(model, "training_state"):
        training_state = model.training_state()
    if epoch is None and training_state is not None:
        epoch = training_state["epoch"]
    header = {"format": FORMAT, "version": VERSION, "minicnn": _version(),
              "architecture": None if weights_only else serialize(model),
              "input_shape": _sample_shape(model), "weights": list(weights),
              "epoch": epoch, "training": training_state, "compile": _compile_args(model),
              "metadata": metadata if metadata is not None else
              getattr(model, "checkpoint_metadata", None)}
    arrays = {f"weights/{name}": value for name, value in weights.items()}
    if optimizer is not None and not weights_only and optimizer.params:
        state = optimizer.state_dict()
        header["optimizer"] = {"class": state["optimizer"],
                               "hyperparameters": state["hyperparameters"], "state": []}
        for i, per_param in enumerate(state["state"]):
            plain = {}
            for key, value in per_param.items():
                if hasattr(value, "shape"):
                    arrays[f"optimizer/{i}/{key}"] = np.asarray(value)
                else:
                    plain[key] = value
            header["optimizer"]["state"].append(plain)
    arrays["__header__"] = np.array(json.dumps(header))
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def save_weights(model, path):
    """Write only the weights (and the architecture if it can be stored) atomically."""
    return save(model, path, weights_only=True)


def read(path):
    """(header dict, {name: array}) of a checkpoint file, checked, without building a model."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "__header__" not in data.files:
                raise ValueError("it has no __header__ entry")
            header = json.loads(str(data["__header__"]))
            arrays = {name: data[name] for name in data.files if name != "__header__"}
    except (zipfile.BadZipFile, OSError, EOFError, json.JSONDecodeError) as error:
        raise ValueError(f"{path!r} is not a readable minicnn checkpoint ({error}); it may be "
                         f"truncated or not a checkpoint") from None
    except ValueError as error:
        raise ValueError(f"{path!r} is not a minicnn checkpoint: {error}") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a minicnn checkpoint (format {header.get('format')!r})")
    if header.get("version", 0) > VERSION:
        raise ValueError(f"{path!r} was written by a newer minicnn (checkpoint version "
                         f"{header['version']}); upgrade minicnn to read it")
    missing = [n for n in header["weights"] if f"weights/{n}" not in arrays]
    if missing:
        raise ValueError(f"{path!r} is damaged: the weights {missing} are missing")
    return header, arrays


def load(path, custom_objects=None, compile=True):
    """The model stored in a checkpoint: rebuilt from its architecture, weights loaded,
    and (``compile``) compiled again with the saved optimiser state, loss and metrics.

    ``model.checkpoint_epoch`` is the number of epochs trained;
    ``model.fit(..., resume=True)`` continues the saved run."""
    header, arrays = read(path)
    if header["architecture"] is None:
        raise ValueError(f"{path!r} holds weights only (no architecture): build the model in "
                         f"code and call mc.load_weights(model, {os.fspath(path)!r})")
    model = deserialize(header["architecture"], custom_objects)
    _build(model, header, path)
    _load_weights(model, header, arrays, path)
    if compile and header["compile"] is not None and hasattr(model, "compile"):
        from . import optim
        opt_info = header.get("optimizer")
        optimizer = (optim.OPTIMIZERS[opt_info["class"].lower()]() if opt_info else "adam")
        model.compile(optimizer=optimizer, **header["compile"])
        if opt_info:
            model.optimizer.load_state_dict(_optimizer_state(opt_info, arrays))
    model.checkpoint_epoch = header["epoch"]
    model.checkpoint_training_state = header["training"]
    model.checkpoint_metadata = header.get("metadata")
    return model


def load_into(model, path):
    """Load a checkpoint's weights and optimiser state into an existing, compiled model;
    returns the saved training state (for fit's resume)."""
    header, arrays = read(path)
    _build(model, header, path)
    _load_weights(model, header, arrays, path)
    opt_info = header.get("optimizer")
    if opt_info and getattr(model, "optimizer", None) is not None:
        model._bind_optimizer()
        model.optimizer.load_state_dict(_optimizer_state(opt_info, arrays))
    if header["training"] is None:
        raise ValueError(f"{path!r} has no training state to resume from (it was saved "
                         f"outside fit); load it with mc.load and train afresh")
    return header["training"]


def load_weights(model, path):
    """Copy a checkpoint's weights into ``model``; a mismatch is a clear error."""
    header, arrays = read(path)
    _build(model, header, path)
    _load_weights(model, header, arrays, path)
    return model


# ----------------------------------------------------------------------------- helpers
def _build(model, header, path):
    shape = header.get("input_shape")
    unbuilt = [m for m in model.modules()
               if getattr(m, "has_weights", False) and not m.built and m.input_shape is None]
    if unbuilt and shape is not None:
        (model.build if hasattr(model, "build") else model.prepare)(tuple(shape))


def _load_weights(model, header, arrays, path):
    saved = {n: arrays[f"weights/{n}"] for n in header["weights"]}
    try:
        own = model.state_dict()
    except ValueError as error:
        raise ValueError(f"cannot load {path!r}: {error}") from None
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    wrong = [f"'{k}' is {tuple(own[k].shape)} in the model but {tuple(saved[k].shape)} in "
             f"the file" for k in own if k in saved and own[k].shape != saved[k].shape]
    if missing or unexpected or wrong:
        described = (f" (saved architecture: {header['architecture']['class']})"
                     if header.get("architecture") else "")
        raise ValueError(f"the checkpoint {path!r} does not fit {model.describe()}{described}: "
                         + "; ".join(filter(None, [
                             f"missing in the file {missing}" if missing else "",
                             f"not in the model {unexpected}" if unexpected else "",
                             "; ".join(wrong)]))
                         + ". Build the same architecture, or use mc.load(path) to rebuild it")
    model.load_state_dict(saved)


def _optimizer_state(info, arrays):
    state = []
    for i, plain in enumerate(info["state"]):
        entry = dict(plain)
        prefix = f"optimizer/{i}/"
        entry.update({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
        state.append(entry)
    return {"optimizer": info["class"], "hyperparameters": info["hyperparameters"],
            "state": state}


def _compile_args(model):
    loss = getattr(model, "loss", None)
    if not isinstance(loss, str):
        return None                      # a loss object or function: compile again by hand
    names = [name for name, fn in getattr(model, "_metrics", [])]
    from . import metrics
    names = [n for n in names if n.lower() in metrics.METRICS]
    return {"loss": loss, "metrics": names}


def _sample_shape(model):
    shape = getattr(model, "input_shape", None) or vars(model).get("_sample_shape")
    return None if shape is None else [int(n) for n in shape]


def _version():
    from . import __version__
    return __version__
