"""keras.losses: the loss classes of minicnn.losses under Keras' names, and Keras'
per-sample loss functions.

    model.compile(loss="sparse_categorical_crossentropy")          # decided from the model
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.losses.sparse_categorical_crossentropy(y_true, y_pred)   # (N,) per-sample losses

The classes' ``from_logits`` defaults to None: probabilities when the model's last layer
is a softmax, logits otherwise; True or False says it (a model that contradicts it is an
error). See minicnn.losses.
"""
from .. import functional as F
from ..losses import (CategoricalCrossentropy, Loss, MeanSquaredError,
                      SparseCategoricalCrossentropy)
from ..tensor import as_tensor

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy",
           "MeanSquaredError", "sparse_categorical_crossentropy", "categorical_crossentropy",
           "mean_squared_error", "get"]


def _cross_entropy(y_true, y_pred, from_logits, label_smoothing=0.0):
    y_true = y_true.data if hasattr(y_true, "creator") else y_true
    loss = F.cross_entropy if from_logits else F.nll_of_probabilities
    return loss(y_pred, y_true, label_smoothing=label_smoothing, reduction="none")


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Per-sample -log p[n, y_n] (N,) for integer labels (Keras' function; from_logits
    as Keras': False means y_pred holds probabilities)."""
    return _cross_entropy(y_true, y_pred, from_logits)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample -sum_c t[n, c] log p[n, c] (N,) for one-hot targets (Keras' function)."""
    return _cross_entropy(y_true, y_pred, from_logits, label_smoothing)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean over the last axis of (y_pred - y_true)^2, Keras' function."""
    y_pred = as_tensor(y_pred)
    return F.mse_loss(y_pred, as_tensor(y_true, dtype=y_pred.dtype),
                      reduction="none").mean(axis=-1)


def get(identifier):
    """A loss object from a Keras name or class (minicnn.losses.get's rules)."""
    from ..losses import get as _get
    fn, _ = _get(identifier)
    return getattr(fn, "__self__", fn)
