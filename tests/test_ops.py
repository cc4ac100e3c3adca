"""Activations, linear, losses, dropout and flatten: PyTorch cross-checks (float64 and
float32) and float64 gradient checks, on shapes hypothesis chooses."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.testing import assert_close, assert_matches_torch
from minicnn.testing.strategies import DTYPES, random_array, seeds

shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)
matrices = st.tuples(st.integers(1, 7), st.integers(1, 9))

# name -> (minicnn op, torch op); each is elementwise or works along the last axis
UNARY = {
    "relu": (F.relu, TF.relu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
    "softmax": (F.softmax, lambda x: torch.softmax(x, -1)),
    "log_softmax": (F.log_softmax, lambda x: torch.log_softmax(x, -1)),
    "softmax_axis0": (lambda x: F.softmax(x, axis=0), lambda x: torch.softmax(x, 0)),
    "log_softmax_axis0": (lambda x: F.log_softmax(x, axis=0), lambda x: torch.log_softmax(x, 0)),
    "flatten": (F.flatten, lambda x: torch.flatten(x, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds, scale=st.sampled_from([1.0, 30.0]))
def test_unary_matches_torch(name, dtype, shape, seed, scale):
    mc_fn, torch_fn = UNARY[name]
    if name == "flatten":
        shape = shape + (2,)          # flatten(x, 1) needs a batch axis, as in torch
    x = random_array(seed, shape, dtype) * dtype_scale(scale, dtype)
    assert_matches_torch(mc_fn, torch_fn, [x], dtype, seed=seed)


def dtype_scale(scale, dtype):
    return np.dtype(dtype).type(scale)


@settings(max_examples=15)
@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary_gradcheck(name, shape, seed):
    shape = shape + (2,)
    mc.gradcheck(UNARY[name][0], [random_array(seed, shape)], seed=seed % 1000)


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1000.0, 0.0, -1000.0]], np.float32)
    np.testing.assert_allclose(F.softmax(x).data, [[1, 0, 0]], atol=1e-7)
    assert np.isfinite(F.log_softmax(x).data).all()
    assert np.isfinite(F.sigmoid(np.array([-1e4, 1e4], np.float32)).data).all()


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 5), d_in=st.integers(1, 9), d_out=st.integers(1, 9), seed=seeds,
       bias=st.booleans(), extra=st.booleans())
def test_linear_matches_torch(dtype, n, d_in, d_out, seed, bias, extra):
    x_shape = (n, 3, d_in) if extra else (n, d_in)         # leading axes are kept
    x = random_array(seed, x_shape, dtype)
    w = random_array(seed + 1, (d_in, d_out), dtype)        # minicnn: (in, out)
    b = random_array(seed + 2, (d_out,), dtype)
    inputs = [x, w, b] if bias else [x, w]
    assert_matches_torch(lambda *a: F.linear(*a), lambda x, w, b=None: TF.linear(x, w.T, b),
                         inputs, dtype, seed=seed)


@settings(max_examples=15)
@given(n=st.integers(1, 4), d_in=st.integers(1, 6), d_out=st.integers(1, 6), seed=seeds)
def test_linear_gradcheck(n, d_in, d_out, seed):
    inputs = [random_array(seed, (n, d_in)), random_array(seed + 1, (d_in, d_out)),
              random_array(seed + 2, (d_out,))]
    mc.gradcheck(F.linear, inputs, seed=seed % 1000)


@pytest.mark.parametrize("dtype", DTYPES)
@given(nc=matrices, seed=seeds, smoothing=st.sampled_from([0.0, 0.1, 0.5]),
       reduction=st.sampled_from(["mean", "sum", "none"]), scale=st.sampled_from([1.0, 50.0]))
def test_cross_entropy_matches_torch(dtype, nc, seed, smoothing, reduction, scale):
    n, c = nc
    logits = random_array(seed, (n, c), dtype) * dtype_scale(scale, dtype)
    labels = np.random.default_rng(seed).integers(0, c, n)
    kw = dict(label_smoothing=smoothing, reduction=reduction)
    assert_matches_torch(lambda x: F.cross_entropy(x, labels, **kw),
                         lambda x: TF.cross_entropy(x, torch.tensor(labels), **kw),
                         [logits], dtype, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
@given(nc=matrices, seed=seeds)
def test_cross_entropy_probability_targets_match_torch(dtype, nc, seed):
    n, c = nc
    logits = random_array(seed, (n, c), dtype)
    target = np.random.default_rng(seed).dirichlet(np.ones(c), n).astype(dtype)
    assert_matches_torch(lambda x: F.cross_entropy(x, target),
                         lambda x: TF.cross_entropy(x, torch.tensor(target)), [logits], dtype)


@settings(max_examples=15)
@given(nc=matrices, seed=seeds, smoothing=st.sampled_from([0.0, 0.2]))
def test_cross_entropy_gradcheck(nc, seed, smoothing):
    n, c = nc
    labels = np.random.default_rng(seed).integers(0, c, n)
    mc.gradcheck(lambda x: F.cross_entropy(x, labels, label_smoothing=smoothing),
                 [random_array(seed, (n, c))], seed=seed % 1000)


def test_cross_entropy_is_finite_where_softmax_underflows():
    logits = mc.Tensor(np.array([[0.0, 200.0]], np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([0]))
    loss.backward()
    assert np.isclose(loss.item(), 200.0) and np.isfinite(logits.grad).all()


def test_probabilities_from_softmax_use_the_logits():
    """The Keras path (probabilities, from_logits=False) on a softmax output computes the
    loss from the logits: finite, and equal to cross_entropy, even where p rounds to 0."""
    logits = mc.Tensor(np.array([[0.0, 300.0], [5.0, -5.0]], np.float32), requires_grad=True)
    loss = F.nll_of_probabilities(F.softmax(logits), np.array([0, 0]))
    loss.backward()
    expected = F.cross_entropy(logits.detach(), np.array([0, 0]))
    assert np.isfinite(logits.grad).all()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-6)


def test_probabilities_not_from_softmax_are_clipped():
    probs = mc.Tensor(np.array([[0.0, 1.0]]), requires_grad=True)
    loss = F.nll_of_probabilities(probs, np.array([0]))
    loss.backward()
    assert np.isclose(loss.item(), -np.log(1e-7)) and np.isfinite(probs.grad).all()


@pytest.mark.parametrize("labels,match", [
    (np.array([0, 1]), "got 2 labels for a batch of 3 predictions"),
    (np.array([0, 1, 4]), "label 4 is out of range for 4 classes"),
    (np.array([0, -1, 2]), "label -1 is out of range"),
    (np.array([0.5, 1, 2]), "labels must be integer class indices"),
    (np.array(["a", "b", "c"]), "labels must be integer class indices"),
    (np.zeros((3, 2)), r"probability targets must have shape \(3, 4\)"),
])
def test_cross_entropy_label_errors(labels, match):
    with pytest.raises((ValueError, TypeError), match=match):
        F.cross_entropy(np.zeros((3, 4)), labels)


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes, seed=seeds, reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_loss_matches_torch(dtype, shape, seed, reduction):
    a, b = random_array(seed, shape, dtype), random_array(seed + 1, shape, dtype)
    assert_matches_torch(lambda a, b: F.mse_loss(a, b, reduction),
                         lambda a, b: TF.mse_loss(a, b, reduction=reduction), [a, b], dtype)


@settings(max_examples=15)
@given(shape=shapes, seed=seeds)
def test_mse_loss_gradcheck(shape, seed):
    mc.gradcheck(F.mse_loss, [random_array(seed, shape), random_array(seed + 1, shape)],
                 seed=seed % 1000)


def test_mse_loss_shape_error():
    with pytest.raises(ValueError, match=r"input has shape \(2, 3\) but target has shape \(3, 2\)"):
        F.mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))


# -- dropout: random, so checked by its defining properties and against torch's convention
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes, seed=seeds, p=st.sampled_from([0.1, 0.5, 0.9]))
def test_dropout_is_inverted_and_matches_torch_given_the_mask(dtype, shape, seed, p):
    x = random_array(seed, shape, dtype) + dtype_scale(3.0, dtype)     # no zeros in x
    y = F.dropout(mc.Tensor(x), p, rng=np.random.default_rng(seed))
    keep = y.data != 0
    # the same mask, PyTorch's inverted-dropout formula: y = x * m / (1 - p)
    assert_matches_torch(lambda x: F.dropout(x, p, rng=np.random.default_rng(seed)),
                         lambda x: x * torch.tensor(keep) / (1 - p), [x], dtype, seed=seed)
    # torch's own dropout has the same form: every output is 0 or x / (1 - p)
    t = TF.dropout(torch.tensor(x), p).numpy()
    assert np.all((t == 0) | np.isclose(t, x / (1 - p), rtol=1e-6))


def test_dropout_keeps_the_expected_value_and_is_seedable():
    x = np.ones((200, 500))
    y = F.dropout(x, 0.3, seed=7).data
    assert abs((y == 0).mean() - 0.3) < 0.01 and abs(y.mean() - 1) < 0.01
    np.testing.assert_array_equal(y, F.dropout(x, 0.3, seed=7).data)
    mc.manual_seed(3)
    a = F.dropout(x, 0.5).data
    mc.manual_seed(3)
    np.testing.assert_array_equal(a, F.dropout(x, 0.5).data)


def test_dropout_eval_mode_is_identity():
    x = random_array(0, (3, 4))
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).data, x)


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, p=st.sampled_from([0.2, 0.5]))
def test_dropout_gradcheck(shape, seed, p):
    """With a fixed seed the mask is fixed, so dropout is a linear map to check."""
    mc.gradcheck(lambda x: F.dropout(x, p, seed=seed), [random_array(seed, shape)],
                 seed=seed % 1000)


@pytest.mark.parametrize("p", [-0.1, 1.0, 2])
def test_dropout_rejects_bad_rates(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        F.dropout(np.ones(3), p)


def test_flatten_start_dim_error():
    with pytest.raises(ValueError, match="start_dim=4 is out of range for a 2-D input"):
        F.flatten(np.zeros((2, 3)), start_dim=4)


def test_float32_tolerance_is_not_vacuous():
    """The float32 tolerance rejects an error of one part in a thousand."""
    with pytest.raises(AssertionError):
        assert_close(np.float32(1.001), np.float32(1.0), np.float32, "x")
