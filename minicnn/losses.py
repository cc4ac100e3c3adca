"""Loss objects with Keras' names, for ``model.compile(loss=...)``.

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.compile(optimizer="adam", loss=mc.losses.SparseCategoricalCrossentropy(from_logits=True))

As in Keras, a loss object is called with the targets first::

    loss_fn = mc.losses.SparseCategoricalCrossentropy(from_logits=True)
    loss = loss_fn(y_true, y_pred)          # a 0-d Tensor; loss.backward() works

(``minicnn.functional`` puts the prediction first, as PyTorch does; ``loss_fn.compute
(y_pred, y_true)`` is that order.) Every loss here is the mean over the batch.

The math lives in ``minicnn.functional.loss``; these classes only pick the right op:

    SparseCategoricalCrossentropy   integer labels (N,)      -log q[n, y_n]
    CategoricalCrossentropy         one-hot rows (N, C)      -sum_c t[n, c] log q[n, c]
    MeanSquaredError                any shape                mean (y_pred - y_true)^2

``from_logits=False`` (Keras' default) means the model outputs probabilities, as a
model ending in ``Dense(10, activation="softmax")`` does. The loss then looks through
the softmax and uses the logits that went into it (``F.nll_of_probabilities``), so
huge logits never produce log(0).
"""
import abc

from . import functional as F
from .tensor import Tensor


class Loss(abc.ABC):
    """Base class: ``loss(y_true, y_pred)`` (Keras order) -> 0-d Tensor."""
    name = "loss"

    def __call__(self, y_true, y_pred):
        if _looks_like_prediction(y_true) and not _looks_like_prediction(y_pred):
            raise TypeError(f"{type(self).__name__} is called as loss(y_true, y_pred), targets "
                            f"first, as in Keras; the first argument looks like a model "
                            f"output (a Tensor in the autograd graph). Swap the arguments, or "
                            f"use loss.compute(y_pred, y_true)")
        return self.compute(y_pred, y_true)

    @abc.abstractmethod
    def compute(self, y_pred, y_true):
        """The loss with the prediction first (the order of ``minicnn.functional``)."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _looks_like_prediction(value):
    return isinstance(value, Tensor) and (value.creator is not None or value.requires_grad)


def _labels(y):
    return y.data if isinstance(y, Tensor) else y


class _CrossEntropyLoss(Loss):
    """Shared by the two cross-entropies: they differ only in the form of the labels."""
    label_ndim = None        # 1: integer labels (N,); 2: one-hot rows (N, C)
    expects = other = ""

    def __init__(self, from_logits=False, label_smoothing=0.0):
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def compute(self, y_pred, y_true):
        y_true = _labels(y_true)
        if getattr(y_true, "ndim", self.label_ndim) != self.label_ndim:
            raise ValueError(f"{self.name}: expects {self.expects}; got labels of shape "
                             f"{tuple(y_true.shape)}. {self.other}")
        loss = F.cross_entropy if self.from_logits else F.nll_of_probabilities
        return loss(y_pred, y_true, label_smoothing=self.label_smoothing)


class SparseCategoricalCrossentropy(_CrossEntropyLoss):
    """Cross-entropy with integer labels y (N,) in [0, C).

        from_logits=True:   loss = -1/N sum_n log softmax(z[n])_{y_n}
        from_logits=False:  loss = -1/N sum_n log p[n, y_n]     (p: predicted probabilities)

    label_smoothing eps replaces the one-hot target by (1 - eps) onehot + eps / C.
    """
    name = "sparse_categorical_crossentropy"
    label_ndim = 1
    expects = "one integer label per sample, shape (N,)"
    other = "For one-hot labels use 'categorical_crossentropy'"


class CategoricalCrossentropy(_CrossEntropyLoss):
    """Cross-entropy with one-hot (or soft) targets t (N, C):

        loss = -1/N sum_n sum_c t[n, c] log p[n, c]

    with p = softmax(z) when ``from_logits=True``.
    """
    name = "categorical_crossentropy"
    label_ndim = 2
    expects = "one-hot targets of shape (N, C)"
    other = "For integer labels use 'sparse_categorical_crossentropy'"


class MeanSquaredError(Loss):
    """loss = mean over every element of (y_pred - y_true)^2."""
    name = "mean_squared_error"

    def compute(self, y_pred, y_true):
        return F.mse_loss(y_pred, y_true)


class _CrossEntropyOnLogits(Loss):
    """PyTorch's ``cross_entropy``: logits (N, C), integer labels (N,) or probabilities (N, C)."""
    name = "cross_entropy"

    def compute(self, y_pred, y_true):
        return F.cross_entropy(y_pred, _labels(y_true))


# name -> a function making the loss object (what compile(loss="...") accepts)
LOSSES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "cross_entropy": _CrossEntropyOnLogits,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
}


def get(identifier):
    """A loss from a name, a Loss object, or a callable ``fn(y_pred, y_true) -> Tensor``.

    Returns a function of (y_pred, y_true) (prediction first) and the name to report it by.
    """
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in LOSSES:
            raise ValueError(f"unknown loss {identifier!r}; valid names are {sorted(LOSSES)}, "
                             f"or pass a loss object from minicnn.losses or a function "
                             f"fn(y_pred, y_true) returning a scalar Tensor")
        return LOSSES[key]().compute, key
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier().compute, identifier.name
    if isinstance(identifier, Loss):
        return identifier.compute, identifier.name
    if callable(identifier):
        return identifier, getattr(identifier, "__name__", type(identifier).__name__)
    raise TypeError(f"loss must be a name ({sorted(LOSSES)}), a loss object or a function "
                    f"fn(y_pred, y_true); got {identifier!r}")
