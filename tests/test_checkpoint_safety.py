"""A checkpoint is data, never code: hostile files get a CheckpointError and leave no trace.

Each payload below is what an attacker would put in a file handed to ``mc.load`` or
``minicnn evaluate``: code named by import path, attribute walks, objects built with
attributes set from the file, a module planted in the current folder, shapes and sizes
that would exhaust memory, deep nesting, zip bombs, object arrays, damaged zips. Each
one aims at a sentinel path that the test then checks was never touched. The header
reader is also fuzzed with hypothesis: arbitrary JSON and arbitrary bytes give the named
error and nothing else.
"""
import gc
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minicnn as mc
from minicnn import checkpoint
from minicnn.layers import Dense, Flatten, Layer, initializers

SIZE = 4


def small_model():
    mc.manual_seed(0)
    return mc.Sequential([Flatten(input_shape=(1, SIZE, SIZE)), Dense(3, activation="relu"),
                          Dense(2)])


def good_file(tmp_path, name="good.npz"):
    """A real checkpoint written by mc.save, and its header and arrays."""
    model = small_model()
    model.compile(optimizer=mc.optim.SGD(lr=0.1, momentum=0.9), loss="cross_entropy")
    x = np.random.default_rng(0).normal(size=(4, 1, SIZE, SIZE)).astype("float32")
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, batch_size=4, verbose=0)
    path = tmp_path / name
    mc.save(model, path)
    with zipfile.ZipFile(path) as z, np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["__header__"]))
        arrays = {n: data[n] for n in data.files if n != "__header__"}
        assert all(i.filename.endswith(".npy") for i in z.infolist())
    return path, header, arrays


def write(path, header, arrays=None, raw_header=None):
    """A .npz with ``header`` (a JSON-able object, or ``raw_header`` text) and ``arrays``."""
    text = raw_header if raw_header is not None else json.dumps(header)
    np.savez(path, __header__=np.array(text), **(arrays or {}))
    return path


def dense_architecture(**config):
    """A v2 Sequential of one Dense layer whose config is ``config``."""
    return {"class": "Sequential", "config": {"name": "net", "layers": [
        {"__module__": {"class": "Dense", "config": {"units": 2, **config}}}]}}


def refused(path, match="not a valid minicnn checkpoint", **kwargs):
    with pytest.raises(mc.CheckpointError, match=match) as caught:
        mc.load(path, **kwargs)
    gc.collect()                         # destructors of anything built would run now
    return str(caught.value)


@pytest.fixture
def sentinel(tmp_path):
    """A path that a payload tries to create; the test asserts it never appears."""
    path = tmp_path / "SENTINEL"
    yield path
    gc.collect()
    assert not path.exists(), "a payload in the file ran"


# ----------------------------------------------------------------------------- code in the file
CODE_PAYLOADS = {
    "callable path": lambda s: dense_architecture(
        activation={"__callable__": "os:system"}),
    "callable attribute walk": lambda s: dense_architecture(
        activation={"__callable__": "minicnn.checkpoint:os.system"}),
    "builtins exec": lambda s: dense_architecture(
        activation={"__callable__": "builtins:exec"}),
    "function by path": lambda s: dense_architecture(activation={"__function__": "os:system"}),
    "function attribute walk": lambda s: dense_architecture(
        activation={"__function__": "minicnn.layers.config:inspect.os.system"}),
    "class by path": lambda s: {"class": "os:system", "config": {"command": f"touch {s}"}},
    "class attribute walk": lambda s: {"class": "minicnn.cli:os.system",
                                       "config": {"command": f"touch {s}"}},
    "object with vars": lambda s: dense_architecture(kernel_initializer={
        "__object__": "numpy:DataSource", "vars": {"_destpath": str(s), "_istmpdest": True}}),
    "v2 object of a foreign class": lambda s: dense_architecture(kernel_initializer={
        "__object__": {"class": "numpy:DataSource", "config": {"destpath": str(s)}}}),
    "v2 class of a foreign module": lambda s: dense_architecture(
        kernel_initializer={"__class__": "subprocess:Popen"}),
    "dunder config key": lambda s: dense_architecture(__class__="x"),
}


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("payload", sorted(CODE_PAYLOADS))
def test_code_named_by_the_architecture_is_never_reached(tmp_path, sentinel, payload, version):
    _, header, arrays = good_file(tmp_path)
    header["version"] = version
    header["architecture"] = CODE_PAYLOADS[payload](sentinel)
    path = write(tmp_path / "evil.npz", header, arrays)
    message = refused(path)
    assert "evil.npz" in message
    if version == 1:
        assert "version-1" in message or "unknown" in message or "takes no argument" in message


def test_an_object_built_from_the_file_cannot_delete_a_directory(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "work.txt").write_text("a student's notes")
    _, header, arrays = good_file(tmp_path)
    for version in (1, 2):
        header["version"] = version
        header["architecture"] = dense_architecture(kernel_initializer={
            "__object__": "numpy:DataSource", "vars": {"_destpath": str(victim),
                                                       "_istmpdest": True}})
        refused(write(tmp_path / "evil.npz", header, arrays))
    gc.collect()
    assert (victim / "work.txt").read_text() == "a student's notes"


PLANTED = "import pathlib\npathlib.Path({sentinel!r}).write_text('ran')\nclass Evil: pass\n"


def test_a_module_planted_in_the_current_folder_is_never_imported(tmp_path, sentinel,
                                                                  monkeypatch):
    _, header, arrays = good_file(tmp_path)
    (tmp_path / "planted_layers.py").write_text(PLANTED.format(sentinel=str(sentinel)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for version, architecture in [(1, {"class": "planted_layers:Evil", "config": {}}),
                                  (2, {"class": "planted_layers:Evil", "config": {}}),
                                  (2, dense_architecture(
                                      activation={"__function__": "planted_layers:Evil"}))]:
        header["version"], header["architecture"] = version, architecture
        refused(write(tmp_path / "evil.npz", header, arrays))
        assert "planted_layers" not in sys.modules


def test_the_cli_refuses_the_planted_module_too(tmp_path, sentinel):
    _, header, arrays = good_file(tmp_path)
    (tmp_path / "planted_layers.py").write_text(PLANTED.format(sentinel=str(sentinel)))
    header["version"], header["architecture"] = 1, {"class": "planted_layers:Evil", "config": {}}
    header["metadata"] = {"dataset": "mnist-sample"}
    write(tmp_path / "evil.npz", header, arrays)
    for command in (["evaluate", "evil.npz"], ["predict", "evil.npz"], ["explain", "evil.npz"]):
        done = subprocess.run([sys.executable, "-m", "minicnn", *command], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode != 0
        assert "not a valid minicnn checkpoint" in done.stderr and "Traceback" not in done.stderr


def test_constructor_arguments_must_be_the_constructors_own(tmp_path):
    _, header, arrays = good_file(tmp_path)
    header["architecture"] = dense_architecture(_init_args={"x": 1})
    refused(write(tmp_path / "a.npz", header, arrays), match="takes no argument '_init_args'")


# ----------------------------------------------------------------------------- versions
def test_a_version_1_file_of_plain_configs_still_loads(tmp_path):
    path, header, arrays = good_file(tmp_path)
    header["version"] = 1
    old = write(tmp_path / "v1.npz", header, arrays)
    model, again = mc.load(path), mc.load(old)
    x = np.ones((2, 1, SIZE, SIZE), np.float32)
    np.testing.assert_array_equal(model.predict(x), again.predict(x))


def test_a_version_1_file_that_names_code_says_how_to_re_save(tmp_path):
    _, header, arrays = good_file(tmp_path)
    header["version"] = 1
    header["architecture"] = dense_architecture(
        activation={"__callable__": "minicnn.functional.activation:relu"})
    message = refused(write(tmp_path / "v1.npz", header, arrays), match="version-1")
    assert "mc.load_weights" in message and "mc.save" in message


def test_a_newer_version_says_to_upgrade(tmp_path):
    _, header, arrays = good_file(tmp_path)
    header["version"] = checkpoint.VERSION + 1
    refused(write(tmp_path / "new.npz", header, arrays), match="newer minicnn.*upgrade")


# ----------------------------------------------------------------------------- sizes and shapes
def test_an_architecture_that_asks_for_more_weights_than_the_file_holds(tmp_path):
    _, header, arrays = good_file(tmp_path)
    header["architecture"] = {"class": "Sequential", "config": {"name": "net", "layers": [
        {"__module__": {"class": "Dense", "config": {"units": 10**12,
                                                      "input_shape": {"__tuple__": [10**6]}}}}]}}
    refused(write(tmp_path / "huge.npz", header, arrays), match="more weights than")


def test_a_huge_declared_array_shape_is_refused_before_reading(tmp_path):
    _, header, arrays = good_file(tmp_path)
    with zipfile.ZipFile(tmp_path / "shape.npz", "w") as z:
        z.writestr("__header__.npy", _npy(np.array(json.dumps(header))))
        for name, value in arrays.items():
            data = _npy(value)
            if name == "weights/1.kernel":
                data = _npy_with_shape(value, (2147483648, 2147483648))
            z.writestr(name + ".npy", data)
    refused(tmp_path / "shape.npz", match=r"declares the shape \(2147483648, 2147483648\)")


def test_an_input_shape_too_large_to_build_is_refused(tmp_path):
    _, header, arrays = good_file(tmp_path)
    header["input_shape"] = [3, 10**6, 10**6]
    refused(write(tmp_path / "in.npz", header, arrays), match="input shape")


def test_a_zip_bomb_is_refused_by_its_declared_size_without_inflating(tmp_path, monkeypatch):
    _, header, arrays = good_file(tmp_path)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("__header__.npy", _npy(np.array(json.dumps(header))))
        for name, value in arrays.items():
            z.writestr(name + ".npy", _npy(value))
        z.writestr("weights/bomb.npy", _npy(np.zeros(8 * 2**20, np.float32)))   # 32 MiB
    assert path.stat().st_size < 2**20
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open",
                        lambda self, name, *a, **k: opened.append(getattr(name, "filename", name))
                        or real_open(self, name, *a, **k))
    refused(path, match="declare .* bytes uncompressed", max_bytes=2**20)
    assert opened == []                                    # nothing was inflated


def test_unlisted_entries_and_object_arrays_are_refused(tmp_path):
    _, header, arrays = good_file(tmp_path)
    refused(write(tmp_path / "extra.npz", header, {**arrays, "stowaway": np.zeros(2)}),
            match="does not list")
    objects = dict(arrays)
    objects["weights/1.bias"] = np.array([{"a": 1}, None], dtype=object)
    np.savez(tmp_path / "objects.npz", __header__=np.array(json.dumps(header)), **objects)
    refused(tmp_path / "objects.npz", match="holds object, not floats")
    np.savez(tmp_path / "objheader.npz", __header__=np.array([header], dtype=object), **arrays)
    refused(tmp_path / "objheader.npz", match="not text")


def test_stored_arrays_must_match_the_rebuilt_model(tmp_path):
    _, header, arrays = good_file(tmp_path)
    wrong = dict(arrays)
    wrong["weights/1.kernel"] = np.zeros((16, 4), np.float32)
    refused(write(tmp_path / "w.npz", header, wrong), match=r"1.kernel.*\(16, 3\)")
    buffers = dict(arrays)
    key = next(k for k in arrays if k.startswith("optimizer/"))
    buffers[key] = np.zeros((7,), np.float32)
    refused(write(tmp_path / "o.npz", header, buffers), match=key)


def test_deep_nesting_is_refused_before_parsing(tmp_path):
    _, header, arrays = good_file(tmp_path)
    deep = "[" * 100_000 + "]" * 100_000
    text = json.dumps(header)[:-1] + f', "metadata": {deep}}}'
    refused(write(tmp_path / "deep.npz", None, arrays, raw_header=text), match="nested")
    header["architecture"] = {"class": "Sequential", "config": {"layers": []}}
    inner = header["architecture"]
    for _ in range(60):
        inner["config"]["layers"] = [{"__module__": {"class": "Sequential",
                                                     "config": {"layers": []}}}]
        inner = inner["config"]["layers"][0]["__module__"]
    refused(write(tmp_path / "nested.npz", header, arrays))


@pytest.mark.parametrize("content", [b"just some notes\n", b"", b"PK\x03\x04garbage",
                                     b"\x93NUMPY\x01\x00"])
def test_files_that_are_not_zips_are_refused(tmp_path, content):
    path = tmp_path / "notes.npz"
    path.write_bytes(content)
    refused(path, match="notes.npz")


def test_every_truncation_of_a_checkpoint_is_refused(tmp_path):
    path, _, _ = good_file(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for end in range(0, len(data), max(1, len(data) // 97)):
        cut.write_bytes(data[:end])
        refused(cut)


def test_a_directory_is_refused_by_name(tmp_path):
    (tmp_path / "run.npz").mkdir()
    refused(tmp_path / "run.npz", match="is a directory")


# ----------------------------------------------------------------------------- fuzzing
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
KEYS = ["format", "version", "architecture", "input_shape", "weights", "epoch", "training",
        "compile", "metadata", "optimizer"]
FUZZ = settings(deadline=None,               # examples: the profile (ci 30, thorough 300)
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _load_or_refuse(path):
    try:
        mc.load(path)
    except mc.CheckpointError:
        pass


@FUZZ
@given(header=JSON)
def test_fuzz_any_json_header_gives_only_the_named_error(tmp_path_factory, header):
    _, _, arrays = good_file(tmp_path_factory.mktemp("fuzz"))
    path = write(tmp_path_factory.mktemp("fuzz") / "f.npz", header, arrays)
    with pytest.raises(mc.CheckpointError):
        mc.load(path)


@FUZZ
@given(key=st.sampled_from(KEYS), value=JSON, where=st.integers(0, 10**6))
def test_fuzz_one_header_field_replaced_loads_or_gives_the_named_error(tmp_path_factory, key,
                                                                       value, where):
    folder = tmp_path_factory.mktemp("fuzz")
    _, header, arrays = good_file(folder)
    target = header
    # descend into the field (or deep into the architecture) and replace one value there
    path_keys = [key]
    node = header[key]
    while isinstance(node, (dict, list)) and node and where % 3:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        step = keys[where % len(keys)]
        target, node = node, node[step]
        path_keys = [step]
        where //= 3
    target[path_keys[0]] = value
    _load_or_refuse(write(folder / "f.npz", header, arrays))


@FUZZ
@given(data=st.binary(max_size=400), flips=st.lists(st.integers(0, 10**9), max_size=8))
def test_fuzz_arbitrary_and_damaged_bytes_give_only_the_named_error(tmp_path_factory, data, flips):
    folder = tmp_path_factory.mktemp("fuzz")
    path, _, _ = good_file(folder)
    raw = bytearray(path.read_bytes())
    for flip in flips:
        raw[flip % len(raw)] ^= 1 + flip % 255
    for content in (bytes(raw), data, bytes(raw[:len(raw) // 2]) + data):
        (folder / "b.npz").write_bytes(content)
        _load_or_refuse(folder / "b.npz")


LAYERS = ["Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dropout",
          "BatchNormalization", "LocalResponseNormalization", "ZeroPadding2D", "Activation",
          "ReLU", "Softmax", "GlobalAveragePooling2D", "Sequential", "InputLayer", "Add"]
ARGUMENTS = ["units", "filters", "kernel_size", "strides", "padding", "activation", "use_bias",
             "rate", "seed", "pool_size", "input_shape", "dtype", "momentum", "epsilon", "name",
             "layers", "axis", "size", "alpha", "kernel_initializer"]
VALUES = JSON | st.builds(lambda v: {"__tuple__": v}, st.lists(st.integers(-3, 40), max_size=4)) \
    | st.sampled_from([{"__dtype__": "float64"}, {"__dtype__": "object"},
                       {"__function__": "F.relu"},
                       {"__object__": {"class": "HeNormal", "config": {"seed": 1}}},
                       {"__class__": "Zeros"}, {"__module__": {"class": "ReLU", "config": {}}}])


@FUZZ
@given(layers=st.lists(st.tuples(st.sampled_from(LAYERS),
                                 st.dictionaries(st.sampled_from(ARGUMENTS), VALUES, max_size=4)),
                       max_size=4),
       input_shape=st.none() | st.lists(st.integers(1, 12), min_size=1, max_size=3))
def test_fuzz_layer_configs_load_or_give_the_named_error(tmp_path_factory, layers, input_shape):
    folder = tmp_path_factory.mktemp("fuzz")
    _, header, arrays = good_file(folder)
    header["architecture"] = {"class": "Sequential", "config": {"layers": [
        {"__module__": {"class": name, "config": config}} for name, config in layers]}}
    header["input_shape"] = input_shape
    _load_or_refuse(write(folder / "f.npz", header, arrays))


# ----------------------------------------------------------------------------- your own classes
class Swish(Layer):
    """The custom-layer tutorial's layer: y = x sigmoid(beta x), one trainable beta."""
    has_weights = True

    def __init__(self, beta=1.0, name=None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        self.beta_initial = float(beta)

    def build(self, input_shape):
        self.add_weight("beta", (1,), initializers.Constant(self.beta_initial))

    def forward(self, x):
        return x * mc.functional.sigmoid(x * self.beta)


def scaled_init(shape, dtype, rng):
    return rng.normal(0, 0.01, shape)


def test_your_own_layer_round_trips_by_registration_or_custom_objects(tmp_path):
    mc.manual_seed(0)
    model = mc.Sequential([Flatten(input_shape=(1, SIZE, SIZE)), Swish(beta=2.0),
                           Dense(2, kernel_initializer=scaled_init)])
    x = np.ones((2, 1, SIZE, SIZE), np.float32)
    with pytest.raises(TypeError, match="register it first"):
        mc.save(model, tmp_path / "m.npz")              # a plain function: register it
    mc.register_serializable(scaled_init)
    mc.save(model, tmp_path / "m.npz")
    refused(tmp_path / "m.npz", match="unknown layer class 'Swish'.*register_layer")
    again = mc.load(tmp_path / "m.npz", custom_objects={"Swish": Swish})
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    mc.register_layer(Swish)
    np.testing.assert_array_equal(mc.load(tmp_path / "m.npz").predict(x), model.predict(x))


def test_your_class_cannot_take_a_name_of_minicnn(tmp_path):
    class Dense(Layer):                                   # noqa: F811  (shadows on purpose)
        pass
    with pytest.raises(ValueError, match="minicnn's own"):
        mc.register_layer(Dense)
    with pytest.raises(TypeError, match="another name"):
        mc.save(mc.Sequential([Flatten(input_shape=(4,)), Dense()]), tmp_path / "x.npz")
    mc.register_layer(Dense, name="mine>Dense")
    mc.save(mc.Sequential([Flatten(input_shape=(4,)), Dense()]), tmp_path / "x.npz")
    assert type(mc.load(tmp_path / "x.npz")[1]) is Dense


def test_a_bare_layer_saves_and_loads(tmp_path):
    mc.manual_seed(0)
    d = Dense(3)
    x = np.ones((2, 5), np.float32)
    y = d(x)
    mc.save(d, tmp_path / "d.npz")
    again = mc.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(again(x).data, y.data)


# ----------------------------------------------------------------------------- helpers
def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npy_with_shape(array, shape):
    """A .npy of ``array``'s bytes whose header claims another shape."""
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
              "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + array.tobytes()
