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
import numbers
import os
import signal
import threading
import zlib

import numpy as np

from . import losses as _losses
from . import metrics as _metrics
from . import optim as _optim
from collections.abc import Mapping

from .backend import array_module
from .device import is_device_array, read_numbers, to_device, to_host
from .callbacks import CallbackList, ProgressBar
from .data import checks as _checks
from .files import defer_sigint
from .rng import global_rng, new_rng
from .tensor import Tensor, get_default_dtype, no_grad


class NonFiniteError(FloatingPointError):
    """Training produced NaN or infinity (a loss or the weights); nothing non-finite was
    saved, and the message names the last good checkpoint if a ModelCheckpoint wrote one."""


class NonFiniteLossError(NonFiniteError):
    """The training loss became NaN or infinite (the message names the epoch and batch),
    or the validation loss did (the message names the epoch)."""


class NonFiniteWeightsError(NonFiniteError):
    """The weights hold NaN or infinity (the message names them); they are not saved."""


def non_finite_weights(model):
    """The names of the model's weights, and of its optimiser's buffers ("optimizer
    state 3 exp_avg_sq"), that hold a NaN or an infinity ([] if none): what a checkpoint
    of the model would save, and ``load`` would refuse."""
    arrays = [(name, p.data) for name, p in model.named_parameters(trainable_only=False)]
    optimizer = getattr(model, "optimizer", None)
    for i, state in enumerate(getattr(optimizer, "state", None) or []):
        arrays += [(f"optimizer state {i} {key}", value) for key, value in state.items()
                   if hasattr(value, "shape")]
    finite = [array_module(a).isfinite(a).all() for _, a in arrays]
    on_device = [i for i, f in enumerate(finite) if is_device_array(f)]
    for i, value in zip(on_device, read_numbers([finite[i] for i in on_device])):
        finite[i] = value                       # the GPU's answers, read in one copy
    return [name for (name, _), ok in zip(arrays, finite) if not ok]


class History:
    """What ``fit`` returns: ``history`` maps each logged name to one value per epoch.

        history.history == {"loss": [...], "accuracy": [...], "val_loss": [...], ...}
        history.epoch   == [0, 1, 2, ...]
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def append(self, epoch, logs):
        """Add one epoch's logs; a name missing from some epochs gets NaN there, so every
        list has one value per epoch."""
        for name in logs:
            self.history.setdefault(name, [float("nan")] * len(self.epoch))
        self.epoch.append(epoch)
        for name, values in self.history.items():
            values.append(logs.get(name, float("nan")))

    def last(self):
        """The logs of the last epoch ({} before any)."""
        return {k: v[-1] for k, v in self.history.items() if v}

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
        loss       a name: 'sparse_categorical_crossentropy' (integer labels),
                   'categorical_crossentropy' (one-hot labels) -- both take the model's
                   outputs as probabilities when its last layer is a softmax and as
                   logits otherwise (minicnn.losses) --, 'cross_entropy' (the model
                   outputs logits, as PyTorch's), 'mse' / 'mean_squared_error'; a loss
                   object from ``minicnn.losses`` (``from_logits=`` to say it: a model
                   that contradicts it is a ValueError here); or a function
                   fn(y_pred_tensor, y) -> scalar Tensor
        metrics    a list of names: 'accuracy' (sparse or categorical from the label
                   shape), 'sparse_categorical_accuracy', 'categorical_accuracy',
                   'mse', 'mae'; or functions fn(y_pred, y) -> one value per sample
        """
        if loss is None:
            raise ValueError(f"compile needs a loss, e.g. loss='sparse_categorical_crossentropy'; "
                             f"valid names are {sorted(_losses.LOSSES)}")
        self.optimizer = self.get_optimizer(optimizer)
        self._bind_optimizer()
        self.loss = loss
        self._loss_fn, self._loss_name = _losses.get(loss)
        loss_object = getattr(self._loss_fn, "__self__", None)
        if isinstance(loss_object, _losses.CrossEntropyLoss):
            loss_object.check_model(self)       # from_logits against the model's last layer
        if isinstance(metrics, str) or callable(metrics):
            metrics = [metrics]
        self._metrics = [_metrics.get(m) for m in (metrics or [])]
        self.metrics_names = ["loss"] + [name for name, _ in self._metrics]
        return self

    @staticmethod
    def get_optimizer(identifier):
        """The optimizer for compile's ``optimizer``: minicnn.optim's names (PyTorch's
        rules); minicnn.keras' models look up Keras' names and rules instead."""
        return _optim.get(identifier)

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
            verbose=1, seed=None, validation_split=0.0, callbacks=None, transform=None,
            resume=None, steps_per_epoch=None):
        """Train for ``epochs`` passes over (x, y); returns a ``History``.

        x: (N, C, H, W) (or whatever the model takes), y: (N,) labels or (N, ...) targets.
        uint8 x is taken as pixels and scaled by 1/255 (here, in evaluate and in predict,
        batch by batch), float x is used as it is, other integer or bool x raises a
        ValueError that says how to convert it; bool labels are refused too.
        Each epoch visits the samples in a random order drawn from (seed, epoch), in
        batches of ``batch_size`` (the last may be smaller), one optimizer step per batch;
        without ``seed`` one is drawn from minicnn's global generator (``mc.manual_seed``).
        The logged 'loss' and metrics are their means over the epoch's samples (computed
        while the weights change, as Keras reports them); 'val_*' are computed after the
        epoch in eval mode. ``validation_split`` holds out that fraction of the samples,
        taken from the end before shuffling, as validation data.

        callbacks  minicnn.callbacks objects (EarlyStopping, ModelCheckpoint, schedules)
        transform  augmentation for training batches: fn(x_batch, rng) -> x_batch, with
                   rng a Generator seeded from (seed, epoch, batch)
        verbose    1: a line per epoch (and a live bar in a notebook or on a terminal),
                   0: silent
        resume     a checkpoint path, or True for the state ``mc.load`` read: continue that
                   run where it stopped (same seed, same batches; the result equals the
                   uninterrupted run's)
        steps_per_epoch  at most this many batches per epoch, as Keras 3 takes them from
                   arrays: each epoch takes the next ones of a pass through the shuffled
                   samples, an epoch that reaches the end of the pass ends there, and the
                   next epoch starts a new pass (a new order)

        Ctrl-C stops after the current batch: callbacks' ``on_interrupt`` runs (a
        ModelCheckpoint saves) and KeyboardInterrupt is raised. A second Ctrl-C stops at
        once, except within an optimiser step and its bookkeeping, and within a save:
        those finish first, so a checkpoint always holds whole steps. A loss that is NaN
        or infinite raises NonFiniteLossError (naming the epoch and batch) before the step;
        weights that are not finite after an epoch raise NonFiniteWeightsError, and a
        non-finite validation loss NonFiniteLossError, before any callback saves them.
        """
        self._check_compiled("fit")
        x, y = _check_xy(x, y, "fit")
        _check_positive(batch_size=batch_size, epochs=epochs)
        if steps_per_epoch is not None:
            _check_positive(steps_per_epoch=steps_per_epoch)
        x, y, validation_data = _split_validation(x, y, validation_data, validation_split)
        saved = self._resume_state(resume)
        if saved is not None:
            source = (repr(os.fspath(resume)) if isinstance(resume, (str, os.PathLike))
                      else "the checkpoint mc.load read")
            saved = checked_training_state(saved, source)
        n, batches = len(x), -(-len(x) // batch_size)
        if steps_per_epoch is not None:
            batches = min(batches, int(steps_per_epoch))
        callback_list = list(callbacks or [])
        if verbose:
            callback_list.append(ProgressBar(epochs, min(len(x), batches * batch_size)))
        hooks = CallbackList(callback_list, self)
        self._fit = _FitState(seed=int(new_rng(seed).integers(2**63)) if saved is None
                              else saved["seed"], epochs=epochs, batch_size=batch_size,
                              shuffle=shuffle, callbacks=callback_list,
                              data=_data_fingerprint(y), steps_per_epoch=(
                                  None if steps_per_epoch is None else int(steps_per_epoch)))
        if saved is not None:
            self._fit.restore(saved, self, batches, source)
        self.history = history = self._fit.history
        self.stop_training = False
        hooks.on_train_begin({"batches": batches, "samples": n})
        with _interrupt_after_batch() as interrupted:
            try:
                for epoch in range(self._fit.epoch, epochs):
                    self._train_epoch(epoch, x, y, hooks, transform, interrupted)
                    logs = self._fit.totals.result()
                    if validation_data is not None:
                        val = self._evaluate_logs(*validation_data, batch_size)
                        logs.update({"val_" + k: v for k, v in val.items()})
                    self._check_finite_epoch(epoch, logs)
                    self._fit.end_epoch(logs)
                    hooks.on_epoch_end(epoch, logs)
                    history.append(epoch, logs)
                    self._fit.pending_logs = None
                    if self.stop_training:
                        break
                    if interrupted():
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                with defer_sigint():             # Ctrl-C again waits for the saves to finish
                    hooks.on_interrupt()
                raise
            except NonFiniteError as error:
                saved_by = [c.last_saved for c in callback_list
                            if getattr(c, "last_saved", None)]
                if saved_by:
                    error.args = (error.args[0] + f"; the last good checkpoint is "
                                  f"{saved_by[-1][0]} (after epoch {saved_by[-1][1]})",)
                raise
        hooks.on_train_end(history.last())
        return history

    def _check_finite_epoch(self, epoch, logs):
        """Raise before the epoch's callbacks (and their saves) if training blew up in
        its last steps: the batch check sees a NaN only in the next batch's loss."""
        bad = non_finite_weights(self)
        if bad:
            raise NonFiniteWeightsError(
                f"NaN or infinity appeared in epoch {epoch + 1} in {_names(bad)}; the "
                f"weights were not saved. Try a lower learning rate (now {self.optimizer.lr}), "
                f"check the optimizer's settings ({self.optimizer!r}), or check the data for NaN")
        for name in ("loss", "val_loss"):
            value = logs.get(name)
            if value is not None and not np.isfinite(value):
                data = "validation data" if name == "val_loss" else "data"
                raise NonFiniteLossError(
                    f"the {'validation ' if name == 'val_loss' else ''}loss is {value} after "
                    f"epoch {epoch + 1}; the weights were not saved. Try a lower learning rate "
                    f"(now {self.optimizer.lr}), or check the {data} for NaN")

    def _train_epoch(self, epoch, x, y, hooks, transform, interrupted):
        """One pass over the batches of ``epoch`` (from where a resumed run stopped)."""
        state = self._fit
        self.train()
        n, size = len(x), state.batch_size
        pass_index, first, stop = state.batches_of(epoch, -(-n // size))
        order = (np.random.default_rng([state.seed, pass_index]).permutation(n)
                 if state.shuffle else np.arange(n))
        hooks.on_epoch_begin(epoch)              # also when resuming inside an epoch
        for batch in range(state.batch, stop - first):
            hooks.on_batch_begin(epoch, batch)
            index = order[(first + batch) * size:(first + batch + 1) * size]
            x_batch, y_batch = _checks.to_float_images(x[index]), y[index]   # uint8: / 255
            if transform is not None:
                x_batch = transform(x_batch, np.random.default_rng([state.seed, epoch, batch]))
            y_batch = self._target_array(y_batch)       # on the model's device, once
            with defer_sigint():             # Ctrl-C waits for the whole step and the count
                loss, y_pred = self._step(x_batch, y_batch, epoch, batch)
                state.totals.add(loss, self.compute_metrics(y_pred, y_batch), len(index))
                state.batch = batch + 1
            hooks.on_batch_end(epoch, batch, _BatchLogs(state.totals, len(index)))
            if interrupted():
                raise KeyboardInterrupt

    def train_step(self, x_batch, y_batch, epoch=0, batch=0):
        """zero_grad, forward, loss, backward, step on one batch; (loss float, y_pred)."""
        loss, y_pred = self._step(x_batch, self._target_array(y_batch), epoch, batch)
        return float(loss), y_pred

    def _step(self, x_batch, y_batch, epoch, batch):
        """train_step with the loss as a 0-d array where the model is. On the host the loss
        is checked before the step (NonFiniteLossError); on a GPU that would wait for the
        GPU at every step, so there it is checked when the logs are read (each progress line
        and the epoch's end, before any callback saves)."""
        self.optimizer.zero_grad()
        y_pred = self(self._input_tensor(x_batch))
        self._bind_optimizer()                   # the weights exist now, even if unbuilt before
        loss = self.compute_loss(y_pred, y_batch)
        if loss.device != "cpu":
            loss.backward()
            self.optimizer.step()
            return loss.data.reshape(()), y_pred
        value = float(loss.item())
        if not np.isfinite(value):
            bad = non_finite_weights(self)
            weights = (f"the weights were already NaN or infinite ({_names(bad)}): an earlier "
                       f"step made them so, check the optimizer's settings" if bad else
                       "training stopped before that step, so the weights are the last "
                       "finite ones")
            raise NonFiniteLossError(
                f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1}; {weights}. "
                f"Try a lower learning rate (now {self.optimizer.lr}), or check the data for "
                f"NaN")
        loss.backward()
        self.optimizer.step()
        return value, y_pred

    def training_state(self):
        """Where the current (or last) fit is, as JSON-able data for a checkpoint."""
        if getattr(self, "_fit", None) is None:
            return None
        return self._fit.to_json(self)

    def _resume_state(self, resume):
        if resume is None or resume is False:
            return None
        if resume is True:
            saved = getattr(self, "checkpoint_training_state", None)
            if saved is None:
                raise ValueError("fit(resume=True): this model was not loaded from a checkpoint "
                                 "with a training state; pass resume='path/to/checkpoint.npz'")
            return saved
        from .checkpoint import load_into
        return load_into(self, resume)

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
        x = _checks.check_images(_as_array(x), "predict")
        _check_positive(batch_size=batch_size)
        outputs = []
        with _eval_mode(self), no_grad():
            for start in range(0, len(x), batch_size):
                outputs.append(self(self._input_tensor(x[start:start + batch_size])).data)
        if not outputs:
            raise ValueError("predict: x has no samples")
        return to_host(array_module(outputs[0]).concatenate(outputs, axis=0))   # one copy

    # -- helpers
    def _evaluate_logs(self, x, y, batch_size):
        totals = _Totals()
        with _eval_mode(self), no_grad():
            for start in range(0, len(x), batch_size):
                y_batch = self._target_array(y[start:start + batch_size])
                y_pred = self(self._input_tensor(x[start:start + batch_size]))
                totals.add(self.compute_loss(y_pred, y_batch).data.reshape(()),
                           self.compute_metrics(y_pred, y_batch), len(y_batch))
        return totals.result()

    def compute_metrics(self, y_pred, y_true):
        """{metric name: one value per sample (or the batch mean)} for one batch.
        Override for models with several outputs."""
        pred = y_pred.data if isinstance(y_pred, Tensor) else y_pred
        return {name: fn(pred, y_true) for name, fn in self._metrics}

    def compute_loss(self, y_pred, y_true):
        """The loss of one batch as a single-number Tensor (the mean over the batch).
        Override for models with several outputs (e.g. auxiliary heads)."""
        loss = self._loss_fn(y_pred, y_true)
        if not isinstance(loss, Tensor) or loss.size != 1:
            shape = getattr(loss, "shape", type(loss).__name__)
            raise ValueError(f"the loss {self._loss_name!r} must return a single-number Tensor "
                             f"(the mean over the batch); it returned {shape}")
        return loss

    def _input_tensor(self, x_batch):
        """The batch as a Tensor in the dtype of the model's parameters, on their device
        (one host -> GPU copy of the batch when the model is on a GPU)."""
        dtype = next((p.dtype for p in self.parameters()), get_default_dtype())
        device = self.device
        return Tensor(_checks.to_float_images(x_batch), dtype=dtype,      # uint8: / 255
                      device=None if device == "cpu" else device)

    def _target_array(self, y_batch):
        """The batch's labels or targets on the model's device (as they are on the host)."""
        device = self.device
        return y_batch if device == "cpu" or isinstance(y_batch, Tensor) else \
            to_device(y_batch, device)


class _Totals:
    """Sums of the loss and per-sample metric values over the batches of one pass."""

    def __init__(self, count=0, sums=None):
        self.count = count
        self.sums = dict(sums or {})

    def add(self, loss, metric_values, n):
        """loss: the batch mean; metric_values: {name: per-sample values or a batch mean}.
        Either may be arrays on a GPU: the sums then stay there (no wait for the GPU)."""
        self.count += n
        self.sums["loss"] = self.sums.get("loss", 0.0) + loss * n
        for name, values in metric_values.items():
            if not hasattr(values, "astype"):
                values = np.asarray(values)
            values = values.astype(np.float64)
            total = values.sum() if values.ndim else values * n
            self.sums[name] = self.sums.get(name, 0.0) + total

    def result(self):
        """{name: mean} as Python floats: the sums kept on a GPU are read back here, in
        one copy."""
        names = list(self.sums)
        on_device = [k for k in names if is_device_array(self.sums[k])]
        if on_device:          # one copy, with the GPU's pending label checks (device.py)
            values = read_numbers([self.sums[k] for k in on_device])
            self.sums.update(zip(on_device, values))
        return {name: float(self.sums[name]) / max(self.count, 1) for name in names}


class _BatchLogs(Mapping):
    """The logs on_batch_end receives: ``size`` at once; the running means are computed
    (read back from a GPU) only when a callback looks at them."""

    def __init__(self, totals, size):
        self.totals, self.size, self._logs = totals, size, None

    def _all(self):
        if self._logs is None:
            self._logs = dict(self.totals.result(), size=self.size)
        return self._logs

    def get(self, key, default=None):
        return self.size if key == "size" else self._all().get(key, default)

    def __getitem__(self, key):
        return self.size if key == "size" else self._all()[key]

    def __iter__(self):
        return iter(self._all())

    def __len__(self):
        return len(self._all())


class _FitState:
    """Where a fit is: epoch, batch within it, partial sums, history, and the seed that
    fixes every epoch's order. Saved in checkpoints so a run resumes exactly."""

    def __init__(self, seed, epochs, batch_size, shuffle, callbacks, data=None,
                 steps_per_epoch=None):
        self.seed, self.epochs, self.batch_size, self.shuffle = seed, epochs, batch_size, shuffle
        self.callbacks, self.data, self.steps_per_epoch = callbacks, data, steps_per_epoch
        self.epoch, self.batch, self.totals, self.history = 0, 0, _Totals(), History()
        self.pending_logs = None        # an ended epoch's logs, before History has them

    def batches_of(self, epoch, batches):
        """(pass, first, stop): epoch ``epoch`` takes batches first..stop-1 of pass
        ``pass`` through the data (``batches`` per pass; its order is drawn from (seed,
        pass)). Without steps_per_epoch every epoch is one whole pass; with k, a pass
        lasts ceil(batches / k) epochs of k batches, the last one of it shorter."""
        if self.steps_per_epoch is None:
            return epoch, 0, batches
        per_pass = -(-batches // self.steps_per_epoch)
        first = (epoch % per_pass) * self.steps_per_epoch
        return epoch // per_pass, first, min(first + self.steps_per_epoch, batches)

    def end_epoch(self, logs=None):
        """The epoch is done; its ``logs`` go into a checkpoint saved before History has
        them (ModelCheckpoint saves in on_epoch_end)."""
        self.epoch, self.batch, self.totals = self.epoch + 1, 0, _Totals()
        self.pending_logs = logs

    def to_json(self, model):
        history = {k: list(v) for k, v in self.history.history.items()}
        if self.pending_logs is not None:
            for name, value in self.pending_logs.items():
                history.setdefault(name, []).append(value)
        return {"epoch": self.epoch, "batch": self.batch, "seed": self.seed,
                "epochs": self.epochs, "batch_size": self.batch_size, "shuffle": self.shuffle,
                "data": self.data, "steps_per_epoch": self.steps_per_epoch,
                "totals": {"count": self.totals.count, "sums": self._host_sums()},
                "history": history, "rng": random_states(model),
                "callbacks": [{"class": type(c).__name__, "state": c.get_state()}
                              for c in self.callbacks]}

    def _host_sums(self):
        self.totals.result()                  # reads sums kept on a GPU back as floats
        return dict(self.totals.sums)

    def restore(self, saved, model, batches, source="the checkpoint"):
        """Continue from ``saved`` (checked by checked_training_state): same batch size,
        order and data, else a ValueError that says what differs."""
        if (saved["batch_size"] != self.batch_size or saved["shuffle"] != self.shuffle
                or saved.get("steps_per_epoch") != self.steps_per_epoch):
            raise ValueError(f"fit(resume=...): the checkpoint was trained with batch_size="
                             f"{saved['batch_size']}, shuffle={saved['shuffle']}, "
                             f"steps_per_epoch={saved.get('steps_per_epoch')}; resume with "
                             f"the same values (got {self.batch_size}, {self.shuffle}, "
                             f"{self.steps_per_epoch})")
        data = saved.get("data")
        if data is not None and self.data is not None and data != self.data:
            raise ValueError(f"fit(resume=...): the checkpoint was trained on other data "
                             f"({data['samples']} samples, labels checksum {data['labels']}); "
                             f"this data has {self.data['samples']} samples, checksum "
                             f"{self.data['labels']}. Resume on the same data, or train afresh")
        if saved["batch"] > batches:
            raise ValueError(f"fit(resume=...): the checkpoint stopped after batch "
                             f"{saved['batch']} of an epoch, but this data has {batches} "
                             f"batches per epoch; resume on the same data")
        self.epoch, self.batch = saved["epoch"], saved["batch"]
        self.totals = _Totals(saved["totals"]["count"], saved["totals"]["sums"])
        history = saved["history"]
        for epoch in range(len(next(iter(history.values()), []))):
            self.history.append(epoch, {k: v[epoch] for k, v in history.items()})
        set_random_states(model, saved["rng"], source)
        for c, s in zip(self.callbacks, saved["callbacks"]):
            if type(c).__name__ == s["class"]:
                try:
                    c.set_state(s["state"])
                except (ValueError, TypeError, KeyError, AttributeError) as error:
                    raise _bad_state(f"the state of the callback {s['class']} is not valid "
                                     f"({error})", source) from None


def checked_training_state(saved, source="the checkpoint"):
    """The training state a checkpoint holds (its header's "training"), after checking
    every field ``fit(resume=...)`` reads: a malformed one raises CheckpointError saying
    which and why, never a KeyError or TypeError from deep inside ``fit``."""
    if not isinstance(saved, dict):
        raise _bad_state(f"it is a {type(saved).__name__}, not a mapping", source)
    for key, low in (("epoch", 0), ("batch", 0), ("epochs", 1), ("batch_size", 1), ("seed", 0)):
        value = saved.get(key)
        if not _is_int(value) or value < low:
            raise _bad_state(f"{key!r} must be a whole number >= {low}, got {value!r}", source)
    steps = saved.get("steps_per_epoch")
    if steps is not None and (not _is_int(steps) or steps < 1):
        raise _bad_state(f"'steps_per_epoch' must be a whole number >= 1 or null, got "
                         f"{steps!r}", source)
    if not isinstance(saved.get("shuffle"), bool):
        raise _bad_state(f"'shuffle' must be true or false, got {saved.get('shuffle')!r}", source)
    totals = saved.get("totals")
    if (not isinstance(totals, dict) or not _is_int(totals.get("count"))
            or totals["count"] < 0 or not _numbers_by_name(totals.get("sums"))):
        raise _bad_state(f"'totals' must be {{'count': a whole number >= 0, 'sums': "
                         f"{{name: number}}}}, got {totals!r}", source)
    history = saved.get("history")
    if (not isinstance(history, dict)
            or not all(isinstance(k, str) and isinstance(v, list) for k, v in history.items())
            or not all(_numbers_by_name(dict(enumerate(v))) for v in history.values())
            or len({len(v) for v in history.values()}) > 1):
        raise _bad_state("'history' must map each logged name to a list of numbers, all of "
                         "the same length", source)
    data = saved.get("data")
    if data is not None and (not isinstance(data, dict) or set(data) != {"samples", "labels"}
                             or not all(_is_int(v) for v in data.values())):
        raise _bad_state(f"'data' must be {{'samples': n, 'labels': checksum}}, got "
                         f"{data!r}", source)
    rng = saved.get("rng")
    if (not isinstance(rng, dict) or "global" not in rng
            or not all(isinstance(k, str) and isinstance(v, dict) for k, v in rng.items())):
        raise _bad_state("'rng' must map generator names (at least 'global') to their "
                         "states", source)
    callbacks = saved.get("callbacks")
    if not isinstance(callbacks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("class"), str)
            and isinstance(c.get("state"), dict) for c in callbacks):
        raise _bad_state("'callbacks' must be a list of {'class': name, 'state': {...}}", source)
    return saved


def _bad_state(what, source="the checkpoint"):
    from .checkpoint import CheckpointError
    return CheckpointError(f"the training state of {source} is not valid: {what}. The file "
                           f"is damaged or was not written by minicnn's fit; load it with "
                           f"mc.load and train afresh, without resume")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _numbers_by_name(values):
    """True if ``values`` is a dict of real numbers (NaN allowed: a logged value)."""
    return isinstance(values, dict) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values.values())


def _names(names, most=3):
    """'a, b, c and 2 more' for an error message."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _data_fingerprint(y):
    """How many samples, and a checksum of their labels: a resumed fit must see the data
    the checkpoint was trained on."""
    labels = np.ascontiguousarray(_numpy(y))
    return {"samples": int(len(labels)), "labels": zlib.crc32(labels.tobytes())}


def random_states(model):
    """The state of minicnn's global generator and of every Generator a module holds."""
    states = {"global": global_rng().bit_generator.state}
    for path, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                states[f"{path}.{attr}"] = value.bit_generator.state
    return states


def set_random_states(model, states, source="the checkpoint"):
    """Put back the generator states ``random_states`` saved. Each saved state is tried
    on a scratch generator of the same kind first, so a malformed one raises
    CheckpointError (naming it) before any generator changes."""
    targets = {"global": global_rng()}
    for path, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator) and f"{path}.{attr}" in states:
                targets[f"{path}.{attr}"] = value
    for name, generator in targets.items():
        try:
            type(generator.bit_generator)().state = states[name]
        except (TypeError, ValueError, KeyError, OverflowError) as error:
            raise _bad_state(f"the random generator state {name!r} does not fit a "
                             f"{type(generator.bit_generator).__name__} ({error})",
                             source) from None
    for name, generator in targets.items():
        generator.bit_generator.state = states[name]


class _interrupt_after_batch:
    """Within the block, Ctrl-C only raises a flag (checked after each batch), so a
    checkpoint never holds a half-applied step. A second Ctrl-C stops at once, except
    inside a step or a save (files.defer_sigint): it reaches this handler when they end."""

    def __enter__(self):
        self.flag = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handler)
        return lambda: self.flag

    def _handler(self, signum, frame):
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def _split_validation(x, y, validation_data, validation_split):
    if validation_split:
        if validation_data is not None:
            raise ValueError("fit: give validation_data or validation_split, not both")
        if not 0 < validation_split < 1:
            raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
        n_train = len(x) - int(round(len(x) * validation_split))
        validation_data = (x[n_train:], y[n_train:])
        x, y = x[:n_train], y[:n_train]
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
        validation_data = _check_xy(*validation_data, "fit(validation_data)")
        _checks.check_same_samples((x, y), validation_data)
    return x, y, validation_data


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
    return to_host(a)


def _as_array(a):
    if isinstance(a, Tensor):
        return a.data
    return a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)


def _check_xy(x, y, where):
    """x and y as arrays that fit / evaluate accept (minicnn.data.checks states the rules)."""
    return _checks.check_xy(_as_array(x), _as_array(y), where)


def _check_positive(**values):
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
