"""Data readers (IDX, CIFAR-10 binary and python batches), where data is found, the
embedded sample, transforms and the batch iterator. All files are made in tmp_path."""
import gzip
import os
import pickle

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import (BatchIterator, DatasetNotFoundError, Normalize, RandomCrop,
                          RandomHorizontalFlip, RandomTranslation, load_cifar10, load_mnist,
                          load_mnist_sample, read_cifar_bin, read_cifar_py, read_idx)
from minicnn.data.sample import SAMPLE_PATH


def idx_bytes(array):
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes() + array.tobytes()


def write_mnist(folder, n_train=12, n_test=5, gz=True):
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for kind, array, dims in (("images", images, 3), ("labels", labels, 1)):
            name = f"{split}-{kind}-idx{dims}-ubyte"
            raw = idx_bytes(array)
            with open(os.path.join(folder, name + (".gz" if gz else "")), "wb") as f:
                f.write(gzip.compress(raw) if gz else raw)
        data[split] = (images, labels)
    return data


def cifar_records(n, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return labels, pixels, np.concatenate([labels[:, None], pixels], axis=1).tobytes()


# ----------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_files_gzip_or_raw(tmp_path, gz):
    data = write_mnist(tmp_path / "mnist", gz=gz)
    (x, y), (xt, yt) = load_mnist(tmp_path)
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0], data["train"][0])
    np.testing.assert_array_equal(yt, data["t10k"][1])


def test_idx_errors_name_the_file_and_the_problem(tmp_path):
    path = tmp_path / "bad-idx"
    path.write_bytes(b"\x00\x00\x08\x03" + np.array([10, 28, 28], ">u4").tobytes() + b"\x00" * 100)
    with pytest.raises(ValueError, match=r"bad-idx: the header says \(10, 28, 28\).*truncated"):
        read_idx(path)
    path.write_bytes(b"\x89PNG....")
    with pytest.raises(ValueError, match="bad-idx: not an IDX file"):
        read_idx(path)
    path.write_bytes(idx_bytes(np.zeros(3)))
    with pytest.raises(ValueError, match="expected a 3-dimensional IDX file"):
        read_idx(path, 3)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((2, 2, 2))))[:-10])
    with pytest.raises(ValueError, match="bad-idx: corrupt or truncated gzip"):
        read_idx(path)


def test_images_and_labels_that_do_not_belong_together(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3))))
    with pytest.raises(ValueError, match="12 images but .*3 labels"):
        load_mnist(tmp_path)


# ----------------------------------------------------------------------------- search order
def test_missing_files_are_listed_with_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_mnist(tmp_path / "env" / "mnist")
    os.remove(tmp_path / "env" / "mnist" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DatasetNotFoundError) as error:
        load_mnist()
    message = str(error.value)
    assert "missing t10k-labels-idx1-ubyte.gz" in message
    assert str(tmp_path / "env" / "mnist") in message and str(tmp_path / "cache") in message


def test_path_then_environment_then_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    write_mnist(tmp_path / "cache" / "minicnn" / "mnist", n_train=3)
    assert len(load_mnist()[0][0]) == 3
    write_mnist(tmp_path / "env" / "mnist", n_train=4)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    assert len(load_mnist()[0][0]) == 4
    write_mnist(tmp_path / "given", n_train=5)
    assert len(load_mnist(tmp_path / "given")[0][0]) == 5
    lines = mc.data.describe_datasets(tmp_path / "given")
    assert any(line.startswith("mnist ") and "given" in line for line in lines)


# ----------------------------------------------------------------------------- CIFAR-10
def test_cifar_binary_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    labels, pixels, raw = cifar_records(7)
    (folder / "data_batch_1.bin").write_bytes(raw)
    (folder / "test_batch.bin").write_bytes(cifar_records(4, seed=1)[2])
    (x, y), (xt, yt) = load_cifar10(tmp_path, train_batches=[1])
    assert x.shape == (7, 3, 32, 32) and xt.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(x[:, 1].reshape(7, -1), pixels[:, 1024:2048])    # green plane
    with pytest.raises(DatasetNotFoundError, match="missing data_batch_2.bin"):
        load_cifar10(tmp_path)                     # all five batches by default
    (folder / "test_batch.bin").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match=r"test_batch.bin: .* not a whole number of CIFAR-10"):
        read_cifar_bin(folder / "test_batch.bin")


def test_cifar_python_batches_and_all_five(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, seed in [(f"data_batch_{i}", i) for i in range(1, 6)] + [("test_batch", 9)]:
        labels, pixels, _ = cifar_records(3, seed)
        batch = {b"batch_label": b"x", b"labels": labels.tolist(), b"data": pixels,
                 b"filenames": [b"a.png"] * 3}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (x, y), (xt, yt) = load_cifar10(tmp_path)
    assert x.shape == (15, 3, 32, 32) and len(yt) == 3
    np.testing.assert_array_equal(y[:3], cifar_records(3, 1)[0])


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_crafted_pickle_cannot_run_code(tmp_path, monkeypatch):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": [0]}))
    calls = []
    fake = lambda cmd: calls.append(cmd)                    # a plain load would call it
    monkeypatch.setattr(os, "system", fake)
    monkeypatch.setattr(f"{os.name}.system", fake)         # pickles name it posix.system
    with pytest.raises(ValueError, match=r"data_batch_1: unsafe or corrupt pickle: refusing to "
                                         r"load posix.system"):
        read_cifar_py(path)
    assert calls == []
    pickle.loads(path.read_bytes())                 # the file really does try: a plain load
    assert calls == ["echo pwned > /dev/null"]     # calls (the patched) os.system
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)})[:-20])
    with pytest.raises(ValueError, match="data_batch_1: unsafe or corrupt pickle: pickle data "
                                         "was truncated"):
        read_cifar_py(path)


# ----------------------------------------------------------------------------- embedded sample
def test_embedded_sample_is_real_digits_small_and_split_by_class():
    assert os.path.getsize(SAMPLE_PATH) < 1.5 * 2**20
    (x, y), (xt, yt) = load_mnist_sample()
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert (np.bincount(y) == 400).all() and (np.bincount(yt) == 100).all()
    assert x.dtype == np.uint8 and x.max() == 255 and x.min() == 0
    assert 25 < x.mean() < 45                 # MNIST's mean pixel is about 33


# ----------------------------------------------------------------------------- transforms
def test_normalize_per_channel():
    x = np.random.default_rng(0).random((6, 3, 4, 4)).astype(np.float32) * 5 + 2
    z = Normalize.fit(x)(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)
    with pytest.raises(ValueError, match="3 channel means but x has 1 channels"):
        Normalize([0, 0, 0], [1, 1, 1])(x[:, :1])


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    x = np.arange(2 * 1 * 5 * 5, dtype=np.float32).reshape(2, 1, 5, 5) + 1
    out = RandomCrop(5, padding=2)(x, np.random.default_rng(3))
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for n in range(2):
        assert any(np.array_equal(out[n], padded[n, :, i:i + 5, j:j + 5])
                   for i in range(5) for j in range(5))
    same = RandomTranslation(2)(x, np.random.default_rng(3))
    np.testing.assert_array_equal(same, out)


def test_horizontal_flip_flips_about_half_and_is_seeded():
    x = np.random.default_rng(0).random((200, 1, 3, 4))
    out = RandomHorizontalFlip()(x, np.random.default_rng(1))
    flipped = [np.array_equal(o, s[..., ::-1]) for o, s in zip(out, x)]
    assert 70 < sum(flipped) < 130
    np.testing.assert_array_equal(out, RandomHorizontalFlip()(x, np.random.default_rng(1)))


def test_batch_iterator_is_seeded_shuffles_each_epoch_and_covers_every_sample():
    x, y = np.arange(10)[:, None] * np.ones((1, 3)), np.arange(10)
    it = BatchIterator(x, y, batch_size=4, seed=5)
    first = [yb for _, yb in it]
    second = [yb for _, yb in it]
    assert [len(b) for b in first] == [4, 4, 2] and len(it) == 3
    assert sorted(np.concatenate(first)) == list(range(10))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    again = [yb for _, yb in BatchIterator(x, y, batch_size=4, seed=5)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    xb, yb = next(iter(BatchIterator(x, y, batch_size=4, seed=5)))
    np.testing.assert_array_equal(xb[:, 0], yb)
