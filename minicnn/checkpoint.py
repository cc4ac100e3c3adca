"""Checkpoints: architecture + weights + optimiser state + training position in one file.

    mc.save(model, "run/checkpoint.npz")       # after fit, or from ModelCheckpoint
    model = mc.load("run/checkpoint.npz")      # rebuilt, weights loaded, compiled again
    model.fit(x, y, epochs=10, resume=True)    # continues the saved run exactly

    mc.save_weights(model, "w.npz"); mc.load_weights(model, "w.npz")   # weights only

The file is a NumPy .npz (a zip of .npy arrays) holding

    __header__             a JSON text: format, versions, the architecture
                           (minicnn.layers.config.serialize: class names and plain
                           values), the sample input shape, the weight names, the
                           optimiser's class and hyper-parameters, the compile arguments,
                           the epoch and the training state
    weights/<name>         one array per entry of model.state_dict()
    optimizer/<i>/<key>    the optimiser's per-parameter buffers

A file is data, never code (docs/checkpoints.md says what loading guarantees):

- the architecture is names looked up in minicnn's registry (and yours: register_layer,
  custom_objects) and plain JSON values checked by the constructors; nothing the file
  names is imported, called by path or set as an attribute;
- arrays are read with ``allow_pickle=False``, and only after the whole file has been
  checked from its zip directory and array headers: the number of entries, the declared
  sizes (a zip bomb is refused by what it declares, before anything is inflated), the
  header's size and nesting depth, each array's dtype (floats only) and its shape
  against the rebuilt model's weights; the architecture may not make more weights than
  the file holds;
- anything wrong is a ``CheckpointError`` (a ValueError) that names the file and says why.

It is written atomically (minicnn.files.atomic_write): to a temporary file in the same
folder, flushed to disk, then renamed over the target, so a crash or a kill mid-write
leaves the old file intact.
"""
import json
import math
import os
import re
import tokenize
import zipfile
import zlib

import numpy as np

from .device import normalize_device
from .files import atomic_write
from .layers.config import deserialize, serialize, short_repr, weight_budget
from .layers.module import Module

FORMAT = "minicnn-checkpoint"
VERSION = 2                      # 2: declarative architectures (names, never code paths)

MAX_ENTRIES = 100_000            # arrays in one file
MAX_HEADER_BYTES = 16 * 2**20    # the JSON header as stored (NumPy keeps text as UTF-32)
MAX_DEPTH = 64                   # nesting of the header's JSON
MAX_BYTES = 16 * 2**30           # all arrays together, as declared (mc.load(max_bytes=...))
MAX_INPUT_ELEMENTS = 2**24       # one sample of the stored input shape


class CheckpointError(ValueError):
    """A file that is not a valid minicnn checkpoint, with the reason (a ValueError)."""


def save(model, path, optimizer=None, epoch=None, training_state=None, weights_only=False,
         metadata=None):
    """Write ``model`` (and its optimiser, compile settings and training position) to
    ``path`` atomically. ``weights_only`` stores no architecture (for models whose
    class is not registered). ``metadata``: any JSON-able dict (e.g. the data set and
    its normalisation), given back as ``model.checkpoint_metadata``."""
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a model (a Module), got {type(model).__name__}")
    weights = model.host_state_dict()          # host copies: a GPU model stays where it is
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




# ----------------------------------------------------------------------------- reading
class CheckpointFile:
    """An open checkpoint whose every part has been checked before any array is read.

        with CheckpointFile(path) as ck:
            ck.header                    # the validated JSON header
            ck.shapes["weights/0.kernel"]   # declared (shape, dtype), data unread
            ck.array("weights/0.kernel", expected_shape)

    Opening checks the zip directory (number of entries, names, declared sizes against
    ``max_bytes``), the header (size, nesting depth, JSON, its fields and their types)
    and every array's .npy header (floats only; declared shape consistent with the
    declared size), so that nothing is inflated or allocated beyond what was declared.
    """

    def __init__(self, path, max_bytes=None):
        self.path = os.fspath(path)
        self.max_bytes = MAX_BYTES if max_bytes is None else int(max_bytes)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"checkpoint {self.path!r} does not exist")
        if os.path.isdir(self.path):
            raise self.error("it is a directory; give the path of a .npz file in it")
        with self.reading("its zip directory"):
            self.zip = zipfile.ZipFile(self.path)
        try:
            with self.reading("its zip directory"):
                self.infos = self._directory()
                self.header = self._header()
                self.shapes = self._arrays()
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def error(self, reason):
        return CheckpointError(f"{self.path!r} is not a valid minicnn checkpoint: {reason}")

    def reading(self, what):
        """Turn what the zip and .npy readers raise on a damaged file into a CheckpointError."""
        return _Reading(self, what)

    # -- the checks, in order
    def _directory(self):
        infos = self.zip.infolist()
        if len(infos) > MAX_ENTRIES:
            raise self.error(f"it holds {len(infos):,} entries (at most {MAX_ENTRIES:,})")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise self.error("it names an entry twice")
        declared = sum(info.file_size for info in infos)
        if declared > self.max_bytes + MAX_HEADER_BYTES:
            raise self.error(f"its arrays declare {declared:,} bytes uncompressed, more than the "
                             f"limit of {self.max_bytes:,} (a zip bomb, or a very large model: "
                             f"mc.load(path, max_bytes=...) raises the limit)")
        table = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise self.error(f"it holds {short_repr(info.filename)}, which is not a .npy array")
            if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                                  zipfile.ZIP_DEFLATED):
                raise self.error(f"{short_repr(info.filename)} is encrypted or compressed in a way "
                                 f"minicnn does not write")
            table[info.filename[:-4]] = info
        if "__header__" not in table:
            raise self.error("it has no __header__ entry (not written by mc.save)")
        return table

    def _header(self):
        info = self.infos["__header__"]
        if info.file_size > MAX_HEADER_BYTES:
            raise self.error(f"its header declares {info.file_size:,} bytes (at most "
                             f"{MAX_HEADER_BYTES:,})")
        shape, dtype = self._npy_header("__header__", kinds="U")
        if shape != ():
            raise self.error("its __header__ is not one text")
        text = str(self._read("__header__"))
        if json_depth(text) > MAX_DEPTH:
            raise self.error(f"its header is nested more than {MAX_DEPTH} levels deep")
        try:
            header = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise self.error(f"its header is not JSON ({error})") from None
        check_header(header, self.error)
        return header

    def _arrays(self):
        """{entry name: (shape, dtype)} of the arrays, checked against the header's lists."""
        header = self.header
        expected = {f"weights/{name}" for name in header["weights"]}
        states = (header.get("optimizer") or {}).get("state", [])
        shapes = {}
        for name in self.infos:
            if name == "__header__":
                continue
            found = re.fullmatch(r"optimizer/(\d{1,9})/([^/]+)", name)
            if name not in expected and not (found and int(found[1]) < len(states)
                                             and found[2] not in states[int(found[1])]):
                raise self.error(f"it holds the entry {short_repr(name)}, which its header "
                                 f"does not list")
            shapes[name] = self._npy_header(name, kinds="f")
        missing = sorted(expected - set(shapes))
        if missing:
            raise self.error(f"it is damaged: the weights {missing[:10]} are missing")
        return shapes

    def _npy_header(self, name, kinds):
        """(shape, dtype) from an entry's .npy header, checked against its declared size."""
        info = self.infos[name]
        with self.zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise self.error(f"{short_repr(name)} is a .npy array of version {version}, which "
                                 f"minicnn does not write")
            offset = f.tell()
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in kinds:
            what = "floats" if kinds == "f" else "text"
            raise self.error(f"{short_repr(name)} holds {dtype}, not {what} (object arrays are "
                             f"never read)")
        size = offset + math.prod(shape) * dtype.itemsize
        if any(n < 0 for n in shape) or size != info.file_size:
            raise self.error(f"{short_repr(name)} declares the shape {shape} of {dtype}, which "
                             f"does not match its size ({info.file_size:,} bytes)")
        return tuple(shape), dtype

    # -- reading arrays
    def _read(self, name):
        with self.reading(name), self.zip.open(self.infos[name]) as f:
            return np.lib.format.read_array(f, allow_pickle=False)

    def array(self, name, shape):
        """The array ``name``, read only if its declared shape is ``shape``."""
        declared, _ = self.shapes[name]
        if declared != tuple(shape):
            raise self.error(f"{short_repr(name)} is {declared} in the file but {tuple(shape)} "
                             f"in the model its architecture builds")
        return self._read(name)

    def weight_elements(self):
        """How many numbers the file's weights hold (the budget for rebuilding its model)."""
        return sum(math.prod(self.shapes[f"weights/{n}"][0]) for n in self.header["weights"])

    # -- from the file to a model
    def rebuild(self, custom_objects=None):
        """The model its architecture describes, built, weights not yet loaded."""
        architecture = self.header["architecture"]
        if architecture is None:
            raise CheckpointError(f"{self.path!r} holds weights only (no architecture): build the "
                                  f"model in code and call mc.load_weights(model, {self.path!r})")
        if self.header["version"] == 1:
            _refuse_code_paths(architecture, self)
        try:
            with weight_budget(self.weight_elements(), repr(self.path)):
                model = deserialize(architecture, custom_objects)
                _build(model, self.header)
        except CheckpointError:
            raise
        except Exception as error:          # what a constructor says of a bad config
            raise self.error(f"its architecture cannot be rebuilt: {error}") from None
        return model

    def load_weights_into(self, model, own_architecture=False):
        """Check every weight's name and declared shape against ``model``, then read them."""
        try:
            own = {name: p.shape for name, p in model.state_dict().items()}
        except ValueError as error:
            if own_architecture:
                raise self.error(f"the model it describes cannot be built: {error}") from None
            raise ValueError(f"cannot load {self.path!r}: {error}") from None
        saved = self.header["weights"]
        missing = [k for k in own if k not in saved]
        unexpected = [k for k in saved if k not in own]
        wrong = [f"'{k}' is {own[k]} in the model but {self.shapes[f'weights/{k}'][0]} in the "
                 f"file" for k in own if k in saved and own[k] != self.shapes[f"weights/{k}"][0]]
        if missing or unexpected or wrong:
            architecture = self.header.get("architecture")
            described = (f" (saved architecture: {architecture['class']})"
                         if isinstance(architecture, dict) else "")
            message = (f"the checkpoint {self.path!r} does not fit {model.describe()}{described}: "
                       + "; ".join(filter(None, [
                           f"missing in the file {missing[:10]}" if missing else "",
                           f"not in the model {unexpected[:10]}" if unexpected else "",
                           "; ".join(wrong[:10])])))
            if own_architecture:
                raise self.error(message)
            raise ValueError(message + ". Build the same architecture, or use mc.load(path) to "
                                       "rebuild it")
        model.load_state_dict({k: self.array(f"weights/{k}", own[k]) for k in own})

    def load_optimizer_into(self, optimizer):
        """Restore the optimiser's hyper-parameters and per-parameter buffers."""
        info = self.header.get("optimizer")
        if not info:
            return
        params = optimizer.params
        if len(info["state"]) != len(params):
            raise self.error(f"its optimiser state covers {len(info['state'])} parameters, the "
                             f"model has {len(params)}")
        state = []
        for i, (plain, p) in enumerate(zip(info["state"], params)):
            entry = dict(plain)
            prefix = f"optimizer/{i}/"
            entry.update({name[len(prefix):]: self.array(name, p.shape)
                          for name in self.shapes if name.startswith(prefix)})
            state.append(entry)
        try:
            optimizer.load_state_dict({"optimizer": info["class"],
                                       "hyperparameters": info["hyperparameters"],
                                       "state": state})
        except (TypeError, ValueError) as error:
            raise self.error(f"its optimiser state cannot be restored: {error}") from None

    def compile(self, model):
        """Compile ``model`` as it was saved: optimiser class and state, loss, metrics."""
        from . import optim
        info = self.header.get("optimizer")
        optimizer = "adam"
        if info:
            cls = optim.by_saved_name(info["class"])
            if cls is None:
                raise self.error(f"it names the optimiser {short_repr(info['class'])}; minicnn has "
                                 f"{', '.join(sorted(optim.OPTIMIZERS))}")
            optimizer = cls()
        try:
            model.compile(optimizer=optimizer, **self.header["compile"])
        except (TypeError, ValueError) as error:
            raise self.error(f"its compile settings are not valid: {error}") from None
        self.load_optimizer_into(model.optimizer)


class _Reading:
    """Context manager of CheckpointFile.reading."""

    def __init__(self, checkpoint, what):
        self.checkpoint, self.what = checkpoint, what

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is None or issubclass(kind, CheckpointError):
            return False
        damaged = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError,
                   NotImplementedError, RuntimeError, UnicodeError, KeyError, IndexError,
                   TypeError, OverflowError, SyntaxError, tokenize.TokenError)  # .npy headers
        if issubclass(kind, damaged) or (
                issubclass(kind, OSError) and not issubclass(kind, (PermissionError,
                                                                    FileNotFoundError))):
            raise self.checkpoint.error(f"cannot read {short_repr(self.what)} ({error}); the file "
                                        f"is truncated, damaged or not a checkpoint") from None
        return False


def json_depth(text):
    """How deeply a JSON text nests ``[`` and ``{`` (strings skipped), without parsing it."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text).encode("utf-8", "replace")
    codes = np.frombuffer(bare, dtype=np.uint8)
    steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(codes, (ord("]"), ord("}"))))
    return int(np.cumsum(steps).max(initial=0))


def check_header(header, error):
    """Check the header's fields and their types; ``error(reason)`` makes the exception."""
    if not isinstance(header, dict):
        raise error("its header is not a JSON object")
    if header.get("format") != FORMAT:
        raise error(f"its format is {short_repr(header.get('format'))}, not {FORMAT!r}")
    version = header.get("version")
    if not _is_int(version) or version < 1:
        raise error(f"its version is {short_repr(version)}, not a positive integer")
    if version > VERSION:
        raise error(f"it was written by a newer minicnn (checkpoint version {version}; this "
                    f"minicnn reads up to {VERSION}): upgrade minicnn to read it")
    for key in ("architecture", "input_shape", "epoch", "training", "compile", "metadata",
                "optimizer"):
        header.setdefault(key, None)
    weights = header.get("weights")
    if not (isinstance(weights, list) and all(isinstance(w, str) and 0 < len(w) <= 1000
                                              for w in weights)
            and len(set(weights)) == len(weights) and len(weights) <= MAX_ENTRIES):
        raise error("its list of weights is not a list of distinct names")
    if header["architecture"] is not None and not isinstance(header["architecture"], dict):
        raise error("its architecture is not a JSON object")
    shape = header["input_shape"]
    if shape is not None and not (isinstance(shape, list) and 1 <= len(shape) <= 8
                                  and all(_is_int(n) and n > 0 for n in shape)
                                  and math.prod(shape) <= MAX_INPUT_ELEMENTS):
        raise error(f"its input shape {short_repr(shape)} is not a list of up to 8 positive sizes "
                    f"(at most {MAX_INPUT_ELEMENTS:,} numbers a sample)")
    if header["epoch"] is not None and not (_is_int(header["epoch"]) and header["epoch"] >= 0):
        raise error(f"its epoch {short_repr(header['epoch'])} is not a whole number >= 0")
    for key in ("training", "metadata"):
        if header[key] is not None and not isinstance(header[key], dict):
            raise error(f"its {key} is not a JSON object")
    settings = header["compile"]
    if settings is not None and not (
            isinstance(settings, dict) and set(settings) <= {"loss", "metrics"}
            and isinstance(settings.get("loss"), str)
            and isinstance(settings.get("metrics", []), list)
            and all(isinstance(m, str) for m in settings.get("metrics", []))):
        raise error("its compile settings are not a loss name and a list of metric names")
    info = header["optimizer"]
    if info is not None and not (
            isinstance(info, dict) and isinstance(info.get("class"), str)
            and isinstance(info.get("hyperparameters"), dict)
            and isinstance(info.get("state"), list)
            and len(info["state"]) <= MAX_ENTRIES
            and all(isinstance(s, dict) for s in info["state"])):
        raise error("its optimiser entry is not a class name, hyper-parameters and a state list")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_code_paths(architecture, checkpoint):
    """A version-1 architecture loads if it is plain layer configs; one that names code
    (a function or object by import path, a class by 'module:Class') does not."""
    stack = [architecture]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            path = (value.get("__callable__") or value.get("__object__")
                    or (value.get("class") if ":" in str(value.get("class", "")) else None))
            if path is not None:
                raise checkpoint.error(
                    f"it is a version-1 checkpoint whose architecture names code by its import "
                    f"path ({short_repr(path)}), which minicnn no longer follows. Its weights "
                    f"still load: build the model in code, mc.load_weights(model, path), then "
                    f"mc.save(model, path) writes version {VERSION} (register your own classes "
                    f"with mc.register_layer first)")
            stack.extend(value.values())


def read(path, max_bytes=None):
    """(header dict, {name: array}) of a checkpoint file, checked, without building a model."""
    with CheckpointFile(path, max_bytes) as ck:
        return ck.header, {name: ck.array(name, shape) for name, (shape, _) in ck.shapes.items()}


def load(path, custom_objects=None, compile=True, max_bytes=None, device=None):
    """The model stored in a checkpoint: rebuilt from its architecture, weights loaded,
    and (``compile``) compiled again with the saved optimiser state, loss and metrics.

    ``custom_objects``: {stored name: class or function} for your own layers,
    initialisers or activations that are not registered (``mc.register_layer``).
    ``max_bytes``: the most the file's arrays may declare (default 16 GiB).
    ``device``: where the weights go ('cpu', 'cuda', ...; default: ``default_device()``,
    the GPU under the cupy backend). A file saved on a GPU holds host arrays, so it loads
    on a machine without one.
    Anything wrong with the file raises ``CheckpointError``, which names it and says why.

    ``model.checkpoint_epoch`` is the number of epochs trained;
    ``model.fit(..., resume=True)`` continues the saved run."""
    if device is not None:
        device = normalize_device(device)
    with CheckpointFile(path, max_bytes) as ck:
        model = ck.rebuild(custom_objects)
        ck.load_weights_into(model, own_architecture=True)
        if device is not None:
            model.to(device)                    # one copy of each weight, after loading
        if compile and ck.header["compile"] is not None and hasattr(model, "compile"):
            ck.compile(model)
        header = ck.header
    model.checkpoint_epoch = header["epoch"]
    model.checkpoint_training_state = header["training"]
    model.checkpoint_metadata = header["metadata"]
    return model


def load_into(model, path):
    """Load a checkpoint's weights and optimiser state into an existing, compiled model;
    returns the saved training state (for fit's resume)."""
    with CheckpointFile(path) as ck:
        if ck.header["training"] is None:
            raise ValueError(f"{os.fspath(path)!r} has no training state to resume from (it was "
                             f"saved outside fit); load it with mc.load and train afresh")
        _build(model, ck.header)
        ck.load_weights_into(model)
        if ck.header["optimizer"] and getattr(model, "optimizer", None) is not None:
            model._bind_optimizer()
            ck.load_optimizer_into(model.optimizer)
        return ck.header["training"]


def load_weights(model, path):
    """Copy a checkpoint's weights into ``model``; a mismatch is a clear error."""
    with CheckpointFile(path) as ck:
        _build(model, ck.header)
        ck.load_weights_into(model)
    return model


# ----------------------------------------------------------------------------- helpers
def _build(model, header):
    """Build the layers that have no weights yet from the stored input shape (a model
    built on its first batch, a bare layer)."""
    model._require_built(None)          # layers given input_shape= make their weights now
    shape = header.get("input_shape")
    unbuilt = [m for m in model.modules()
               if getattr(m, "has_weights", False) and not m.built and m.input_shape is None]
    if unbuilt and shape is not None:
        model.prepare(tuple(shape))


def _compile_args(model):
    loss = getattr(model, "loss", None)
    if not isinstance(loss, str):
        return None                      # a loss object or function: compile again by hand
    names = [name for name, fn in getattr(model, "_metrics", [])]
    from . import metrics
    names = [n for n in names if n.lower() in metrics.METRICS]
    return {"loss": loss, "metrics": names}


def _sample_shape(model):
    shape = (vars(model).get("_input_sample") or getattr(model, "input_shape", None)
             or vars(model).get("_sample_shape"))
    return None if shape is None else [int(n) for n in shape]


def _version():
    from . import __version__
    return __version__
