"""keras.utils: to_categorical and set_random_seed."""
import numpy as np

from ..rng import manual_seed


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class labels, as Keras': labels of shape (N,) (or (N, 1))
    -> float32 (N, num_classes); num_classes defaults to max(x) + 1."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu" and not (x.dtype.kind == "f" and np.all(x == np.round(x))):
        raise TypeError(f"to_categorical: expected integer class labels, got dtype {x.dtype}")
    x = x.astype(np.int64)
    shape = x.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in 0..{num_classes - 1}, got "
                         f"{int(x.min())}..{int(x.max())}")
    categorical = np.zeros((x.size, num_classes), dtype=np.float32)
    categorical[np.arange(x.size), x] = 1
    return categorical.reshape(shape + (num_classes,))


def set_random_seed(seed):
    """Seed minicnn's random numbers (weights, dropout, shuffling): mc.manual_seed."""
    manual_seed(seed)
