"""Bad input gets an error that names the layer (type and name), what it expected, what it
got, and what to change."""
import re

import numpy as np
import pytest

import minicnn as mc
from minicnn.layers import (Activation, AveragePooling2D, Conv2D, Dense, Dropout, Flatten,
                            MaxPooling2D, Softmax)


@pytest.fixture(autouse=True)
def fresh_names():
    mc.layers.reset_names()


# ----------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_, object])
def test_non_float_input_is_refused_with_the_layer_name(dtype):
    x = np.zeros((2, 3, 8, 8), dtype=dtype)
    name = np.dtype(dtype).name
    pixels = (r" \(for pixels 0..255, mc.data.ToFloat\(\)\(x\) divides by 255, as fit and "
              r"predict do with uint8\)" if name == "uint8" else "")
    with pytest.raises(TypeError, match=rf"^Conv2D 'conv2d': expected floating-point input, "
                                        rf"got {name}; convert with x.astype\('float32'\)"
                                        rf"{pixels}$"):
        Conv2D(4, 3)(x)


def test_integer_input_to_a_model_names_its_first_layer():
    model = mc.Sequential([Flatten(input_shape=(4,)), Dense(2)])
    with pytest.raises(TypeError, match="Flatten 'flatten': expected floating-point input, "
                                        "got int64"):
        model(np.arange(8).reshape(2, 4))
    with pytest.raises(TypeError, match="Dense 'dense_1': expected an array or a Tensor, got str"):
        Dense(2)("not an array")


def test_float64_layer_suggests_its_own_dtype():
    with pytest.raises(TypeError, match=r"convert with x.astype\('float64'\)"):
        Dense(2, dtype="float64")(np.ones((1, 2), dtype=np.int32))


# ----------------------------------------------------------------------------- shapes
def test_wrong_number_of_dimensions():
    with pytest.raises(ValueError, match=r"^Conv2D 'conv2d': expected a 4-D input \(N, C, H, W\), "
                                         r"got an input of shape \(28, 28\)$"):
        Conv2D(4, 3)(np.zeros((28, 28)))
    with pytest.raises(ValueError, match=r"got an input of shape \(1, 28, 28\); for a single "
                                         r"sample add a batch axis: x\[None\]"):
        MaxPooling2D(2)(np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match=r"Dense 'dense': expected an input with a batch axis"):
        Dense(3)(np.zeros(5))


def test_wrong_channel_count_for_a_built_layer():
    layer = Conv2D(4, 3, input_shape=(3, 16, 16))
    layer(np.zeros((1, 3, 16, 16)))
    with pytest.raises(ValueError, match=r"^Conv2D 'conv2d': expected 3 input channels "
                                         r"\(N, 3, H, W\), got an input of shape "
                                         r"\(2, 1, 16, 16\)$"):
        layer(np.zeros((2, 1, 16, 16)))


def test_wrong_feature_count_for_dense():
    model = mc.Sequential([Dense(6, input_shape=(4,))])
    with pytest.raises(ValueError, match=r"Dense 'dense': expected 4 input features on the last "
                                         r"axis \(N, 4\), got an input of shape \(2, 5\)"):
        model(np.zeros((2, 5)))


def test_channels_last_data_is_named_and_the_transpose_suggested():
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': an input of shape \(8, 32, 32, 3\) "
                                         r"looks channels-last \(N, H, W, C\); minicnn is NCHW "
                                         r"\(N, C, H, W\): pass x.transpose\(0, 3, 1, 2\), of "
                                         r"shape \(8, 3, 32, 32\)"):
        mc.Sequential([Conv2D(6, 5), Flatten(), Dense(10)])(np.zeros((8, 32, 32, 3)))
    built = mc.Sequential([Conv2D(6, 5, input_shape=(1, 28, 28))])
    with pytest.raises(ValueError, match=r"expected 1 input channel \(N, 1, H, W\), got an "
                                         r"input of shape \(4, 28, 28, 1\); it looks "
                                         r"channels-last, but minicnn is NCHW \(N, C, H, W\): "
                                         r"pass x.transpose\(0, 3, 1, 2\)"):
        built(np.zeros((4, 28, 28, 1), np.float32))


@pytest.mark.parametrize("shape, fixed", [((32, 32, 3), (3, 32, 32)), ((28, 28, 1), (1, 28, 28))])
def test_channels_last_input_shape_shows_the_corrected_shape(shape, fixed):
    expected = (f"Conv2D 'conv2d': input_shape={shape} looks channels-last (H, W, C); "
                f"minicnn is channels-first (C, H, W): use input_shape={fixed}")
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "$"):
        Conv2D(6, 5, input_shape=shape)
    with pytest.raises(ValueError, match=rf"use input_shape=\({fixed[0]}, "):
        mc.Sequential([MaxPooling2D(2)]).build(shape)


def test_input_shape_with_a_batch_axis_or_missing_channels():
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': expected one sample's shape "
                                         r"\(C, H, W\), got input_shape=\(1, 1, 28, 28\); leave "
                                         r"out the batch axis"):
        Conv2D(6, 5, input_shape=(1, 1, 28, 28))
    with pytest.raises(ValueError, match=r"got input_shape=\(28, 28\)"):
        Conv2D(6, 5, input_shape=(28, 28))
    with pytest.raises(TypeError, match=r"input_shape must be a tuple of ints"):
        Dense(3, input_shape=784)
    with pytest.raises(ValueError, match="sizes in the input shape must be positive"):
        Dense(3, input_shape=(0,))


def test_a_layer_that_does_not_fit_the_shape_it_is_handed():
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': expected one sample's shape "
                                         r"\(C, H, W\), got samples of shape \(6,\)"):
        mc.Sequential([Dense(6, input_shape=(4,)), Conv2D(3, 3)])


def test_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"^Conv2D 'conv2d': the kernel spans 5 pixels in height "
                                         r"but the padded input is only 3 \(input 3 \+ padding "
                                         r"0\+0\)"):
        Conv2D(6, 5)(np.zeros((1, 1, 3, 8)))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d_1': the kernel spans 5 pixels in width "
                                         r"but the padded input is only 4 \(input 2 \+ padding "
                                         r"1\+1\)"):
        Conv2D(6, 5, padding=1)(np.zeros((1, 1, 8, 2)))
    with pytest.raises(ValueError, match=r"MaxPooling2D 'max_pooling2d_2': the kernel spans 2 "
                                         r"pixels in height but the padded input is only 1"):
        mc.Sequential([Conv2D(2, 3, input_shape=(1, 6, 6)), MaxPooling2D(2), MaxPooling2D(2),
                       MaxPooling2D(2)])


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("make, message", [
    (lambda: Conv2D(0, 3), r"Conv2D 'conv2d': filters must be a positive integer, got 0"),
    (lambda: Conv2D(-2, 3), r"Conv2D 'conv2d': filters must be a positive integer, got -2"),
    (lambda: Conv2D(4, 0), r"Conv2D 'conv2d': kernel_size must be at least 1, got 0"),
    (lambda: Conv2D(4, (3, 0)), r"Conv2D 'conv2d': kernel_size must be at least 1, got \(3, 0\)"),
    (lambda: Conv2D(4, 3, strides=0), r"Conv2D 'conv2d': strides must be at least 1, got 0"),
    (lambda: Conv2D(4, 3, dilation_rate=0), r"Conv2D 'conv2d': dilation_rate must be at least 1"),
    (lambda: Conv2D(4, 3, padding=-1), r"Conv2D 'conv2d': padding must not be negative"),
    (lambda: Conv2D(4, 3, padding="full"), r"Conv2D 'conv2d': padding must be 'valid', 'same'"),
    (lambda: Conv2D(4, 3, groups=3), r"Conv2D 'conv2d': groups=3 must divide filters=4"),
    (lambda: Dense(-1), r"Dense 'dense': units must be a positive integer, got -1"),
    (lambda: Dense(0), r"Dense 'dense': units must be a positive integer, got 0"),
    (lambda: MaxPooling2D(0), r"MaxPooling2D 'max_pooling2d': pool_size must be at least 1, got 0"),
    (lambda: MaxPooling2D(2, strides=0), r"MaxPooling2D 'max_pooling2d': strides must be at least 1"),
    (lambda: AveragePooling2D(2, padding=2), r"AveragePooling2D 'average_pooling2d': padding 2 is "
                                             r"more than half the pool size"),
    (lambda: Dropout(1.0), r"Dropout 'dropout': rate must be a number in \[0, 1\), got 1.0"),
    (lambda: Dropout(-0.1), r"Dropout 'dropout': rate must be a number in \[0, 1\), got -0.1"),
])
def test_bad_sizes_are_refused_with_the_layer_name(make, message):
    with pytest.raises(ValueError, match="^" + message):
        make()


def test_bad_types_of_sizes():
    with pytest.raises(TypeError, match=r"Conv2D 'conv2d': kernel_size must be an int or a pair "
                                        r"of ints, got 2.5"):
        Conv2D(4, 2.5)
    with pytest.raises(ValueError, match="filters must be a positive integer, got True"):
        Conv2D(True, 3)
    with pytest.raises(TypeError, match="Dense 'dense': dtype must be a float type, got int32"):
        Dense(3, dtype="int32")
    with pytest.raises(TypeError, match="Dropout 'dropout': rate must be a number, got 'half'"):
        Dropout("half")


def test_groups_must_divide_the_input_channels():
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': groups=2 must divide the number of "
                                         r"input channels \(3\), got an input of shape "
                                         r"\(1, 3, 5, 5\)"):
        Conv2D(4, 3, groups=2)(np.zeros((1, 3, 5, 5)))


def test_unknown_activation_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"Dense 'dense': unknown activation 'rleu'; valid names "
                                         r"are 'linear', 'relu', 'leaky_relu', 'elu', 'gelu', "
                                         r"'sigmoid', 'tanh', 'softmax', 'log_softmax'"):
        Dense(3, activation="rleu")
    with pytest.raises(ValueError, match=r"Activation 'activation': unknown activation 'swish'"):
        Activation("swish")
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': unknown activation 42"):
        Conv2D(3, 3, activation=42)


def test_unknown_initializer_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"Dense 'dense': unknown initializer 'glorot'; valid "
                                         r"names are constant, glorot_normal, glorot_uniform, "
                                         r"he_normal, he_uniform, lecun_normal"):
        Dense(3, kernel_initializer="glorot")
    with pytest.raises(TypeError, match=r"Dense 'dense_1': an initializer must be a name"):
        Dense(3, kernel_initializer=3)


def test_softmax_axis_out_of_range():
    with pytest.raises(ValueError, match=r"Softmax 'softmax': axis=2 is out of range for a 2-D "
                                         r"input, got an input of shape \(3, 4\)"):
        Softmax(axis=2)(np.zeros((3, 4)))


def test_sequential_add_refuses_non_layers():
    with pytest.raises(TypeError, match=r"Sequential 'sequential'.add: got the class Dense, not "
                                        r"a layer; did you mean Dense\(...\)\?"):
        mc.Sequential([Dense])
    with pytest.raises(TypeError, match=r"Sequential 'sequential_1'.add: expected a layer"):
        mc.Sequential(["dense"])
    with pytest.raises(ValueError, match="Sequential 'sequential_2' has no layers"):
        mc.Sequential()(np.zeros((1, 2)))


def test_errors_inside_ops_name_the_layer_through_the_scope():
    layer = Dense(2, input_shape=(2,), name="head")
    layer.prepare((2,))
    layer.kernel.data[0, 0] = np.inf
    with mc.detect_anomaly():
        with pytest.raises(FloatingPointError, match="in layer 'head'"):
            layer(np.array([[1.0, -1.0]]))


def test_channels_first_data_with_a_narrow_width_is_not_mistaken_for_channels_last():
    assert Conv2D(2, 1)(np.zeros((1, 6, 5, 1))).shape == (1, 2, 5, 1)
    model = mc.Sequential([Conv2D(2, (3, 1)), Flatten()])
    assert model.prepare((16, 100, 1)) == (2 * 98,)       # prepare trusts the shape it is given
    assert model(np.zeros((1, 16, 100, 1))).shape == (1, 196)
