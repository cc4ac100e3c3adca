"""The cupy backend's ops (kernels/cuda_ops.py) against their reference classes, on the
NumPy-backed fake CuPy of tests/fakegpu.py (its RawModule builds kernels/cuda/ for the host
with kernels/cuda_host.py, so every launch runs the real kernel source on the CPU).

Each test runs the reference Function on host arrays and its CuPy twin on fake device
arrays made from the same numbers, and compares the output and every input gradient. It
also checks that the twin really launched its kernels (no silent fall-back to the
reference math) and that forward and backward never read a device value back to the host
(no sync, no device -> host copy).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from fakegpu import fake_cupy, fake_gpu, reset_transfers, transfers  # noqa: F401
from minicnn.backend import import_kernels
from minicnn.functional.activation import ReLU
from minicnn.functional.conv import Conv2d, Conv2dReLU
from minicnn.functional.linear import Linear
from minicnn.functional.loss import CrossEntropy, _target_distribution
from minicnn.functional.utils import normalize_padding, pair
from minicnn.testing.strategies import (DTYPES, conv_cases, conv_inputs, pool_cases, random_array,
                                        seeds)

import_kernels()
from minicnn.kernels import cuda_ops  # noqa: E402  (after import_kernels)

TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-12), np.dtype(np.float32): (2e-5, 2e-6)}


def run_op(op, arrays, dout, needs=None):
    """forward, then backward of one Function called directly: (output, gradients)."""
    op.needs_input_grad = tuple(a is not None for a in arrays) if needs is None else needs
    op.recording = any(op.needs_input_grad)
    out = op.forward(*arrays)
    grads = op.backward(dout)
    return out, (grads if isinstance(grads, tuple) else (grads,))


def assert_twin_matches(cupy, reference, twin, arrays, dtype, dout_seed=7, needs=None):
    """The reference op on host arrays and its twin on device arrays agree, forward and
    every gradient; the twin launched kernels and never synced. Returns the twin op."""
    dtype = np.dtype(dtype)
    reference.needs_input_grad = tuple(a is not None for a in arrays) if needs is None \
        else needs
    reference.recording = True
    out = reference.forward(*arrays)
    dout = random_array(dout_seed, np.shape(out), dtype)
    grads = reference.backward(dout)
    grads = grads if isinstance(grads, tuple) else (grads,)
    device = [None if a is None else cupy.asarray(a) for a in arrays]
    dout_device = cupy.asarray(dout)
    reset_transfers()
    out_twin, grads_twin = run_op(twin, device, dout_device, needs)
    counts = transfers()
    assert counts["launches"] > 0, f"{type(twin).__name__} launched no kernel"
    assert counts["sync"] == 0 and counts["d2h"] == 0, f"host reads in {twin.name}: {counts}"
    rtol, atol = TOLERANCES[dtype]
    for what, ref, fast in zip(["output"] + [f"gradient of input {i}" for i in range(9)],
                               (out,) + tuple(grads), (out_twin,) + tuple(grads_twin)):
        if ref is None:
            assert fast is None, f"{what}: expected None"
            continue
        assert type(fast).__module__ == "cupy", f"{what}: {type(fast)} is not a device array"
        fast = fast.get()
        assert fast.dtype == dtype and fast.shape == np.shape(ref), (what, fast.dtype,
                                                                      fast.shape)
        scale = max(float(np.abs(ref).max()) if np.size(ref) else 0.0, 1.0)
        np.testing.assert_allclose(fast, ref, rtol=rtol, atol=atol * scale, err_msg=what)
    return twin


def test_every_reference_has_a_twin():
    """The same ops as the numba backend, each a subclass named after its reference, but
    BatchNorm: on a GPU it runs the reference math through xp (CuPy's own reductions)."""
    from minicnn.functional.norm import BatchNorm
    from minicnn.kernels.ops import NUMBA_KERNELS
    assert set(cuda_ops.CUPY_KERNELS) == set(NUMBA_KERNELS) - {BatchNorm}
    for reference, twin in cuda_ops.CUPY_KERNELS.items():
        assert issubclass(twin, reference) and twin.name == reference.__name__
        assert twin.__name__ == reference.__name__ + "CuPy"


# --------------------------------------------------------------------------- conv
def _conv_ops(case, x_shape, relu):
    kh, kw = case["w_shape"][2:]
    stride, dilation = pair(case["stride"]), pair(case["dilation"])
    pads = normalize_padding(case["padding"], (kh, kw), stride, dilation, x_shape[2:])
    reference, twin = (Conv2dReLU, cuda_ops.Conv2dReLUCuPy) if relu else \
        (Conv2d, cuda_ops.Conv2dCuPy)
    args = (stride, pads, dilation, case["groups"])
    return reference(*args), twin(*args)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases(), seed=seeds, relu=st.booleans(), bias=st.booleans())
def test_conv2d_twin(dtype, case, seed, relu, bias):
    with fake_cupy() as cupy:
        x, w, b = conv_inputs(case, seed, dtype)
        reference, twin = _conv_ops(case, x.shape, relu)
        assert_twin_matches(cupy, reference, twin, [x, w, b if bias else None], dtype)
        assert twin.on_kernels and twin.cols is not None        # one chunk: columns kept


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases(max_groups=2), seed=seeds, relu=st.booleans(),
       needs=st.sampled_from([(True, False, False), (False, True, True), (True, True, False)]))
def test_conv2d_twin_in_chunks(dtype, case, seed, relu, needs):
    """Columns over CHUNK_BYTES: the batch runs a few samples at a time and backward
    recomputes the columns; only the wanted gradients are computed."""
    with fake_cupy() as cupy:
        x, w, b = conv_inputs(case, seed, dtype, batch=3)
        reference, twin = _conv_ops(case, x.shape, relu)
        saved, cuda_ops.CHUNK_BYTES = cuda_ops.CHUNK_BYTES, 1    # one sample a chunk
        try:
            assert_twin_matches(cupy, reference, twin, [x, w, b], dtype, needs=needs)
        finally:
            cuda_ops.CHUNK_BYTES = saved
        assert twin.cols is None


# --------------------------------------------------------------------------- pooling
def _reference_pool(op, x, case, **kw):
    """The reference op F.max_pool2d / F.avg_pool2d builds (applied padding, divisor)."""
    with mc.use_backend("numpy"):
        y = op(mc.Tensor(x, requires_grad=True), case["kernel_size"], case["stride"],
               case["padding"], case["ceil_mode"], **kw)
    return y.creator


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds, ties=st.booleans())
def test_max_pool2d_twin(dtype, case, seed, ties):
    with fake_cupy() as cupy:
        x = random_array(seed, case["x_shape"], dtype)
        if ties:
            x = np.round(x).astype(dtype)
        made = _reference_pool(F.max_pool2d, x, case)
        args = (made.kernel, made.stride, made.padding)
        twin = assert_twin_matches(cupy, type(made)(*args), cuda_ops.MaxPool2dCuPy(*args),
                                   [x], dtype)
        assert twin.on_kernels and twin.argmax.dtype == np.int32


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds, count_include_pad=st.booleans())
def test_avg_pool2d_twin(dtype, case, seed, count_include_pad):
    with fake_cupy() as cupy:
        x = random_array(seed, case["x_shape"], dtype)
        made = _reference_pool(F.avg_pool2d, x, case, count_include_pad=count_include_pad)
        args = (made.kernel, made.stride, made.padding)
        twin = cuda_ops.AvgPool2dCuPy(*args, cupy.asarray(made.divisor))
        assert_twin_matches(cupy, type(made)(*args, made.divisor), twin, [x], dtype)
        assert twin.on_kernels


def test_max_pool2d_twin_for_inference_saves_no_argmax(fake_gpu):
    x = random_array(0, (2, 3, 6, 5), "float32")
    twin = cuda_ops.MaxPool2dCuPy((2, 2), (2, 2), ((0, 0), (0, 0)))
    twin.needs_input_grad, twin.recording = (False,), False
    out = twin.forward(fake_gpu.asarray(x))
    assert twin.argmax.size == 0
    with mc.use_backend("numpy"):
        np.testing.assert_array_equal(out.get(), F.max_pool2d(x, 2).data)


# --------------------------------------------------------------------------- elementwise
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4), seed=seeds)
def test_relu_twin(dtype, shape, seed):
    with fake_cupy() as cupy:
        x = random_array(seed, shape, dtype)
        x.reshape(-1)[::5] = 0
        assert_twin_matches(cupy, ReLU(), cuda_ops.ReLUCuPy(), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=st.integers(1, 9), i=st.integers(1, 7), o=st.integers(1, 9), seed=seeds)
def test_linear_twin(dtype, m, i, o, seed):
    with fake_cupy() as cupy:
        x, w = random_array(seed, (m, i), dtype), random_array(seed + 1, (i, o), dtype)
        b = random_array(seed + 2, o, dtype)
        assert_twin_matches(cupy, Linear(), cuda_ops.LinearCuPy(), [x, w, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 6), c=st.integers(1, 40), seed=seeds,
       reduction=st.sampled_from(["mean", "sum", "none"]), smoothing=st.sampled_from([0, 0.1]))
def test_cross_entropy_twin(dtype, n, c, seed, reduction, smoothing):
    with fake_cupy() as cupy:
        x = random_array(seed, (n, c), dtype) * np.dtype(dtype).type(5)
        labels = np.random.default_rng(seed).integers(0, c, n)
        q = _target_distribution(labels, x, c, np.dtype(dtype), smoothing, "cross_entropy")
        twin = cuda_ops.CrossEntropyCuPy(cupy.asarray(q), reduction)
        assert_twin_matches(cupy, CrossEntropy(q, reduction), twin, [x], dtype)
        assert twin.on_kernels


# --------------------------------------------------------------------------- fall-backs
def test_mixed_dtypes_run_the_reference_math_on_the_device(fake_gpu):
    """float32 x with a float64 W is not a kernel's input: the twin runs its parent's
    math (on device arrays, through xp) and launches nothing."""
    x = random_array(1, (2, 3, 5, 5), "float32")
    w = random_array(2, (4, 3, 3, 3), "float64")
    twin = cuda_ops.Conv2dCuPy((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    twin.needs_input_grad, twin.recording = (True, True, False), True
    reset_transfers()
    out = twin.forward(fake_gpu.asarray(x), fake_gpu.asarray(w), None)
    assert not twin.on_kernels and transfers()["launches"] == 0
    assert type(out).__module__ == "cupy" and out.dtype == np.float64
    with mc.use_backend("numpy"):
        np.testing.assert_allclose(out.get(), F.conv2d(x, w, padding=1).data, rtol=1e-6)


def test_empty_batch(fake_gpu):
    """A batch of 0 samples launches nothing and gives empty outputs and gradients."""
    x = np.zeros((0, 2, 5, 5), np.float32)
    w = random_array(0, (3, 2, 3, 3), "float32")
    twin = cuda_ops.Conv2dCuPy((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    twin.needs_input_grad, twin.recording = (True, True, False), True
    out = twin.forward(fake_gpu.asarray(x), fake_gpu.asarray(w), None)
    assert out.shape == (0, 3, 3, 3)
    dx, dw, _ = twin.backward(fake_gpu.zeros(out.shape, np.float32))
    assert dx.shape == x.shape and dw.shape == w.shape and not dw.get().any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_ops_on_device_tensors_dispatch_to_the_twins(fake_gpu, dtype):
    """Through the public functions (minicnn.backend.implementation picks the twin for
    device arrays): a small network's loss and gradients agree with the numpy backend."""
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(dtype) for s in
              [(2, 3, 9, 8), (4, 3, 3, 3), (4,), (32, 5), (5,)]]
    labels = np.array([1, 3])

    def network(x, w, b, w2, b2, labels, seen):
        y = F.conv2d_relu(x, w, b, padding=1, stride=(1, 2))                 # (2, 4, 9, 4)
        p = F.avg_pool2d(F.relu(F.max_pool2d(y, 2, stride=1)), 2, ceil_mode=True)  # 4, 2
        logits = F.linear(p.reshape(2, -1), w2, b2)
        loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
        for t in (y, p, logits, loss):
            seen.append(type(t.creator).__name__)
        loss.backward()
        return loss

    results = {}
    for where in ("host", "device"):
        move = fake_gpu.asarray if where == "device" else (lambda a: a)
        tensors = [mc.Tensor(move(a), requires_grad=True) for a in arrays]
        seen = []
        with mc.use_backend("numpy" if where == "host" else "numba"):    # (any but numpy)
            loss = network(*tensors, move(labels), seen)
        get = (lambda a: a.get()) if where == "device" else (lambda a: a)
        results[where] = [get(loss.data)] + [get(t.grad) for t in tensors]
        if where == "device":
            assert seen == ["Conv2dReLUCuPy", "AvgPool2dCuPy", "LinearCuPy",
                            "CrossEntropyCuPy"], seen
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    for ref, fast in zip(results["host"], results["device"]):
        np.testing.assert_allclose(fast, ref, rtol=rtol * 10, atol=atol * 10)
