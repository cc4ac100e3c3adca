"""Hypothesis strategies for minicnn's ops and layers: valid configurations, awkward on purpose.

    from hypothesis import given
    from minicnn.testing import strategies as mst

    @given(mst.conv_cases(), mst.seeds)
    def test_my_conv(case, seed):
        x, w, b = mst.conv_inputs(case, seed)
        y = F.conv2d(x, w, b, **mst.conv_kwargs(case))

Every strategy draws only configurations the op accepts, and includes on purpose the
cases where index arithmetic goes wrong: batch 1, one channel, odd and unequal heights
and widths, stride larger than the kernel, padding ('same' too), dilation, groups. Each
strategy's docstring lists the edge cases it includes; ``EDGE_CASES[name]`` holds a
test for each (tests/test_testing.py checks that the first few hundred examples hit
them all).

Array contents come from an integer seed that hypothesis draws (``seeds``), through
``random_array``: one draw per array instead of one per element, which is much faster,
and a failing example shrinks to a small seed that reproduces it exactly.
"""
import numpy as np
from hypothesis import strategies as st

from ..functional.utils import normalize_padding, window_output_shape

DTYPES = ("float64", "float32")

seeds = st.integers(0, 2**32 - 1)
"""An integer seed for ``random_array`` (shrinks towards 0)."""

dtypes = st.sampled_from(DTYPES)
"""'float64' or 'float32' (shrinks towards float64, the dtype of gradient checks)."""


def random_array(seed, shape, dtype="float64", low=None, high=None):
    """Standard-normal (or uniform in [low, high)) data of ``shape`` from an integer seed."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)
    return a.astype(dtype)


@st.composite
def arrays(draw, shape, dtype="float64", low=None, high=None):
    """An array whose contents come from a drawn seed (``random_array``).

    shape: a tuple or a strategy of tuples (say ``image_shapes()``); dtype: a name or a
    strategy (say ``dtypes``). Standard-normal values, or uniform in [low, high)."""
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else shape
    dtype = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    return random_array(draw(seeds), shape, dtype, low, high)


# ----------------------------------------------------------------------------- shapes
@st.composite
def image_shapes(draw, max_batch=3, max_channels=3, min_size=1, max_size=7):
    """An (N, C, H, W) shape.

    Edge cases on purpose: batch 1, one channel, odd H and W, H != W, a size of
    min_size (1 by default: a single row or column)."""
    return (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)),
            draw(st.integers(min_size, max_size)), draw(st.integers(min_size, max_size)))


@st.composite
def feature_shapes(draw, max_batch=4, max_features=6):
    """An (N, F) shape (a batch of feature vectors, what Dense takes).

    Edge cases on purpose: batch 1, one feature, an odd number of features."""
    return (draw(st.integers(1, max_batch)), draw(st.integers(1, max_features)))


# ----------------------------------------------------------------------------- conv2d
@st.composite
def conv_cases(draw, max_groups=3, max_stride=5, max_dilation=3, max_kernel=4, max_batch=3,
               max_channels_per_group=3, extra_size=7):
    """A valid conv2d configuration, a dict:

        x_shape (N, C, H, W), w_shape (O, C / groups, kh, kw), stride (sh, sw),
        padding 'valid' | 'same' | (ph, pw), dilation (dh, dw), groups

    (``conv_inputs`` makes the arrays, ``conv_kwargs`` the keyword arguments of
    F.conv2d, ``conv_layer_kwargs`` those of the Conv2D layer). H and W are at least what
    the dilated kernel needs, and at most ``extra_size`` more.

    Edge cases on purpose: batch 1, one input channel, groups > 1, depthwise (groups ==
    C), a 1x1 kernel, a non-square kernel, stride larger than the kernel, 'same' padding,
    'valid' padding, asymmetric explicit padding (ph != pw), dilation > 1, odd H and W,
    an output of a single pixel (in height or width)."""
    groups = draw(st.integers(1, max_groups))
    n = draw(st.integers(1, max_batch))
    c = groups * draw(st.integers(1, max_channels_per_group))
    o = groups * draw(st.integers(1, max_channels_per_group))
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    stride = (draw(st.integers(1, max_stride)),                       # may exceed the kernel
              draw(st.integers(1, max_stride)))
    dilation = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    padding = draw(st.one_of(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                             st.sampled_from(["valid", "same"])))
    ph, pw = (0, 0) if isinstance(padding, str) else padding
    min_h = max(1, dilation[0] * (kh - 1) + 1 - 2 * ph)
    min_w = max(1, dilation[1] * (kw - 1) + 1 - 2 * pw)
    h = draw(st.integers(min_h, min_h + extra_size))
    w = draw(st.integers(min_w, min_w + extra_size))
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


def conv_layer_kwargs(case):
    """The Conv2D layer's arguments for a conv_cases() case: Conv2D(**conv_layer_kwargs(case))."""
    return dict(filters=case["w_shape"][0], kernel_size=case["w_shape"][2:],
                strides=case["stride"], padding=case["padding"],
                dilation_rate=case["dilation"], groups=case["groups"])


def conv_output_hw(case):
    """(H_out, W_out) of a conv_cases() case."""
    kernel, hw = case["w_shape"][2:], case["x_shape"][2:]
    pads = normalize_padding(case["padding"], kernel, case["stride"], case["dilation"], hw)
    return window_output_shape(hw, kernel, case["stride"], pads, case["dilation"])


# ----------------------------------------------------------------------------- pooling
@st.composite
def pool_cases(draw, max_kernel=4, max_stride=5, max_batch=3, max_channels=3, same=False):
    """A valid pooling configuration, a dict:

        x_shape (N, C, H, W), kernel_size (kh, kw), stride None | (sh, sw),
        padding (ph, pw), ceil_mode

    with padding at most half the kernel (as PyTorch asks), and with ``same=True`` also
    padding 'same' (Keras', then without ceil_mode). ``pool_kwargs`` gives the keyword
    arguments of F.max_pool2d / F.avg_pool2d, ``pool_layer_kwargs`` those of the
    MaxPooling2D / AveragePooling2D layers.

    Edge cases on purpose: batch 1, one channel, stride None (the kernel size), stride
    larger than the kernel, overlapping windows (stride smaller than the kernel), a 1x1
    kernel, a non-square kernel, padding > 0, ceil_mode, odd H and W."""
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, max_stride),
                                                 st.integers(1, max_stride))))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    if same and draw(st.booleans()):
        padding = "same"
    ph, pw = (0, 0) if padding == "same" else padding
    h = draw(st.integers(max(1, kh - 2 * ph), kh + 8))
    w = draw(st.integers(max(1, kw - 2 * pw), kw + 8))
    ceil_mode = padding != "same" and draw(st.booleans())
    return dict(x_shape=(n, c, h, w), kernel_size=(kh, kw), stride=stride, padding=padding,
                ceil_mode=ceil_mode)


def pool_kwargs(case):
    """F.max_pool2d's (and F.avg_pool2d's) keyword arguments for a pool_cases() case."""
    return dict(kernel_size=case["kernel_size"], stride=case["stride"],
                padding=case["padding"], ceil_mode=case["ceil_mode"])


def pool_layer_kwargs(case):
    """MaxPooling2D's (and AveragePooling2D's) arguments for a pool_cases() case."""
    return dict(pool_size=case["kernel_size"], strides=case["stride"],
                padding=case["padding"], ceil_mode=case["ceil_mode"])


# ----------------------------------------------------------------------------- dense
@st.composite
def dense_cases(draw, max_batch=4, max_features=6, max_units=5):
    """A valid Dense configuration, a dict: x_shape (N, F), units, use_bias.
    ``dense_inputs`` makes x, w (F, units), b (units,) for F.linear.

    Edge cases on purpose: batch 1, one input feature, one unit, as many units as
    features (a transposed weight has the right shape), no bias."""
    x_shape = draw(feature_shapes(max_batch, max_features))
    return dict(x_shape=x_shape, units=draw(st.integers(1, max_units)),
                use_bias=draw(st.booleans()))


def dense_inputs(case, seed, dtype="float64"):
    """x, w, b arrays for a dense_cases() case (b is None without bias)."""
    features = case["x_shape"][1]
    b = random_array(seed + 2, (case["units"],), dtype) if case["use_bias"] else None
    return (random_array(seed, case["x_shape"], dtype),
            random_array(seed + 1, (features, case["units"]), dtype), b)


# ----------------------------------------------------------------------------- batch norm
@st.composite
def batch_norm_cases(draw, max_batch=4, max_channels=4, max_size=4):
    """A valid batch-normalisation configuration, a dict:

        x_shape (N, C) or (N, C, H, W), with at least 2 values per channel (training
        needs a variance); momentum (Keras' convention, the weight the old average
        keeps, as BatchNormalization takes it; F.batch_norm takes 1 - momentum);
        epsilon; training (bool)

    Edge cases on purpose: a 2-D input (N, C), a 4-D input, batch 1 (of a 4-D input),
    exactly 2 values per channel (the unbiased variance doubles the biased one), one
    channel, momentum 0 (the running statistics become the batch's), momentum 1 (they
    never move), training and evaluation."""
    c = draw(st.integers(1, max_channels))
    if draw(st.booleans()):
        x_shape = (draw(st.integers(2, max_batch)), c)
    else:
        n, h, w = (draw(st.integers(1, max_batch)), draw(st.integers(1, max_size)),
                   draw(st.integers(1, max_size)))
        if n * h * w < 2:
            n = 2
        x_shape = (n, c, h, w)
    return dict(x_shape=x_shape, momentum=draw(st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0])),
                epsilon=draw(st.sampled_from([1e-5, 1e-3, 0.1])), training=draw(st.booleans()))


def batch_norm_layer_kwargs(case):
    """BatchNormalization's arguments for a batch_norm_cases() case."""
    return dict(momentum=case["momentum"], epsilon=case["epsilon"])


def values_per_channel(x_shape):
    """m, the number of values each channel's statistics run over (N, or N H W)."""
    return int(np.prod(x_shape)) // x_shape[1]


# ----------------------------------------------------------------------------- edge cases
def _odd_hw(shape):
    return shape[2] % 2 == 1 and shape[3] % 2 == 1


EDGE_CASES = {
    "image_shapes": {
        "batch 1": lambda s: s[0] == 1,
        "one channel": lambda s: s[1] == 1,
        "odd H and W": _odd_hw,
        "H != W": lambda s: s[2] != s[3],
        "a size of min_size": lambda s: min(s[2:]) == 1,
    },
    "feature_shapes": {
        "batch 1": lambda s: s[0] == 1,
        "one feature": lambda s: s[1] == 1,
        "an odd number of features": lambda s: s[1] % 2 == 1,
    },
    "conv_cases": {
        "batch 1": lambda c: c["x_shape"][0] == 1,
        "one input channel": lambda c: c["x_shape"][1] == 1,
        "groups > 1": lambda c: c["groups"] > 1,
        "depthwise": lambda c: c["groups"] > 1 and c["groups"] == c["x_shape"][1],
        "1x1 kernel": lambda c: c["w_shape"][2:] == (1, 1),
        "non-square kernel": lambda c: c["w_shape"][2] != c["w_shape"][3],
        "stride larger than the kernel": lambda c: any(
            s > k for s, k in zip(c["stride"], c["w_shape"][2:])),
        "'same' padding": lambda c: c["padding"] == "same",
        "'valid' padding": lambda c: c["padding"] == "valid",
        "asymmetric explicit padding": lambda c: isinstance(c["padding"], tuple)
        and c["padding"][0] != c["padding"][1],
        "dilation > 1": lambda c: max(c["dilation"]) > 1,
        "odd H and W": lambda c: _odd_hw(c["x_shape"]),
        "an output of a single pixel": lambda c: min(conv_output_hw(c)) == 1,
    },
    "pool_cases": {
        "batch 1": lambda c: c["x_shape"][0] == 1,
        "one channel": lambda c: c["x_shape"][1] == 1,
        "stride None": lambda c: c["stride"] is None,
        "stride larger than the kernel": lambda c: c["stride"] is not None
        and any(s > k for s, k in zip(c["stride"], c["kernel_size"])),
        "overlapping windows": lambda c: c["stride"] is not None
        and any(s < k for s, k in zip(c["stride"], c["kernel_size"])),
        "1x1 kernel": lambda c: c["kernel_size"] == (1, 1),
        "non-square kernel": lambda c: c["kernel_size"][0] != c["kernel_size"][1],
        "padding > 0": lambda c: c["padding"] != "same" and max(c["padding"]) > 0,
        "ceil_mode": lambda c: c["ceil_mode"],
        "odd H and W": lambda c: _odd_hw(c["x_shape"]),
    },
    "dense_cases": {
        "batch 1": lambda c: c["x_shape"][0] == 1,
        "one input feature": lambda c: c["x_shape"][1] == 1,
        "one unit": lambda c: c["units"] == 1,
        "as many units as features": lambda c: c["units"] == c["x_shape"][1],
        "no bias": lambda c: not c["use_bias"],
    },
    "batch_norm_cases": {
        "2-D input": lambda c: len(c["x_shape"]) == 2,
        "4-D input": lambda c: len(c["x_shape"]) == 4,
        "batch 1": lambda c: c["x_shape"][0] == 1,
        "2 values per channel": lambda c: values_per_channel(c["x_shape"]) == 2,
        "one channel": lambda c: c["x_shape"][1] == 1,
        "momentum 0": lambda c: c["momentum"] == 0.0,
        "momentum 1": lambda c: c["momentum"] == 1.0,
        "training": lambda c: c["training"],
        "evaluation": lambda c: not c["training"],
    },
}
"""For each strategy, the edge cases its docstring promises, as tests of a drawn example."""
