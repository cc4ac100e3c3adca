"""conv2d, im2col and col2im: PyTorch cross-checks and float64 gradient checks."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.testing import assert_matches_torch
from minicnn.testing.strategies import (DTYPES, conv_cases, conv_inputs, conv_kwargs, random_array,
                                        seeds)


def torch_padding(case):
    """PyTorch's conv2d only takes symmetric padding; 'same' for stride > 1 is Keras'
    rule, so it is given to torch as an explicit F.pad of the input."""
    from minicnn.functional.utils import normalize_padding
    kh, kw = case["w_shape"][2:]
    (pt, pb), (pl, pr) = normalize_padding(case["padding"], (kh, kw), case["stride"],
                                           case["dilation"], case["x_shape"][2:])
    return (pl, pr, pt, pb)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases(), seed=seeds, bias=st.booleans())
def test_conv2d_matches_torch(dtype, case, seed, bias):
    x, w, b = conv_inputs(case, seed, dtype)
    pads = torch_padding(case)
    kw = conv_kwargs(case)

    def mc_fn(x, w, b=None):
        return F.conv2d(x, w, b, **kw)

    def torch_fn(x, w, b=None):          # padded beforehand, so no padding argument
        unpadded = {k: v for k, v in kw.items() if k != "padding"}
        return torch.nn.functional.conv2d(torch.nn.functional.pad(x, pads), w, b, **unpadded)

    assert_matches_torch(mc_fn, torch_fn, [x, w, b] if bias else [x, w], dtype, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25)
@given(case=conv_cases(), seed=seeds)
def test_conv2d_relu_matches_torch(dtype, case, seed):
    """The fused op is relu(conv2d(...)), forward and backward."""
    x, w, b = conv_inputs(case, seed, dtype)
    pads = torch_padding(case)
    kw = conv_kwargs(case)
    unpadded = {k: v for k, v in kw.items() if k != "padding"}
    assert_matches_torch(
        lambda x, w, b: F.conv2d_relu(x, w, b, **kw),
        lambda x, w, b: torch.relu(torch.nn.functional.conv2d(
            torch.nn.functional.pad(x, pads), w, b, **unpadded)),
        [x, w, b], dtype, seed=seed)


@settings(max_examples=10)
@given(case=conv_cases(), seed=seeds)
def test_conv2d_relu_gradcheck(case, seed):
    x, w, b = conv_inputs(case, seed)
    kw = conv_kwargs(case)
    mc.gradcheck(lambda x, w, b: F.conv2d_relu(x, w, b, **kw), [x, w, b], seed=seed % 1000,
                 max_elements=40)


@settings(max_examples=15)
@given(case=conv_cases(), seed=seeds)
def test_conv2d_gradcheck(case, seed):
    x, w, b = conv_inputs(case, seed)
    kw = conv_kwargs(case)
    mc.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b], seed=seed % 1000,
                 max_elements=40)


@given(case=conv_cases(max_groups=1), seed=seeds)
def test_col2im_is_the_adjoint_of_im2col(case, seed):
    """<im2col(x), c> = <x, col2im(c)> for all x, c: col2im is im2col's transpose, which is
    exactly what conv2d's backward needs."""
    kernel = case["w_shape"][2:]
    x = random_array(seed, case["x_shape"])
    cols = F.im2col(x, kernel, case["stride"], case["padding"], case["dilation"])
    c = random_array(seed + 1, cols.shape)
    back = F.col2im(c, x.shape, case["stride"], case["padding"], case["dilation"])
    assert back.shape == x.shape
    np.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-10)


def test_im2col_small_example():
    """A 1x1x3x3 input, 2x2 kernel, stride 1: four windows, read row by row."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    cols = F.im2col(x, 2)
    assert cols.shape == (1, 1, 2, 2, 2, 2)
    windows = cols.reshape(4, 4).T      # one row per output pixel
    np.testing.assert_array_equal(windows, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])


@pytest.mark.parametrize("size,k,s,d", [(32, 5, 1, 1), (224, 11, 4, 1), (7, 3, 2, 2), (1, 1, 3, 1)])
def test_same_padding_output_size(size, k, s, d):
    y = F.conv2d(np.zeros((1, 1, size, size)), np.zeros((1, 1, k, k)), stride=s, dilation=d,
                 padding="same")
    assert y.shape[2:] == (-(-size // s),) * 2


def test_conv2d_keeps_float32():
    y = F.conv2d(np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32),
                 np.zeros(3, np.float32))
    assert y.dtype == np.float32 and y.shape == (1, 3, 3, 3)


@pytest.mark.parametrize("args,match", [
    (dict(x=(1, 1, 3, 3), w=(1, 1, 5, 5)), "kernel spans 5 pixels in height but the padded input is only 3"),
    (dict(x=(1, 2, 5, 5), w=(1, 3, 3, 3)), "the input has 2 channels but the weight"),
    (dict(x=(1, 4, 5, 5), w=(2, 2, 3, 3), groups=3), "groups=3 must divide"),
    (dict(x=(1, 5, 5), w=(1, 1, 3, 3)), r"input must have shape \(N, C, H, W\)"),
    (dict(x=(1, 1, 5, 5), w=(1, 1, 3, 3), stride=0), "stride must be at least 1"),
    (dict(x=(1, 1, 5, 5), w=(1, 1, 3, 3), padding="full"), "padding must be an int, a pair, 'valid' or 'same'"),
    (dict(x=(1, 1, 5, 5), w=(1, 1, 3, 3), padding=-1), "padding must not be negative"),
])
def test_conv2d_errors(args, match):
    x, w = np.zeros(args.pop("x")), np.zeros(args.pop("w"))
    with pytest.raises((ValueError, TypeError), match=match):
        F.conv2d(x, w, **args)
