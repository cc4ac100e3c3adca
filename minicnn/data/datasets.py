"""Where the data sets are, and loading them: MNIST, Fashion-MNIST, CIFAR-10.

    (x_train, y_train), (x_test, y_test) = load_mnist()          # uint8 (N, 1, 28, 28)
    (x_train, y_train), (x_test, y_test) = load_cifar10(train_batches=[1])   # (N, 3, 32, 32)

Images come back as uint8 NCHW arrays and labels as int64, in the files' order.

Where the files are looked for (the first that has them wins):

    1. ``path=`` given to the loader: the data set's folder, or a folder holding it
    2. ``$MINICNN_DATA`` (a folder holding mnist/, fashion-mnist/, cifar-10-batches-bin/ ...)
    3. the per-user cache: ``$XDG_CACHE_HOME/minicnn`` (default ``~/.cache/minicnn``)

``download=True`` fetches missing files into the first writable of those (the cache
unless a path or $MINICNN_DATA is given), from the data sets' own mirrors, checking
MD5s (see minicnn.data.download). Offline, the error lists the missing files and where
to put them.
"""
import gzip
import os
import shutil
import tarfile
import tempfile
import zlib

import numpy as np

from .cifar import read_cifar_bin, read_cifar_py
from .download import DownloadError, download as fetch   # load_cifar10's `download` is a flag
from .idx import read_images_and_labels

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Sizes of the decompressed files (MNIST and Fashion-MNIST alike): a download, and what
# it decompresses to, may not be larger (plus room for the gzip wrapper), so a server
# that sends endlessly is cut off.
MNIST_BYTES = {"train-images-idx3-ubyte": 47_040_016, "train-labels-idx1-ubyte": 60_008,
               "t10k-images-idx3-ubyte": 7_840_016, "t10k-labels-idx1-ubyte": 10_008}

# MD5 of the decompressed files (the .gz wrappers differ between mirrors).
SPECS = {
    "mnist": {
        "folder": "mnist",
        "files": MNIST_FILES,
        "md5": {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                    "http://yann.lecun.com/exdb/mnist/"],
    },
    "fashion-mnist": {
        "folder": "fashion-mnist",
        "files": MNIST_FILES,
        "md5": {"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"],
        "system": "/usr/share/datasets/fashion-mnist",     # the Debian package's files
    },
}
CIFAR = {
    "bin": {"folder": "cifar-10-batches-bin", "archive": "cifar-10-binary.tar.gz",
            "md5": "c32a1d4ab5d03f1284b67883e8d87530", "bytes": 170_052_171, "suffix": ".bin",
            "reader": read_cifar_bin},
    "py": {"folder": "cifar-10-batches-py", "archive": "cifar-10-python.tar.gz",
           "md5": "c58f30108f718f92721af3b95e74349a", "suffix": "", "reader": read_cifar_py},
    "mirrors": ["https://www.cs.toronto.edu/~kriz/"],
}


class DatasetNotFoundError(FileNotFoundError):
    """Files of a data set are missing (the message lists them and where to put them)."""


def data_homes(path=None):
    """The folders searched, in order: ``path``, $MINICNN_DATA, the per-user cache."""
    homes = [os.fspath(path)] if path is not None else []
    if os.environ.get("MINICNN_DATA"):
        homes.append(os.environ["MINICNN_DATA"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    homes.append(os.path.join(cache, "minicnn"))
    return homes


def _candidates(folder, path, extra=None):
    """Folders that may hold a data set: each home itself and home/<folder>."""
    found = []
    for home in data_homes(path):
        found += [home, os.path.join(home, folder)] if home == os.fspath(path or "") else \
                 [os.path.join(home, folder)]
    return found + ([extra] if extra else [])


def _locate(name, folder):
    """The path of an IDX file in ``folder``, gzip-compressed or raw, or None."""
    for candidate in (name + ".gz", name):
        full = os.path.join(folder, candidate)
        if os.path.exists(full):
            return full
    return None


def find_idx_dataset(dataset, path=None):
    """(folder, {name: file}) of the first folder holding all four files, else
    (None, {}) with the best partial match's files."""
    spec = SPECS[dataset]
    best = (None, {})
    for folder in _candidates(spec["folder"], path, spec.get("system")):
        files = {n: _locate(n, folder) for n in spec["files"]}
        files = {n: f for n, f in files.items() if f}
        if len(files) == len(spec["files"]):
            return folder, files
        if len(files) > len(best[1]):
            best = (folder, files)
    return None, best[1]


def _download_home(path):
    return data_homes(path)[0]


def load_idx_dataset(dataset, path=None, download_missing=False, report=None):
    spec = SPECS[dataset]
    folder, files = find_idx_dataset(dataset, path)
    if folder is None and download_missing:
        folder = os.path.join(_download_home(path), spec["folder"])
        for name in spec["files"]:
            if _locate(name, folder) is None:
                fetch([m + name + ".gz" for m in spec["mirrors"]],
                      os.path.join(folder, name + ".gz"), md5=spec["md5"][name],
                      gunzip_md5=True, max_bytes=MNIST_BYTES[name] + (1 << 20), report=report)
        folder, files = find_idx_dataset(dataset, folder)
    if folder is None:
        missing = [n + ".gz" for n in spec["files"] if n not in files]
        raise DatasetNotFoundError(
            f"{dataset}: missing {', '.join(missing)}. Put the four files "
            f"({', '.join(n + '.gz' for n in spec['files'])}, gzip or raw) in one of: "
            f"{', '.join(_candidates(spec['folder'], path))}; or set MINICNN_DATA to a folder "
            f"holding {spec['folder']}/; or pass download=True (--download)")
    train = read_images_and_labels(files[spec["files"][0]], files[spec["files"][1]])
    test = read_images_and_labels(files[spec["files"][2]], files[spec["files"][3]])
    if train[0].shape[1:] != test[0].shape[1:]:
        raise ValueError(f"{dataset}: the training images ({files[spec['files'][0]]}) are "
                         f"{train[0].shape[1:]} but the test images ({files[spec['files'][2]]}) "
                         f"are {test[0].shape[1:]}; the files do not belong to one data set")
    return train, test


def load_mnist(path=None, download=False, report=None):
    """MNIST: ((x_train (60000, 1, 28, 28) uint8, y_train), (x_test (10000, ...), y_test))."""
    return load_idx_dataset("mnist", path, download, report)


def load_fashion_mnist(path=None, download=False, report=None):
    """Fashion-MNIST, same shapes as MNIST (classes: T-shirt/top, Trouser, ...)."""
    return load_idx_dataset("fashion-mnist", path, download, report)


def find_cifar10(path=None, train_batches=(1, 2, 3, 4, 5)):
    """(version 'bin' or 'py', folder, missing file names) of the best CIFAR-10 folder."""
    best = None
    for version in ("bin", "py"):
        spec = CIFAR[version]
        names = [f"data_batch_{i}{spec['suffix']}" for i in train_batches] + \
                [f"test_batch{spec['suffix']}"]
        for folder in _candidates(spec["folder"], path):
            missing = [n for n in names if not os.path.exists(os.path.join(folder, n))]
            if best is None or len(missing) < len(best[2]):
                best = (version, folder, missing)
    return best


def load_cifar10(path=None, download=False, train_batches=(1, 2, 3, 4, 5), report=None):
    """CIFAR-10: ((x_train (10000 * batches, 3, 32, 32) uint8, y_train), (x_test (10000, ...),
    y_test)) from the binary or the python version (whichever is found complete).

    ``train_batches``: which of data_batch_1..5 to train on (all five by default)."""
    train_batches = tuple(train_batches)
    if not train_batches or any(b not in (1, 2, 3, 4, 5) for b in train_batches):
        raise ValueError(f"cifar10: train_batches must be numbers 1-5, got {train_batches}")
    version, folder, missing = find_cifar10(path, train_batches)
    if missing and download:
        spec = CIFAR["bin"]
        home = _download_home(path)
        archive = os.path.join(home, spec["archive"])
        # An archive already there is verified first, and fetched again if it is wrong.
        fetch([m + spec["archive"] for m in CIFAR["mirrors"]], archive, md5=spec["md5"],
              size=spec["bytes"], report=report)
        _extract_cifar(archive, home, spec["folder"])
        version, folder, missing = find_cifar10(home, train_batches)
    if missing:
        raise DatasetNotFoundError(
            f"cifar10: missing {', '.join(missing)} (in {folder}). Put the binary batches "
            f"(data_batch_1.bin ... data_batch_5.bin, test_batch.bin) in one of: "
            f"{', '.join(_candidates(CIFAR['bin']['folder'], path))}, or the python batches in "
            f"a cifar-10-batches-py/ folder there; set MINICNN_DATA; or pass download=True "
            f"(--download). To train on fewer batches use train_batches=[1] (--train-batches 1)")
    spec = CIFAR[version]
    read = spec["reader"]
    parts = [read(os.path.join(folder, f"data_batch_{i}{spec['suffix']}")) for i in train_batches]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = read(os.path.join(folder, f"test_batch{spec['suffix']}"))
    return train, test


def _extract_cifar(archive, home, folder):
    """Extract the batch files of a verified CIFAR-10 archive into ``home/folder``.

    All or nothing: each expected member goes to a temporary file, and only when the
    whole archive has been read are they renamed into place. Nothing of the archive can
    land elsewhere: a member with an absolute path or a ``..``, a link, or a device is
    refused, and other names are not written. An archive that does not decompress (or
    is refused) is deleted, so that the next download fetches it afresh."""
    batches = {f"{folder}/{n}" for n in [f"data_batch_{i}.bin" for i in range(1, 6)]
               + ["test_batch.bin"]}
    wanted = batches | {f"{folder}/batches.meta.txt"}
    extracted = {}                                 # final path -> temporary path
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                _refuse_unsafe_member(member, wanted)
                if member.name in wanted:
                    target = os.path.join(home, member.name)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target),
                                                         suffix=".part")
                    extracted[target] = temporary
                    with tar.extractfile(member) as src, os.fdopen(handle, "wb") as out:
                        shutil.copyfileobj(src, out)
        missing = sorted(batches - {name for name in wanted
                                    if os.path.join(home, name) in extracted})
        if missing:                                # tarfile stops quietly at a garbled header
            raise tarfile.TarError(f"it holds no {', '.join(missing)}")
        for target, temporary in extracted.items():
            os.replace(temporary, target)
    except (tarfile.TarError, zlib.error, gzip.BadGzipFile, EOFError) as error:
        _remove_quietly(*extracted.values(), archive)
        raise DownloadError(f"{archive}: not a usable CIFAR-10 archive ({error}); deleted it, "
                            f"download it again (download=True, --download)") from None
    except OSError as error:
        _remove_quietly(*extracted.values())
        raise DownloadError(f"{archive}: cannot extract it into {home} ({error})") from None


def _refuse_unsafe_member(member, wanted):
    """Raise tarfile.TarError for a member that could write outside its folder."""
    parts = member.name.replace("\\", "/").split("/")
    if member.name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise tarfile.TarError(f"member {member.name!r} points outside the archive's folder")
    if not (member.isfile() or member.isdir()):
        raise tarfile.TarError(f"member {member.name!r} is a link or a device, not a file")
    if member.name in wanted and not member.isfile():
        raise tarfile.TarError(f"member {member.name!r} is not a regular file")


def _remove_quietly(*paths):
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def describe_datasets(path=None):
    """Lines saying, for each data set, where it was found or what is missing."""
    from .sample import SAMPLE_PATH
    lines = [f"search order: {', '.join(data_homes(path))}",
             f"mnist-sample   embedded in the package: {SAMPLE_PATH}"]
    for name in SPECS:
        folder, files = find_idx_dataset(name, path)
        lines.append(f"{name:<14} " + (f"found in {folder}" if folder else
                                       f"not found ({len(files)} of 4 files)"))
    for batches, label in (((1, 2, 3, 4, 5), "cifar10"), ((1,), "cifar10 (batch 1)")):
        version, folder, missing = find_cifar10(path, batches)
        lines.append(f"{label:<14} " + (f"found in {folder} ({version})" if not missing else
                                       f"not found (missing {', '.join(missing)})"))
    return lines
