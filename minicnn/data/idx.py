"""MNIST / Fashion-MNIST IDX files (LeCun's format), gzip-compressed or raw.

    magic   4 bytes: 0, 0, type code (0x08 = unsigned byte), number of dimensions d
    sizes   d big-endian uint32: N, then (rows, cols) for images
    data    N * rows * cols bytes, row-major

Images files have d = 3 (magic 0x00000803), label files d = 1 (magic 0x00000801).
"""
import gzip
import os

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path):
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({error}); delete the file "
                             f"and download it again") from None
    return data


def read_idx(path, ndim=None):
    """The array stored in an IDX file: uint8 of shape (N,) or (N, rows, cols).

    ``ndim`` (1 for labels, 3 for images) is checked against the header."""
    path = os.fspath(path)
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (the first bytes are {data[:4]!r}, expected "
                         f"0x00 0x00 0x08 <dims>)")
    type_code, dims = data[2], data[3]
    if type_code != 0x08:
        raise ValueError(f"{path}: IDX type code 0x{type_code:02x} is not unsigned bytes (0x08)")
    if ndim is not None and dims != ndim:
        raise ValueError(f"{path}: expected a {ndim}-dimensional IDX file (magic "
                         f"0x0000080{ndim}), got {dims} dimensions; is it the right file "
                         f"(images vs labels)?")
    header = 4 + 4 * dims
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(n) for n in np.frombuffer(data[4:header], ">u4"))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise ValueError(f"{path}: the header says {shape} = {expected} bytes of data but the "
                         f"file holds {len(data) - header}; it is truncated or corrupt, delete "
                         f"it and download it again")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_images_and_labels(images_path, labels_path):
    """(x uint8 (N, 1, rows, cols), y int64 (N,)) from a pair of IDX files."""
    x = read_idx(images_path, 3)
    y = read_idx(labels_path, 1)
    if len(x) != len(y):
        raise ValueError(f"{images_path} holds {len(x)} images but {labels_path} holds "
                         f"{len(y)} labels; the two files do not belong together")
    if y.size and y.max() > 9:
        raise ValueError(f"{labels_path}: labels must be 0-9, found {int(y.max())}")
    return x[:, None], y.astype(np.int64)
