"""Hypothesis strategies for the op tests, in one place.

Shapes are drawn to include the awkward cases on purpose: batch 1, one channel, odd
sizes, stride larger than the kernel, padding, dilation, groups. Array contents come
from a NumPy generator seeded by hypothesis (much faster than drawing each element).
"""
import numpy as np
from hypothesis import strategies as st

DTYPES = ["float64", "float32"]


def random_array(seed, shape, dtype="float64", low=None, high=None):
    """Standard-normal (or uniform in [low, high)) data from an integer seed."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)
    return a.astype(dtype)


seeds = st.integers(0, 2**32 - 1)


@st.composite
def conv_cases(draw, max_groups=3, max_stride=5):
    """A valid conv2d configuration: dict of shapes and hyper-parameters."""
    groups = draw(st.integers(1, max_groups))
    n = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 3))
    o = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, max_stride)),                       # may exceed the kernel
              draw(st.integers(1, max_stride)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.one_of(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                             st.sampled_from(["valid", "same"])))
    ph, pw = (0, 0) if isinstance(padding, str) else padding
    min_h = max(1, dilation[0] * (kh - 1) + 1 - 2 * ph)
    min_w = max(1, dilation[1] * (kw - 1) + 1 - 2 * pw)
    h = draw(st.integers(min_h, min_h + 7))
    w = draw(st.integers(min_w, min_w + 7))
    return dict(x_shape=(n, c, h, w), w_shape=(o, c // groups, kh, kw), stride=stride,
                padding=padding, dilation=dilation, groups=groups)


def conv_inputs(case, seed, dtype="float64", batch=None):
    """x, w, b arrays for a conv_cases() case (``batch`` replaces its batch size)."""
    x_shape = case["x_shape"] if batch is None else (batch,) + case["x_shape"][1:]
    return (random_array(seed, x_shape, dtype),
            random_array(seed + 1, case["w_shape"], dtype),
            random_array(seed + 2, (case["w_shape"][0],), dtype))


def conv_kwargs(case):
    """F.conv2d's keyword arguments for a conv_cases() case."""
    return dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                groups=case["groups"])


@st.composite
def pool_cases(draw):
    """A valid pooling configuration (padding at most half the kernel, as PyTorch asks)."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 5), st.integers(1, 5))))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    h = draw(st.integers(max(1, kh - 2 * padding[0]), kh + 8))
    w = draw(st.integers(max(1, kw - 2 * padding[1]), kw + 8))
    ceil_mode = draw(st.booleans())
    return dict(x_shape=(n, c, h, w), kernel_size=(kh, kw), stride=stride, padding=padding,
                ceil_mode=ceil_mode)
