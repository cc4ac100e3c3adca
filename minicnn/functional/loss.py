"""Losses: cross-entropy on logits (fused with log-softmax) and mean squared error.

Why fuse? softmax followed by -log p underflows: for a logit 100 below the largest,
p = e^-100 rounds to 0 in float32 and log 0 = -inf. Working with log-softmax,
log p_c = x_c - m - log sum_j e^(x_j - m), never takes the log of a rounded-off number,
and the gradient collapses to the simple softmax(x) - target.
"""
import warnings

import numpy as np

from ..backend import array_module, implementation
from ..device import check, device_of, to_device
from ..tensor import Function, as_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _reduce_check(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


class CrossEntropy(Function):
    """loss_n = -sum_c q[n, c] log softmax(x[n])_c, reduced over the batch.

    The target q is a one-hot row for integer labels, blended with the uniform
    distribution by label smoothing eps: q = (1 - eps) onehot + eps / C; or q is given
    directly as probabilities.
    """
    def __init__(self, target, reduction="mean"):
        self.target, self.reduction = target, reduction

    def forward(self, x):
        xp = array_module(x)
        shifted = x - x.max(axis=1, keepdims=True)
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        self.p = xp.exp(log_p)
        per_sample = -(self.target * log_p).sum(axis=1)
        if self.reduction == "none":
            return per_sample
        return per_sample.sum() / (len(x) if self.reduction == "mean" else 1)

    def backward(self, g):
        # d loss_n / d x[n] = softmax(x[n]) - q[n]   (since sum_c q[n, c] = 1)
        dx = self.p - self.target
        if self.reduction == "none":
            return dx * g[:, None]
        return dx * (g / len(dx) if self.reduction == "mean" else g)


def _target_distribution(labels, like, num_classes, dtype, label_smoothing, op):
    """The target rows q (N, C) from integer labels (N,) or probabilities (N, C), on the
    device of the predictions ``like`` (host labels are copied to a GPU, as Keras does)."""
    n = len(like)
    labels = labels.data if hasattr(labels, "data") and hasattr(labels, "creator") else labels
    if not hasattr(labels, "dtype"):
        labels = np.asarray(labels)
    if device_of(labels) != device_of(like):
        labels = to_device(labels, device_of(like))
    xp = array_module(labels)
    if labels.dtype.kind not in "iubf" or (labels.dtype.kind == "b" and labels.ndim == 1):
        raise TypeError(f"{op}: labels must be integer class indices, got dtype {labels.dtype}"
                        f" (pass labels.astype(np.int64))")
    if labels.ndim == 2:                       # class probabilities (soft or one-hot targets)
        if labels.shape != (n, num_classes):
            raise ValueError(f"{op}: probability targets must have shape ({n}, {num_classes}) "
                             f"like the logits, got {tuple(labels.shape)}")
        q = labels.astype(dtype)
    elif labels.ndim == 1:
        if len(labels) != n:
            raise ValueError(f"{op}: got {len(labels)} labels for a batch of {n} predictions; "
                             f"pass one integer label per sample")
        if labels.dtype.kind == "f":
            check(~xp.all(labels == xp.round(labels)), f"{op}: labels must be integer class "
                  f"indices, got non-integer values of dtype {labels.dtype}", TypeError)
            labels = labels.astype(np.int64)
        if n and xp is np and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
            raise ValueError(f"{op}: label {bad} is out of range for {num_classes} classes "
                             f"(labels must be in 0..{num_classes - 1})")
        if n and xp is not np:       # on a GPU: reported at the next read to the host (device.py)
            check(xp.any((labels < 0) | (labels >= num_classes)), f"{op}: a label is out of "
                  f"range for {num_classes} classes (labels must be in 0..{num_classes - 1}; "
                  f"check y.min() and y.max() of the data)")
        q = xp.zeros((n, num_classes), dtype=dtype)
        q[xp.arange(n), labels] = 1
    else:
        raise ValueError(f"{op}: labels must have shape ({n},) (class indices) or "
                         f"({n}, {num_classes}) (probabilities), got {tuple(labels.shape)}")
    if label_smoothing:
        q = q * (1 - label_smoothing) + label_smoothing / num_classes
    return q


def cross_entropy(logits, labels, label_smoothing=0.0, reduction="mean"):
    """Softmax cross-entropy on raw scores, as ``torch.nn.functional.cross_entropy``.

    logits: (N, C) unnormalised scores.  labels: (N,) integers in [0, C), or (N, C)
    class probabilities.  label_smoothing eps in [0, 1): the target becomes
    (1 - eps) onehot + eps / C.  Returns the mean over the batch (a 0-d Tensor), the
    sum, or the (N,) per-sample losses for reduction='none'.

        loss = -1/N sum_n sum_c q[n, c] (x[n, c] - logsumexp_j x[n, j])
        d loss / d x = (softmax(x) - q) / N
    """
    logits = as_tensor(logits)
    _reduce_check(reduction, "cross_entropy")
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    n, c = logits.shape
    q = _target_distribution(labels, logits.data, c, logits.dtype, label_smoothing,
                             "cross_entropy")
    op = implementation(CrossEntropy, logits.data)  # the reference above, or a kernel twin
    return op(q, reduction)(logits)


def nll_of_probabilities(probs, labels, label_smoothing=0.0, reduction="mean", eps=1e-7):
    """Cross-entropy of predicted probabilities (Keras' from_logits=False).

    If ``probs`` came straight out of ``softmax`` (with or without a graph), the loss is computed from the logits
    that went into it (the fused, stable ``cross_entropy``), as Keras does: so a model
    ending in ``Dense(..., activation="softmax")`` trains as stably as one ending in
    logits. Otherwise the probabilities are clipped to [eps, 1 - eps] before the log.
    """
    probs = as_tensor(probs)
    if probs.softmax_logits is not None and probs.softmax_logits[1] in (-1, 1) and probs.ndim == 2:
        return cross_entropy(probs.softmax_logits[0], labels, label_smoothing, reduction)
    _reduce_check(reduction, "cross_entropy")
    if probs.ndim != 2:
        raise ValueError(f"cross_entropy: predictions must have shape (N, C), got {probs.shape}")
    n, c = probs.shape
    data = probs.data
    on_host = array_module(data) is np        # (on a GPU the check would wait for it)
    if n and on_host and (float(data.min()) < 0 or abs(float(data.sum(axis=1).mean()) - 1) > 1e-3):
        warnings.warn("the loss expects probabilities (rows that sum to 1) but the model's "
                      "outputs are not; if they are raw scores, use from_logits=True or "
                      "end the model with a softmax", stacklevel=3)
    q = _target_distribution(labels, data, c, probs.dtype, label_smoothing, "cross_entropy")
    xp = array_module(data)
    clipped = Clip(eps, 1 - eps)(probs)
    per_sample = -(clipped.log() * xp.asarray(q)).sum(axis=1)
    if reduction == "none":
        return per_sample
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


class Clip(Function):
    """y = min(max(x, lo), hi); the gradient passes only where x is inside [lo, hi]."""
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        self.inside = (x >= self.lo) & (x <= self.hi)
        return array_module(x).clip(x, self.lo, self.hi)

    def backward(self, g):
        return g * self.inside


class MSELoss(Function):
    """loss = reduce((a - b)^2) over every element."""
    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, a, b):
        self.diff = a - b
        sq = self.diff * self.diff
        if self.reduction == "none":
            return sq
        return sq.mean() if self.reduction == "mean" else sq.sum()

    def backward(self, g):
        scale = 2 / self.diff.size if self.reduction == "mean" else 2
        da = self.diff * (g * scale)                 # d/da (a - b)^2 = 2 (a - b)
        return da, -da


def mse_loss(input, target, reduction="mean"):
    """Mean squared error, mean((input - target)^2), as ``torch.nn.functional.mse_loss``.

    Shapes: input and target the same shape (any) -> a 0-d Tensor (or the elementwise
    squares for reduction='none'). Both may require grad.
    """
    _reduce_check(reduction, "mse_loss")
    input = as_tensor(input)
    target = as_tensor(target, dtype=input.dtype) if not hasattr(target, "creator") else target
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input has shape {input.shape} but target has shape "
                         f"{target.shape}; they must match")
    return MSELoss(reduction)(input, target)
