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

Logits or probabilities? The cross-entropies decide from the model, as a user expects:

    from_logits=None (the default, and what the names in compile mean): probabilities
        when the model's output comes out of a softmax (a last layer
        ``Dense(10, activation="softmax")``, ``Softmax()`` or ``Activation("softmax")``),
        logits otherwise (``mc.zoo.lenet5``, a last ``Dense(10)``)
    from_logits=True / False (Keras' argument): says it explicitly; a model that
        contradicts it (a softmax output with from_logits=True, raw scores with
        from_logits=False) is a ValueError, at compile when the model's last layer shows
        it, else at the first batch.

With probabilities out of a softmax the loss looks through the softmax and uses the
logits that went into it (``F.nll_of_probabilities``), so huge logits never produce
log(0). (Keras' own losses take from_logits=False by default whatever the model ends
in; a Keras model that ends in logits and is compiled with the name trains badly. Here
it trains.)
"""
import abc

import numpy as np

from . import functional as F
from .backend import array_module
from .device import check
from .tensor import Tensor, as_tensor


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


def from_softmax(y_pred):
    """True when the prediction came straight out of a softmax over its classes."""
    logits = getattr(y_pred, "softmax_logits", None)
    return logits is not None and logits[1] in (-1, 1) and y_pred.ndim == 2


def output_kind(model):
    """'probabilities' when the model's last layer ends in a softmax, 'logits' when it
    ends in something else, None when that cannot be seen without running it (a
    subclassed model, a layer of your own)."""
    from .layers import activations
    from .layers.core import Activation, Softmax
    last = model
    while True:
        layers = getattr(last, "layers", None)
        outputs = getattr(last, "outputs", None)
        if outputs is not None and len(outputs) == 1:          # a graph model
            last = outputs[0].layer
        elif isinstance(layers, list) and layers and not hasattr(last, "outputs"):
            last = layers[-1]                                   # a Sequential
        else:
            break
    if isinstance(last, Softmax):
        return "probabilities"
    activation = getattr(last, "activation", None)
    if activation is None:
        return None
    return "probabilities" if activations.name_of(activation) == "softmax" else "logits"


class CrossEntropyLoss(Loss):
    """Shared by the two cross-entropies: they differ only in the form of the labels."""
    label_ndim = None        # 1: integer labels (N,); 2: one-hot rows (N, C)
    expects = other = ""

    def __init__(self, from_logits=None, label_smoothing=0.0):
        if from_logits is not None and not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: from_logits must be True, False or None "
                            f"(decide from the model), got {from_logits!r}")
        self.from_logits = None if from_logits is None else bool(from_logits)
        self.label_smoothing = label_smoothing

    def check_model(self, model):
        """Raise a ValueError when ``from_logits`` contradicts the model's last layer."""
        self._check(output_kind(model), f"the model {model.name!r}")

    def _check(self, kind, who):
        if self.from_logits is True and kind == "probabilities":
            raise ValueError(f"{self.name}: from_logits=True, but {who} ends in a softmax, so "
                             f"its outputs are probabilities. Leave from_logits out (the loss "
                             f"then follows the model) or end the model without the softmax")
        if self.from_logits is False and kind == "logits":
            raise ValueError(f"{self.name}: from_logits=False says the outputs are "
                             f"probabilities, but {who} ends without a softmax, so they are "
                             f"raw scores (logits). Leave from_logits out (the loss then "
                             f"follows the model), pass from_logits=True, or end the model "
                             f"with activation='softmax'")

    def compute(self, y_pred, y_true):
        y_true = _labels(y_true)
        if getattr(y_true, "ndim", self.label_ndim) != self.label_ndim:
            raise ValueError(f"{self.name}: expects {self.expects}; got labels of shape "
                             f"{tuple(y_true.shape)}. {self.other}")
        y_pred = as_tensor(y_pred)
        probabilities = from_softmax(y_pred)
        if self.from_logits is None:
            logits = not probabilities
        else:
            self._check("probabilities" if probabilities else None, "the prediction")
            logits = self.from_logits
            if not logits and not probabilities:
                _check_probabilities(y_pred, self.name)
        loss = F.cross_entropy if logits else F.nll_of_probabilities
        return loss(y_pred, y_true, label_smoothing=self.label_smoothing)


def _check_probabilities(y_pred, name):
    """from_logits=False on outputs that are not from a softmax: they must be rows of
    probabilities (>= 0, summing to 1), else a ValueError (on a GPU at the next read)."""
    data = y_pred.data
    xp = array_module(data)
    if not data.size:
        return
    bad = (data.min() < 0) | (xp.abs(data.sum(axis=-1) - 1).max() > 1e-3)
    check(bad, f"{name}: from_logits=False says the outputs are probabilities, but they are "
               f"not (rows must be >= 0 and sum to 1): they look like raw scores (logits). "
               f"Pass from_logits=True, leave it out, or end the model with a softmax")


class SparseCategoricalCrossentropy(CrossEntropyLoss):
    """Cross-entropy with integer labels y (N,) in [0, C).

        from_logits=True:   loss = -1/N sum_n log softmax(z[n])_{y_n}
        from_logits=False:  loss = -1/N sum_n log p[n, y_n]     (p: predicted probabilities)
        from_logits=None:   one of the two, from the model (the module docstring)

    label_smoothing eps replaces the one-hot target by (1 - eps) onehot + eps / C.
    """
    name = "sparse_categorical_crossentropy"
    label_ndim = 1
    expects = "one integer label per sample, shape (N,)"
    other = "For one-hot labels use 'categorical_crossentropy'"


class CategoricalCrossentropy(CrossEntropyLoss):
    """Cross-entropy with one-hot (or soft) targets t (N, C):

        loss = -1/N sum_n sum_c t[n, c] log p[n, c]

    with p = softmax(z) when ``from_logits=True`` (None: decided from the model).
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


class _CrossEntropyOnLogits(CrossEntropyLoss):
    """PyTorch's ``cross_entropy``: logits (N, C), integer labels (N,) or probabilities (N, C)."""
    name = "cross_entropy"

    def __init__(self):
        super().__init__(from_logits=True)

    def compute(self, y_pred, y_true):
        self._check("probabilities" if from_softmax(as_tensor(y_pred)) else None,
                    "the prediction")
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
