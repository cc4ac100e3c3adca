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

RECORD = 1 + 3 * 32 * 32
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def read_cifar_bin(path):
    """(x uint8 (N, 3, 32, 32), y int64 (N,)) from one binary batch file."""
    path = os.fspath(path)
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
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch "
                                     f"holds only arrays, lists and strings")


def read_cifar_py(path):
    """(x uint8 (N, 3, 32, 32), y int64 (N,)) from one python-version batch file."""
    path = os.fspath(path)
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
    pixels, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(pixels, np.ndarray) or labels is None:
        raise ValueError(f"{path}: missing b'data' (an array) or b'labels'")
    if pixels.ndim != 2 or pixels.shape[1] != 3072 or len(labels) != len(pixels):
        raise ValueError(f"{path}: data has shape {pixels.shape} and {len(labels)} labels; "
                         f"expected (N, 3072) and N labels")
    return pixels.astype(np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels, np.int64)
