"""Keras-style training: ``compile``, ``fit``, ``evaluate``, ``predict``.

``TrainingAPI`` is a mixin: ``Sequential`` and ``Model`` inherit it, and it only uses
what every model has (``parameters()``, ``train()``, ``eval()`` and calling the model on
a batch). The whole training loop is the one a PyTorch user writes by hand::

    for each epoch:
        model.train()
        for each batch (x_b, y_b) of a shuffled order:
            optimizer.zero_grad()
            loss = loss_fn(model(x_b), y_b)
            loss.backward()
            optimizer.step()

Usage::

    model.compile(optimizer=mc.optim.SGD(lr=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=64, validation_data=(x_val, y_val))
    history.history["val_accuracy"]            # one number per epoch
    loss, acc = model.evaluate(x_test, y_test)
    probs = model.predict(x_test)              # a NumPy array
"""
import time

import numpy as np

from . import losses as _losses
from . import metrics as _metrics
from . import optim as _optim
from .rng import new_rng
from .tensor import Tensor, get_default_dtype, no_grad


class History:
    """What ``fit`` returns: ``history`` maps each logged name to one value per epoch.

        history.history == {"loss": [...], "accuracy": [...], "val_loss": [...], ...}
        history.epoch   == [0, 1, 2, ...]
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class TrainingAPI:
    """compile / fit / evaluate / predict for any model with ``parameters()``,
    ``train()``, ``eval()`` and ``__call__`` (mixed into Sequential and Model)."""

    # -- compile
    def compile(self, optimizer="adam", loss=None, metrics=None):
        """Choose how to train: the optimizer, the loss and the metrics to report.

        optimizer  an Optimizer object (bound to this model's parameters here, so
                   ``mc.optim.SGD(lr=0.01)`` needs no params) or a name: 'sgd', 'adam',
                   'adamw' (default hyper-parameters)
        loss       a name: 'sparse_categorical_crossentropy' (integer labels, the model
                   outputs probabilities), 'categorical_crossentropy' (one-hot labels),
                   'cross_entropy' (integer labels, the model outputs logits, as
                   PyTorch's), 'mse' / 'mean_squared_error'; a loss object from
                   ``minicnn.losses``; or a function fn(y_pred_tensor, y) -> scalar Tensor
        metrics    a list of names: 'accuracy' (sparse or categorical from the label
                   shape), 'sparse_categorical_accuracy', 'categorical_accuracy',
                   'mse', 'mae'; or functions fn(y_pred, y) -> one value per sample
        """
        if loss is None:
            raise ValueError(f"compile needs a loss, e.g. loss='sparse_categorical_crossentropy'; "
                             f"valid names are {sorted(_losses.LOSSES)}")
        self.optimizer = _optim.get(optimizer)
        self._bind_optimizer()
        self.loss = loss
        self._loss_fn, self._loss_name = _losses.get(loss)
        if isinstance(metrics, str) or callable(metrics):
            metrics = [metrics]
        self._metrics = [_metrics.get(m) for m in (metrics or [])]
        self.metrics_names = ["loss"] + [name for name, _ in self._metrics]
        return self

    def _bind_optimizer(self):
        """Give the optimizer this model's parameters (unless it already has exactly them).

        Called by compile, and again after the first batch of fit: Keras-style layers
        make their weights when they first see an input, so a model built without
        ``input_shape`` has no parameters until then."""
        params = list(self.parameters())
        if params and [id(p) for p in self.optimizer.params] != [id(p) for p in params]:
            self.optimizer.bind(params)

    def _check_compiled(self, method):
        if getattr(self, "_loss_fn", None) is None:
            raise RuntimeError(f"the model must be compiled before {method}(): call "
                               f"model.compile(optimizer=..., loss=..., metrics=[...]) first")

    # -- fit
    def fit(self, x, y, epochs=1, batch_size=32, validation_data=None, shuffle=True,
            verbose=1, seed=None, validation_split=0.0):
        """Train for ``epochs`` passes over (x, y); returns a ``History``.

        x: (N, C, H, W) (or whatever the model takes), y: (N,) labels or (N, ...) targets.
        Each epoch visits the samples in a new random order (drawn from ``seed``, or from
        minicnn's global generator, see ``mc.manual_seed``), in batches of ``batch_size``
        (the last may be smaller), with one optimizer step per batch. The logged 'loss'
        and metrics are their means over the epoch's samples (computed while the weights
        change, as Keras reports them); 'val_*' are computed after the epoch in eval mode.
        ``validation_split`` holds out that fraction of the samples, taken from the end
        before shuffling, as validation data.
        """
        self._check_compiled("fit")
        x, y = _check_xy(x, y, "fit")
        _check_positive(batch_size=batch_size, epochs=epochs)
        if validation_split:
            if validation_data is not None:
                raise ValueError("fit: give validation_data or validation_split, not both")
            if not 0 < validation_split < 1:
                raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
            n_train = len(x) - int(round(len(x) * validation_split))
            x, validation_x = x[:n_train], x[n_train:]
            y, validation_y = y[:n_train], y[n_train:]
            validation_data = (validation_x, validation_y)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
            validation_data = _check_xy(*validation_data, "fit(validation_data)")
        rng = new_rng(seed)
        history = History()
        self.history = history
        n = len(x)
        for epoch in range(epochs):
            start_time = time.perf_counter()
            self.train()
            order = rng.permutation(n) if shuffle else np.arange(n)
            totals = _Totals(self._metrics)
            for start in range(0, n, batch_size):
                index = order[start:start + batch_size]
                y_batch = y[index]
                self.optimizer.zero_grad()
                y_pred = self(self._input_tensor(x[index]))
                if start == 0 and epoch == 0:
                    self._bind_optimizer()       # the weights exist now, even if unbuilt before
                loss = self._compute_loss(y_pred, y_batch)
                loss.backward()
                self.optimizer.step()
                totals.add(loss, y_pred, y_batch)
            logs = totals.result()
            if validation_data is not None:
                val = self._evaluate_logs(*validation_data, batch_size)
                logs.update({"val_" + k: v for k, v in val.items()})
            history.append(epoch, logs)
            if verbose:
                seconds = time.perf_counter() - start_time
                shown = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {seconds:.1f}s - {shown}", flush=True)
        return history

    # -- evaluate and predict
    def evaluate(self, x, y, batch_size=32, verbose=0, return_dict=False):
        """The loss (and metrics) on (x, y), in eval mode and without recording a graph.

        Returns the loss as a float when no metrics were compiled, else
        [loss, metric1, ...] in the order of ``metrics_names`` (a dict with
        ``return_dict=True``). Means over all samples.
        """
        self._check_compiled("evaluate")
        x, y = _check_xy(x, y, "evaluate")
        _check_positive(batch_size=batch_size)
        logs = self._evaluate_logs(x, y, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), flush=True)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=32, verbose=0):
        """The model's outputs for x as a NumPy array (eval mode, no graph recorded)."""
        x = _as_array(x)
        _check_positive(batch_size=batch_size)
        outputs = []
        with _eval_mode(self), no_grad():
            for start in range(0, len(x), batch_size):
                outputs.append(_numpy(self(self._input_tensor(x[start:start + batch_size])).data))
        if not outputs:
            raise ValueError("predict: x has no samples")
        return np.concatenate(outputs, axis=0)

    # -- helpers
    def _evaluate_logs(self, x, y, batch_size):
        totals = _Totals(self._metrics)
        with _eval_mode(self), no_grad():
            for start in range(0, len(x), batch_size):
                y_batch = y[start:start + batch_size]
                y_pred = self(self._input_tensor(x[start:start + batch_size]))
                totals.add(self._compute_loss(y_pred, y_batch), y_pred, y_batch)
        return totals.result(prefix="")

    def _compute_loss(self, y_pred, y_true):
        loss = self._loss_fn(y_pred, y_true)
        if not isinstance(loss, Tensor) or loss.size != 1:
            shape = getattr(loss, "shape", type(loss).__name__)
            raise ValueError(f"the loss {self._loss_name!r} must return a single-number Tensor "
                             f"(the mean over the batch); it returned {shape}")
        return loss

    def _input_tensor(self, x_batch):
        """The batch as a Tensor in the dtype of the model's parameters."""
        dtype = next((p.dtype for p in self.parameters()), get_default_dtype())
        return Tensor(x_batch, dtype=dtype)


class _Totals:
    """Sums of the loss and per-sample metric values over the batches of one pass."""

    def __init__(self, metrics):
        self.metrics = metrics
        self.count = 0
        self.loss = 0.0
        self.sums = [0.0] * len(metrics)

    def add(self, loss, y_pred, y_true):
        n = len(y_pred)
        self.count += n
        self.loss += float(loss.item()) * n          # the loss is a mean over the batch
        for i, (name, fn) in enumerate(self.metrics):
            values = np.asarray(fn(_numpy(y_pred.data), _numpy(y_true)), dtype=np.float64)
            self.sums[i] += float(values.sum()) if values.ndim else float(values) * n

    def result(self, prefix=""):
        logs = {prefix + "loss": self.loss / self.count}
        for (name, _), total in zip(self.metrics, self.sums):
            logs[prefix + name] = total / self.count
        return logs


class _eval_mode:
    """Put the model in eval mode for a block, then back in the mode it was in."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = getattr(self.model, "training", True)
        self.model.eval()

    def __exit__(self, *exc):
        if self.was_training:
            self.model.train()
        return False


def _numpy(a):
    if isinstance(a, Tensor):
        a = a.data
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _as_array(a):
    if isinstance(a, Tensor):
        return a.data
    return a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)


def _check_xy(x, y, where):
    x, y = _as_array(x), _as_array(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{where}: x and y must be arrays with one row per sample")
    if len(x) != len(y):
        raise ValueError(f"{where}: x has {len(x)} samples but y has {len(y)}; they must "
                         f"have the same number of samples (the first dimension)")
    if len(x) == 0:
        raise ValueError(f"{where}: x and y have no samples")
    return x, y


def _check_positive(**values):
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
