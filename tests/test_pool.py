"""max_pool2d and avg_pool2d: PyTorch cross-checks, ties, gradient checks."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.testing import assert_matches_torch
from minicnn.testing.strategies import DTYPES, pool_cases, random_array, seeds


def pool_args(case):
    return dict(kernel_size=case["kernel_size"], stride=case["stride"],
                padding=case["padding"], ceil_mode=case["ceil_mode"])


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds, ties=st.booleans())
def test_max_pool2d_matches_torch(dtype, case, seed, ties):
    x = random_array(seed, case["x_shape"], dtype)
    if ties:        # few distinct values: windows with several equal maxima
        x = np.round(x).astype(dtype)
    args = pool_args(case)
    assert_matches_torch(lambda x: F.max_pool2d(x, **args),
                         lambda x: torch.nn.functional.max_pool2d(x, **args), [x], dtype, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds, include_pad=st.booleans())
def test_avg_pool2d_matches_torch(dtype, case, seed, include_pad):
    x = random_array(seed, case["x_shape"], dtype)
    args = dict(pool_args(case), count_include_pad=include_pad)
    assert_matches_torch(lambda x: F.avg_pool2d(x, **args),
                         lambda x: torch.nn.functional.avg_pool2d(x, **args), [x], dtype, seed=seed)


@settings(max_examples=15)
@given(case=pool_cases(), seed=seeds)
def test_pool_gradcheck(case, seed):
    x = random_array(seed, case["x_shape"])
    args = pool_args(case)
    mc.gradcheck(lambda x: F.max_pool2d(x, **args), [x], seed=seed % 1000, max_elements=60)
    mc.gradcheck(lambda x: F.avg_pool2d(x, **args), [x], seed=seed % 1000, max_elements=60)


def test_max_pool_tie_sends_gradient_to_one_element():
    """A window of four equal values: the whole gradient goes to the first (top-left)."""
    x = mc.Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0], [0, 0]])


def test_gradcheck_reports_pooling_ties_as_kinks():
    x = np.ones((1, 1, 4, 4))
    result = mc.gradcheck(lambda x: F.max_pool2d(x, 2), [x])
    assert result.passed and result.kinks


def test_keras_same_pooling_shapes():
    x = np.zeros((1, 1, 7, 7))
    assert F.max_pool2d(x, 2, padding="same").shape == (1, 1, 4, 4)
    assert F.avg_pool2d(x, 3, 2, padding="same", count_include_pad=False).shape == (1, 1, 4, 4)


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("kwargs,match", [
    (dict(kernel_size=4, padding=3), "more than half the kernel"),
    (dict(kernel_size=0), "kernel_size must be at least 1"),
    (dict(kernel_size=2, stride=-1), "stride must be at least 1"),
    (dict(kernel_size=7), "kernel spans 7 pixels in height but the padded input is only 5"),
])
def test_pool_errors(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(np.zeros((1, 1, 5, 5)), **kwargs)
