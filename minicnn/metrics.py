"""Metrics for ``compile(metrics=[...])``: plain array functions of (y_pred, y_true).

Each metric returns one value per sample, so a training loop can add them up batch by
batch and divide by the number of samples at the end (the mean over the epoch):

    sparse_categorical_accuracy   [argmax_c y_pred[n, c] == y_true[n]]      y_true: (N,) ints
    categorical_accuracy          [argmax y_pred[n] == argmax y_true[n]]    y_true: (N, C)
    binary_accuracy               [(y_pred[n] > 0.5) == y_true[n]]          y_pred: (N,) or (N, 1)
    mean_squared_error            mean over the sample's elements of (y_pred - y_true)^2
    mean_absolute_error           mean over the sample's elements of |y_pred - y_true|

``"accuracy"`` picks one of the three accuracies from the shapes, as Keras does:
integer labels (N,) with (N, C) predictions -> sparse; (N, C) labels -> categorical;
a single output column -> binary.

The values are computed where y_pred is (NumPy or CuPy, through ``xp``), so a training
loop on the GPU sums them there and reads them back once per log line.
"""
import numpy as np

from .device import device_of, to_device
from .tensor import Tensor


def _arrays(y_pred, y_true):
    """(y_pred, y_true) as arrays on y_pred's device (y_true copied there if need be)."""
    y_pred = y_pred.data if isinstance(y_pred, Tensor) else y_pred
    y_true = y_true.data if isinstance(y_true, Tensor) else y_true
    if not hasattr(y_pred, "shape"):
        y_pred = np.asarray(y_pred)
    device = device_of(y_pred)
    if not hasattr(y_true, "shape") or device_of(y_true) != device:
        y_true = to_device(np.asarray(y_true) if not hasattr(y_true, "shape") else y_true,
                           device)
    return y_pred, y_true


def sparse_categorical_accuracy(y_pred, y_true):
    y_pred, y_true = _arrays(y_pred, y_true)
    return (y_pred.argmax(axis=-1) == y_true.reshape(len(y_pred))).astype(np.float64)


def categorical_accuracy(y_pred, y_true):
    y_pred, y_true = _arrays(y_pred, y_true)
    return (y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)).astype(np.float64)


def binary_accuracy(y_pred, y_true, threshold=0.5):
    y_pred, y_true = _arrays(y_pred, y_true)
    return ((y_pred.reshape(len(y_pred)) > threshold) ==
            (y_true.reshape(len(y_pred)) > threshold)).astype(np.float64)


def accuracy(y_pred, y_true):
    """Sparse, categorical or binary accuracy, chosen from the shapes (as Keras does)."""
    y_pred, y_true = _arrays(y_pred, y_true)
    if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
        return binary_accuracy(y_pred, y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape == y_pred.shape:
        return categorical_accuracy(y_pred, y_true)
    return sparse_categorical_accuracy(y_pred, y_true)


def _per_sample_mean(values):
    return values.reshape(len(values), -1).mean(axis=1).astype(np.float64)


def mean_squared_error(y_pred, y_true):
    y_pred, y_true = _arrays(y_pred, y_true)
    return _per_sample_mean((y_pred - y_true.reshape(y_pred.shape)) ** 2)


def mean_absolute_error(y_pred, y_true):
    y_pred, y_true = _arrays(y_pred, y_true)
    return _per_sample_mean(abs(y_pred - y_true.reshape(y_pred.shape)))


METRICS = {
    "accuracy": accuracy, "acc": accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
}


def get(identifier):
    """(name, fn) for a metric name or a function fn(y_pred, y_true) -> per-sample values."""
    if isinstance(identifier, str):
        if identifier.lower() not in METRICS:
            raise ValueError(f"unknown metric {identifier!r}; valid names are {sorted(METRICS)}, "
                             f"or pass a function fn(y_pred, y_true) returning one value per "
                             f"sample")
        return identifier, METRICS[identifier.lower()]
    if callable(identifier):
        return getattr(identifier, "__name__", type(identifier).__name__), identifier
    raise TypeError(f"a metric must be a name ({sorted(METRICS)}) or a function "
                    f"fn(y_pred, y_true); got {identifier!r}")
