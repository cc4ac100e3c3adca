"""Checkpoints: round trips, atomic writes, clear errors, and exact resume after Ctrl-C."""
import json
import os
import signal
import zipfile

import numpy as np
import pytest

import minicnn as mc
from minicnn.callbacks import Callback, ModelCheckpoint, LearningRateScheduler, cosine
from minicnn.data import synthetic_digits
from minicnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D, initializers
from minicnn.layers.config import deserialize, serialize

SIZE = 8


@pytest.fixture(scope="module")
def digits():
    return synthetic_digits(64, size=SIZE, seed=0)


def small_model(seed=0, input_shape=(1, SIZE, SIZE)):
    mc.manual_seed(seed)
    return mc.Sequential([Conv2D(4, 3, activation="relu", input_shape=input_shape),
                          MaxPooling2D(2), Flatten(), Dense(16, activation="relu"),
                          Dropout(0.3), Dense(10, activation="softmax")])


def compiled(model, lr=0.05):
    return model.compile(optimizer=mc.optim.SGD(lr=lr, momentum=0.9),
                         loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def weights(model):
    return [p.data.copy() for p in model.parameters()]


@mc.register_layer
class Net(mc.Model):
    """A subclassed model of the user's, registered so that checkpoints can rebuild it."""

    def __init__(self, hidden=8):
        super().__init__()
        self.flatten = Flatten()
        self.hidden = Dense(hidden, activation="relu")
        self.out = Dense(10)

    def call(self, x):
        return self.out(self.hidden(self.flatten(x)))


# ----------------------------------------------------------------------------- configs
def test_every_layer_round_trips_through_a_json_config():
    model = mc.Sequential([
        Conv2D(3, (3, 2), strides=2, padding="same", dilation_rate=1, activation="tanh",
               kernel_initializer=initializers.HeNormal(seed=3), input_shape=(2, 9, 9),
               dtype="float64"),
        MaxPooling2D(2, padding="same"), mc.layers.AveragePooling2D(1), Flatten(),
        Dropout(0.2, seed=4), Dense(5, activation="softmax", use_bias=False)], name="net")
    data = json.loads(json.dumps(serialize(model)))
    copy = deserialize(data)
    assert serialize(copy) == data
    assert [type(l) for l in copy] == [type(l) for l in model]
    assert [l.name for l in copy] == [l.name for l in model] and copy.name == "net"
    assert copy[0].strides == (2, 2) and copy[0].dtype == np.float64
    assert copy.count_params() == model.count_params()


def test_sequential_config_includes_layers_added_later():
    model = mc.Sequential(name="grown")
    model.add(Dense(3, input_shape=(4,)))
    model.add(Dense(2))
    assert [type(l).__name__ for l in deserialize(serialize(model))] == ["Dense", "Dense"]


def test_a_class_of_yours_is_stored_by_name_and_needs_registration_or_custom_objects():
    class Local(mc.Model):
        def call(self, x):
            return x
    data = json.loads(json.dumps(serialize(Local())))
    assert data["class"] == "Local"
    with pytest.raises(ValueError, match=r"unknown layer class 'Local'.*register_layer.*"
                                         r"custom_objects"):
        deserialize(data)
    assert type(deserialize(data, custom_objects={"Local": Local})) is Local


def test_configs_never_construct_non_module_classes():
    with pytest.raises(ValueError, match="unknown layer class 'os:system'"):
        deserialize({"class": "os:system", "config": {}})
    with pytest.raises(ValueError, match="unknown function 'os:system'"):
        deserialize({"class": "Dense", "config": {"units": 2,
                                                  "activation": {"__function__": "os:system"}}})
    with pytest.raises(ValueError, match="unknown encoded value"):
        deserialize({"class": "Dense", "config": {"units": 2,
                                                  "activation": {"__callable__": "os:system"}}})
    with pytest.raises(ValueError, match="unknown layer class 'HeNormal'"):   # not a layer
        deserialize({"class": "HeNormal", "config": {}})
    with pytest.raises(ValueError, match="not a layer; refusing"):
        deserialize({"class": "X", "config": {}}, custom_objects={"X": initializers.HeNormal})


# ----------------------------------------------------------------------------- save / load
def test_save_load_round_trip_with_optimizer_and_compile(tmp_path, digits):
    x, y = digits
    model = compiled(small_model())
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, seed=0)
    path = tmp_path / "ckpt.npz"
    mc.save(model, path)
    loaded = mc.load(path)
    for a, b in zip(weights(model), weights(loaded)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))
    assert loaded.checkpoint_epoch == 1 and loaded.metrics_names == ["loss", "accuracy"]
    for s, t in zip(model.optimizer.state, loaded.optimizer.state):
        np.testing.assert_array_equal(s["momentum_buffer"], t["momentum_buffer"])
    with np.load(path, allow_pickle=False) as data:        # plain arrays, no pickle
        assert json.loads(str(data["__header__"]))["format"] == "minicnn-checkpoint"


def test_a_model_built_on_its_first_batch_and_a_subclassed_model_reload(tmp_path, digits):
    x, _ = digits
    lazy = mc.Sequential([Flatten(), Dense(10)])
    lazy(x[:2])
    mc.save(lazy, tmp_path / "lazy.npz")
    np.testing.assert_array_equal(mc.load(tmp_path / "lazy.npz").predict(x), lazy.predict(x))
    net = Net(hidden=6)
    net(x[:2])
    mc.save(net, tmp_path / "net.npz")
    again = mc.load(tmp_path / "net.npz")
    assert isinstance(again, Net) and again.hidden.units == 6
    np.testing.assert_array_equal(again.predict(x), net.predict(x))


def test_loading_into_a_mismatched_model_names_the_difference(tmp_path):
    model = small_model()
    mc.save_weights(model, tmp_path / "w.npz")
    other = small_model(input_shape=(3, SIZE, SIZE))
    with pytest.raises(ValueError, match=r"does not fit .*'0.kernel' is \(4, 3, 3, 3\) in the "
                                         r"model but \(4, 1, 3, 3\) in the file"):
        mc.load_weights(other, tmp_path / "w.npz")
    fewer = mc.Sequential([Flatten(input_shape=(1, SIZE, SIZE)), Dense(10)])
    with pytest.raises(ValueError, match="missing in the file"):
        mc.load_weights(fewer, tmp_path / "w.npz")
    with pytest.raises(ValueError, match="weights only"):
        mc.load(tmp_path / "w.npz")


def test_corrupt_truncated_and_foreign_files_get_clear_errors(tmp_path):
    model = small_model()
    path = tmp_path / "c.npz"
    mc.save(model, path)
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(mc.CheckpointError, match="cut.npz.*not a valid minicnn checkpoint"):
        mc.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(mc.CheckpointError, match="plain.npz.*no __header__"):
        mc.load(tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        mc.load(tmp_path / "nothere.npz")


def test_writes_are_atomic_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    model = small_model()
    path = tmp_path / "a.npz"
    mc.save(model, path)
    before = path.read_bytes()

    def dying_savez(f, **arrays):
        f.write(b"PK half a zip")
        raise KeyboardInterrupt                      # killed mid-write
    monkeypatch.setattr(np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        mc.save(model, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.npz"]          # no temporary file left behind


# ----------------------------------------------------------------------------- resume
class InterruptAt(Callback):
    """Raises Ctrl-C (a real SIGINT to this process) after a given batch."""

    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def on_batch_end(self, epoch, batch, logs):
        if (epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_saves_and_resuming_gives_the_uninterrupted_weights(tmp_path, digits):
    x, y = digits
    flip = lambda xb, rng: np.where(rng.random((len(xb), 1, 1, 1)) < 0.5, xb[..., ::-1], xb)

    def run(callbacks, model=None, resume=None):
        model = model or compiled(small_model())
        schedule = LearningRateScheduler(cosine(3, warmup=1))
        history = model.fit(x, y, epochs=3, batch_size=16, seed=7, transform=flip, verbose=0,
                            callbacks=[schedule] + callbacks, resume=resume,
                            validation_data=(x[:16], y[:16]))
        return model, history

    straight, history = run([])
    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        run([ModelCheckpoint(path), InterruptAt(1, 2)])
    saved = mc.load(path)
    assert saved.checkpoint_training_state["epoch"] == 1
    assert saved.checkpoint_training_state["batch"] == 3
    resumed, resumed_history = run([ModelCheckpoint(path)], model=saved, resume=True)
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_array_equal(a, b)
    assert resumed_history.history == history.history
    # resuming by path into a freshly built model gives the same result
    fresh, _ = run([], model=compiled(small_model(seed=5)), resume=path)
    for a, b in zip(weights(straight), weights(fresh)):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_the_last_good_checkpoint(tmp_path, digits):
    x, y = digits
    x = x.copy()
    model = compiled(small_model())
    path = tmp_path / "good.npz"

    class Poison(Callback):
        def on_batch_begin(self, epoch, batch):
            if (epoch, batch) == (1, 2):
                x[:] = np.nan
    with pytest.raises(mc.NonFiniteLossError, match=r"nan at epoch 2, batch 3.*good.npz "
                                                    r"\(after epoch 1\)"):
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False,
                  callbacks=[ModelCheckpoint(path), Poison()])
    assert all(np.isfinite(w).all() for w in weights(model))
    assert mc.load(path).checkpoint_epoch == 1
    with zipfile.ZipFile(path) as z:
        assert "__header__.npy" in z.namelist()
