"""Layers: each one equals the functional op it wraps, matches the torch.nn module with the
same weights (forward and every gradient), passes a float64 gradcheck, and its
initialisers, names, dtypes and modes behave as Keras' do."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.functional.utils import normalize_padding
from minicnn.layers import (Activation, AveragePooling2D, AvgPool2D, Conv2D, Dense, Dropout,
                            Flatten, MaxPool2D, MaxPooling2D, ReLU, Softmax, initializers)
from minicnn.testing import assert_matches_torch
from minicnn.testing.strategies import conv_cases, random_array, seeds

torch_call = torch.func.functional_call


def with_weights(layer, **tensors):
    """The layer, its weights replaced by the given Tensors (so their gradients are checked)."""
    for name, value in tensors.items():
        setattr(layer, name, value)
    return layer


def torch_pad(x, padding, kernel, stride, dilation, value=0.0):
    """x padded as minicnn pads it (Keras' asymmetric 'same' included), in torch."""
    (top, bottom), (left, right) = normalize_padding(padding, kernel, stride, dilation,
                                                     tuple(x.shape[2:]))
    return torch.nn.functional.pad(x, (left, right, top, bottom), value=value)


@st.composite
def small_conv_cases(draw):
    """Small shapes for gradchecks (every element is perturbed)."""
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same", 1, (0, 1)]))
    h, w = draw(st.integers(3, 6)), draw(st.integers(3, 6))
    return dict(x_shape=(draw(st.integers(1, 2)), c, h, w), filters=o, kernel_size=k,
                strides=stride, padding=padding, groups=groups)


# ----------------------------------------------------------------------------- Conv2D
@given(conv_cases(), seeds)
def test_conv2d_layer_is_the_functional_op_and_matches_torch(case, seed):
    x = random_array(seed, case["x_shape"])
    layer = Conv2D(case["w_shape"][0], case["w_shape"][2:], strides=case["stride"],
                   padding=case["padding"], dilation_rate=case["dilation"],
                   groups=case["groups"], dtype="float64")
    layer.prepare(case["x_shape"][1:])        # (8, 9, 3) is a shape, not channels-last data
    y = layer(x)
    assert layer.kernel.shape == case["w_shape"] and layer.bias.shape == (case["w_shape"][0],)
    expected = F.conv2d(x, layer.kernel, layer.bias, stride=case["stride"],
                        padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    np.testing.assert_array_equal(y.data, expected.data)
    assert y.shape[1:] == layer.compute_output_shape(case["x_shape"][1:])

    module = torch.nn.Conv2d(case["x_shape"][1], case["w_shape"][0], case["w_shape"][2:],
                             stride=case["stride"], dilation=case["dilation"],
                             groups=case["groups"])
    w = random_array(seed + 1, case["w_shape"])
    b = random_array(seed + 2, (case["w_shape"][0],))
    assert_matches_torch(
        lambda x, w, b: with_weights(layer, kernel=w, bias=b)(x),
        lambda x, w, b: torch_call(module, {"weight": w, "bias": b}, (
            torch_pad(x, case["padding"], case["w_shape"][2:], case["stride"], case["dilation"]),)),
        [x, w, b])


def test_conv2d_float32_matches_torch_with_activation():
    x = random_array(0, (2, 3, 9, 9), "float32")
    layer = Conv2D(4, 3, padding="same", activation="relu")
    layer(x)
    module = torch.nn.Conv2d(3, 4, 3, padding="same")
    assert_matches_torch(lambda x, w, b: with_weights(layer, kernel=w, bias=b)(x),
                         lambda x, w, b: torch.relu(torch_call(module, {"weight": w, "bias": b}, (x,))),
                         [x, layer.kernel.data, layer.bias.data], dtype="float32")


def test_conv2d_same_padding_gives_ceil_of_input_over_stride():
    for size in range(5, 12):
        for stride in (1, 2, 3):
            layer = Conv2D(2, (3, 4), strides=stride, padding="same")
            assert layer.compute_output_shape((1, size, size + 1)) == (
                2, -(-size // stride), -(-(size + 1) // stride))


def test_conv2d_without_bias_and_with_activation():
    layer = Conv2D(3, 2, use_bias=False, activation="tanh", dtype="float64")
    x = random_array(1, (2, 2, 4, 4))
    y = layer(x)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["kernel"]
    np.testing.assert_array_equal(y.data, np.tanh(F.conv2d(x, layer.kernel).data))


@given(small_conv_cases(), seeds)
def test_conv2d_gradcheck(case, seed):
    mc.manual_seed(seed % 1000)
    layer = Conv2D(case["filters"], case["kernel_size"], strides=case["strides"],
                   padding=case["padding"], groups=case["groups"], activation="tanh",
                   bias_initializer="random_normal").double()
    x = random_array(seed, case["x_shape"])
    layer.prepare(case["x_shape"][1:])
    mc.gradcheck(lambda x, *weights: layer(x), [x, layer.kernel, layer.bias], seed=seed % 1000)


# ----------------------------------------------------------------------------- Dense
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), seeds,
       st.sampled_from(["float64", "float32"]))
def test_dense_is_linear_and_matches_torch(n, units_in, units_out, seed, dtype):
    x = random_array(seed, (n, units_in), dtype)
    layer = Dense(units_out, dtype=dtype)
    y = layer(x)
    assert layer.kernel.shape == (units_in, units_out) and y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.data, F.linear(x, layer.kernel, layer.bias).data)
    module = torch.nn.Linear(units_in, units_out)
    assert_matches_torch(lambda x, w, b: with_weights(layer, kernel=w, bias=b)(x),
                         lambda x, w, b: torch_call(module, {"weight": w.T, "bias": b}, (x,)),
                         [x, random_array(seed + 1, (units_in, units_out)),
                          random_array(seed + 2, (units_out,))], dtype=dtype)


@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 4),
       st.sampled_from(["relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", None]),
       seeds)
def test_dense_gradcheck(n, units_in, units_out, activation, seed):
    mc.manual_seed(seed % 1000)
    layer = Dense(units_out, activation=activation, bias_initializer="random_normal",
                  input_shape=(units_in,)).double()
    mc.gradcheck(lambda x, *weights: layer(x), [random_array(seed, (n, units_in)),
                                                layer.kernel, layer.bias], seed=seed % 1000)


def test_dense_keeps_leading_axes():
    layer = Dense(5, input_shape=(3, 4))
    assert layer.compute_output_shape((3, 4)) == (3, 5)
    assert layer(random_array(0, (2, 3, 4), "float32")).shape == (2, 3, 5)


def test_dense_softmax_output_is_made_by_softmax():
    layer = Dense(4, activation="softmax")
    y = layer(random_array(0, (3, 5), "float32"))
    assert isinstance(y.creator, F.activation.Softmax)
    np.testing.assert_allclose(y.data.sum(axis=1), 1, rtol=1e-6)
    loss = F.nll_of_probabilities(y, np.array([0, 1, 3]))
    logits = F.linear(random_array(0, (3, 5), "float32"), layer.kernel, layer.bias)
    np.testing.assert_allclose(loss.item(), F.cross_entropy(logits, [0, 1, 3]).item(), rtol=1e-6)


# ----------------------------------------------------------------------------- pooling
@st.composite
def pooling_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    padding = draw(st.sampled_from(["valid", "same", "int"]))
    if padding == "int":
        padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h, w = draw(st.integers(k[0], k[0] + 6)), draw(st.integers(k[1], k[1] + 6))
    return dict(x_shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), pool_size=k,
                strides=strides, padding=padding)


def torch_pool(kind, x, case):
    k, padding = case["pool_size"], case["padding"]
    s = case["strides"] or k
    if not isinstance(padding, str):             # symmetric: torch's own padding
        op = torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d
        return op(k, s, padding)(x)
    if kind == "max":
        return torch.nn.MaxPool2d(k, s)(torch_pad(x, padding, k, s, (1, 1), -math.inf))
    # Keras 'same' average: the sum over the window / the number of input pixels in it
    count = torch_pad(torch.ones_like(x), padding, k, s, (1, 1))
    return (torch.nn.AvgPool2d(k, s)(torch_pad(x, padding, k, s, (1, 1)))
            / torch.nn.AvgPool2d(k, s)(count))


@given(pooling_cases(), seeds, st.sampled_from(["max", "avg"]))
def test_pooling_layers_are_the_functional_ops_and_match_torch(case, seed, kind):
    x = random_array(seed, case["x_shape"])
    cls = MaxPooling2D if kind == "max" else AveragePooling2D
    layer = cls(case["pool_size"], case["strides"], case["padding"])
    y = layer(x)
    if kind == "max":
        expected = F.max_pool2d(x, case["pool_size"], case["strides"], case["padding"])
    else:
        expected = F.avg_pool2d(x, case["pool_size"], case["strides"], case["padding"],
                                count_include_pad=case["padding"] != "same")
    np.testing.assert_array_equal(y.data, expected.data)
    assert y.shape[1:] == layer.compute_output_shape(case["x_shape"][1:])
    assert_matches_torch(layer, lambda x: torch_pool(kind, x, case), [x])


def test_pooling_same_output_sizes_and_aliases():
    assert MaxPool2D is MaxPooling2D and AvgPool2D is AveragePooling2D
    assert MaxPooling2D(3, 2, "same").compute_output_shape((4, 7, 8)) == (4, 4, 4)
    assert AveragePooling2D(2).compute_output_shape((4, 7, 8)) == (4, 3, 4)


def test_average_pooling_same_excludes_padding():
    y = AveragePooling2D(2, 2, "same")(np.ones((1, 1, 3, 3)))
    np.testing.assert_array_equal(y.data, np.ones((1, 1, 2, 2)))


@given(pooling_cases(), seeds, st.sampled_from(["max", "avg"]))
def test_pooling_gradcheck(case, seed, kind):
    cls = MaxPooling2D if kind == "max" else AveragePooling2D
    layer = cls(case["pool_size"], case["strides"], case["padding"])
    mc.gradcheck(layer, [random_array(seed, case["x_shape"])], seed=seed % 1000,
                 max_elements=30)


# ----------------------------------------------------------------------------- the rest
def test_flatten_relu_softmax_activation_match_torch():
    x = random_array(3, (2, 3, 4, 5))
    np.testing.assert_array_equal(Flatten()(x).data, F.flatten(x).data)
    assert_matches_torch(Flatten(), torch.nn.Flatten(), [x])
    assert_matches_torch(ReLU(), torch.nn.ReLU(), [x])
    assert_matches_torch(Softmax(), torch.nn.Softmax(dim=-1), [x])
    assert_matches_torch(Softmax(axis=1), torch.nn.Softmax(dim=1), [x])
    assert_matches_torch(Activation("log_softmax"), torch.nn.LogSoftmax(dim=-1), [x])
    assert_matches_torch(Activation("leaky_relu"), torch.nn.LeakyReLU(0.2), [x])
    assert_matches_torch(Activation("sigmoid"), torch.nn.Sigmoid(), [x])
    assert_matches_torch(Activation(None), torch.nn.Identity(), [x])
    assert Flatten().compute_output_shape((3, 4, 5)) == (60,)


@pytest.mark.parametrize("name, op", [("relu", F.relu), ("sigmoid", F.sigmoid),
                                      ("tanh", F.tanh), ("linear", lambda x: x)])
def test_activation_names_call_the_functional_ops(name, op):
    x = mc.Tensor(random_array(4, (3, 5)))
    np.testing.assert_array_equal(Activation(name)(x).data, op(x).data)
    np.testing.assert_array_equal(mc.activations.get(name)(x).data, op(x).data)


def test_conv2d_softmax_is_over_channels():
    layer = Conv2D(3, 1, activation="softmax", dtype="float64")
    y = layer(random_array(0, (2, 2, 4, 5)))
    np.testing.assert_allclose(y.data.sum(axis=1), 1, rtol=1e-12)


def test_dropout_follows_train_and_eval():
    x = np.ones((200, 50), np.float32)
    layer = Dropout(0.25)
    y = layer(x).data
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (y == 0).mean() < 0.3
    layer.eval()
    assert not layer.training
    np.testing.assert_array_equal(layer(x).data, x)
    assert (layer(x, training=True).data == 0).any()
    layer.train()
    assert layer.training and (layer(x).data == 0).any()
    assert_matches_torch(Dropout(0.0), torch.nn.Identity(), [x])


def test_dropout_is_reproducible():
    x = np.ones((10, 10))
    a, b = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    mc.manual_seed(5)
    first = Dropout(0.5)(x).data
    mc.manual_seed(5)
    np.testing.assert_array_equal(Dropout(0.5)(x).data, first)


def test_dropout_gradient_is_the_mask():
    layer = Dropout(0.5, seed=0)
    x = mc.Tensor(np.ones((4, 6)), requires_grad=True)
    y = layer(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)


# ----------------------------------------------------------------------------- initialisers
@pytest.mark.parametrize("shape, fans", [((20, 30), (20, 30)), ((8, 3, 5, 5), (75, 200)),
                                         ((7,), (7, 7))])
def test_fans_follow_keras(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_glorot_uniform_bounds_and_variance():
    w = initializers.get("glorot_uniform")((64, 3, 5, 5), "float64", np.random.default_rng(0))
    fan_in, fan_out = 3 * 25, 64 * 25
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert abs(w.var() / (limit ** 2 / 3) - 1) < 0.05


@pytest.mark.parametrize("name, scale, fan", [("he_normal", 2, "in"), ("lecun_normal", 1, "in"),
                                               ("glorot_normal", 1, "avg")])
def test_truncated_normal_initialisers(name, scale, fan):
    shape = (300, 400)
    w = initializers.get(name)(shape, "float64", np.random.default_rng(1))
    n = 300 if fan == "in" else 350
    std = math.sqrt(scale / n)
    assert abs(w.std() / std - 1) < 0.02           # truncation is compensated by 0.8796...
    assert np.abs(w).max() <= 2 * std / initializers.TRUNCATION_STDDEV
    assert abs(w.mean()) < 0.02 * std


@pytest.mark.parametrize("name, bound", [("he_uniform", math.sqrt(6 / 40)),
                                         ("lecun_uniform", math.sqrt(3 / 40)),
                                         ("random_uniform", 0.05)])
def test_uniform_initialisers(name, bound):
    w = initializers.get(name)((40, 500), "float64", np.random.default_rng(2))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_simple_initialisers_and_defaults():
    assert (initializers.get("zeros")((2, 3)) == 0).all()
    assert (initializers.get("ones")((2, 3)) == 1).all()
    assert (initializers.Constant(0.5)((2,), "float64") == 0.5).all()
    w = initializers.get("random_normal")((200, 200), "float64", np.random.default_rng(0))
    assert abs(w.std() - 0.05) < 0.002
    assert initializers.get("zeros")((2,)).dtype == np.float32
    assert isinstance(initializers.get("HeNormal"), initializers.HeNormal)
    assert isinstance(initializers.get(initializers.GlorotUniform), initializers.GlorotUniform)
    layer = Dense(3, input_shape=(4,))
    layer.prepare((4,))
    assert isinstance(layer.kernel_initializer, initializers.GlorotUniform)
    assert (layer.bias.data == 0).all() and layer.kernel.dtype == np.float32


def test_initialiser_as_name_object_or_function():
    def constant_rows(shape, dtype, rng):
        assert isinstance(rng, np.random.Generator)
        return np.tile(np.arange(shape[1], dtype=dtype), (shape[0], 1))
    layer = Dense(3, kernel_initializer=constant_rows, bias_initializer=initializers.Ones(),
                  input_shape=(2,))
    layer.prepare((2,))
    np.testing.assert_array_equal(layer.kernel.data, [[0, 1, 2], [0, 1, 2]])
    np.testing.assert_array_equal(layer.bias.data, [1, 1, 1])
    a = Dense(3, kernel_initializer=initializers.HeNormal(seed=7), input_shape=(2,))
    b = Dense(3, kernel_initializer=initializers.HeNormal(seed=7), input_shape=(2,))
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


def test_model_creation_is_reproducible_under_manual_seed():
    def make():
        return mc.Sequential([Conv2D(4, 3, kernel_initializer="he_normal", input_shape=(2, 8, 8)),
                              Flatten(), Dense(5)])
    mc.manual_seed(123)
    first = make().get_weights()
    mc.manual_seed(123)
    second = make().get_weights()
    third = make().get_weights()
    for a, b, c in zip(first, second, third):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], third[0])


def test_float32_and_float64_models_from_one_seed_agree():
    mc.manual_seed(9)
    a = Dense(4, input_shape=(3,))
    a.prepare((3,))
    mc.manual_seed(9)
    b = Dense(4, input_shape=(3,), dtype="float64")
    b.prepare((3,))
    assert a.kernel.dtype == np.float32 and b.kernel.dtype == np.float64
    np.testing.assert_array_equal(a.kernel.data, b.kernel.data.astype(np.float32))


# ----------------------------------------------------------------------------- names, dtypes
def test_automatic_names_follow_keras():
    mc.layers.reset_names()
    names = [Conv2D(1, 1).name, Conv2D(1, 1).name, MaxPooling2D().name, Dense(1).name,
             Dense(1).name, Dense(1).name, AveragePooling2D().name, ReLU().name,
             Dense(1, name="head").name, mc.Sequential().name]
    assert names == ["conv2d", "conv2d_1", "max_pooling2d", "dense", "dense_1", "dense_2",
                     "average_pooling2d", "re_lu", "head", "sequential"]


def test_dtype_default_conversion_and_autocast():
    layer = Conv2D(2, 3, input_shape=(1, 5, 5))
    layer.prepare((1, 5, 5))
    assert layer.kernel.dtype == np.float32 and layer.dtype == np.float32
    assert layer(np.zeros((1, 1, 5, 5))).dtype == np.float32     # float64 data: cast like Keras
    layer.double()
    assert layer.kernel.dtype == np.float64 and layer.bias.dtype == np.float64
    assert layer(np.zeros((1, 1, 5, 5), np.float32)).dtype == np.float64
    layer.float()
    assert layer.kernel.dtype == np.float32
    lazy = Dense(2).double()
    assert lazy(np.ones((1, 3))).dtype == np.float64 and lazy.kernel.dtype == np.float64


def test_layers_accept_tensors_and_record_their_scope():
    layer = Dense(2, activation="relu", name="head")
    x = mc.Tensor(random_array(0, (3, 4), "float32"), requires_grad=True)
    y = layer(x)
    assert y.creator.layer == "head"            # ReLU ran inside the layer's scope
    y.sum().backward()
    assert x.grad.shape == (3, 4) and layer.kernel.grad.shape == (4, 2)
