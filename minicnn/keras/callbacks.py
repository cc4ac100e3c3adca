"""keras.callbacks: Callback with Keras' hooks, EarlyStopping, ModelCheckpoint,
LearningRateScheduler (Keras' arguments and behaviour), History.

A Callback of yours overrides Keras' hooks, with Keras' signatures::

    on_train_begin(logs)  on_epoch_begin(epoch, logs)  on_train_batch_begin(batch, logs)
    on_train_end(logs)    on_epoch_end(epoch, logs)    on_train_batch_end(batch, logs)

(on_batch_begin / on_batch_end are the same as the train_batch ones, as in Keras);
``self.model`` is the model, ``self.model.stop_training = True`` ends training after the
epoch. minicnn.callbacks has minicnn's own (schedules per batch, Ctrl-C checkpoints).
"""
import numpy as np

from .. import callbacks as _mc
from ..train import History

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "History"]


class Callback(_mc.Callback):
    """Base class with Keras' hooks (each does nothing); minicnn's fit calls them."""

    def keras_hook(self, hook, *args):
        """Call the Keras hook for one of fit's (minicnn's signatures in ``args``)."""
        if hook == "on_batch_begin":
            self.on_train_batch_begin(args[1], {})
        elif hook == "on_batch_end":
            self.on_train_batch_end(args[1], dict(args[2]))
        elif hook == "on_epoch_begin":
            self.on_epoch_begin(args[0], {})
        elif hook == "on_interrupt":
            self.on_interrupt()
        else:                                    # on_train_begin/end(logs), on_epoch_end(epoch, logs)
            getattr(self, hook)(*args)

    def on_epoch_begin(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs)
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass


def _monitor_sign(monitor, mode, owner):
    """+1 where larger is better, -1 where smaller is (Keras' 'auto': losses down,
    accuracies up)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        name = monitor.removeprefix("val_")
        if name == "loss" or "error" in name:
            mode = "min"
        elif "acc" in name:
            mode = "max"
        else:
            raise ValueError(f"{owner}: cannot tell whether {monitor!r} should go up or down; "
                             f"pass mode='max' or mode='min'")
    return 1.0 if mode == "max" else -1.0


class EarlyStopping(Callback):
    """Keras' EarlyStopping: stop when ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs (from ``start_from_epoch`` on).

    EarlyStopping(monitor='val_loss', min_delta=0, patience=0, verbose=0, mode='auto',
                  baseline=None, restore_best_weights=False, start_from_epoch=0)
    As Keras: the count restarts only when the value beats both the best and the
    ``baseline``; with ``restore_best_weights`` the best epoch's weights are put back at
    the end of training."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.verbose, self.baseline = verbose, baseline
        self.sign = _monitor_sign(monitor, mode, "EarlyStopping")
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights = 0, 0, None, None
        self.best_epoch = 0

    def _improves(self, value, reference):
        return reference is None or self.sign * (value - reference) > self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not logged; the logs "
                           f"have {sorted(logs or {})} (val_* needs validation data)")
        if epoch < self.start_from_epoch or not np.isfinite(value):
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.state_dict(), epoch
        self.wait += 1
        if self._improves(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or self._improves(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)

    def get_state(self):
        return {"best": self.best, "wait": self.wait}

    def set_state(self, state):
        mine = _mc.EarlyStopping()
        mine.set_state(state)                      # minicnn's checks of a saved state
        self.best, self.wait = mine.best, mine.wait


class ModelCheckpoint(Callback, _mc.ModelCheckpoint):
    """Keras' ModelCheckpoint: save the model at the end of every epoch (or only when
    ``monitor`` improves), to ``filepath`` formatted with the epoch (from 1) and the logs,
    e.g. 'ckpt-{epoch:02d}-{val_loss:.2f}.keras'.

    ModelCheckpoint(filepath, monitor='val_loss', verbose=0, save_best_only=False,
                    save_weights_only=False, mode='auto', save_freq='epoch',
                    initial_value_threshold=None)
    The file is minicnn's checkpoint (keras.models.load_model reads it), written
    atomically; Ctrl-C saves too (minicnn's ModelCheckpoint)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        if save_freq != "epoch":
            raise TypeError("ModelCheckpoint: only save_freq='epoch' is supported by minicnn")
        _mc.ModelCheckpoint.__init__(self, filepath, monitor, save_best_only)
        self.sign = _monitor_sign(monitor, mode, "ModelCheckpoint") if save_best_only else 1.0
        self.verbose, self.save_weights_only = verbose, save_weights_only
        self.best = initial_value_threshold

    def _save(self, path):
        if not self.save_weights_only:
            return _mc.ModelCheckpoint._save(self, path)
        from ..checkpoint import save_weights
        save_weights(self.model, path)
        self.last_saved = (path, None)
        return path

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise KeyError(f"ModelCheckpoint: monitor {self.monitor!r} is not logged; the "
                               f"logs have {sorted(logs)}")
            if not (np.isfinite(value) and (self.best is None or
                                            self.sign * (value - self.best) > 0)):
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                      f"{value:.5f}, saving model to {path}")
            self.best = value
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        self._save(path)


class LearningRateScheduler(Callback):
    """Keras' LearningRateScheduler(schedule, verbose=0): before each epoch the learning
    rate becomes ``schedule(epoch, lr)`` (epochs from 0; or ``schedule(epoch)``), and the
    logs get 'learning_rate'. (minicnn.callbacks.LearningRateScheduler sets it per batch.)"""

    def __init__(self, schedule, verbose=0):
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:                          # Keras: a schedule of the epoch alone
            lr = self.schedule(epoch)
        lr = float(lr)
        if not np.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: the schedule gave {lr} at epoch "
                             f"{epoch + 1}; it must be a number >= 0")
        optimizer.learning_rate = lr
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
