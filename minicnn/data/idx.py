"""MNIST / Fashion-MNIST IDX files (LeCun's format), gzip-compressed or raw.

    magic   4 bytes: 0, 0, type code (0x08 = unsigned byte), number of dimensions d
    sizes   d big-endian uint32: N, then (rows, cols) for images
    data    N * rows * cols bytes, row-major

Images files have d = 3 (magic 0x00000803), label files d = 1 (magic 0x00000801).
"""
import gzip
import math
import os
import zlib

import numpy as np

from .checks import check_data_file

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20          # gzip data is read 1 MiB at a time, never more than the file holds


def read_bytes(path):
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    path = os.fspath(path)
    check_data_file(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({error}); delete the file "
                             f"and download it again") from None
    return data


def _read_at_most(f, limit):
    """Up to ``limit`` bytes of f, read in chunks: memory grows with what the file really
    holds, not with what a header claims."""
    chunks, total = [], 0
    while total < limit:
        chunk = f.read(min(CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _declared(shape):
    """'60000 images of 28x28' / '60000 labels', for messages about a header."""
    if len(shape) == 3:
        return f"{shape[0]} images of {shape[1]}x{shape[2]}"
    if len(shape) == 1:
        return f"{shape[0]} labels"
    return f"an array of shape {shape}"


def read_idx(path, ndim=None):
    """The array stored in an IDX file: uint8 of shape (N,) or (N, rows, cols).

    ``ndim`` (1 for labels, 3 for images) is checked against the header. The sizes the
    header declares are checked against the file's length before any array is made, so
    a corrupt header is an error naming the file, not a huge allocation."""
    path = os.fspath(path)
    check_data_file(path, "an IDX file")
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw) if compressed else raw
        try:
            return _read_idx_stream(path, f, compressed, ndim)
        except (OSError, EOFError, zlib.error) as error:   # gzip.BadGzipFile is an OSError
            raise ValueError(f"{path}: corrupt or truncated gzip data ({error}); delete the file "
                             f"and download it again") from None


def _read_idx_stream(path, f, compressed, ndim):
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise ValueError(f"{path}: not an IDX file (the first bytes are {magic!r}, expected "
                         f"0x00 0x00 0x08 <dims>)")
    type_code, dims = magic[2], magic[3]
    if type_code != 0x08:
        raise ValueError(f"{path}: IDX type code 0x{type_code:02x} is not unsigned bytes (0x08)")
    if ndim is not None and dims != ndim:
        raise ValueError(f"{path}: expected a {ndim}-dimensional IDX file (magic "
                         f"0x0000080{ndim}), got {dims} dimensions; is it the right file "
                         f"(images vs labels)?")
    sizes = f.read(4 * dims)
    if len(sizes) < 4 * dims:
        raise ValueError(f"{path}: truncated IDX header ({4 + len(sizes)} bytes, a "
                         f"{dims}-dimensional header has {4 + 4 * dims})")
    shape = tuple(int.from_bytes(sizes[i:i + 4], "big") for i in range(0, 4 * dims, 4))
    if dims > 1 and shape[0] and 0 in shape[1:]:
        raise ValueError(f"{path}: the header says {shape}: {_declared(shape)} is not a valid "
                         f"IDX file")
    expected = math.prod(shape)                  # Python ints: no overflow, however large
    if compressed:
        data = _read_at_most(f, expected + 1)    # one byte more tells "too long" apart
        held = len(data)
    else:
        held = os.fstat(f.fileno()).st_size - 4 - 4 * dims
        data = f.read(expected) if held == expected else b""
    if held != expected:
        holds = f"more than {expected:,}" if compressed and held > expected else f"{held:,}"
        raise ValueError(f"{path}: the header says {shape}: it declares {_declared(shape)} "
                         f"({expected:,} bytes) but holds {holds} bytes of data; the file "
                         f"is truncated or not an IDX file (delete it and download it again)")
    return np.frombuffer(data, np.uint8).reshape(shape)


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
