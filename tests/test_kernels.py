"""The numba backend's kernels against their reference twins, and the backend dispatch.

Every op runs twice on the same arrays, once under ``use_backend("numpy")`` (the
reference math) and once under ``use_backend("numba")``, and the outputs and every
input gradient must agree. Each test also checks that the numba run really went
through the kernel class (so a silent fall-back to the reference cannot pass).
Shapes come from the shared hypothesis strategies: batch 1, one channel, odd sizes,
stride larger than the kernel, asymmetric and 'same' padding, dilation, groups.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.backend as backend
import minicnn.functional as F
from minicnn.testing.strategies import (DTYPES, conv_cases, conv_inputs, conv_kwargs, pool_cases,
                                        random_array, seeds)

import numba  # noqa: F401  (a core dependency: a missing numba fails here, loudly)
backend.import_kernels()       # minicnn.kernels, also from a source checkout (see backend.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Both backends compute the same sums in a different order (BLAS over the batch
# instead of per sample, float64 accumulators in some kernels): float64 agrees to
# ~1e-15 relative, float32 to a few units of 6e-8 times the number of terms.
TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-12), np.dtype(np.float32): (2e-5, 2e-6)}


def assert_backends_agree(fn, arrays, dtype, kernel_class):
    """Run fn under both backends; compare output and input gradients; check dispatch.
    Returns the op the numba run used (for tests that check which path it took)."""
    dtype = np.dtype(dtype)
    results = {}
    for name in ("numpy", "numba"):
        with mc.use_backend(name):
            tensors = [mc.Tensor(np.asarray(a, dtype).copy(), requires_grad=True) for a in arrays]
            y = fn(*tensors)
            grad = np.random.default_rng(7).standard_normal(y.shape).astype(dtype)
            y.backward(grad)
            results[name] = [y.data] + [t.grad for t in tensors]
            op = type(y.creator).__name__
            if name == "numba":
                assert op == kernel_class, f"the numba backend ran {op}, not {kernel_class}"
                numba_op = y.creator
            else:
                assert not op.endswith("Numba"), f"the numpy backend ran the kernel {op}"
    rtol, atol = TOLERANCES[dtype]
    for what, ref, fast in zip(["output"] + [f"gradient of input {i}" for i in range(len(arrays))],
                               results["numpy"], results["numba"]):
        assert fast.dtype == dtype, f"{what}: dtype {fast.dtype}, expected {dtype}"
        scale = max(float(np.abs(ref).max()) if ref.size else 0.0, 1.0)
        np.testing.assert_allclose(fast, ref, rtol=rtol, atol=atol * scale, err_msg=what)
    return numba_op


# conv2d and the fused conv2d_relu, and the class the numba backend must run for each
CONV_OPS = {"conv2d": (F.conv2d, "Conv2dNumba"), "conv2d_relu": (F.conv2d_relu, "Conv2dReLUNumba")}


def assert_conv_backends_agree(op_name, case, seed, dtype, bias=True):
    x, w, b = conv_inputs(case, seed, dtype)
    kw = conv_kwargs(case)
    conv, kernel_class = CONV_OPS[op_name]
    if bias:
        return assert_backends_agree(lambda x, w, b: conv(x, w, b, **kw), [x, w, b], dtype,
                                     kernel_class)
    return assert_backends_agree(lambda x, w: conv(x, w, **kw), [x, w], dtype, kernel_class)


@pytest.mark.parametrize("op_name", CONV_OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases(), seed=seeds, bias=st.booleans())
def test_conv2d_kernel_matches_reference(op_name, dtype, case, seed, bias):
    assert_conv_backends_agree(op_name, case, seed, dtype, bias)


@pytest.mark.parametrize("op_name", CONV_OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases(max_groups=1, max_stride=1), seed=seeds, bias=st.booleans())
def test_conv2d_direct_kernel_matches_reference(op_name, dtype, case, seed, bias):
    """Stride 1, one group, at most 3 channels: the direct loops of conv_direct.py."""
    op = assert_conv_backends_agree(op_name, case, seed, dtype, bias)
    assert op.direct, "a few-channel stride-1 convolution should take the direct loops"


@pytest.mark.parametrize("op_name", CONV_OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30)
@given(case=conv_cases(max_groups=1, max_stride=1, max_kernel=5, max_channels_per_group=9),
       seed=seeds, bias=st.booleans())
def test_conv2d_direct_kernel_with_more_channels_and_taps(op_name, dtype, case, seed, bias):
    """The direct loops forced on for up to 9 channels in and out (blocks of four output
    channels, full and partial) and kernels up to 5 wide (taps in passes of three, two and
    one): the same numbers as the reference."""
    from minicnn.kernels import ops
    saved, ops.DIRECT_MAX_CHANNELS = ops.DIRECT_MAX_CHANNELS, 1000
    try:
        op = assert_conv_backends_agree(op_name, case, seed, dtype, bias)
        assert op.direct
    finally:
        ops.DIRECT_MAX_CHANNELS = saved


@pytest.mark.parametrize("shape, direct", [
    ((2, 1, 32, 32, 6, 5, 0), True),        # LeNet's conv1: one channel
    ((2, 16, 32, 32, 16, 3, 1), True),      # ResNet's first stage: 16 channels, 32x32
    ((2, 16, 16, 16, 16, 3, 1), True),      # 256 output pixels
    ((2, 6, 14, 14, 16, 5, 0), False),      # LeNet's conv2: 10x10 is too small a plane
    ((2, 16, 32, 32, 32, 3, 1), False),     # 32 output channels: im2col pays
])
def test_conv2d_takes_the_direct_loops_where_they_are_faster(shape, direct):
    """Which stride-1 convolutions the numba backend runs by direct loops (see
    kernels/ops.py's DIRECT_MAX_CHANNELS): few input channels, or few output channels on
    large planes."""
    n, c, h, w, o, k, p = shape
    x, wt = random_array(0, (n, c, h, w)), random_array(1, (o, c, k, k))
    op = assert_backends_agree(lambda x, w: F.conv2d(x, w, padding=p), [x, wt], "float32",
                               "Conv2dNumba")
    assert op.direct == direct


@pytest.mark.parametrize("op_name", CONV_OPS)
@settings(max_examples=20)
@given(case=conv_cases(max_groups=1, max_stride=1), seed=seeds)
def test_conv2d_im2col_kernel_for_few_channels(op_name, case, seed):
    """With the direct loops switched off the same cases take im2col and agree too."""
    from minicnn.kernels import ops
    saved = ops.DIRECT_MAX_CHANNELS, ops.DIRECT_MAX_OUT_CHANNELS
    ops.DIRECT_MAX_CHANNELS = ops.DIRECT_MAX_OUT_CHANNELS = 0
    try:
        op = assert_conv_backends_agree(op_name, case, seed, "float32")
        assert not op.direct
    finally:
        ops.DIRECT_MAX_CHANNELS, ops.DIRECT_MAX_OUT_CHANNELS = saved


@pytest.mark.parametrize("padding", [((0, 2), (1, 0)), ((3, 0), (0, 3))])
def test_conv2d_kernel_asymmetric_padding(padding):
    x = random_array(1, (2, 3, 7, 6))
    w = random_array(2, (4, 3, 3, 2))
    assert_backends_agree(lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=padding,
                                                dilation=(1, 2)), [x, w], "float64", "Conv2dNumba")


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=10)
@given(case=conv_cases(), seed=seeds)
def test_conv2d_kernel_in_chunks_of_one_sample(dtype, case, seed):
    """The kernel feeds the batch to im2col in chunks that fit the cache; with chunks of
    one sample (CHUNK_BYTES = 1) it must still give the reference's numbers."""
    from minicnn.kernels import ops
    x, w, b = conv_inputs(case, seed, dtype, batch=3)
    kw = conv_kwargs(case)
    saved, ops.CHUNK_BYTES = ops.CHUNK_BYTES, 1
    try:
        assert ops.chunks(3, 100, ops.CHUNK_BYTES) == [(0, 1), (1, 2), (2, 3)]
        assert_backends_agree(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b], dtype,
                              "Conv2dNumba")
    finally:
        ops.CHUNK_BYTES = saved


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds, ties=st.booleans())
def test_max_pool2d_kernel_matches_reference(dtype, case, seed, ties):
    x = random_array(seed, case["x_shape"], dtype)
    if ties:        # few distinct values: the first maximum of a window must win
        x = np.round(x).astype(dtype)
    args = dict(kernel_size=case["kernel_size"], stride=case["stride"],
                padding=case["padding"], ceil_mode=case["ceil_mode"])
    assert_backends_agree(lambda x: F.max_pool2d(x, **args), [x], dtype, "MaxPool2dNumba")


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds, include_pad=st.booleans())
def test_avg_pool2d_kernel_matches_reference(dtype, case, seed, include_pad):
    x = random_array(seed, case["x_shape"], dtype)
    args = dict(kernel_size=case["kernel_size"], stride=case["stride"],
                padding=case["padding"], ceil_mode=case["ceil_mode"],
                count_include_pad=include_pad)
    assert_backends_agree(lambda x: F.avg_pool2d(x, **args), [x], dtype, "AvgPool2dNumba")


@pytest.mark.parametrize("padding", [0, 1])
def test_max_pool2d_kernel_without_grad_skips_the_argmax(padding):
    """Under no_grad (or for an input that needs no gradient) backward cannot run, so the
    kernel keeps no arg-max; the values are the same."""
    x = random_array(3, (2, 3, 9, 8), "float32")
    with mc.use_backend("numba"):
        y = F.max_pool2d(mc.Tensor(x, requires_grad=True), 3, 2, padding)
        with mc.no_grad():
            y_inference = F.max_pool2d(mc.Tensor(x, requires_grad=True), 3, 2, padding)
        op = F.max_pool2d(mc.Tensor(x), 3, 2, padding)
    np.testing.assert_array_equal(y_inference.data, y.data)
    np.testing.assert_array_equal(op.data, y.data)
    assert y.creator.argmax.shape == y.shape and y_inference.creator is None
    from minicnn.kernels import pool
    h_out, w_out = y.shape[2:]
    out, no_argmax = np.empty(y.shape, x.dtype), np.zeros((0, 0, 0, 0), np.int32)
    pool.max_pool2d_forward(np.ascontiguousarray(x), 3, 3, 2, 2, padding, padding, out,
                            no_argmax)
    np.testing.assert_array_equal(out, y.data)


def test_max_pool2d_kernel_ties_go_to_the_first_maximum():
    x = mc.Tensor(np.ones((1, 1, 4, 4), np.float32), requires_grad=True)
    with mc.use_backend("numba"):
        y = F.max_pool2d(x, 2)
        assert type(y.creator).__name__ == "MaxPool2dNumba"
        y.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0],
                                                 [1, 0, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4), seed=seeds)
def test_relu_kernel_matches_reference(dtype, shape, seed):
    x = random_array(seed, tuple(shape), dtype)
    x.flat[0] = 0                                # the kink: gradient 0, as the reference
    assert_backends_agree(F.relu, [x], dtype, "ReLUNumba")


def test_relu_kernel_keeps_nan_like_the_reference():
    x = np.array([np.nan, -np.inf, -1.0, 0.0, 2.0])
    with mc.use_backend("numba"):
        fast = F.relu(x).data
    with mc.use_backend("numpy"), np.errstate(invalid="ignore"):
        ref = F.relu(x).data
    np.testing.assert_array_equal(fast, ref)     # NaN where the reference has NaN


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 9), i=st.integers(1, 9), o=st.integers(1, 9), seed=seeds)
def test_linear_kernel_matches_reference(dtype, n, i, o, seed):
    x, w, b = (random_array(seed + k, s, dtype) for k, s in enumerate([(n, i), (i, o), (o,)]))
    assert_backends_agree(F.linear, [x, w, b], dtype, "LinearNumba")


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 9), o=st.integers(1, 9), seed=seeds, activation=st.sampled_from([0, 1]))
def test_fused_bias_activation_kernel_matches_reference(dtype, n, o, seed, activation):
    """bias_activation(y, b, 0) = y + b;  bias_activation(y, b, 1) = relu(y + b)."""
    from minicnn.kernels import elementwise
    y = random_array(seed, (n, o), dtype)
    b = random_array(seed + 1, (o,), dtype)
    with mc.use_backend("numpy"):
        expected = (y + b) if activation == 0 else F.relu(y + b).data
    fused = y.copy()
    elementwise.bias_activation(fused, b, activation)               # in place
    np.testing.assert_array_equal(fused, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 9), c=st.integers(1, 12), seed=seeds, scale=st.sampled_from([1, 30]),
       smoothing=st.sampled_from([0.0, 0.1]), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_kernel_matches_reference(dtype, n, c, seed, scale, smoothing, reduction):
    x = random_array(seed, (n, c), dtype) * scale
    labels = np.random.default_rng(seed).integers(0, c, n)
    assert_backends_agree(
        lambda x: F.cross_entropy(x, labels, label_smoothing=smoothing, reduction=reduction),
        [x], dtype, "CrossEntropyNumba")


@settings(max_examples=10)
@given(case=conv_cases(), seed=seeds)
def test_conv2d_kernel_gradcheck(case, seed):
    """The kernels' own gradients, checked numerically in float64."""
    x, w, b = conv_inputs(case, seed)
    kw = conv_kwargs(case)
    with mc.use_backend("numba"):
        mc.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b], seed=seed % 1000,
                     max_elements=40)


@given(case=conv_cases(), seed=seeds, wide=st.booleans())
def test_im2col_and_col2im_kernels_match_the_reference(case, seed, wide):
    """The raw kernels: im2col_rows is the reference im2col with the batch moved into the
    column index; col2im_rows is the reference col2im of the same columns. In the wide
    layout (stride 1: rows as long as the padded input's) the extra columns are dropped
    before comparing, and hold zeros on the way back."""
    from minicnn.functional.utils import normalize_padding
    from minicnn.kernels import conv as kconv
    n, c, h, w = case["x_shape"]
    kh, kw = case["w_shape"][2:]
    (sh, sw), (dh, dw) = case["stride"], case["dilation"]
    pads = normalize_padding(case["padding"], (kh, kw), case["stride"], case["dilation"], (h, w))
    x = random_array(seed, case["x_shape"])
    ref = F.im2col(x, (kh, kw), case["stride"], pads, case["dilation"])   # (N, C, kh, kw, Ho, Wo)
    h_out, w_out = ref.shape[-2:]
    x_pad = np.pad(x, ((0, 0), (0, 0)) + pads)
    wide = wide and (sh, sw) == (1, 1)
    row_len = x_pad.shape[3] if wide else w_out
    length = (h_out - 1) * row_len + w_out

    def valid(cols):       # (K, N L) -> (K, N, H_out, W_out): the real windows only
        full = np.zeros((cols.shape[0], n, h_out * row_len))
        full[:, :, :length] = cols.reshape(cols.shape[0], n, length)
        return full.reshape(cols.shape[0], n, h_out, row_len)[..., :w_out]

    cols = kconv.im2col_rows(x_pad, kh, kw, sh, sw, dh, dw, h_out, w_out, row_len)
    assert cols.shape == (c * kh * kw, n * length)
    expected = ref.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n, h_out, w_out)
    np.testing.assert_array_equal(valid(cols), expected)
    gaps_zeroed = np.zeros((c * kh * kw, n, h_out, row_len))
    gaps_zeroed[..., :w_out] = expected
    gaps_zeroed = gaps_zeroed.reshape(c * kh * kw, n, -1)[:, :, :length].reshape(cols.shape)
    back = np.full(x_pad.shape, np.nan)             # the kernel must overwrite every entry
    kconv.col2im_rows(gaps_zeroed, back, kh, kw, sh, sw, dh, dw, h_out, w_out, row_len)
    (pt, _), (pl, _) = pads
    np.testing.assert_allclose(back[:, :, pt:pt + h, pl:pl + w],
                               F.col2im(ref, x.shape, case["stride"], pads, case["dilation"]),
                               rtol=1e-12, atol=1e-12)


def test_mixed_dtypes_fall_back_to_the_reference_math():
    """A kernel only sees float32 or float64 inputs of one dtype; anything else runs the
    reference lines of the parent class (and gives the reference's result)."""
    x = random_array(0, (2, 3, 6, 6), "float32")
    w = random_array(1, (4, 3, 3, 3), "float64")
    with mc.use_backend("numba"):
        y = F.conv2d(mc.Tensor(x, requires_grad=True), mc.Tensor(w, requires_grad=True))
        assert type(y.creator).__name__ == "Conv2dNumba" and not y.creator.on_kernels
        y.sum().backward()
    with mc.use_backend("numpy"):
        ref = F.conv2d(x, w)
    np.testing.assert_array_equal(y.data, ref.data)


# ----------------------------------------------------------------------------- backend
def test_use_backend_restores_and_set_backend_validates():
    before = mc.get_backend()
    with mc.use_backend("numpy"):
        assert mc.get_backend() == "numpy"
        assert backend.implementation(F.conv.Conv2d, np.zeros(1)) is F.conv.Conv2d
        with mc.use_backend("numba"):
            assert backend.implementation(F.conv.Conv2d, np.zeros(1)).__name__ == "Conv2dNumba"
        assert mc.get_backend() == "numpy"
    assert mc.get_backend() == before
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        mc.set_backend("fortran")
    assert set(mc.available_backends()) >= {"numpy", "numba"}


def test_default_backend_is_numba_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("MINICNN_BACKEND", raising=False)
    assert backend.default_backend() == "numba"
    monkeypatch.setenv("MINICNN_BACKEND", "numpy")
    assert backend.default_backend() == "numpy"


def _run(code, **env):
    """Run python code in a fresh interpreter from the source tree (nothing installed)."""
    environ = {k: v for k, v in os.environ.items() if k != "MINICNN_BACKEND"}
    environ.update(PYTHONPATH=ROOT, **env)
    done = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(ROOT), env=environ,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_blas_runs_at_one_thread_in_the_pieces_and_as_before_after_them():
    """While an op's pieces multiply matrices side by side, BLAS runs one thread each (so
    OpenBLAS's own workers never wake to compete for the cores); after, the count the
    program had is back, whatever it imported first."""
    from minicnn.kernels import threads as kthreads
    libs = kthreads._blas()
    assert libs, "threadpoolctl found no BLAS in NumPy"
    before = [lib.get_num_threads() for lib in libs]

    def counts(start, stop):
        return [lib.get_num_threads() for lib in libs]
    for ranges in ([(0, 1)], [(0, 1), (1, 2)]):
        assert kthreads.run(counts, ranges, blas=True) == [[1] * len(libs)] * len(ranges)
        assert [lib.get_num_threads() for lib in libs] == before
    assert kthreads.run(counts, [(0, 1)]) == [before]          # no products: left alone
    code = ("import numpy, minicnn, threadpoolctl; "
            "print(threadpoolctl.threadpool_info()[0]['num_threads'])")
    assert _run(code).split() == [str(before[0])]       # importing minicnn changes nothing


LENET_STEP = """
import numpy as np, minicnn as mc, minicnn.functional as F
x = mc.Tensor(np.random.default_rng(0).random((2, 1, 8, 8)), requires_grad=True)
w = mc.Tensor(np.random.default_rng(1).random((3, 1, 3, 3)), requires_grad=True)
y = F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
loss = F.cross_entropy(F.linear(y.reshape(2, -1), np.ones((48, 4))), [0, 3])
loss.backward()
print(mc.get_backend(), type(y.creator).__name__, repr(float(loss.item())), float(x.grad.sum()))
"""


def test_minicnn_imports_and_runs_without_numba():
    out = _run("import sys; sys.modules['numba'] = None\n" + LENET_STEP + """
import pytest
assert 'numba' not in mc.available_backends()
try:
    mc.set_backend('numba')
except RuntimeError as e:
    assert 'numba cannot be imported' in str(e)
else:
    raise AssertionError('set_backend("numba") worked without numba')
""")
    assert out.split()[:2] == ["numpy", "MaxPool2d"]


def test_source_tree_finds_the_kernels_and_agrees_with_the_reference():
    """PYTHONPATH=<checkout>, nothing installed: minicnn.kernels is the kernels/ folder."""
    fast = _run(LENET_STEP + "import minicnn.kernels as k; print(k.__file__)").split()
    ref = _run(LENET_STEP, MINICNN_BACKEND="numpy").split()
    assert fast[:2] == ["numba", "MaxPool2dNumba"] and ref[:2] == ["numpy", "MaxPool2d"]
    assert fast[-1] == os.path.join(ROOT, "kernels", "__init__.py")
    np.testing.assert_allclose([float(fast[2]), float(fast[3])], [float(ref[2]), float(ref[3])],
                               rtol=1e-12)


def test_kernels_run_as_plain_python_with_numba_disable_jit():
    out = _run(LENET_STEP + "from minicnn.kernels import conv; "
               "print(type(conv.im2col_rows).__name__)", NUMBA_DISABLE_JIT="1").split()
    ref = _run(LENET_STEP, MINICNN_BACKEND="numpy").split()
    assert out[:2] == ["numba", "MaxPool2dNumba"] and out[-1] == "function"
    np.testing.assert_allclose([float(out[2]), float(out[3])], [float(ref[2]), float(ref[3])],
                               rtol=1e-12)


@pytest.mark.parametrize("threads", [2, 3])
def test_pieces_side_by_side_give_the_numbers_of_one_piece(threads):
    """kernels/threads.py cuts each op's batch into one piece per thread. Forced to cut
    even tiny batches into 2 or 3 pieces, a small network's loss and every gradient
    equal those of one piece to float64 rounding (the kernels compute each element in
    one thread in the same order; BLAS may sum a product of fewer rows in another order,
    and the weight gradients add up the pieces' partial sums)."""
    from minicnn.kernels import threads as kthreads
    from minicnn.layers import AveragePooling2D, Conv2D, Dense, Flatten, MaxPooling2D

    def lenet_grads():
        mc.manual_seed(0)
        f64 = dict(dtype="float64")
        model = mc.Sequential([
            Conv2D(4, 3, activation="relu", input_shape=(2, 11, 11), **f64),      # direct
            MaxPooling2D(2), Conv2D(6, 3, padding=1, activation="relu", **f64),   # im2col
            AveragePooling2D(2), Flatten(), Dense(7, activation="relu", **f64), Dense(3, **f64)])
        x = random_array(0, (5, 2, 11, 11), "float64")
        loss = F.cross_entropy(model(x), np.arange(5) % 3)
        loss.backward()
        return [loss.item()] + [p.grad.copy() for p in model.parameters()]

    with mc.use_backend("numba"):
        one = lenet_grads()
        saved = kthreads.PARALLEL_MIN_ELEMENTS, kthreads.num_threads()
        kthreads.PARALLEL_MIN_ELEMENTS = 0
        kthreads.set_num_threads(threads)
        try:
            many = lenet_grads()
        finally:
            kthreads.PARALLEL_MIN_ELEMENTS = saved[0]
            kthreads.set_num_threads(saved[1])
    assert len(many) == len(one) == 9                         # the loss and 8 gradients
    for a, b in zip(many, one):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("spin", [None, 0])
def test_the_pool_returns_pieces_in_order_and_raises_a_pieces_error(spin):
    """threads.run gives each range's result in order, the calling thread's first; an
    exception in any piece (a worker's or the caller's) is raised once every piece has
    finished, and the pool runs the next region as before. With SPIN_YIELDS = 0 the
    workers never spin: each task then reaches a sleeping worker through its Event."""
    import threading
    from minicnn.kernels import threads as kthreads
    saved = kthreads.num_threads(), kthreads.SPIN_YIELDS
    kthreads.set_num_threads(3)
    if spin is not None:
        kthreads.SPIN_YIELDS = spin
    try:
        for _ in range(50):
            names = kthreads.run(lambda a, b: (a, b, threading.current_thread().name),
                                 [(0, 1), (1, 2), (2, 3)])
            assert [n[:2] for n in names] == [(0, 1), (1, 2), (2, 3)]
            assert names[0][2] == threading.current_thread().name
            assert sorted(n[2] for n in names[1:]) == ["minicnn-0", "minicnn-1"]
        ran = []

        def piece(a, b):
            ran.append(a)
            if a == bad:
                raise ZeroDivisionError(f"piece {a}")
            return a
        for bad in (0, 2):
            ran.clear()
            with pytest.raises(ZeroDivisionError, match=f"piece {bad}"):
                kthreads.run(piece, [(0, 1), (1, 2), (2, 3)])
            assert sorted(ran) == [0, 1, 2]                  # every piece ran to its end
            assert kthreads.run(lambda a, b: a * 10, [(0, 1), (1, 2), (2, 3)]) == [0, 10, 20]
    finally:
        kthreads.SPIN_YIELDS = saved[1]
        kthreads.set_num_threads(saved[0])
    alive = [t.name for t in threading.enumerate() if t.name.startswith("minicnn-")]
    assert len(alive) <= saved[0] - 1                       # the 3-thread pool was stopped


def test_the_pool_waits_without_the_gil():
    """The pool's waits spin in compiled code that releases the GIL (a Python loop would
    hold it, and the pieces could not run): on POSIX _spin is a Numba dispatcher, nogil;
    elsewhere (no sched_yield) it is a plain check that never spins, and the Events wait."""
    from minicnn.kernels import threads as kthreads
    if os.name == "posix":
        assert kthreads._spin.targetoptions.get("nogil") is True
    else:
        assert not hasattr(kthreads._spin, "targetoptions")
    flags = np.array([0, 5], dtype=np.int64)
    assert kthreads._spin(flags, 1, 0, True, 10)             # flags[1] != 0: at once
    assert not kthreads._spin(flags, 0, 0, True, 10)         # never changes: 10 yields


def test_set_num_threads_sets_the_pool_and_refuses_what_is_not_a_count():
    from minicnn.kernels import threads as kthreads
    before = mc.get_num_threads()
    assert before == kthreads.num_threads() >= 1
    try:
        mc.set_num_threads(3)
        assert mc.get_num_threads() == 3 and len(kthreads.split(30, 1 << 20)) == 3
    finally:
        mc.set_num_threads(before)
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="positive int"):
            mc.set_num_threads(bad)


def test_progress_says_when_kernels_compile_and_how_long_it_took():
    """A kernel that is not in Numba's cache compiles at its first call: the progress of
    fit says so when it starts ("compiling kernels (first run only)") and, after the
    epoch line, how many of the epoch's seconds it took; a second epoch compiles nothing
    and says nothing more. (A new function stands in for a kernel missing from the cache.)"""
    import io

    import numba

    from minicnn.callbacks import ProgressBar

    @numba.njit
    def not_yet_compiled(a):
        return a + 1

    out = io.StringIO()
    bar = ProgressBar(2, 4, stream=out)
    with mc.use_backend("numba"):
        bar.on_train_begin()
        for epoch in range(2):
            bar.on_epoch_begin(epoch)
            not_yet_compiled(epoch)
            bar.on_batch_end(epoch, 0, {"size": 4})
            bar.on_epoch_end(epoch, {"loss": 1.0})
        bar.on_train_end()
    lines = out.getvalue().splitlines()
    assert lines[0] == "compiling kernels (first run only)..."
    assert lines[1].startswith("Epoch 1/2 - ")
    assert lines[2].startswith("(of which ") and "s compiling kernels" in lines[2]
    assert lines[3].startswith("Epoch 2/2 - ") and len(lines) == 4
    before = len(numba.core.event._registered["numba:compile"])
    not_yet_compiled(1.5)                                   # a new signature: compiles,
    assert out.getvalue().count("compiling") == 2           # but the bar stopped watching
    assert len(numba.core.event._registered["numba:compile"]) == before


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 6),
                       st.integers(1, 6)), seed=seeds, scale=st.sampled_from([1.0, 100.0]))
def test_batch_norm_kernel_matches_reference(dtype, training, shape, seed, scale):
    """Output, dx, dgamma, dbeta and the running statistics of the two-pass kernels
    against the reference, in training (batch statistics; a shifted, scaled input tests
    the variance's two passes) and in evaluation (running statistics)."""
    if training and shape[0] * shape[2] * shape[3] < 2:
        shape = (2,) + shape[1:]                     # a variance needs two values
    c = shape[1]
    x = random_array(seed, shape, dtype) * scale + scale
    gamma, beta = random_array(seed + 1, (c,), dtype), random_array(seed + 2, (c,), dtype)
    stats = {}

    def bn(x, gamma, beta):
        mean = np.linspace(-1, 1, c).astype(dtype)
        var = np.linspace(0.5, 2, c).astype(dtype)
        stats[mc.get_backend()] = (mean, var)
        return F.batch_norm(x, gamma, beta, mean, var, training)
    assert_backends_agree(bn, [x, gamma, beta], dtype, "BatchNormNumba")
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    for ref, fast in zip(stats["numpy"], stats["numba"]):
        np.testing.assert_allclose(fast, ref, rtol=rtol, atol=atol * max(1.0, scale))


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9),
                       st.integers(2, 9)), seed=seeds, ties=st.booleans())
def test_max_pool2d_2x2_stride_2_kernel_matches_reference(dtype, shape, seed, ties):
    """The 2x2 / stride-2 kernel of its own (odd sizes drop the last row or column, as
    the reference does): outputs and gradients, ties to the first of the four cells."""
    x = random_array(seed, shape, dtype)
    if ties:
        x = np.round(x)                                  # many equal cells
    assert_backends_agree(lambda x: F.max_pool2d(x, 2), [x], dtype, "MaxPool2dNumba")
