"""Inputs that must get a clear error: data files (IDX, CIFAR-10 batches), the x and y of
fit / evaluate / predict, and the options and --input file of the minicnn command.

Each error names the file, option or argument, says what was wrong and what to change.
The rule for integer images: uint8 is pixels, scaled by 1/255 everywhere; floats are used
as they are; other integer or bool images are refused (minicnn/data/checks.py)."""
import gzip
import io
import os
import pickle

import numpy as np
import pytest

import minicnn as mc
from minicnn.cli import build_parser, main
from minicnn.data import (BatchIterator, Normalize, ToFloat, load_cifar10, load_mnist,
                          read_cifar_py, read_idx)
from minicnn.layers import Dense, Flatten


def idx_bytes(array):
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes() + array.tobytes()


def write_mnist(folder, train_size=(28, 28), test_size=(28, 28)):
    """Four small gzip IDX files: 6 training and 4 test images."""
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    for split, n, size in (("train", 6, train_size), ("t10k", 4, test_size)):
        images = rng.integers(0, 256, (n,) + size, dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for kind, array, dims in (("images", images, 3), ("labels", labels, 1)):
            name = f"{split}-{kind}-idx{dims}-ubyte.gz"
            (folder / name).write_bytes(gzip.compress(idx_bytes(array)))


# ----------------------------------------------------------------------------- IDX files
def test_a_folder_where_an_idx_file_should_be_is_named(tmp_path):
    write_mnist(tmp_path / "mnist")
    os.remove(tmp_path / "mnist" / "train-images-idx3-ubyte.gz")
    os.mkdir(tmp_path / "mnist" / "train-images-idx3-ubyte")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is a folder, but an IDX file "
                                         r"should be there"):
        load_mnist(tmp_path)


def test_an_idx_header_with_huge_sizes_is_checked_before_allocating(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    # 2**31 * 2**16 * 2**17 = 2**64 bytes: a product in int64 overflows to 0
    path.write_bytes(b"\x00\x00\x08\x03" + np.array([2**31, 2**16, 2**17], ">u4").tobytes())
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: the header says "
                                         r"\(2147483648, 65536, 131072\): it declares 2147483648 "
                                         r"images of 65536x131072 .* but holds 0 bytes of data; "
                                         r"the file is truncated or not an IDX file"):
        read_idx(path, 3)
    gz = tmp_path / "huge-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + np.array([2**31, 28, 28], ">u4").tobytes()
                                 + bytes(3 * 784)))
    with pytest.raises(ValueError, match=r"huge-idx3-ubyte.gz: the header says \(2147483648, 28, "
                                         r"28\): it declares 2147483648 images of 28x28 "
                                         r"\(1,683,627,180,032 bytes\) but holds 2,352 bytes"):
        read_idx(gz, 3)


def test_idx_files_longer_than_their_header_are_refused(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(5)) + b"\x00"))
    with pytest.raises(ValueError, match=r"declares 5 labels \(5 bytes\) but holds more than "
                                         r"5 bytes"):
        read_idx(path, 1)


def test_a_corrupt_gzip_idx_file_is_named_not_a_zlib_traceback(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(np.arange(200) % 10)))
    data[12] ^= 0xFF                                  # damage the deflate stream
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte.gz: corrupt or truncated gzip data"):
        read_idx(path, 1)


def test_training_and_test_image_sizes_are_cross_checked(tmp_path):
    write_mnist(tmp_path / "mnist", test_size=(20, 20))
    with pytest.raises(ValueError, match=r"mnist: the training images \(.*train-images-idx3-ubyte"
                                         r".gz\) are \(1, 28, 28\) but the test images \(.*t10k-"
                                         r"images-idx3-ubyte.gz\) are \(1, 20, 20\)"):
        load_mnist(tmp_path)


# ----------------------------------------------------------------------------- CIFAR batches
def write_py_batch(path, data, labels):
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
    return path


PIXELS = np.random.default_rng(0).integers(0, 256, (3, 3072)).astype(np.uint8)


@pytest.mark.parametrize("labels, message", [
    ([True, False, True], r"labels must be integers 0..9, one per image, got bool"),
    ([0.0, 1.5, 2.0], r"labels must be integers 0..9, one per image, got float64"),
    ([1, 2], r"3 images but 2 labels"),
    ([1, 2, 10], r"found label 10; CIFAR-10 labels are 0-9"),
    ([1, -1, 2], r"found label -1"),
    (["a", "b", "c"], r"labels must be integers 0..9"),
])
def test_cifar_python_batch_labels_are_checked(tmp_path, labels, message):
    path = write_py_batch(tmp_path / "data_batch_1", PIXELS, labels)
    with pytest.raises(ValueError, match=r"data_batch_1: " + message):
        read_cifar_py(path)


def test_cifar_python_batch_pixels_must_be_bytes_not_floats(tmp_path):
    for pixels in (PIXELS / 255.0, PIXELS.astype(np.float32) + 1):       # 0..1, or 256.0
        path = write_py_batch(tmp_path / "data_batch_1", pixels, [0, 1, 2])
        with pytest.raises(ValueError, match=r"data_batch_1: b'data' holds float\d+ values; "
                                             r"CIFAR-10 pixels are uint8 0..255"):
            read_cifar_py(path)
    path = write_py_batch(tmp_path / "data_batch_1", PIXELS.astype(np.int64) + 1, [0, 1, 2])
    with pytest.raises(ValueError, match=r"b'data' holds values 1..256; pixels are 0..255"):
        read_cifar_py(path)
    path = write_py_batch(tmp_path / "data_batch_1", PIXELS.astype(np.int64), [0, 1, 2])
    x, y = read_cifar_py(path)                        # integers 0..255 are fine, as uint8
    assert x.dtype == np.uint8 and (x.reshape(3, -1) == PIXELS).all()
    assert y.tolist() == [0, 1, 2] and y.dtype == np.int64


def test_a_folder_where_a_cifar_batch_should_be_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "data_batch_1.bin").mkdir()
    (folder / "test_batch.bin").write_bytes(bytes(3073))
    with pytest.raises(ValueError, match=r"data_batch_1.bin is a folder, but a CIFAR-10 binary "
                                         r"batch should be there"):
        load_cifar10(tmp_path, train_batches=[1])


class WriteSentinel:
    """A pickle payload: unpickling it calls open(path, 'w'), creating the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_with_a_reduce_payload_is_refused_and_leaves_no_trace(tmp_path):
    sentinel = tmp_path / "sentinel"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": WriteSentinel(sentinel), b"labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_1: unsafe or corrupt pickle: refusing to "
                                         r"load (builtins|io).open"):
        read_cifar_py(path)
    assert not sentinel.exists()
    live = tmp_path / "live"                        # the payload is real: a plain load runs it
    pickle.loads(pickle.dumps(WriteSentinel(live))).close()
    assert live.exists()


def test_a_pickle_may_rebuild_bytes_only_as_latin1(tmp_path):
    path = tmp_path / "data_batch_1"
    # protocol 2: _codecs.encode('uryyb', 'rot13'), the form bytes take, with another codec
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x05\x00\x00\x00uryybX\x05\x00\x00\x00rot13"
                     b"\x86R.")
    assert pickle.loads(path.read_bytes()) == "hello"      # what a plain load does
    with pytest.raises(ValueError, match=r"unsafe or corrupt pickle: refusing "
                                         r"_codecs.encode\(..., 'rot13'\)"):
        read_cifar_py(path)


# ----------------------------------------------------------------------------- fit / predict
def small_model(shape=(1, 4, 4), outputs=3):
    mc.manual_seed(0)
    model = mc.Sequential([Flatten(input_shape=shape), Dense(outputs)])
    model.compile(optimizer=mc.optim.SGD(lr=0.1), loss="cross_entropy", metrics=["accuracy"])
    return model


X8 = np.random.default_rng(1).integers(0, 256, (12, 1, 4, 4)).astype(np.uint8)
Y = np.arange(12) % 3


def test_uint8_images_are_scaled_by_1_255_in_fit_evaluate_and_predict():
    scaled = X8.astype(np.float32) / 255
    a, b = small_model(), small_model()
    a.fit(X8, Y, epochs=2, batch_size=4, seed=0, verbose=0)
    b.fit(scaled, Y, epochs=2, batch_size=4, seed=0, verbose=0)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6)
    np.testing.assert_allclose(a.predict(X8), a.predict(scaled), rtol=1e-6)
    np.testing.assert_allclose(a.evaluate(X8, Y), a.evaluate(scaled, Y), rtol=1e-6)
    with pytest.raises(TypeError, match="expected floating-point input, got uint8"):
        a(X8)                                    # model(x) takes floats only


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_other_integer_images_are_refused_with_the_rule_and_the_fix(call):
    model = small_model()
    x = X8.astype(np.int64)
    args = (x,) if call == "predict" else (x, Y)
    with pytest.raises(ValueError, match=rf"^{call}: x is int64 \(values \d+..\d+\); minicnn "
                                         rf"scales only uint8 images \(by 1/255\) and takes floats "
                                         rf"as they are: pass x.astype\(np.uint8\) if they are "
                                         rf"pixels 0..255, or x.astype\(np.float32\)"):
        getattr(model, call)(*args, **({"verbose": 0} if call == "fit" else {}))
    with pytest.raises(ValueError, match=rf"^{call}: x is int64 \(values -1..1\); .*: pass "
                                         rf"x.astype\(np.float32\) to use the numbers as they "
                                         rf"are$"):
        bad = np.ones_like(x) * np.sign(np.arange(12) - 5)[:, None, None, None]
        getattr(model, call)(*((bad,) if call == "predict" else (bad, Y)))
    with pytest.raises(ValueError, match=rf"^{call}: x is bool"):
        getattr(model, call)(*((x > 0,) if call == "predict" else (x > 0, Y)))


def test_bool_labels_are_refused():
    model = small_model(outputs=2)
    with pytest.raises(ValueError, match=r"^fit: labels y are bool; labels must be integers "
                                         r"\(class indices 0, 1, ...\) or float targets, got "
                                         r"bool: pass y.astype\(np.int64\)$"):
        model.fit(X8, Y == 0, verbose=0)
    with pytest.raises(ValueError, match=r"^evaluate: labels y are bool"):
        model.evaluate(X8, Y == 0)


def test_validation_images_must_have_the_training_images_size():
    model = small_model()
    x_val = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"^fit: images of the training data are \(1, 4, 4\) but "
                                         r"the validation data's are \(3, 4, 4\)"):
        model.fit(X8, Y, validation_data=(x_val, Y[:2]), verbose=0)
    with pytest.raises(ValueError, match=r"labels of the training data have shape \(N\) but the "
                                         r"validation data's have \(N, 3\)"):
        model.fit(X8, Y, validation_data=(X8[:2], np.eye(3)[:2]), verbose=0)


def test_predict_refuses_a_single_number():
    with pytest.raises(ValueError, match=r"^predict: x must be an array with one row per sample"):
        small_model().predict(3.0)


# ----------------------------------------------------------------------------- transforms
def test_to_float_and_normalize_refuse_what_would_be_silently_wrong():
    with pytest.raises(ValueError, match=r"ToFloat: x is float32; ToFloat turns pixels 0..255"):
        ToFloat()(X8.astype(np.float32) / 255)              # would divide by 255 twice
    with pytest.raises(ValueError, match=r"ToFloat: x holds values -1..255"):
        ToFloat()(np.array([-1, 255]))
    np.testing.assert_allclose(ToFloat()(X8.astype(np.int64)), X8 / 255, rtol=1e-6)
    with pytest.raises(ValueError, match=r"Normalize: x is uint8; Normalize takes float images: "
                                         r"put ToFloat\(\) before it"):
        Normalize([0.5], [0.5])(X8)


def test_batch_iterator_batch_size_must_be_a_whole_number():
    with pytest.raises(ValueError, match=r"batch_size must be a whole number >= 1, got 2.5"):
        BatchIterator(X8, Y, batch_size=2.5)


# ----------------------------------------------------------------------------- the command
@pytest.mark.parametrize("argv, message", [
    (["predict", "c.npz", "--count", "-1"], "argument --count: must be a positive integer, got -1"),
    (["predict", "c.npz", "--count", "0"], "argument --count: must be a positive integer, got 0"),
    (["train", "lenet", "--limit", "-5"], "argument --limit: must be a positive integer, got -5"),
    (["plot", "misclassified", "c.npz", "--count", "x"],
     "argument --count: must be a positive integer, got x"),
])
def test_count_and_limit_must_be_positive(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny untrained model for 28x28 digits, saved as `minicnn train` would."""
    path = tmp_path_factory.mktemp("ck") / "checkpoint.npz"
    model = small_model((1, 28, 28), 10)
    mc.save(model, path, metadata={"dataset": "mnist-sample", "mean": [0.1307], "std": [0.3081]})
    return path


def run(argv, capsys):
    code = main(argv + ["--backend", "numpy"])
    out, err = capsys.readouterr()
    return code, out, err


DIGITS = mc.data.load_mnist_sample()[1][0][:3, 0]               # uint8 (3, 28, 28)


@pytest.mark.parametrize("array, message", [
    (np.float32(3), r"holds a single number, not images: give \(N, C, H, W\), \(N, H, W\) or "
                    r"\(H, W\)"),
    (np.zeros(784, np.float32), r"holds an array of shape \(784,\), not images"),
    (DIGITS.astype(np.int64), r"x is int64 \(values 0..255\); minicnn scales only uint8 images "
                              r"\(by 1/255\) and takes floats as they are: save "
                              r"x.astype\(np.uint8\)"),
    (DIGITS > 0, r"x is bool"),
    (np.zeros((2, 28, 28, 3), np.float32), r"holds an array of shape \(2, 28, 28, 3\), but the "
                                           r"model takes images \(1, 28, 28\): give \(N, 1, 28, "
                                           r"28\), \(N, 28, 28\) or \(28, 28\)"),
    (np.zeros((0, 28, 28), np.uint8), r"holds no images"),
    (np.full((1, 28, 28), np.nan, np.float32), r"holds NaN or infinite values"),
])
def test_predict_input_that_is_not_images_is_a_clear_error(checkpoint, tmp_path, capsys, array,
                                                           message):
    np.save(tmp_path / "x.npy", array)
    code, out, err = run(["predict", str(checkpoint), "--input", str(tmp_path / "x.npy")], capsys)
    assert code == 1 and out == ""
    assert err.startswith(f"minicnn predict: --input {tmp_path / 'x.npy'}")
    assert __import__("re").search(message, err), err


def test_predict_input_npz_and_folder(checkpoint, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", images=DIGITS)
    code, _, err = run(["predict", str(checkpoint), "--input", str(tmp_path / "x.npz")], capsys)
    assert code == 1 and "x.npz is an .npz archive (arrays: images); --input takes one .npy " \
                         "file of images: np.save('images.npy', archive['images'])" in err
    code, _, err = run(["predict", str(checkpoint), "--input", str(tmp_path)], capsys)
    assert code == 1 and f"{tmp_path} is a folder, but a .npy file of images should be " in err


def test_predict_input_scales_uint8_like_the_test_set(checkpoint, tmp_path, capsys):
    np.save(tmp_path / "u8.npy", DIGITS)
    np.save(tmp_path / "f.npy", DIGITS.astype(np.float32) / 255)
    np.save(tmp_path / "one.npy", DIGITS[0])                     # one (H, W) image
    outputs = [run(["predict", str(checkpoint), "--input", str(tmp_path / name)], capsys)
               for name in ("u8.npy", "f.npy", "one.npy")]
    assert [code for code, _, _ in outputs] == [0, 0, 0]
    assert outputs[0][1] == outputs[1][1] and len(outputs[0][1].splitlines()) == 3
    assert outputs[2][1].splitlines() == outputs[0][1].splitlines()[:1]
    code, out, _ = run(["predict", str(checkpoint), "--count", "3"], capsys)
    assert code == 0 and [line.split("(true")[0].rstrip() for line in out.splitlines()] == \
        outputs[0][1].splitlines()                               # the sample's first 3 digits


def test_checkpoint_metadata_and_model_are_checked_against_the_data(tmp_path, capsys):
    model = small_model((1, 28, 28), 10)
    for meta, message in (
            ({"dataset": "imagenet"}, "says it was trained on 'imagenet', which is not a data "
                                      "set minicnn knows; pass --dataset"),
            ({"dataset": "mnist-sample", "mean": "0.1"}, "its metadata's mean must be a list of "
                                                         "numbers (one per channel), got '0.1'"),
            ({}, "does not say which data set it was trained on; pass --dataset")):
        mc.save(model, tmp_path / "c.npz", metadata=meta)
        code, _, err = run(["evaluate", str(tmp_path / "c.npz")], capsys)
        assert code == 1 and message in err, err
    mc.save(small_model((3, 32, 32), 10), tmp_path / "c.npz", metadata={"dataset": "cifar10"})
    code, _, err = run(["predict", str(tmp_path / "c.npz"), "--dataset", "mnist-sample"], capsys)
    assert code == 1 and "the model takes images (3, 32, 32) but the mnist-sample test images " \
                         "are (1, 28, 28); pass the --dataset it was trained on (cifar10)" in err
    mc.save(small_model((1, 28, 28), 12), tmp_path / "c.npz", metadata={"dataset": "mnist-sample"})
    code, _, err = run(["evaluate", str(tmp_path / "c.npz")], capsys)
    assert code == 1 and "the model's outputs are (12,) per image, but mnist-sample has 10 " \
                         "classes" in err
