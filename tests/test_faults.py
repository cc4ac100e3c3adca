"""Faults during training and saving (issue 11, part 2): Ctrl-C inside a step or a save,
NaN/inf that must never replace a good checkpoint, NaN/inf hyper-parameters, --resume
with other options or data, killed writes, full disks, read-only folders, file modes,
and saved optimiser and training states that are malformed."""
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minicnn as mc
from minicnn import callbacks as cb
from minicnn import cli, files
from minicnn.checkpoint import CheckpointError
from minicnn.data import synthetic_digits
from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from minicnn.optim import SGD, Adam, AdamW

SIZE = 8


@pytest.fixture(scope="module")
def digits():
    return synthetic_digits(64, size=SIZE, seed=0)


def small_model(seed=0):
    mc.manual_seed(seed)
    return mc.Sequential([Conv2D(4, 3, activation="relu", input_shape=(1, SIZE, SIZE)),
                          MaxPooling2D(2), Flatten(), Dense(10, activation="softmax")])


def compiled(model, optimizer=None):
    return model.compile(optimizer=optimizer or SGD(lr=0.05, momentum=0.9),
                         loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


class InterruptAt(cb.Callback):
    """Presses Ctrl-C (a real SIGINT) after a given batch."""

    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def on_batch_end(self, epoch, batch, logs):
        if (epoch, batch) == self.at:
            ctrl_c()


def fit(model, x, y, callbacks=(), resume=None, epochs=2, **kwargs):
    return model.fit(x, y, epochs=epochs, batch_size=16, seed=3, verbose=0,
                     callbacks=list(callbacks), resume=resume, **kwargs)


# ----------------------------------------------------------------------------- Ctrl-C
def test_a_second_ctrl_c_inside_the_step_still_saves_whole_steps(tmp_path, digits):
    """Two Ctrl-C while the optimiser updates its first parameter: before, the second cut
    the step in half and the checkpoint held half an update."""
    x, y = digits
    straight = compiled(small_model())
    fit(straight, x, y)

    calls = {"steps": 0}

    def update(self, p, g, state):
        if p is self.params[0]:
            calls["steps"] += 1
            if calls["steps"] == 6:               # epoch 1, batch 2 (4 batches an epoch)
                ctrl_c()
                ctrl_c()
        SGD.update(self, p, g, state)
    HookedSGD = type("SGD", (SGD,), {"update": update})   # saved as an SGD state

    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(compiled(small_model(), HookedSGD(lr=0.05, momentum=0.9)), x, y,
            [cb.ModelCheckpoint(path)])
    state = mc.load(path).checkpoint_training_state
    assert (state["epoch"], state["batch"]) == (1, 2)          # the whole step is counted
    resumed = compiled(small_model(seed=9))
    fit(resumed, x, y, resume=path)
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_while_the_interrupt_checkpoint_is_written_still_writes_it(tmp_path, digits,
                                                                          monkeypatch):
    x, y = digits
    real_savez = np.savez

    def savez_pressed(f, **arrays):
        ctrl_c()                                  # the second Ctrl-C, mid-save
        real_savez(f, **arrays)
    monkeypatch.setattr(np, "savez", savez_pressed)
    path = tmp_path / "run.npz"
    saver = cb.ModelCheckpoint(path)
    with pytest.raises(KeyboardInterrupt):
        fit(compiled(small_model()), x, y, [InterruptAt(0, 1), saver])
    monkeypatch.setattr(np, "savez", real_savez)
    state = mc.load(path).checkpoint_training_state
    assert (state["epoch"], state["batch"]) == (0, 2)
    assert saver.interrupt_saved == str(path)


def test_defer_sigint_delivers_each_ctrl_c_after_the_block(monkeypatch):
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with files.defer_sigint():
            with files.defer_sigint():            # blocks nest
                ctrl_c()
                ctrl_c()
                assert seen == []                 # held back inside
            assert seen == []
        assert seen == [signal.SIGINT, signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)
    with pytest.raises(KeyboardInterrupt):        # Python's default handler: raises after
        with files.defer_sigint():
            ctrl_c()
            seen.append("block finished")
    assert seen[-1] == "block finished"


# ----------------------------------------------------------------------------- NaN and inf
def poisoning_sgd(at_step):
    """An SGD whose update writes NaN into the weights at its ``at_step``-th step."""
    calls = {"steps": 0}

    def update(self, p, g, state):
        SGD.update(self, p, g, state)
        if p is self.params[-1]:
            calls["steps"] += 1
            if calls["steps"] == at_step:
                p.data[...] = np.nan
    return type("SGD", (SGD,), {"update": update})(lr=0.05, momentum=0.9)


def test_nan_made_by_the_last_step_of_an_epoch_is_never_saved(tmp_path, digits):
    x, y = digits
    path = tmp_path / "good.npz"
    model = compiled(small_model(), poisoning_sgd(at_step=8))    # the last step of epoch 2
    with pytest.raises(FloatingPointError, match=r"last good checkpoint is .*good\.npz "
                                                 r"\(after epoch 1\)"):
        fit(model, x, y, [cb.ModelCheckpoint(path)])
    saved = mc.load(path)
    assert saved.checkpoint_epoch == 1
    assert all(np.isfinite(w).all() for w in weights(saved))


def test_a_nan_validation_loss_is_never_saved(tmp_path, digits):
    x, y = digits
    x_val, y_val = x[:16].copy(), y[:16]

    class PoisonValidation(cb.Callback):
        def on_epoch_begin(self, epoch):
            if epoch == 1:
                x_val[:] = np.nan
    path = tmp_path / "good.npz"
    with pytest.raises(FloatingPointError, match=r"validation loss is nan after epoch 2.*"
                                                 r"good\.npz \(after epoch 1\)"):
        fit(compiled(small_model()), x, y, [PoisonValidation(), cb.ModelCheckpoint(path)],
            validation_data=(x_val, y_val))
    assert mc.load(path).checkpoint_epoch == 1


def test_model_checkpoint_refuses_non_finite_weights_and_keeps_the_good_file(tmp_path, digits):
    x, y = digits
    model = compiled(small_model())
    fit(model, x, y, epochs=1)
    path = tmp_path / "good.npz"
    saver = cb.ModelCheckpoint(path)
    saver.set_model(model)
    saver.on_epoch_end(0, {"val_loss": 1.0})
    before = path.read_bytes()
    model.parameters()[0].data[0] = np.inf
    with pytest.raises(FloatingPointError, match=r"not saving .*good\.npz.*NaN or infinite"):
        saver.on_interrupt()
    assert path.read_bytes() == before


def test_an_infinite_optimizer_buffer_is_not_saved_either(tmp_path, digits):
    """load() refuses NaN/inf buffers, so saving them would replace a good checkpoint with
    one that cannot be loaded."""
    x, y = digits
    model = compiled(small_model(), Adam(lr=1e-3))
    fit(model, x, y, epochs=1)
    model.optimizer.state[1]["exp_avg_sq"][0] = np.inf
    saver = cb.ModelCheckpoint(tmp_path / "a.npz")
    saver.set_model(model)
    with pytest.raises(FloatingPointError, match="optimizer state 1 exp_avg_sq"):
        saver.on_epoch_end(0, {"val_loss": 1.0})
    assert not (tmp_path / "a.npz").exists()


def test_save_best_only_never_counts_nan_as_an_improvement(tmp_path, digits):
    x, y = digits
    model = compiled(small_model())
    fit(model, x, y, epochs=1)
    path = tmp_path / "best.npz"
    saver = cb.ModelCheckpoint(path, save_best_only=True)
    saver.set_model(model)
    saver.on_epoch_end(0, {"val_loss": 1.0})
    first = path.read_bytes()
    model.parameters()[0].data += 1               # other weights, so a save would show
    saver.on_epoch_end(1, {"val_loss": float("nan")})
    assert path.read_bytes() == first and saver.best == 1.0
    saver.on_epoch_end(2, {"val_loss": 0.5})
    assert path.read_bytes() != first and saver.best == 0.5
    stopper = cb.EarlyStopping(patience=5)
    stopper.set_model(model)
    for epoch, value in enumerate([float("nan"), 2.0, float("nan")]):
        stopper.on_epoch_end(epoch, {"val_loss": value})
    assert (stopper.best, stopper.wait) == (2.0, 1)


# ----------------------------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize("cls, name, value", [
    (SGD, "lr", float("nan")), (SGD, "lr", float("inf")), (SGD, "momentum", float("nan")),
    (SGD, "momentum", float("inf")), (SGD, "dampening", float("nan")),
    (SGD, "weight_decay", float("nan")), (SGD, "weight_decay", float("inf")),
    (SGD, "lr", "0.1"), (SGD, "nesterov", "yes"),
    (Adam, "lr", float("nan")), (Adam, "eps", float("nan")), (Adam, "eps", float("inf")),
    (Adam, "weight_decay", float("inf")), (Adam, "betas", (float("nan"), 0.999)),
    (Adam, "betas", (0.9,)), (AdamW, "weight_decay", float("nan")),
    (AdamW, "lr", -float("inf"))])
def test_optimizers_refuse_nan_inf_and_non_numbers_by_name(cls, name, value):
    with pytest.raises(ValueError, match=f"{cls.__name__}: {name} must be"):
        cls([mc.Parameter(np.zeros(2))], **{name: value})


@pytest.mark.parametrize("option", ["--lr", "--momentum", "--weight-decay"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_the_train_command_refuses_nan_and_inf_by_option_name(option, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["train", "lenet", "--optimizer", "sgd", f"{option}={value}"])
    assert stopped.value.code == 2
    assert f"argument {option}: must be a finite number, got {value}" in capsys.readouterr().err


def test_momentum_with_an_optimizer_that_has_none_is_refused(tmp_path, capsys):
    code = cli.main(["train", "lenet", "--optimizer", "adam", "--momentum", "0.5",
                     "--limit", "64", "--epochs", "1", "--out", str(tmp_path)])
    assert code == 1 and "--momentum is an SGD setting" in capsys.readouterr().err
    assert not (tmp_path / "checkpoint.npz").exists()


# ----------------------------------------------------------------------------- the train command
TRAIN = ["train", "lenet", "--limit", "64", "--epochs", "1", "--backend", "numpy"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch run of the CLI on 64 images: its --out folder."""
    out = tmp_path_factory.mktemp("run")
    assert cli.main(TRAIN + ["--out", str(out)]) == 0
    return out


def test_ctrl_c_says_saved_only_once_the_checkpoint_is_written(tmp_path, monkeypatch, capsys):
    real_savez = np.savez

    def savez_pressed(f, **arrays):
        ctrl_c()                                  # Ctrl-C again while the interrupt save runs
        real_savez(f, **arrays)
    monkeypatch.setattr(cli._EpochTimer, "on_batch_end",
                        lambda self, epoch, batch, logs: ctrl_c(), raising=False)
    monkeypatch.setattr(np, "savez", savez_pressed)
    code = cli.main(TRAIN + ["--out", str(tmp_path)])
    monkeypatch.setattr(np, "savez", real_savez)
    err = capsys.readouterr().err
    assert code == 130 and f"interrupted: saved {tmp_path / 'checkpoint.npz'}" in err
    assert mc.load(tmp_path / "checkpoint.npz").checkpoint_training_state["batch"] == 1


def test_a_failed_interrupt_save_is_not_reported_as_saved(tmp_path, monkeypatch, capsys):
    def full_disk(f, **arrays):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(cli._EpochTimer, "on_batch_end",
                        lambda self, epoch, batch, logs: ctrl_c(), raising=False)
    monkeypatch.setattr(np, "savez", full_disk)
    code = cli.main(TRAIN + ["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "saved" not in err.replace("unchanged", "")
    assert "the disk is full" in err and not (tmp_path / "checkpoint.npz").exists()


def test_the_train_command_exits_non_zero_naming_the_last_good_checkpoint(tmp_path, monkeypatch,
                                                                         capsys):
    """NaN weights from the last step of epoch 2 (as --weight-decay nan made them)."""
    real_update, steps = mc.optim.Adam.update, {"n": 0}

    def update(self, p, g, state):
        real_update(self, p, g, state)
        if p is self.params[-1]:
            steps["n"] += 1
            if steps["n"] == 2:                   # 64 images, batch 64: one step an epoch
                p.data[...] = np.nan
    monkeypatch.setattr(mc.optim.Adam, "update", update)
    code = cli.main(["train", "lenet", "--limit", "64", "--epochs", "2", "--backend", "numpy",
                     "--out", str(tmp_path)])
    err = capsys.readouterr().err
    checkpoint = tmp_path / "checkpoint.npz"
    assert code == 1 and "NaN or infinity appeared in epoch 2" in err
    assert f"the last good checkpoint is {checkpoint} (after epoch 1)" in err
    assert mc.load(checkpoint).checkpoint_epoch == 1


def test_a_huge_learning_rate_never_leaves_a_non_finite_checkpoint(tmp_path, capsys):
    code = cli.main(["train", "lenet", "--limit", "64", "--epochs", "3", "--backend", "numpy",
                     "--optimizer", "sgd", "--lr", "1e6", "--out", str(tmp_path)])
    assert code != 0 and "minicnn train:" in capsys.readouterr().err
    if (tmp_path / "checkpoint.npz").exists():          # whatever was saved is good
        saved = mc.load(tmp_path / "checkpoint.npz")
        assert all(np.isfinite(w).all() for w in weights(saved))
        _, (x_test, y_test) = mc.data.load_mnist_sample()
        stats = cli.RECIPES["mnist-sample"]
        x_test = mc.data.transforms.Normalize(stats["mean"], stats["std"])(
            mc.data.transforms.ToFloat()(x_test))
        assert np.isfinite(saved.evaluate(x_test, y_test, batch_size=500)[0])


def test_resume_refuses_another_optimizer_or_learning_rate(run, tmp_path, capsys):
    before = (run / "checkpoint.npz").read_bytes()
    code = cli.main(TRAIN + ["--epochs", "2", "--optimizer", "sgd", "--lr", "0.1",
                             "--resume", str(run / "checkpoint.npz"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "--optimizer sgd (the run used adam)" in err and "--lr 0.1 (the run used 0.002)" in err
    assert (run / "checkpoint.npz").read_bytes() == before
    assert not (tmp_path / "checkpoint.npz").exists()


def test_resume_refuses_other_data_and_takes_the_saved_options(run, tmp_path, capsys):
    code = cli.main(TRAIN + ["--limit", "65", "--resume", str(run / "checkpoint.npz"),
                             "--out", str(tmp_path)])
    assert code == 1 and "--limit 65 (the run used 64)" in capsys.readouterr().err
    code = cli.main(["train", "lenet", "--epochs", "2", "--backend", "numpy",
                     "--resume", str(run / "checkpoint.npz"), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "64 training" in out          # the saved --limit, not all images
    assert "--epochs 2 wins over the run's 1" in out
    assert mc.load(tmp_path / "checkpoint.npz").checkpoint_epoch == 2


def test_fit_refuses_to_resume_on_other_data(tmp_path, digits):
    x, y = digits
    path = tmp_path / "run.npz"
    fit(compiled(small_model()), x, y, [cb.ModelCheckpoint(path)], epochs=1)
    with pytest.raises(ValueError, match="trained on other data.*64 samples.*48 samples"):
        fit(compiled(small_model()), x[:48], y[:48], resume=path)
    x_other, y_other = synthetic_digits(64, size=SIZE, seed=5)
    with pytest.raises(ValueError, match="trained on other data"):
        fit(compiled(small_model()), x_other, y_other, resume=path)


def test_an_end_of_epoch_checkpoint_keeps_that_epochs_history(tmp_path, digits):
    x, y = digits
    straight = fit(compiled(small_model()), x, y)
    path = tmp_path / "run.npz"
    fit(compiled(small_model()), x, y, [cb.ModelCheckpoint(path)], epochs=1)
    resumed = fit(mc.load(path), x, y, resume=True)
    assert resumed.history == straight.history


# ----------------------------------------------------------------------------- files
def test_an_unwritable_out_folder_fails_before_training(tmp_path, monkeypatch, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    code = cli.main(TRAIN + ["--out", str(tmp_path / "a-file" / "run")])
    captured = capsys.readouterr()
    assert code == 1 and "Epoch 1/" not in captured.out
    assert "cannot write in --out" in captured.err

    def read_only(path, mode):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(files, "_create_temp", read_only, raising=False)
    code = cli.main(TRAIN + ["--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code == 1 and "Epoch 1/" not in captured.out
    assert "the file system is read-only" in captured.err


def test_an_out_folder_the_system_refuses_fails_before_training(tmp_path, capsys):
    """A folder nobody may write in, root included: chmod 0500 as a user, /proc as root."""
    if os.name == "posix" and os.geteuid() == 0:
        out = "/proc/self/minicnn-run"             # the kernel refuses, even for root
    else:
        out = tmp_path / "run"
        out.mkdir()
        out.chmod(0o500)
    try:
        code = cli.main(TRAIN + ["--out", str(out)])
    finally:
        if not isinstance(out, str):
            out.chmod(0o700)
    captured = capsys.readouterr()
    assert code == 1 and "Epoch 1/" not in captured.out and "--out" in captured.err


def test_a_full_disk_is_a_named_error_and_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    model = compiled(small_model())
    path = tmp_path / "a.npz"
    mc.save(model, path)
    before = path.read_bytes()

    def full_disk(f, **arrays):
        f.write(b"PK part of a zip")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match=r"cannot save .*a\.npz.*the disk is full") as error:
        mc.save(model, path)
    assert isinstance(error.value, files.SaveError) and error.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["a.npz"]
    code = cli.main(TRAIN + ["--out", str(tmp_path / "run")])
    assert code == 1 and "minicnn train: cannot save" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_keeps_the_mode_and_never_touches_the_umask(tmp_path, monkeypatch):
    path = tmp_path / "private.npz"
    path.write_bytes(b"old")
    path.chmod(0o600)
    umask = os.umask(0o022)
    os.umask(umask)

    def no_umask(mask):
        raise AssertionError("atomic_write changed the process umask")
    monkeypatch.setattr(os, "umask", no_umask)
    files.atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new" and (path.stat().st_mode & 0o777) == 0o600
    fresh = tmp_path / "fresh.json"
    files.atomic_write(fresh, lambda f: f.write(b"{}"))
    assert (fresh.stat().st_mode & 0o777) == 0o666 & ~umask


def test_the_temp_file_of_a_killed_write_is_removed_by_the_next_write(tmp_path):
    """kill -9 during a save: its temporary file stays; the next save of that file removes
    it, because the process that wrote it is gone."""
    path, ready = tmp_path / "checkpoint.npz", tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import pathlib, time
        from minicnn.files import atomic_write
        def write(f):
            f.write(b"x" * 100000); f.flush()
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(600)
        atomic_write({str(path)!r}, write)
        """)])
    try:
        while not ready.exists() and child.poll() is None:
            try:
                child.wait(0.05)
            except subprocess.TimeoutExpired:
                pass
    finally:
        child.kill()                                  # SIGKILL: nothing runs in the child
        child.wait()
    left = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith("checkpoint.npz.")
    files.atomic_write(path, lambda f: f.write(b"saved"))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "ready"]


def test_the_out_folder_check_sweeps_only_stale_temp_files_named_by_pid(tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    names = [f"checkpoint.npz.{dead}-0123abcd.tmp",                # its process is gone
             f"metrics.csv.{os.getpid()}-0123abcd.tmp",            # a live write
             "notes.abcd1234.tmp"]                                 # could be anyone's
    for name in names:
        (tmp_path / name).write_bytes(b"x" * 1000)
    files.check_writable_folder(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(names[1:])


def test_only_our_stale_temp_files_are_removed(tmp_path):
    old = 2 * files.STALE_SECONDS
    names = {"a.npz.abcd1234.tmp": old,                      # an older minicnn's, stale
             "a.npz.k3j_9x2q.tmp": 0,                         # an older minicnn's, recent
             f"a.npz.{os.getpid()}-0123abcd.tmp": 0,          # a live write (this process)
             "a.npz.notes.tmp": old, "b.npz.abcd1234.tmp": old, "a.npz": old}
    for name, age in names.items():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (os.path.getmtime(tmp_path / name) - age,) * 2)
    files.atomic_write(tmp_path / "a.npz", lambda f: f.write(b"new"))
    assert sorted(os.listdir(tmp_path)) == sorted(set(names) - {"a.npz.abcd1234.tmp"})


# ----------------------------------------------------------------------------- saved optimiser
def trained_sgd():
    params = [mc.Parameter(np.ones((2, 3))), mc.Parameter(np.ones(3))]
    opt = SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad = np.full(p.shape, 0.5)
    opt.step()
    return opt, params


@pytest.mark.parametrize("hyper, message", [
    ({"__class__": "x"}, r"'__class__'.*not SGD's"), ({"params": []}, r"'params'.*not SGD's"),
    ({"step": 1}, r"'step'.*not SGD's"), ({"lr": "0.1"}, "lr must be a finite number"),
    ({"lr": float("nan")}, "lr must be a finite number"), ({"momentum": None}, "momentum must be"),
    ({"nesterov": "yes"}, "nesterov must be True or False"), ({"lr": -1}, "lr must be >= 0")])
def test_load_state_dict_takes_only_valid_own_hyperparameters(hyper, message):
    opt, params = trained_sgd()
    state = opt.state_dict()
    state["hyperparameters"] = dict(state["hyperparameters"], **hyper)
    fresh = SGD(params, lr=0.5)
    with pytest.raises(ValueError, match=message):
        fresh.load_state_dict(state)
    assert fresh.lr == 0.5 and not hasattr(fresh, "__class___") and fresh.state[0] == {}


@pytest.mark.parametrize("entry, message", [
    ({"exp_avg": np.zeros((2, 3))}, r"'exp_avg', which SGD does not keep"),
    ({"momentum_buffer": np.array([["a"] * 3] * 2)}, "must hold numbers"),
    ({"momentum_buffer": np.zeros((2, 3), bool)}, "must hold numbers"),
    ({"momentum_buffer": 3.0}, "must be an array"),
    ({"momentum_buffer": np.full((2, 3), np.nan)}, "NaN or infinity"),
    ({"momentum_buffer": np.zeros(6)}, r"shape \(2, 3\).*has shape \(6,\)"),
    ({"step": -1}, "whole number >= 0"), ({"step": True}, "whole number >= 0"),
    ({"step": 1.5}, "whole number >= 0")])
def test_load_state_dict_takes_only_valid_own_buffers(entry, message):
    opt, params = trained_sgd()
    state = opt.state_dict()
    state["state"][0] = entry
    with pytest.raises(ValueError, match=message):
        SGD(params, momentum=0.9).load_state_dict(state)


def test_adam_state_needs_the_step_and_both_moments():
    params = [mc.Parameter(np.ones(3))]
    opt = Adam(params)
    params[0].grad = np.ones(3)
    opt.step()
    state = opt.state_dict()
    del state["state"][0]["exp_avg_sq"]
    with pytest.raises(ValueError, match="needs all of"):
        Adam(params).load_state_dict(state)


def rewrite_header(path, change):
    """Rewrite a checkpoint's JSON header with change(header)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    header = json.loads(str(arrays["__header__"]))
    change(header)
    arrays["__header__"] = np.array(json.dumps(header))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_a_checkpoint_cannot_set_optimizer_attributes(tmp_path, digits):
    x, y = digits
    path = tmp_path / "run.npz"
    fit(compiled(small_model()), x, y, [cb.ModelCheckpoint(path)], epochs=1)
    rewrite_header(path, lambda h: h["optimizer"]["hyperparameters"].update(step="boom"))
    with pytest.raises(ValueError, match="'step'.*not SGD's"):
        mc.load(path)


# ----------------------------------------------------------------------------- saved training state
@pytest.fixture(scope="module")
def training_state(digits, tmp_path_factory):
    x, y = digits
    path = tmp_path_factory.mktemp("state") / "run.npz"
    fit(compiled(small_model()), x, y, [cb.ModelCheckpoint(path), cb.EarlyStopping("loss")],
        epochs=1)
    return path, mc.load(path).checkpoint_training_state


def broken(field, value):
    def change(state):
        if value is KeyError:
            del state[field]
        else:
            state[field] = value
        return state
    return change


@pytest.mark.parametrize("change, message", [
    (lambda s: [s], "not a mapping"), (broken("epoch", "1"), "'epoch' must be a whole number"),
    (broken("batch", -1), "'batch' must be"), (broken("seed", KeyError), "'seed' must be"),
    (broken("batch_size", 1.5), "'batch_size' must be"),
    (broken("shuffle", "yes"), "'shuffle' must be true or false"),
    (broken("totals", KeyError), "'totals' must be"),
    (broken("totals", {"count": 3, "sums": {"loss": "x"}}), "'totals' must be"),
    (broken("history", {"loss": [1.0, 2.0], "accuracy": [1.0]}), "'history' must"),
    (broken("history", {"loss": "abc"}), "'history' must"),
    (broken("rng", {}), "'rng' must"), (broken("rng", {"global": {}}), "'global' does not fit"),
    (broken("rng", {"global": {"bit_generator": "PCG64", "state": "x"}}), "'global' does not fit"),
    (broken("callbacks", "x"), "'callbacks' must be"),
    (broken("callbacks", [{"class": "ModelCheckpoint", "state": {"best": "x"}},
                          {"class": "EarlyStopping", "state": {"best": None, "wait": -2}}]),
     "callback ModelCheckpoint is not valid"),
    (broken("callbacks", [{"class": "ModelCheckpoint", "state": {}},
                          {"class": "EarlyStopping", "state": {"wait": "2"}}]),
     "callback EarlyStopping is not valid.*'wait'"),
    (broken("data", {"samples": "64"}), "'data' must be")])
def test_a_malformed_training_state_is_a_checkpoint_error(training_state, digits, change, message):
    x, y = digits
    path, state = training_state
    model = mc.load(path)
    model.checkpoint_training_state = change(json.loads(json.dumps(state)))
    with pytest.raises(CheckpointError, match=message):
        fit(model, x, y, [cb.ModelCheckpoint(path.parent / "other.npz"),
                          cb.EarlyStopping("loss")], resume=True)


def test_a_malformed_training_state_in_a_file_is_a_checkpoint_error(training_state, digits,
                                                                   tmp_path):
    x, y = digits
    path = tmp_path / "run.npz"
    path.write_bytes(training_state[0].read_bytes())
    rewrite_header(path, lambda h: h["training"].update(rng={"global": {"state": 1}}))
    with pytest.raises(CheckpointError, match="random generator state 'global'"):
        fit(compiled(small_model()), x, y, resume=path)
