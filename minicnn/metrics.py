"""Metrics for ``compile(metrics=[...])``: plain NumPy functions of (y_pred, y_true).

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
"""
import numpy as np

from .tensor import Tensor


def _host(a):
    """A NumPy array from a Tensor, a CuPy array or array-like."""
    if isinstance(a, Tensor):
        a = a.data
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def sparse_categorical_accuracy(y_pred, y_true):
    y_pred, y_true = _host(y_pred), _host(y_true)
    return (y_pred.argmax(axis=-1) == y_true.reshape(len(y_pred))).astype(np.float64)


def categorical_accuracy(y_pred, y_true):
    y_pred, y_true = _host(y_pred), _host(y_true)
    return (y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)).astype(np.float64)


def binary_accuracy(y_pred, y_true, threshold=0.5):
    y_pred, y_true = _host(y_pred), _host(y_true)
    return ((y_pred.reshape(len(y_pred)) > threshold) ==
            (y_true.reshape(len(y_pred)) > threshold)).astype(np.float64)


def accuracy(y_pred, y_true):
    """Sparse, categorical or binary accuracy, chosen from the shapes (as Keras does)."""
    y_pred, y_true = _host(y_pred), _host(y_true)
    if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
        return binary_accuracy(y_pred, y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape == y_pred.shape:
        return categorical_accuracy(y_pred, y_true)
    return sparse_categorical_accuracy(y_pred, y_true)


def _per_sample_mean(values):
    return values.reshape(len(values), -1).mean(axis=1).astype(np.float64)


def mean_squared_error(y_pred, y_true):
    y_pred, y_true = _host(y_pred), _host(y_true)
    return _per_sample_mean((y_pred - y_true.reshape(y_pred.shape)) ** 2)


def mean_absolute_error(y_pred, y_true):
    y_pred, y_true = _host(y_pred), _host(y_true)
    return _per_sample_mean(np.abs(y_pred - y_true.reshape(y_pred.shape)))


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
