"""Callbacks: code that ``fit`` runs at the start and end of training, epochs and batches.

    model.fit(x, y, epochs=20, callbacks=[
        EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
        LearningRateScheduler(cosine(epochs=20, warmup=1)),   # lr per batch
        ModelCheckpoint("run/checkpoint.npz"),                # every epoch, and on Ctrl-C
    ])

A callback overrides any of

    on_train_begin(logs)   on_epoch_begin(epoch)   on_batch_begin(epoch, batch)
    on_train_end(logs)     on_epoch_end(epoch, logs)   on_batch_end(epoch, batch, logs)
    on_interrupt()         (Ctrl-C: training stopped after a whole batch)

and may keep state worth saving in a checkpoint (``get_state`` / ``set_state``, plain
JSON). ``self.model`` is the model being trained; setting ``model.stop_training = True``
ends training after the current epoch. Epochs and batches count from 0 here; messages
count from 1.

Learning-rate schedules are functions of the fractional epoch t (epoch + batch / batches
per epoch) and the base learning rate: ``step(...)``, ``cosine(...)``, each with an
optional linear warm-up.
"""
import math
import sys
import time

import numpy as np

from .files import defer_sigint


class Callback:
    """Base class: every hook does nothing."""
    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch): pass
    def on_epoch_end(self, epoch, logs): pass
    def on_batch_begin(self, epoch, batch): pass
    def on_batch_end(self, epoch, batch, logs): pass
    def on_interrupt(self): pass

    def get_state(self):
        """JSON-able state that a resumed run needs (default: none)."""
        return {}

    def set_state(self, state):
        pass


# ----------------------------------------------------------------------------- progress
class ProgressBar(Callback):
    """One line per epoch, as Keras prints it, and a live bar while the epoch runs:

        Epoch 3/10 [=======>......] 2048/4000, loss: 0.2345 - accuracy: 0.9312 - 5120 img/s - ETA 0:03
        Epoch 3/10 - 0.8s - 5120 img/s - loss: 0.2210 - accuracy: 0.9350 - val_loss: ...

    The bar is tqdm's (``tqdm.auto``): a widget in a Jupyter notebook, a text bar on a
    terminal. Off a terminal (a log file, a pipe, CI) it stays quiet and only the epoch
    lines are printed (to ``stream``, default stdout). The first run after an install
    also says when Numba compiles kernels, and how many of the epoch's seconds that took.
    The logs are read only when the bar redraws (every ``every`` seconds), so on a GPU
    training does not wait for them at every step."""

    def __init__(self, epochs, samples, stream=None, every=0.1):
        self.epochs, self.samples, self.stream, self.every = epochs, samples, stream, every
        self.bar = None

    @property
    def out(self):
        return self.stream or sys.stdout

    def _new_bar(self, epoch):
        """The tqdm bar of one epoch: a widget in a notebook, a text bar on a terminal,
        None (no bar) anywhere else."""
        options = dict(total=self.samples, desc=f"Epoch {epoch + 1}/{self.epochs}", leave=False,
                       mininterval=0, bar_format="{desc} [{bar:20}] {n_fmt}/{total_fmt}{postfix}")
        if self.stream is None:
            from tqdm.auto import tqdm
            from tqdm.notebook import tqdm as notebook_tqdm
            if issubclass(tqdm, notebook_tqdm):          # in Jupyter (IPython's kernel)
                try:
                    return tqdm(**options)
                except ImportError:                      # no ipywidgets: the epoch lines only
                    return None
        if hasattr(self.out, "isatty") and self.out.isatty():
            from tqdm import tqdm
            return tqdm(file=self.out, ascii=".>=", dynamic_ncols=True, **options)
        return None

    def on_train_begin(self, logs=None):
        from .backend import CompileWatch
        self.on_train_end()                  # a fit that raised left its watch running
        self.compiles = CompileWatch(self._compiling)
        self.compiles.start()
        self.reported = 0.0

    def _compiling(self):
        self._write("compiling kernels (first run only)...\n")

    def _write(self, text):
        """Print a line above the live bar (or just print it when there is none)."""
        if self.bar is not None:
            self.bar.clear()
        self.out.write(text)
        self.out.flush()
        if self.bar is not None:
            self.bar.refresh()

    def _close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_end(self, logs=None):
        self._close_bar()
        if getattr(self, "compiles", None) is not None:
            self.compiles.stop()

    on_interrupt = on_train_end

    def on_epoch_begin(self, epoch):
        self._close_bar()
        self.start = self.last_draw = time.perf_counter()
        self.seen = self.drawn = 0
        self.bar = self._new_bar(epoch)

    def on_batch_end(self, epoch, batch, logs):
        self.seen += logs.get("size", 0)
        now = time.perf_counter()
        if self.bar is not None and (now - self.last_draw >= self.every
                                     or self.seen >= self.samples):
            self.last_draw = now
            rate = self.seen / max(now - self.start, 1e-9)
            eta = (self.samples - self.seen) / max(rate, 1e-9)
            self.bar.set_postfix_str(f"{_format_logs(logs)} - {rate:.0f} img/s - ETA "
                                     f"{_clock(eta)}", refresh=False)
            self.bar.update(self.seen - self.drawn)
            self.drawn = self.seen

    def on_epoch_end(self, epoch, logs):
        self._close_bar()
        seconds = time.perf_counter() - self.start
        rate = self.seen / max(seconds, 1e-9)
        self.out.write(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.1f}s - {rate:.0f} img/s - "
                       f"{_format_logs(logs)}\n")
        compiled = self.compiles.seconds if getattr(self, "compiles", None) else 0.0
        if compiled > getattr(self, "reported", 0.0):
            self.out.write(f"(of which {compiled - self.reported:.1f}s compiling kernels; Numba "
                           f"keeps them in its cache for the next runs)\n")
            self.reported = compiled
        self.out.flush()


def _format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()
                      if k not in ("size", "batch", "seconds") and isinstance(v, (float, int)))


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


# ----------------------------------------------------------------------------- early stopping
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    mode 'min' (losses), 'max' (accuracies) or 'auto' (max if the name has 'acc').
    ``restore_best_weights``: put back the weights of the best epoch when stopping."""

    def __init__(self, monitor="val_loss", patience=3, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.sign = _sign(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.best, self.wait, self.best_weights, self.stopped_epoch = None, 0, None, None

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not logged; the logs "
                           f"have {sorted(logs)} (val_* needs validation data)")
        if _improves(value, self.best, self.sign, self.min_delta):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True
            self.stopped_epoch = epoch
            if self.restore_best_weights and self.best_weights is not None:
                self.model.load_state_dict(self.best_weights)

    def get_state(self):
        return {"best": self.best, "wait": self.wait}

    def set_state(self, state):
        best = _state_value(state, "best", "EarlyStopping")
        wait = state.get("wait", 0)
        if not isinstance(wait, int) or isinstance(wait, bool) or wait < 0:
            raise ValueError(f"EarlyStopping: the saved 'wait' must be a whole number >= 0, "
                             f"got {wait!r}")
        self.best, self.wait = best, wait


def _sign(monitor, mode):
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return 1.0 if mode == "max" else -1.0


def _improves(value, best, sign, min_delta=0.0):
    """True if ``value`` is better than ``best`` by more than min_delta (sign +1: larger
    is better, -1: smaller). NaN or infinity is never an improvement."""
    if not _is_finite_number(value):
        return False
    return best is None or sign * (value - best) > min_delta


def _is_finite_number(value):
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            and bool(np.isfinite(value)))


def _state_value(state, key, owner, low=None):
    """state[key] from a checkpoint: None or a finite number (>= low if given)."""
    value = state.get(key)
    if value is not None and (not _is_finite_number(value)
                              or (low is not None and value < low)):
        bound = f" >= {low}" if low is not None else ""
        raise ValueError(f"{owner}: the saved {key!r} must be a finite number{bound} or "
                         f"null, got {value!r}")
    return value


# ----------------------------------------------------------------------------- checkpoints
class ModelCheckpoint(Callback):
    """Save a checkpoint (minicnn.save: architecture, weights, optimiser, training
    position) at the end of every epoch, and when training is interrupted (Ctrl-C).

    save_best_only  save only when ``monitor`` improves (mode as EarlyStopping; NaN is
                    never an improvement); the interrupt checkpoint then goes to
                    '<name>.interrupted.npz'
    The file is written atomically: a crash never leaves a half-written checkpoint, and
    Ctrl-C during the write waits for it to finish. Weights that hold NaN or infinity
    are never saved (NonFiniteWeightsError), so a good checkpoint is never replaced by
    a broken one. ``last_saved`` is (path, epochs completed) of the latest save;
    ``interrupt_saved`` the path written on Ctrl-C (None if nothing was)."""

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto"):
        self.filepath = str(filepath)
        self.monitor, self.save_best_only = monitor, save_best_only
        self.sign = _sign(monitor, mode)
        self.best = None
        self.last_saved = None
        self.interrupt_saved = None

    def _save(self, path):
        """Save the model to ``path`` unless a weight is not finite; returns path."""
        from .checkpoint import save
        from .train import NonFiniteWeightsError, _names, non_finite_weights
        bad = non_finite_weights(self.model)
        if bad:
            kept = (f"the last good checkpoint is {self.last_saved[0]} (after epoch "
                    f"{self.last_saved[1]})" if self.last_saved else "nothing was saved")
            raise NonFiniteWeightsError(f"ModelCheckpoint: not saving {path}: the weights "
                                        f"{_names(bad)} are NaN or infinite; {kept}")
        with defer_sigint():                 # Ctrl-C waits until the file and the record agree
            state = self.model.training_state()
            save(self.model, path, training_state=state)
            self.last_saved = (path, None if state is None else state["epoch"])
        return path

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise KeyError(f"ModelCheckpoint: monitor {self.monitor!r} is not logged; the "
                               f"logs have {sorted(logs)}")
            if not _improves(value, self.best, self.sign):
                return
            self.best = value
        self._save(self.filepath)

    def on_interrupt(self):
        path = self.filepath
        if self.save_best_only:
            stem = path[:-4] if path.endswith(".npz") else path
            path = stem + ".interrupted.npz"
        with defer_sigint():
            self.interrupt_saved = self._save(path)

    def get_state(self):
        return {"best": self.best}

    def set_state(self, state):
        self.best = _state_value(state, "best", "ModelCheckpoint")


# ----------------------------------------------------------------------------- learning rate
class LearningRateScheduler(Callback):
    """Set the optimiser's lr before every batch to ``schedule(t, base_lr)``, with t the
    fractional epoch (epoch + batch / batches per epoch) and base_lr the lr when training
    first started (kept in checkpoints, so a resumed run follows the same curve)."""

    def __init__(self, schedule, verbose=False):
        self.schedule, self.verbose = schedule, verbose
        self.base_lr = None

    def on_train_begin(self, logs=None):
        if self.base_lr is None:
            self.base_lr = float(self.model.optimizer.lr)
        self.batches = logs["batches"]

    def on_batch_begin(self, epoch, batch):
        lr = float(self.schedule(epoch + batch / self.batches, self.base_lr))
        if not np.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: the schedule gave lr={lr} at epoch "
                             f"{epoch + 1}; it must be a number >= 0")
        self.model.optimizer.lr = lr

    def on_epoch_end(self, epoch, logs):
        logs["lr"] = float(self.model.optimizer.lr)

    def get_state(self):
        return {"base_lr": self.base_lr}

    def set_state(self, state):
        self.base_lr = _state_value(state, "base_lr", "LearningRateScheduler", low=0)


def _warm(t, warmup, value):
    """Linear warm-up from 0 over the first ``warmup`` epochs, then ``value``."""
    return value * min(1.0, (t + 1e-12) / warmup) if warmup and t < warmup else value


def step(step_size, gamma=0.1, warmup=0):
    """lr = base_lr * gamma ** floor(t / step_size) (after a linear warm-up of ``warmup`` epochs)."""
    def schedule(t, base_lr):
        return _warm(t, warmup, base_lr * gamma ** math.floor(t / step_size))
    schedule.__name__ = f"step({step_size}, gamma={gamma}, warmup={warmup})"
    return schedule


def cosine(epochs, min_lr=0.0, warmup=0):
    """lr = min_lr + (base_lr - min_lr) (1 + cos(pi u)) / 2 with u = (t - warmup) / (epochs - warmup),
    after a linear warm-up from 0 over the first ``warmup`` epochs."""
    def schedule(t, base_lr):
        u = min(max((t - warmup) / max(epochs - warmup, 1e-12), 0.0), 1.0)
        return _warm(t, warmup, min_lr + (base_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * u)))
    schedule.__name__ = f"cosine({epochs}, min_lr={min_lr}, warmup={warmup})"
    return schedule


class CallbackList:
    """Runs each hook on every callback, in order."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks or [])
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be Callback objects, got {c!r}")
            c.set_model(model)

    def __getattr__(self, hook):
        def run(*args):
            for c in self.callbacks:
                if hasattr(c, "keras_hook"):             # minicnn.keras: Keras' signatures
                    c.keras_hook(hook, *args)
                else:
                    getattr(c, hook)(*args)
        return run
