"""Batch normalisation and local response normalisation: the ops against PyTorch
(forward, every gradient, running statistics), float64 gradchecks of the ops and layers,
the Keras/PyTorch momentum conventions, and errors that name the layer."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.layers import BatchNormalization, LocalResponseNormalization
from minicnn.testing import assert_close, assert_matches_torch
from minicnn.testing.strategies import random_array, seeds


@st.composite
def bn_shapes(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if draw(st.booleans()):
        return (max(n, 2), c)                                   # 2-D: features
    return (n, c, draw(st.integers(1, 4)), draw(st.integers(1, 4)))


# ----------------------------------------------------------------------------- batch norm
@given(bn_shapes(), seeds, st.booleans())
def test_batch_norm_matches_torch(shape, seed, training):
    if training and np.prod(shape) // shape[1] < 2:
        shape = (2,) + shape[1:]
    c = shape[1]
    x = random_array(seed, shape) * 3 + 1
    gamma, beta = random_array(seed + 1, (c,)), random_array(seed + 2, (c,))
    mean0, var0 = random_array(seed + 3, (c,)), random_array(seed + 4, (c,), low=0.5, high=2)
    ours = [mean0.copy(), var0.copy()]
    theirs = [torch.tensor(mean0), torch.tensor(var0)]
    assert_matches_torch(
        lambda x, g, b: F.batch_norm(x, g, b, ours[0], ours[1], training, momentum=0.3, eps=1e-3),
        lambda x, g, b: torch.nn.functional.batch_norm(x, theirs[0], theirs[1], g, b, training,
                                                       momentum=0.3, eps=1e-3),
        [x, gamma, beta])
    # the running statistics moved the same way (unbiased variance, PyTorch's momentum)
    assert_close(ours[0], theirs[0].numpy(), "float64", "running_mean")
    assert_close(ours[1], theirs[1].numpy(), "float64", "running_var")
    if not training:
        np.testing.assert_array_equal(ours[0], mean0)


def test_batch_norm_float32_and_without_affine():
    x = random_array(0, (4, 3, 5, 5), "float32")
    assert_matches_torch(
        lambda x: F.batch_norm(x, None, None, None, None, True),
        lambda x: torch.nn.functional.batch_norm(x, None, None, training=True),
        [x], dtype="float32")


@given(bn_shapes(), seeds, st.booleans())
def test_batch_norm_gradcheck(shape, seed, training):
    if np.prod(shape) // shape[1] < 2:
        shape = (2,) + shape[1:]
    c = shape[1]
    x = random_array(seed, shape)
    stats = [random_array(seed + 3, (c,)), random_array(seed + 4, (c,), low=0.5, high=2)]
    mc.gradcheck(lambda x, g, b: F.batch_norm(x, g, b, stats[0].copy(), stats[1].copy(),
                                              training),
                 [x, random_array(seed + 1, (c,)), random_array(seed + 2, (c,))], seed=seed)


def test_batch_normalization_layer_gradcheck_train_and_eval():
    layer = BatchNormalization(dtype="float64")
    x = random_array(1, (3, 2, 3, 3))
    layer(x)                                           # build
    layer.moving_variance.data[:] = [0.7, 1.9]
    for training in (True, False):
        layer.train(training)
        mc.gradcheck(lambda x, g, b: _with(layer, gamma=g, beta=b)(x),
                     [x, random_array(2, (2,)), random_array(3, (2,))])


def _with(layer, **tensors):
    for name, value in tensors.items():
        setattr(layer, name, value)
    return layer


def test_keras_and_pytorch_momentum_conventions_agree():
    """BatchNormalization(momentum=0.9, epsilon=1e-5) is nn.BatchNorm2d(momentum=0.1)."""
    ours = BatchNormalization(momentum=0.9, epsilon=1e-5, dtype="float64")
    theirs = torch.nn.BatchNorm2d(3, momentum=0.1, eps=1e-5).double()
    for step in range(3):
        x = random_array(step, (4, 3, 5, 5)) * (step + 1) + step
        ours.train()
        theirs.train()
        y, ref = ours(x), theirs(torch.tensor(x))
        assert_close(y.data, ref.detach().numpy(), "float64", f"train output, step {step}")
    assert_close(ours.moving_mean.data, theirs.running_mean.numpy(), "float64", "running mean")
    assert_close(ours.moving_variance.data, theirs.running_var.numpy(), "float64", "running var")
    ours.eval()
    theirs.eval()
    x = random_array(9, (2, 3, 5, 5))
    assert_close(ours(x).data, theirs(torch.tensor(x)).detach().numpy(), "float64", "eval output")


def test_keras_default_momentum_keeps_99_percent():
    layer = BatchNormalization()                     # Keras defaults: momentum 0.99, eps 1e-3
    x = np.ones((4, 2), np.float32) * np.array([[1.0], [3.0], [5.0], [7.0]], np.float32)
    layer(x)
    np.testing.assert_allclose(layer.moving_mean.data, 0.99 * 0 + 0.01 * 4.0, rtol=1e-6)
    # unbiased batch variance of 1, 3, 5, 7 is 20/3
    np.testing.assert_allclose(layer.moving_variance.data, 0.99 * 1 + 0.01 * 20 / 3, rtol=1e-6)
    assert [p.name for p in layer.parameters()] == [f"{layer.name}/gamma", f"{layer.name}/beta"]
    assert layer.count_params() == 8 and sum(p.size for p in layer.parameters()) == 4


def test_batch_normalization_errors_name_the_layer():
    layer = BatchNormalization(name="bn")
    layer(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': expected 3 channels"):
        layer(np.zeros((2, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="channels-first"):
        BatchNormalization(axis=2)
    with pytest.raises(ValueError, match="axis=-1 is the width"):   # (N, C) is fine
        BatchNormalization(axis=-1)(np.zeros((2, 3, 4, 4), np.float32))
    assert BatchNormalization(axis=-1)(np.ones((2, 3), np.float32)).shape == (2, 3)
    with pytest.raises(ValueError, match="more than one value per channel"):
        F.batch_norm(np.zeros((1, 3)), None, None, None, None, True)
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        F.batch_norm(np.zeros((2, 3)), None, None, None, None, False)


# ----------------------------------------------------------------------------- LRN
@given(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7), seeds)
def test_local_response_norm_matches_torch(n, c, size, seed):
    x = random_array(seed, (n, c, 3, 2)) * 2
    alpha, beta, k = 0.3, 0.75, 1.5
    # ours multiplies the sum of squares by alpha; torch the mean: alpha_torch = size alpha
    assert_matches_torch(lambda x: F.local_response_norm(x, size, alpha, beta, k),
                         lambda x: torch.nn.functional.local_response_norm(x, size, size * alpha,
                                                                          beta, k),
                         [x])


def test_local_response_norm_is_the_papers_formula():
    x = random_array(0, (1, 6, 2, 2))
    y = F.local_response_norm(x, 5, 1e-4, 0.75, 2.0).data
    for c in range(6):
        window = (x[:, max(0, c - 2):c + 3] ** 2).sum(axis=1)
        np.testing.assert_allclose(y[:, c], x[:, c] / (2 + 1e-4 * window) ** 0.75, rtol=1e-13)


@given(st.integers(1, 5), st.integers(1, 6), seeds)
def test_local_response_normalization_layer_gradcheck(c, size, seed):
    layer = LocalResponseNormalization(size, alpha=0.5, beta=0.75, k=1.0)
    mc.gradcheck(layer, [random_array(seed, (2, c, 2, 3))], seed=seed)


def test_local_response_normalization_checks_its_arguments():
    with pytest.raises(ValueError, match="LocalResponseNormalization 'lrn': k must be positive"):
        LocalResponseNormalization(k=0, name="lrn")
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\)"):
        LocalResponseNormalization()(np.zeros((2, 3), np.float32))
