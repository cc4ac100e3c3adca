"""minicnn.data — data sets, the embedded MNIST sample, transforms and batches.

    load_mnist_sample()                 5,000 real MNIST digits inside the package
    load_mnist(path=None, download=False)          (x uint8 (N, 1, 28, 28), y int64)
    load_fashion_mnist(path=None, download=False)  same shapes
    load_cifar10(path=None, download=False, train_batches=(1, 2, 3, 4, 5))   (N, 3, 32, 32)
    describe_datasets()                 where each data set was found
    transforms: ToFloat, Normalize, RandomCrop, RandomTranslation, RandomHorizontalFlip
    BatchIterator(x, y, batch_size, shuffle, seed, transform)
    synthetic_digits(n, size=16, seed=0)   generated 0-9 digits, no download needed

Readers of the published formats: idx.read_idx, cifar.read_cifar_bin / read_cifar_py;
the downloader: download.download. Where files are looked for: datasets.data_homes.
"""
from .cifar import CLASSES as CIFAR10_CLASSES, read_cifar_bin, read_cifar_py
from .datasets import (DatasetNotFoundError, data_homes, describe_datasets, load_cifar10,
                       load_fashion_mnist, load_mnist)
from .download import DownloadError, download
from .idx import read_idx
from .loader import BatchIterator
from .sample import load_mnist_sample
from .synthetic import synthetic_digits
from .transforms import (Compose, Normalize, RandomCrop, RandomHorizontalFlip,
                         RandomTranslation, ToFloat)

__all__ = ["synthetic_digits", "load_mnist_sample", "load_mnist", "load_fashion_mnist",
           "load_cifar10", "describe_datasets", "data_homes", "read_idx", "read_cifar_bin",
           "read_cifar_py", "download", "DownloadError", "DatasetNotFoundError",
           "BatchIterator", "Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip",
           "RandomTranslation", "ToFloat", "CIFAR10_CLASSES"]
