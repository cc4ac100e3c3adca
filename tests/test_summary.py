"""model.summary() and count_params() on the seed networks: LeNet-5 and Keras' AlexNet;
the MACs column (conv: H_out W_out C_out C_in/groups kh kw, dense: in x out)."""
import pytest

import minicnn as mc
from minicnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D


def lenet(channels):
    return mc.Sequential([
        Conv2D(6, 5, activation="relu", input_shape=(channels, 32, 32)),
        MaxPooling2D(2),
        Conv2D(16, 5, activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dense(120, activation="relu"),
        Dense(84, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def alexnet():
    return mc.Sequential([
        Conv2D(64, 11, strides=4, padding="valid", activation="relu", input_shape=(3, 224, 224)),
        MaxPooling2D(3, 2),
        Conv2D(192, 5, padding="same", activation="relu"),
        MaxPooling2D(3, 2),
        Conv2D(384, 3, padding="same", activation="relu"),
        Conv2D(256, 3, padding="same", activation="relu"),
        MaxPooling2D(3, 2),
        Flatten(),
        Dense(4096, activation="relu"),
        Dense(4096, activation="relu"),
        Dense(1000, activation="softmax"),
    ])


LENET_SUMMARY = """\
Model: "sequential"
__________________________________________________________________________________
Layer (type)                   Output Shape              Param #   MACs
==================================================================================
conv2d (Conv2D)                (None, 6, 28, 28)         456       352,800
__________________________________________________________________________________
max_pooling2d (MaxPooling2D)   (None, 6, 14, 14)         0         0
__________________________________________________________________________________
conv2d_1 (Conv2D)              (None, 16, 10, 10)        2416      240,000
__________________________________________________________________________________
max_pooling2d_1 (MaxPooling2D) (None, 16, 5, 5)          0         0
__________________________________________________________________________________
flatten (Flatten)              (None, 400)               0         0
__________________________________________________________________________________
dense (Dense)                  (None, 120)               48120     48,000
__________________________________________________________________________________
dense_1 (Dense)                (None, 84)                10164     10,080
__________________________________________________________________________________
dense_2 (Dense)                (None, 10)                850       840
==================================================================================
Total params: 62,006
Trainable params: 62,006
Non-trainable params: 0
Total MACs: 651,720 (multiply-adds per sample, forward pass)
__________________________________________________________________________________"""


def test_lenet_summary_is_the_keras_table():
    mc.layers.reset_names()
    printed = []
    text = lenet(3).summary(print_fn=printed.append)
    assert text == LENET_SUMMARY
    assert printed == LENET_SUMMARY.split("\n")


@pytest.mark.parametrize("channels, total", [(3, 62006), (1, 61706)])
def test_lenet_parameter_counts(channels, total):
    model = lenet(channels)
    assert model.count_params() == total
    assert f"Total params: {total:,}" in model.summary(print_fn=None)


def test_summary_prints_by_default(capsys):
    text = lenet(1).summary()
    assert capsys.readouterr().out == text + "\n"


def test_alexnet_shapes_and_parameters_without_a_forward_pass(monkeypatch):
    def no_ops(*args, **kwargs):
        raise AssertionError("building or summarising a model must not run any op")
    monkeypatch.setattr(mc.Function, "__call__", no_ops)
    model = alexnet()
    text = model.summary(print_fn=None)
    shapes = model.layer_output_shapes()
    assert shapes[:7] == [(64, 54, 54), (64, 26, 26), (192, 26, 26), (192, 12, 12),
                          (384, 12, 12), (256, 12, 12), (256, 5, 5)]
    assert shapes[7:] == [(6400,), (4096,), (4096,), (1000,)]
    assert model.count_params() == 48_976_424
    assert "Total params: 48,976,424" in text and "Trainable params: 48,976,424" in text
    assert "(None, 64, 54, 54)" in text and "(None, 256, 5, 5)" in text
    assert [layer.count_params() for layer in model] == [
        23296, 0, 307392, 0, 663936, 884992, 0, 0, 26218496, 16781312, 4097000]
    assert model.count_macs() == 545_452_800 and "Total MACs: 545,452,800" in text


def test_non_trainable_parameters_are_counted_apart():
    model = mc.Sequential([Dense(4, input_shape=(3,)), Dropout(0.1)])
    model[0].running = mc.Parameter([0.0, 0.0], trainable=False)
    text = model.summary(print_fn=None)
    assert "Total params: 18" in text and "Trainable params: 16" in text
    assert "Non-trainable params: 2" in text


def test_summary_of_a_subclassed_model_uses_the_last_forward_pass():
    class Net(mc.Model):
        def __init__(self):
            super().__init__()
            self.conv = Conv2D(2, 3)
            self.flatten = Flatten()
            self.head = Dense(3)

        def call(self, x):
            return self.head(self.flatten(self.conv(x)))

    mc.layers.reset_names()
    net = Net()
    with pytest.raises(ValueError, match="summary: Conv2D 'conv2d' has no weights yet"):
        net.summary()
    text = net.build((1, 5, 5)).summary(print_fn=None)
    assert text.splitlines()[0] == 'Model: "net"'
    assert "conv2d (Conv2D)              (None, 2, 3, 3)           20        162\n" in text
    assert "dense (Dense)                (None, 3)                 57        54\n" in text
    assert "Total MACs: 216 " in text


def test_unbuilt_sequential_summary_says_how_to_build():
    with pytest.raises(ValueError, match=r"input_shape=\(C, H, W\)"):
        mc.Sequential([Flatten()]).summary()
    with pytest.raises(ValueError, match="has no weights yet"):
        mc.Sequential([Conv2D(2, 3)]).summary()


def test_long_names_widen_the_table():
    model = mc.Sequential([Dense(2, input_shape=(3,), name="a_very_long_layer_name_indeed")])
    text = model.summary(print_fn=None, line_length=100)
    assert "a_very_long_layer_name_indeed (Dense)" in text
    assert max(len(line) for line in text.splitlines()) == 100


# ----------------------------------------------------------------------------- memory
def test_summary_with_a_batch_size_estimates_the_memory_of_a_training_step():
    from minicnn.models.summary import estimate_memory, summary
    model = mc.Sequential([Conv2D(6, 5, activation="relu", input_shape=(1, 32, 32)),
                           MaxPooling2D(2), Flatten(), Dense(10)])
    n = 64
    conv_out, cols, mask = 6 * 28 * 28 * 4, 1 * 5 * 5 * 28 * 28 * 4, 6 * 28 * 28
    estimate = estimate_memory(model, n)
    assert estimate.per_layer[0] == n * (conv_out + cols + mask)   # output, im2col, ReLU mask
    assert estimate.per_layer[1] == n * (6 * 14 * 14 * 4 + 6 * 14 * 14 * 8)   # + argmax
    assert estimate.im2col == n * cols
    assert estimate.weights == estimate.gradients == 4 * model.count_params()
    assert estimate.total == (n * 32 * 32 * 4 + estimate.outputs + estimate.saved
                              + estimate.weights + estimate.gradients + n * cols)
    text = summary(model, batch_size=n, print_fn=None)
    assert "Memory (N=64)" in text.splitlines()[2]
    assert "Estimated memory for a training step at batch 64 (float32): 12.5 MiB" in text
    assert "im2col columns 4.8 MiB" in text
    assert "Memory" not in summary(model, print_fn=None)        # the plain table is unchanged
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        summary(model, batch_size=0, print_fn=None)


def test_vgg_first_block_at_batch_32_shows_the_array_of_the_memory_error():
    # the issue's "Unable to allocate 3.45 GiB ... (32, 64, 3, 3, 224, 224)": block1_conv2's
    # im2col columns, which the estimate shows before anything is allocated
    from minicnn.models.summary import estimate_memory, format_bytes
    block = mc.Sequential([Conv2D(64, 3, padding="same", activation="relu",
                                  input_shape=(3, 224, 224)),
                           Conv2D(64, 3, padding="same", activation="relu")])
    with mc.use_backend("numpy"):
        estimate = estimate_memory(block, 32)
    second = block.layers[1].im2col_bytes((64, 224, 224), 4) * 32
    assert second == 32 * 64 * 3 * 3 * 224 * 224 * 4 and format_bytes(second) == "3.45 GiB"
    assert estimate.temporary == second
    assert "the numba backend builds them in chunks" in "\n".join(estimate.lines())
