"""CIFAR-10 batches, in both published versions.

Binary (cifar-10-batches-bin/*.bin): 10,000 records of 3,073 bytes each, a label byte
(0-9) then 3,072 pixel bytes: 1,024 red, 1,024 green, 1,024 blue, each 32x32 row-major.
That is already (C, H, W) per image.

Python (cifar-10-batches-py/data_batch_1 ...): a pickled dict {b"data": uint8 array
(10000, 3072) in the same pixel order, b"labels": list of ints, ...}. Pickles can run
code when loaded, so they are read with ``SafeUnpickler``, which admits only the few
NumPy types these files contain and refuses everything else.
"""
import io
import os
import pickle

import numpy as np

from .checks import check_data_file, check_pixels

RECORD = 1 + 3 * 32 * 32
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def read_cifar_bin(path):
    """(x uint8 (N, 3, 32, 32), y int64 (N,)) from one binary batch file."""
    path = os.fspath(path)
    check_data_file(path, "a CIFAR-10 binary batch")
    with open(path, "rb") as f:
        data = f.read()
    if not data or len(data) % RECORD:
        raise ValueError(f"{path}: {len(data)} bytes is not a whole number of CIFAR-10 records "
                         f"({RECORD} bytes each: 1 label + 3072 pixels); the file is truncated "
                         f"or not a CIFAR-10 binary batch")
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD)
    y = records[:, 0].astype(np.int64)
    if y.max() > 9:
        raise ValueError(f"{path}: found label {int(y.max())}; CIFAR-10 labels are 0-9 (is this "
                         f"a CIFAR-100 file?)")
    return records[:, 1:].reshape(-1, 3, 32, 32), y


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds NumPy arrays and dtypes (what CIFAR's python
    batches hold, besides dicts, lists, strings and numbers). Any other global, such
    as os.system in a crafted file, raises pickle.UnpicklingError."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("_codecs", "encode")}     # bytes in protocol-2 pickles written by Python 3

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch "
                                     f"holds only arrays, lists and strings")


def _latin1_encode(text, encoding="latin1"):
    """What protocol-2 pickles use to rebuild bytes: codecs.encode(text, 'latin1'),
    admitted for that one encoding only."""
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin1",
                                                                               "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode(..., {encoding!r}): a CIFAR-10 "
                                     f"batch only encodes bytes as latin1")
    return text.encode("latin1")


def _batch_entry(batch, key):
    """batch[b'key'] (Python 2 pickles) or batch['key'] (re-pickled by Python 3), or None."""
    value = batch.get(key.encode())
    return batch.get(key) if value is None else value


def check_cifar_batch(path, pixels, labels):
    """(x uint8 (N, 3, 32, 32), y int64 (N,)) from a batch's data and labels, checked:
    pixels are uint8 (or integers 0..255) of shape (N, 3072), labels one integer 0-9 per
    image. Floats are refused rather than cast, since a cast would wrap 256 to 0."""
    if not isinstance(pixels, np.ndarray):
        raise ValueError(f"{path}: b'data' must be an array of pixels, got "
                         f"{type(pixels).__name__}")
    if pixels.ndim != 2 or pixels.shape[1] != 3072:
        raise ValueError(f"{path}: b'data' has shape {pixels.shape}; a CIFAR-10 batch holds "
                         f"(N, 3072): 1,024 red, 1,024 green, 1,024 blue pixels per image")
    check_pixels(pixels, f"{path}: b'data'",
                 f"holds {pixels.dtype} values; CIFAR-10 pixels are uint8 0..255 (floats would "
                 f"wrap or truncate if cast; convert them yourself and save uint8)")
    try:
        y = np.asarray(labels)
    except ValueError as error:
        raise ValueError(f"{path}: b'labels' is not a list of numbers ({error})") from None
    if y.ndim != 1 or y.dtype.kind not in "iu":
        what = "bool" if y.dtype.kind == "b" else f"{y.dtype} of shape {y.shape}"
        raise ValueError(f"{path}: labels must be integers 0..9, one per image, got {what}")
    if len(y) != len(pixels):
        raise ValueError(f"{path}: {len(pixels)} images but {len(y)} labels; a CIFAR-10 batch "
                         f"has one label per image")
    if y.size and (y.min() < 0 or y.max() > 9):
        bad = y.min() if y.min() < 0 else y.max()
        raise ValueError(f"{path}: found label {bad}; CIFAR-10 labels are 0-9 (is this a "
                         f"CIFAR-100 file?)")
    return pixels.astype(np.uint8).reshape(-1, 3, 32, 32), y.astype(np.int64)


def read_cifar_py(path):
    """(x uint8 (N, 3, 32, 32), y int64 (N,)) from one python-version batch file."""
    path = os.fspath(path)
    check_data_file(path, "a CIFAR-10 python batch")
    with open(path, "rb") as f:
        data = f.read()
    try:
        batch = SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path}: unsafe or corrupt pickle: {error}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"{path}: truncated or corrupt CIFAR-10 python batch ({error})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a dict with b'data' and b'labels', got "
                         f"{type(batch).__name__}")
    pixels, labels = _batch_entry(batch, "data"), _batch_entry(batch, "labels")
    if pixels is None or labels is None:
        hint = " (b'fine_labels': a CIFAR-100 file?)" if _batch_entry(batch, "fine_labels") \
            is not None else ""
        raise ValueError(f"{path}: missing b'data' (an array) or b'labels'{hint}")
    return check_cifar_batch(path, pixels, labels)
