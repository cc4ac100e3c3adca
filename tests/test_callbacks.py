"""Callbacks: early stopping, learning-rate schedules, the progress bar."""
import io
import math

import numpy as np
import pytest

import minicnn as mc
from minicnn.callbacks import (Callback, EarlyStopping, LearningRateScheduler, ProgressBar,
                               cosine, step)
from minicnn.data import synthetic_digits
from minicnn.layers import Dense, Flatten


def tiny(seed=0):
    mc.manual_seed(seed)
    model = mc.Sequential([Flatten(input_shape=(1, 8, 8)), Dense(10, activation="softmax")])
    return model.compile(optimizer=mc.optim.SGD(lr=0.1), loss="sparse_categorical_crossentropy",
                         metrics=["accuracy"])


@pytest.fixture(scope="module")
def digits():
    return synthetic_digits(48, size=8, seed=0)


class Record(Callback):
    def __init__(self):
        self.events, self.lrs = [], []

    def on_epoch_begin(self, epoch):
        self.events.append(("epoch", epoch))

    def on_batch_begin(self, epoch, batch):
        self.lrs.append(self.model.optimizer.lr)


def test_early_stopping_stops_after_patience_and_restores_the_best(digits):
    x, y = digits
    model = tiny()

    class Scripted(Callback):            # val_loss: 1.0, 0.5, 0.6, 0.7, ... (best at epoch 2)
        def on_epoch_end(self, epoch, logs):
            logs["val_loss"] = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9][epoch]
            if epoch == 1:
                self.best = model.state_dict()
    scripted = Scripted()
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[scripted, stop])
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3
    for key, value in scripted.best.items():
        np.testing.assert_array_equal(model.state_dict()[key], value)
    with pytest.raises(KeyError, match="'val_acc' is not logged"):
        tiny().fit(x, y, epochs=1, verbose=0, callbacks=[EarlyStopping("val_acc")])


def test_schedules_step_cosine_and_warmup():
    s = step(2, gamma=0.5)
    assert [s(t, 1.0) for t in (0, 1.9, 2, 4.5)] == [1.0, 1.0, 0.5, 0.25]
    c = cosine(10, min_lr=0.1, warmup=2)
    assert c(0.5, 1.0) == pytest.approx(0.25 * (0.1 + 0.9 * 1.0))     # a quarter of the warm-up
    assert c(2, 1.0) == pytest.approx(1.0)
    assert c(6, 1.0) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert c(10, 1.0) == pytest.approx(0.1)


def test_scheduler_sets_the_lr_before_every_batch_and_logs_it(digits):
    x, y = digits
    model, record = tiny(), Record()
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0,
                        callbacks=[LearningRateScheduler(step(1, gamma=0.1)), record])
    assert record.lrs == pytest.approx([0.1] * 3 + [0.01] * 3)
    assert history.history["lr"] == pytest.approx([0.1, 0.01])
    with pytest.raises(ValueError, match="lr=-1.0 at epoch 1"):
        tiny().fit(x, y, verbose=0, callbacks=[LearningRateScheduler(lambda t, lr: -1.0)])


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_is_quiet_off_a_terminal_and_live_on_one(digits):
    x, y = digits
    for stream, live in ((io.StringIO(), False), (FakeTerminal(), True)):
        bar = ProgressBar(epochs=2, samples=len(x), stream=stream, every=0)
        tiny().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[bar])
        text = stream.getvalue()
        lines = text.split("\n")
        assert lines[-1] == "" and len(lines) == 3           # one line per epoch
        assert ("\r" in text) == live
        assert "img/s" in text and "loss:" in text and "accuracy:" in text
        if live:
            assert "ETA" in text and "[" in text and "48/48" in text
        else:
            assert lines[0].startswith("Epoch 1/2 - ") and "ETA" not in text
